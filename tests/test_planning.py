"""A plan: positions in both units, default horizons, run lengths, the lowest lr."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from stepsched_cli.errors import ScheduleError
from stepsched_cli.planning import (
    Clock,
    Moment,
    Plan,
    RunLength,
    default_total,
    lowest_lr,
    run_length,
    total_for_epochs,
)
from stepsched_cli.schedule import Mode, StepSchedule
from stepsched_cli.units import MissingStepsPerEpoch, TimeValue

STEPS = StepSchedule(0.1, step_size=30)
EPOCHS = StepSchedule(0.1, step_size=30, mode="epoch")


@pytest.mark.parametrize(
    ("plan", "position", "step", "last_step", "epoch"),
    [
        # The schedule's own unit is the position; the other needs the steps per epoch.
        (Plan(STEPS), 45, 45, 45, None),
        (Plan(STEPS, steps_per_epoch=20), 45, 45, 45, 2),
        (Plan(STEPS, steps_per_epoch=20), 40, 40, 40, 2),
        (Plan(STEPS, steps_per_epoch=20), 39, 39, 39, 1),
        (Plan(EPOCHS), 3, None, None, 3),
        (Plan(EPOCHS, steps_per_epoch=5005), 30, 150150, 155154, 30),
        (Plan(EPOCHS, steps_per_epoch=5005), 0, 0, 5004, 0),
    ],
)
def test_positions_in_both_units(
    plan: Plan, position: int, step: int | None, last_step: int | None, epoch: int | None
) -> None:
    assert plan.step_of(position) == step
    assert plan.last_step_of(position) == last_step
    assert plan.epoch_of(position) == epoch


@pytest.mark.parametrize(
    ("plan", "keys", "fields"),
    [
        (Plan(STEPS), ["step"], {"step": 60}),
        (Plan(EPOCHS), ["epoch"], {"epoch": 60}),
        (Plan(STEPS, steps_per_epoch=7), ["step", "epoch"], {"step": 60, "epoch": 8}),
        (Plan(EPOCHS, steps_per_epoch=7), ["step", "epoch"], {"step": 420, "epoch": 60}),
    ],
)
def test_unit_keys_and_position_fields(plan: Plan, keys: list[str], fields: dict[str, int]) -> None:
    assert plan.unit_keys() == keys
    assert plan.unit_keys("start_") == [f"start_{key}" for key in keys]
    assert plan.position_fields(60) == fields
    assert (plan.shows_steps, plan.shows_epochs) == ("step" in keys, "epoch" in keys)


def test_open_ends_stay_open() -> None:
    plan = Plan(EPOCHS, steps_per_epoch=10)
    assert (plan.last_step_of(None), plan.epoch_of(None)) == (None, None)


@pytest.mark.parametrize(
    ("schedule", "total"),
    [
        (STEPS, 120),  # the seed example: one interval past the third decay
        (StepSchedule(0.1, milestones=(30, 80)), 130),
        (StepSchedule(0.1, milestones=(30,)), 60),
        (StepSchedule(0.1, milestones=(30, 60, 80, 200)), 100),
        # A warmup keeps the decays where they are (30, 60, 90; 10) unless warmup_prefix
        # starts the decay clock after it (35, 65, 95; 15).
        (StepSchedule(0.1, step_size=30, warmup_steps=5), 120),
        (StepSchedule(0.1, milestones=(10,), warmup_steps=5), 20),
        (StepSchedule(0.1, step_size=30, warmup_steps=5, warmup_prefix=True), 125),
        (StepSchedule(0.1, milestones=(10,), warmup_steps=5, warmup_prefix=True), 25),
        (StepSchedule(0.1, step_size=10, min_lr=0.01), 20),
    ],
)
def test_default_total(schedule: StepSchedule, total: int) -> None:
    assert default_total(schedule) == total


@pytest.mark.parametrize(
    ("plan", "epochs", "total"),
    [
        (Plan(EPOCHS), 90, 90),
        (Plan(EPOCHS, steps_per_epoch=5005), 90, 90),
        (Plan(STEPS, steps_per_epoch=5005), 90, 450450),
        (Plan(STEPS, steps_per_epoch=1), 1, 1),
    ],
)
def test_total_for_epochs(plan: Plan, epochs: int, total: int) -> None:
    assert total_for_epochs(plan, epochs) == total


@pytest.mark.parametrize(
    ("plan", "epochs", "message"),
    [
        (Plan(STEPS), 90, "epochs needs the steps per epoch for a step-mode schedule"),
        (Plan(EPOCHS), 0, "epochs must be an integer >= 1, got 0"),
        (Plan(EPOCHS), True, "epochs must be an integer >= 1, got True"),
        (Plan(EPOCHS), 2.0, "epochs must be an integer >= 1, got 2.0"),
    ],
)
def test_total_for_epochs_refuses(plan: Plan, epochs: object, message: str) -> None:
    with pytest.raises(ScheduleError, match=message):
        total_for_epochs(plan, epochs)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("plan", "total", "length"),
    [
        (Plan(STEPS), 100, None),
        (Plan(EPOCHS), 90, None),
        (Plan(EPOCHS, steps_per_epoch=5005), 90, RunLength(steps=450450, epochs=90)),
        (Plan(STEPS, steps_per_epoch=5005), 450450, RunLength(steps=450450, epochs=90)),
        (Plan(STEPS, steps_per_epoch=20), 65, RunLength(steps=65, epochs=3, extra_steps=5)),
        (Plan(STEPS, steps_per_epoch=20), 5, RunLength(steps=5, epochs=0, extra_steps=5)),
    ],
)
def test_run_length(plan: Plan, total: int, length: RunLength | None) -> None:
    assert run_length(plan, total) == length


@pytest.mark.parametrize(
    ("schedule", "where"),
    [
        (StepSchedule(0.1, milestones=(30, 60, 80)), (80, 0.0001)),
        (StepSchedule(0.1, step_size=30, min_lr=0.001), (60, 0.001)),
        (StepSchedule(0.1, milestones=(30,), warmup_steps=10), (30, 0.01)),
        (StepSchedule(0.1, milestones=(30,), warmup_steps=10, warmup_prefix=True), (40, 0.01)),
        # No floor: the lr decays until it underflows to 0.0 (0.1 * 2**-1072 < 2**-1075).
        (StepSchedule(0.1, step_size=1, gamma=0.5), (1072, 0.0)),
    ],
)
def test_lowest_lr(schedule: StepSchedule, where: tuple[int, float]) -> None:
    assert lowest_lr(schedule) == where
    position, lr = where
    assert schedule.lr_at(position - 1) > lr
    assert schedule.next_boundary(position) is None


@given(
    position=st.integers(0, 2**70),
    steps_per_epoch=st.integers(1, 10**6),
    mode=st.sampled_from(["step", "epoch"]),
)
def test_the_two_units_agree(position: int, steps_per_epoch: int, mode: str) -> None:
    plan = Plan(StepSchedule(0.1, mode=mode), steps_per_epoch=steps_per_epoch)  # type: ignore[arg-type]
    step, epoch, last = plan.step_of(position), plan.epoch_of(position), plan.last_step_of(position)
    assert step is not None
    assert epoch is not None
    assert last is not None
    # The position's first step falls in its epoch, and so does its last.
    assert step // steps_per_epoch == epoch
    assert last // steps_per_epoch == epoch
    assert step <= last


# -- typed times: the plan's clock -------------------------------------------------


@pytest.mark.parametrize(
    ("mode", "value", "expected"),
    [
        # An epoch-mode plan: a step is inside an epoch, and says which.
        ("epoch", TimeValue(200000, "step"), Moment(39, 200000, 39)),
        ("epoch", TimeValue(195195, "step"), Moment(39, 195195, 39)),
        ("epoch", TimeValue(39, None), Moment(39, 195195, 39)),
        ("epoch", TimeValue(39, "epoch"), Moment(39, 195195, 39)),
        # A step-mode plan: an epoch is its first step.
        ("step", TimeValue(30, "epoch"), Moment(150150, 150150, 30)),
        ("step", TimeValue(150151, None), Moment(150151, 150151, 30)),
        ("step", TimeValue(5004, "step"), Moment(5004, 5004, 0)),
    ],
)
def test_the_clock_locates_a_time_in_both_units(
    mode: Mode, value: TimeValue, expected: Moment
) -> None:
    assert Clock(mode, steps_per_epoch=5005).locate(value, "position") == expected


def test_without_steps_per_epoch_only_the_plan_unit_is_known() -> None:
    assert Clock("step").locate(TimeValue(7), "position") == Moment(7, 7, None)
    assert Clock("epoch").locate(TimeValue(7), "position") == Moment(7, None, 7)
    for mode, unit in (("step", "epoch"), ("epoch", "step")):
        with pytest.raises(MissingStepsPerEpoch) as caught:
            Clock(mode).locate(TimeValue(7, unit), "position")  # type: ignore[arg-type]
        assert caught.value.parameter == "position"


def test_a_negative_position_is_refused() -> None:
    for value in (TimeValue(-5), TimeValue(-5, "step")):
        with pytest.raises(ScheduleError, match="^position must be at least 0, got -5") as caught:
            Clock("epoch", 10).locate(value, "position")
        assert caught.value.parameter == "position"


def test_the_recipe_counts_in_steps() -> None:
    clock = Plan(StepSchedule(0.1), steps_per_epoch=5005).clock
    milestones = [clock.count(TimeValue(e, "epoch"), "milestones") for e in (30, 60, 80)]
    assert milestones == [150150, 300300, 400400]
    assert clock.count(TimeValue(5, "epoch"), "warmup_steps") == 25025
    with pytest.raises(ScheduleError, match="^step_size must be at least 1, got 0ep$"):
        clock.count(TimeValue(0, "epoch"), "step_size", minimum=1)
