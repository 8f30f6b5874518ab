"""Steps <-> epochs, and steps per epoch from the data pipeline."""

from __future__ import annotations

import dataclasses
import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from stepsched_cli.errors import ConversionError, ScheduleError
from stepsched_cli.schedule import Mode, StepSchedule
from stepsched_cli.scheduler import SchedulerState
from stepsched_cli.units import (
    MissingStepsPerEpoch,
    TimeValue,
    batch_size_per_rank,
    convert_state,
    epochs_to_steps,
    parse_time,
    steps_per_epoch,
    steps_per_epoch_for_global_batch,
    steps_to_epochs,
    time_in,
    to_mode,
)


def test_epoch_schedule_in_steps_is_exact() -> None:
    epochs = StepSchedule(0.1, step_size=30, mode="epoch")
    steps = to_mode(epochs, "step", 5005)
    assert (steps.step_size, steps.mode) == (150_150, "step")
    for epoch in (0, 29, 30, 59, 60, 1000):
        for offset in (0, 1, 5004):
            assert steps.lr_at(epoch * 5005 + offset) == epochs.lr_at(epoch)


def test_milestones_convert_both_ways() -> None:
    epochs = StepSchedule(0.1, milestones=(30, 80), mode="epoch")
    steps = to_mode(epochs, "step", 100)
    assert steps.milestones == (3000, 8000)
    assert to_mode(steps, "epoch", 100) == epochs


def test_same_mode_is_unchanged() -> None:
    schedule = StepSchedule(0.1)
    assert to_mode(schedule, "step", 7) is schedule


@pytest.mark.parametrize(
    ("schedule", "message"),
    [
        (
            StepSchedule(0.1, step_size=45),
            "step_size 45 falls inside epoch 0 .45 steps in, with 100",
        ),
        (StepSchedule(0.1, milestones=(100, 250)), r"milestones\[1\] 250 falls inside epoch 2"),
        (StepSchedule(0.1, step_size=100, warmup_steps=100), "a warmup ramps once per step"),
    ],
)
def test_inexact_conversions_are_refused(schedule: StepSchedule, message: str) -> None:
    with pytest.raises(ConversionError, match=message):
        to_mode(schedule, "epoch", 100)


def test_state_position_converts() -> None:
    state = SchedulerState(StepSchedule(0.1, step_size=3, mode="epoch"), position=4)
    in_steps = convert_state(state, "step", 10)
    assert (in_steps.position, in_steps.schedule.step_size, in_steps.steps_per_epoch) == (
        40,
        30,
        10,
    )
    assert in_steps.lr == state.lr
    assert convert_state(in_steps, "epoch", 10).position == 4
    with pytest.raises(ConversionError, match="the position .step. 41 falls inside epoch 4"):
        convert_state(SchedulerState(in_steps.schedule, position=41), "epoch", 10)


@pytest.mark.parametrize("bad", [0, -1, True, 2.0, "5"])
def test_steps_per_epoch_must_be_a_positive_int(bad: object) -> None:
    with pytest.raises(ScheduleError, match="steps_per_epoch must be an integer >= 1"):
        epochs_to_steps(1, bad)  # type: ignore[arg-type]


def test_position_helpers() -> None:
    assert epochs_to_steps(3, 5005) == 15015
    assert steps_to_epochs(15015, 5005) == 3
    with pytest.raises(ConversionError, match="step 15016 falls inside epoch 3 .1 steps in"):
        steps_to_epochs(15016, 5005)


# -- steps per epoch -----------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "expected"),
    [
        ({"dataset_size": 1_281_167, "batch_size": 256}, 5005),
        ({"dataset_size": 1_281_167, "batch_size": 256, "drop_last": True}, 5004),
        ({"dataset_size": 1_281_167, "batch_size": 32, "world_size": 8}, 5005),
        ({"dataset_size": 1_281_167, "batch_size": 32, "world_size": 8, "grad_accum": 4}, 1252),
        (
            {
                "dataset_size": 1_281_167,
                "batch_size": 32,
                "world_size": 8,
                "grad_accum": 4,
                "accumulation_rounding": "floor",
            },
            1251,
        ),
        ({"dataset_size": 50_000, "batch_size": 128}, 391),
        ({"dataset_size": 10, "batch_size": 3, "world_size": 4}, 1),
    ],
)
def test_steps_per_epoch_table(kwargs: dict[str, object], expected: int) -> None:
    assert steps_per_epoch(**kwargs).steps_per_epoch == expected  # type: ignore[arg-type]


