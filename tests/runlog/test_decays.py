"""Observed decays beside planned ones, and the diagnosis of a constant shift."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from stepsched_cli.runlog import check_log, check_log_file, read_log
from stepsched_cli.runlog.decays import MAX_DECAYS_LISTED, DecayWatch, compare_decays
from stepsched_cli.runlog.rows import LogPoint
from stepsched_cli.schedule import StepSchedule

# The ImageNet recipe, scaled down to 10 steps per epoch: a 5-epoch warmup per step,
# decays at epochs 30, 60 and 80.
RECIPE = StepSchedule(0.1, milestones=(300, 600, 800), warmup_steps=50, warmup_start_lr=0.01)


def late_by(schedule: StepSchedule, shift: int, total: int, every: int = 1) -> list[LogPoint]:
    """A run whose warmup is right and whose every decay came ``shift`` steps late."""
    moved = schedule.replace(
        milestones=tuple(milestone + shift for milestone in schedule.milestones or ())
    )
    return [LogPoint(step, moved.lr_at(step)) for step in range(0, total, every)]


def write(path: Path, points: list[LogPoint]) -> Path:
    path.write_text("step,lr\n" + "".join(f"{p.step},{p.lr!r}\n" for p in points))
    return path


def test_decays_one_epoch_late_are_diagnosed_as_a_shift(tmp_path: Path) -> None:
    points = late_by(RECIPE, 10, 900)
    result = check_log(points, RECIPE, steps_per_epoch=10)
    assert (result.ok, result.first_mismatch_step) == (False, 300)
    diagnosis = result.diagnosis
    assert diagnosis is not None
    assert (diagnosis.kind, diagnosis.shift, diagnosis.shift_range) == ("shifted", 10, (10, 10))
    assert diagnosis.message == (
        "each decay came 10 steps (1 epoch) late, the lrs as planned: planned at steps 300, "
        "600, 800, first seen at 310, 610, 810; the milestones are off by a constant, as with "
        "epochs counted from 1 (first mismatch at step 300: expected 0.01, "
        "logged 0.1)"
    )
    rows = [
        (r.planned_at, r.observed_at, r.difference, r.lr_before, r.lr_after) for r in result.decays
    ]
    assert rows == [
        (300, 310, 10, 0.1, 0.01),
        (600, 610, 10, 0.01, 0.001),
        (800, 810, 10, 0.001, 0.0001),
    ]
    assert (
        check_log_file(write(tmp_path / "late.csv", points), RECIPE, steps_per_epoch=10) == result
    )


def test_a_sparse_log_brackets_the_shift() -> None:
    # Logged every 4 steps: a decay at 307 is first seen at 308, last missed at 304.
    result = check_log(late_by(RECIPE, 7, 900, every=4), RECIPE)
    assert result.diagnosis is not None
    assert (result.diagnosis.kind, result.diagnosis.shift_range) == ("shifted", (5, 8))
    assert result.diagnosis.message.startswith("each decay came between 5 and 8 steps late")


def test_early_decays_and_a_shift_equal_to_the_warmup() -> None:
    early = check_log(late_by(RECIPE, -20, 900), RECIPE, steps_per_epoch=10)
    assert early.diagnosis is not None
    assert early.diagnosis.message.startswith("each decay came 20 steps (2 epochs) early")
    prefix = check_log(late_by(RECIPE, 50, 900), RECIPE)
    assert prefix.diagnosis is not None
    assert (
        "the decay clock starts after the warmup, as torch's SequentialLR"
        in prefix.diagnosis.message
    )


def test_a_last_decay_pushed_past_the_end_of_the_log_is_still_a_shift() -> None:
    result = check_log(late_by(RECIPE, 10, 805), RECIPE)
    assert result.diagnosis is not None
    assert result.diagnosis.kind == "shifted"
    assert [(r.planned_at, r.observed_at) for r in result.decays] == [
        (300, 310),
        (600, 610),
        (800, None),
    ]


@pytest.mark.parametrize(
    "points",
    [
        # Uneven offsets: 10 late, then 20.
        [LogPoint(t, RECIPE.replace(milestones=(310, 620, 810)).lr_at(t)) for t in range(900)],
        # A wrong lr after a decay.
        [LogPoint(t, 0.05 if 300 <= t < 600 else RECIPE.lr_at(t)) for t in range(900)],
        # The warmup is wrong too.
        [LogPoint(t, 0.1 if t < 50 else RECIPE.lr_at(t - 10)) for t in range(900)],
    ],
)
def test_no_shift_unless_one_offset_explains_every_decay(points: list[LogPoint]) -> None:
    result = check_log(points, RECIPE)
    assert result.diagnosis is not None
    assert result.diagnosis.kind != "shifted"


def test_one_epoch_behind_says_so_in_epochs() -> None:
    epochs = StepSchedule(0.1, milestones=(30, 60, 80), mode="epoch")
    points = [LogPoint(t, epochs.lr_at(max(0, t // 10 - 1))) for t in range(900)]
    result = check_log(points, epochs, steps_per_epoch=10)
    assert result.diagnosis is not None
    assert result.diagnosis.kind == "behind_by_one"
    assert result.diagnosis.message == (
        "the log is one epoch behind the schedule, log(t) == lr(t - 1 epoch): the epochs "
        "count from 1, or the scheduler is stepped one epoch late (once before the first "
        "epoch is trained is missing) (first mismatch at step 300: expected "
        "0.01, logged 0.1)"
    )
    assert "shifted" in result.diagnosis.also_consistent


def test_the_watch_keeps_a_bounded_list() -> None:
    schedule = StepSchedule(1.0, step_size=1, gamma=0.999)
    watch = DecayWatch(schedule, 1e-9, 1)
    for step in range(3 * MAX_DECAYS_LISTED):
        watch.add(step, schedule.lr_at(step))
    assert (len(watch.changes), watch.more) == (MAX_DECAYS_LISTED, True)
    rows = compare_decays(watch, schedule, 3 * MAX_DECAYS_LISTED - 1)
    assert len(rows) == MAX_DECAYS_LISTED


@settings(max_examples=60, deadline=None)
@given(shift=st.integers(-250, 250).filter(bool), every=st.integers(1, 40))
def test_fast_and_row_by_row_agree_on_shifts(
    tmp_path_factory: pytest.TempPathFactory, shift: int, every: int
) -> None:
    points = late_by(RECIPE, shift, 1000, every)
    path = write(tmp_path_factory.mktemp("shift") / "run.csv", points)
    assert check_log_file(path, RECIPE) == check_log(read_log(path), RECIPE)
