"""Plausibility warnings: each check fires exactly on its case, and only there."""

from __future__ import annotations

import pytest

from stepsched_cli.plausibility import check_plausibility
from stepsched_cli.schedule import StepSchedule

SEED = StepSchedule(0.1, step_size=30)


def kinds(schedule: StepSchedule, **known: int | None) -> list[str]:
    return [warning.kind for warning in check_plausibility(schedule, **known)]


@pytest.mark.parametrize(
    ("schedule", "known", "expected"),
    [
        (SEED, {}, []),
        (SEED, {"total": 120}, []),
        (SEED, {"total": 31}, []),
        (SEED, {"total": 30}, ["never_reached"]),
        (
            StepSchedule(0.1, step_size=30, warmup_steps=5, warmup_prefix=True),
            {"total": 35},
            ["never_reached"],
        ),
        (StepSchedule(0.1, step_size=30, warmup_steps=5), {"total": 35}, []),
        (StepSchedule(0.1, step_size=30, warmup_steps=5), {"total": 30}, ["never_reached"]),
        (
            StepSchedule(0.1, milestones=(30, 60), warmup_steps=5, warmup_prefix=True),
            {"total": 62},
            ["never_reached"],
        ),
        (StepSchedule(0.1, milestones=(30, 60), warmup_steps=5), {"total": 62}, []),
        (StepSchedule(0.1, milestones=(30, 80)), {"total": 81}, []),
        (StepSchedule(0.1, milestones=(30, 80)), {"total": 80}, ["never_reached"]),
        (SEED, {"steps_per_epoch": 300}, []),
        (SEED, {"steps_per_epoch": 301}, ["epochs_meant"]),
        (SEED.replace(mode="epoch"), {"steps_per_epoch": 5005}, []),
        (StepSchedule(0.1, milestones=(30, 80)), {"steps_per_epoch": 5005}, ["epochs_meant"]),
        (StepSchedule(0.1, step_size=1, gamma=1e-200), {"total": 2}, []),
        (StepSchedule(0.1, step_size=1, gamma=1e-200), {"total": 3}, ["underflow"]),
        (StepSchedule(0.1, step_size=1, gamma=1e-200), {"horizon": 3}, ["underflow"]),
        (StepSchedule(0.1, step_size=1, gamma=1e-200, min_lr=1e-300), {"total": 10}, []),
        (SEED, {"total": 10**6}, ["underflow"]),
        (SEED, {"total": 20, "steps_per_epoch": 5005}, ["never_reached", "epochs_meant"]),
        (SEED.replace(warmup_steps=5, warmup_start_lr=0.5), {}, ["warmup_above"]),
        (SEED.replace(warmup_steps=5, warmup_start_lr=0.1), {}, []),
        (SEED.replace(warmup_steps=5, warmup_start_lr=0.01), {}, []),
    ],
)
def test_each_check(schedule: StepSchedule, known: dict[str, int], expected: list[str]) -> None:
    assert kinds(schedule, **known) == expected


def test_messages_name_the_values() -> None:
    messages = [
        warning.message
        for warning in check_plausibility(
            StepSchedule(0.1, milestones=(30, 80, 90)), total=85, steps_per_epoch=5005
        )
    ]
    assert messages == [
        "milestone 90 at or beyond the horizon (85 steps) is never reached",
        "the last milestone 90 is under a tenth of an epoch (5005 steps): epochs were "
        "probably meant",
    ]
    (above,) = check_plausibility(
        StepSchedule(0.1, milestones=(30,), warmup_steps=5, warmup_start_lr=0.5, mode="epoch")
    )
    assert above.message == (
        "warmup_start_lr 0.5 is above the lr 0.1: the warmup ramps the lr down over 5 epochs "
        "instead of up: a typo?"
    )
    (underflow,) = check_plausibility(StepSchedule(0.1, step_size=1, gamma=1e-200), total=9)
    assert underflow.message == (
        "the lr underflows to 0 at step 2, after 2 decays of gamma 1e-200: every later step "
        "trains with lr 0"
    )