def test_steps_per_epoch_intermediate_figures() -> None:
    result = steps_per_epoch(1_281_167, 32, world_size=8, grad_accum=4)
    assert (result.samples_per_rank, result.batches_per_rank, result.steps_per_epoch) == (
        160_146,
        5005,
        1252,
    )


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"dataset_size": 0, "batch_size": 1}, "dataset_size must be an integer >= 1, got 0"),
        ({"dataset_size": 10, "batch_size": 0}, "batch_size must be an integer >= 1, got 0"),
        ({"dataset_size": 10, "batch_size": 2, "world_size": True}, "world_size must be"),
        (
            {"dataset_size": 10, "batch_size": 20, "drop_last": True},
            "the scheduler would never step",
        ),
        (
            {
                "dataset_size": 10,
                "batch_size": 1,
                "grad_accum": 20,
                "accumulation_rounding": "floor",
            },
            "the scheduler would never step",
        ),
        (
            {"dataset_size": 10, "batch_size": 1, "accumulation_rounding": "up"},
            "accumulation_rounding",
        ),
    ],
)
def test_steps_per_epoch_refuses_bad_input(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ScheduleError, match=message):
        steps_per_epoch(**kwargs)  # type: ignore[arg-type]


def simulate(n: int, batch: int, world: int, accum: int, drop_last: bool, floor: bool) -> int:
    """Count optimizer steps on rank 0 by walking a padded sampler and a loader."""
    per_rank = list(range(0, -(-n // world) * world, world))  # rank 0's padded indices
    batches = [per_rank[i : i + batch] for i in range(0, len(per_rank), batch)]
    if drop_last and batches and len(batches[-1]) < batch:
        batches.pop()
    steps = pending = 0
    for _ in batches:
        pending += 1
        if pending == accum:
            steps, pending = steps + 1, 0
    if pending and not floor:
        steps += 1
    return steps


@given(
    n=st.integers(1, 3000),
    batch=st.integers(1, 64),
    world=st.integers(1, 8),
    accum=st.integers(1, 8),
    drop_last=st.booleans(),
    floor=st.booleans(),
)
def test_steps_per_epoch_matches_a_simulated_pipeline(
    n: int, batch: int, world: int, accum: int, drop_last: bool, floor: bool
) -> None:
    expected = simulate(n, batch, world, accum, drop_last, floor)
    rounding = "floor" if floor else "ceil"
    if expected == 0:
        with pytest.raises(ScheduleError):
            steps_per_epoch(
                n, batch, world, accum, drop_last=drop_last, accumulation_rounding=rounding
            )
    else:
        result = steps_per_epoch(
            n, batch, world, accum, drop_last=drop_last, accumulation_rounding=rounding
        )
        assert result.steps_per_epoch == expected


# -- a global batch: samples per optimizer step over every rank and accumulated batch --


@pytest.mark.parametrize(
    ("global_batch", "world_size", "grad_accum", "per_rank"),
    [(256, 8, 1, 32), (256, 1, 1, 256), (512, 8, 2, 32), (7, 7, 1, 1), (96, 3, 4, 8)],
)
def test_batch_size_per_rank(
    global_batch: int, world_size: int, grad_accum: int, per_rank: int
) -> None:
    assert batch_size_per_rank(global_batch, world_size, grad_accum) == per_rank


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((100, 8, 1), "global_batch_size must be a multiple of world_size * grad_accum "
                      "(8 * 1 = 8), got 100"),
        ((4, 8, 1), "global_batch_size must be a multiple of world_size * grad_accum "
                    "(8 * 1 = 8), got 4"),
        ((64, 8, 3), "(8 * 3 = 24), got 64"),
        ((0, 1, 1), "global_batch_size must be an integer >= 1, got 0"),
        ((True, 1, 1), "global_batch_size must be an integer >= 1, got True"),
        ((8, 0, 1), "world_size must be an integer >= 1, got 0"),
        ((8, 1, 2.0), "grad_accum must be an integer >= 1, got 2.0"),
    ],
)  # fmt: skip
def test_batch_size_per_rank_refuses(args: tuple[object, object, object], message: str) -> None:
    with pytest.raises(ScheduleError, match=re.escape(message)):
        batch_size_per_rank(*args)  # type: ignore[arg-type]


def test_a_global_batch_gives_the_figures_of_its_per_rank_batch() -> None:
    from_global = steps_per_epoch_for_global_batch(1_281_167, 256, world_size=8)
    per_rank = steps_per_epoch(1_281_167, 32, world_size=8)
    assert from_global == dataclasses.replace(per_rank, global_batch_size=256)
    assert (from_global.batch_size, from_global.steps_per_epoch) == (32, 5005)
    assert per_rank.global_batch_size is None


@given(
    per_rank=st.integers(1, 512),
    world_size=st.integers(1, 64),
    grad_accum=st.integers(1, 16),
    dataset_size=st.integers(1, 10**7),
)
def test_global_batch_round_trips(per_rank: int, world_size: int, grad_accum: int,
                                  dataset_size: int) -> None:  # fmt: skip
    global_batch = per_rank * world_size * grad_accum
    assert batch_size_per_rank(global_batch, world_size, grad_accum) == per_rank
    try:
        expected = steps_per_epoch(dataset_size, per_rank, world_size, grad_accum)
    except ScheduleError:
        return  # an epoch with no optimizer step: refused either way (tested above)
    figures = steps_per_epoch_for_global_batch(dataset_size, global_batch, world_size, grad_accum)
    assert figures.steps_per_epoch == expected.steps_per_epoch


# -- positions and lengths typed in either unit ----------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("30", TimeValue(30, None)),
        ("30ep", TimeValue(30, "epoch")),
        ("150150st", TimeValue(150150, "step")),
        (" 5EP ", TimeValue(5, "epoch")),
        ("5 ep", TimeValue(5, "epoch")),
        ("1e5", TimeValue(100000, None)),
        ("2.5e5", TimeValue(250000, None)),
        ("2.5e5st", TimeValue(250000, "step")),
        ("30.0", TimeValue(30, None)),
        ("-5", TimeValue(-5, None)),
        ("+7ep", TimeValue(7, "epoch")),
        ("0", TimeValue(0, None)),
    ],
)
def test_times_are_read_with_their_unit(text: str, expected: TimeValue) -> None:
    assert parse_time(text, "total") == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("1.5", "total must be a whole number of positions, got '1.5'"),
        ("2.5ep", "total must be a whole number of epochs, got '2.5ep'"),
        ("1e-1st", "total must be a whole number of steps, got '1e-1st'"),
        ("30ba", "total must be a whole number, optionally with a unit .30, 30ep for epochs"),
        ("ep", "total must be a whole number, optionally with a unit"),
        ("", "total must be a whole number, optionally with a unit"),
        ("٣٠", "total must be a whole number, optionally with a unit"),
        ("3_0", "total must be a whole number, optionally with a unit"),
        ("inf", "total must be a whole number, optionally with a unit"),
        ("1e5000", "total must have at most 4300 digits"),
    ],
)
def test_malformed_times_are_refused_naming_the_parameter(text: str, message: str) -> None:
    with pytest.raises(ScheduleError, match=message) as caught:
        parse_time(text, "total")
    assert caught.value.parameter == "total"


@pytest.mark.parametrize(
    ("value", "mode", "expected"),
    [
        (TimeValue(30, None), "step", 30),
        (TimeValue(30, None), "epoch", 30),
        (TimeValue(30, "epoch"), "step", 150150),
        (TimeValue(30, "epoch"), "epoch", 30),
        (TimeValue(150150, "step"), "epoch", 30),
        (TimeValue(150150, "step"), "step", 150150),
        (TimeValue(0, "step"), "epoch", 0),
    ],
)
def test_times_convert_exactly(value: TimeValue, mode: Mode, expected: int) -> None:
    assert time_in(value, mode, 5005, "step_size") == expected


def test_steps_inside_an_epoch_are_refused_with_the_nearest_whole_values() -> None:
    with pytest.raises(ScheduleError) as caught:
        time_in(TimeValue(200000, "step"), "epoch", 5005, "milestones", label="milestones[1]")
    assert str(caught.value) == (
        "milestones[1] 200000st is not a whole number of epochs (5005 steps each): the nearest "
        "whole values are 39ep (195195st) and 40ep (200200st)"
    )
    assert caught.value.parameter == "milestones"


@pytest.mark.parametrize("value", [TimeValue(30, "epoch"), TimeValue(30, "step")])
def test_the_other_unit_needs_the_steps_per_epoch(value: TimeValue) -> None:
    mode: Mode = "step" if value.unit == "epoch" else "epoch"
    with pytest.raises(MissingStepsPerEpoch) as caught:
        time_in(value, mode, None, "warmup_steps")
    assert str(caught.value) == (
        f"warmup_steps {value} counts {value.unit}s and the schedule counts {mode}s: "
        "converting needs the steps per epoch"
    )
    assert caught.value.parameter == "warmup_steps"


def test_the_same_unit_needs_no_steps_per_epoch() -> None:
    assert time_in(TimeValue(30, "epoch"), "epoch", None, "total") == 30


@pytest.mark.parametrize("minimum", [0, 1])
def test_a_time_below_the_minimum_is_refused(minimum: int) -> None:
    with pytest.raises(ScheduleError, match=f"^t must be at least {minimum}, got -5ep$"):
        time_in(TimeValue(-5, "epoch"), "step", 10, "t", minimum=minimum)


@given(amount=st.integers(0, 10**30), steps_per_epoch=st.integers(1, 10**6))
def test_epochs_to_steps_and_back_is_the_identity(amount: int, steps_per_epoch: int) -> None:
    steps = time_in(TimeValue(amount, "epoch"), "step", steps_per_epoch, "t")
    assert steps == epochs_to_steps(amount, steps_per_epoch)
    assert time_in(TimeValue(steps, "step"), "epoch", steps_per_epoch, "t") == amount
    assert parse_time(f"{amount}ep", "t") == TimeValue(amount, "epoch")
