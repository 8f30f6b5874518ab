"""torch's SequentialLR warmup idiom read as one schedule (formats/torch_sequential.py).

The contract: before the milestone W the warmup child's lr at the outer position, from W
on the decay child's lr at ``t - W``; a stepsched schedule exactly when the warmup is a
linear ramp reaching the base lr at W.  Values here follow torch's closed forms (torch
2.x ``LinearLR``/``ConstantLR``); the real files are tested in
test_real_torch_readers.py.
"""

from __future__ import annotations

from typing import Any

import pytest

from stepsched_cli.errors import ConversionError, StateError
from stepsched_cli.formats.torch.sequential import parse

STEP = {"step_size": 10, "gamma": 0.5, "base_lrs": [0.1], "last_epoch": 0}
LINEAR = {"start_factor": 0.1, "end_factor": 1.0, "total_iters": 5, "base_lrs": [0.1]}
CONSTANT = {"factor": 0.25, "total_iters": 5, "base_lrs": [0.1]}


def sequential(
    warmup: dict[str, Any], decay: dict[str, Any] | None = None, *, w: int = 5, t: int = 0
) -> dict[str, Any]:
    return {
        "_milestones": [w],
        "last_epoch": t,
        "_schedulers": [{**warmup, "last_epoch": 0}, {**(decay or STEP)}],
    }


def test_the_decay_clock_starts_at_the_milestone() -> None:
    state = parse(sequential(LINEAR, t=0))
    lrs = [state.lrs_at(t)[0] for t in (0, 3, 4, 5, 14, 15, 25)]
    assert lrs == pytest.approx([0.01, 0.064, 0.082, 0.1, 0.1, 0.05, 0.025], rel=1e-12)
    schedule = state.to_state().schedule
    assert (schedule.warmup_steps, schedule.warmup_start_lr, schedule.step_size) == (5, 0.01, 10)
    assert [schedule.lr_at(t) for t in (5, 14, 15, 25)] == [0.1, 0.1, 0.05, 0.025]


@pytest.mark.parametrize(
    ("warmup", "w", "convertible", "start"),
    [
        (LINEAR, 5, True, 0.01),
        ({**LINEAR, "total_iters": 4}, 5, False, None),  # ramp ends before W
        ({**LINEAR, "total_iters": 6}, 5, False, None),  # jumps to the base lr at W
        ({**LINEAR, "end_factor": 0.9}, 5, False, None),
        ({**LINEAR, "start_factor": 1.0}, 5, True, 0.1),  # flat: a decay clock shift only
        ({**LINEAR, "total_iters": 3}, 1, True, 0.01),  # one warmup position
        (CONSTANT, 5, False, None),
        ({**CONSTANT, "factor": 1.0}, 5, True, 0.1),
        ({**CONSTANT, "total_iters": 0}, 5, True, 0.1),  # the factor never applies
        (CONSTANT, 1, True, 0.025),
    ],
)
def test_which_warmups_are_a_stepsched_warmup(
    warmup: dict[str, Any], w: int, convertible: bool, start: float | None
) -> None:
    state = parse(sequential(warmup, w=w))
    assert (state.unrepresentable_reason() is None) is convertible
    if start is None:
        with pytest.raises(ConversionError, match="this SequentialLR cannot be a stepsched"):
            state.to_state()
        return
    schedule = state.to_state().schedule
    assert (schedule.warmup_steps, schedule.warmup_start_lr) == (w, start)
    assert all(schedule.lr_at(t) == pytest.approx(state.lrs_at(t)[0]) for t in range(w + 25))


def test_groups_warming_up_from_different_lrs_are_not_converted() -> None:
    warmup = {**LINEAR, "base_lrs": [0.1, 0.2]}
    decay = {**STEP, "base_lrs": [0.1, 0.2]}
    state = parse(sequential(warmup, decay, t=2))
    assert state.lrs == pytest.approx((0.046, 0.092), rel=1e-12)
    assert "warm up from different lrs" in str(state.unrepresentable_reason())


def test_a_repeated_decay_milestone_is_not_converted() -> None:
    decay = {"milestones": {"3": 2}, "gamma": 0.1, "base_lrs": [0.1], "last_epoch": 0}
    state = parse(sequential(LINEAR, decay, t=8))
    assert state.lrs == pytest.approx((0.001,))
    assert str(state.unrepresentable_reason()).startswith("its MultiStepLR: milestone 3 appears")


def test_describe_names_both_children() -> None:
    assert parse(sequential(CONSTANT)).describe() == (
        "SequentialLR([ConstantLR(factor=0.25, total_iters=5), StepLR(step_size=10, "
        "gamma=0.5)], milestones=[5]), base_lrs 0.1"
    )


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ({"_milestones": [5], "last_epoch": 0}, "not a SequentialLR state dict"),
        (
            {**sequential(LINEAR), "_milestones": [5, 10]},
            "a SequentialLR of 2 schedulers and 2 milestones",
        ),
        ({**sequential(LINEAR), "last_epoch": -1}, "field 'last_epoch' must be an integer >= 0"),
        (
            {**sequential(LINEAR), "_milestones": [0]},
            r"field '_milestones\[0\]' must be an integer >= 1, got 0",
        ),
        (
            {**sequential(LINEAR), "_schedulers": [1, STEP]},
            r"field '_schedulers\[0\]' must be a scheduler state dict",
        ),
        (
            {**sequential(LINEAR), "_schedulers": [LINEAR, 1]},
            r"field '_schedulers\[1\]' must be a scheduler state dict",
        ),
        (
            sequential({**LINEAR, "start_factor": 0.0}),
            "start_factor' must be > 0",
        ),
        (
            sequential({**LINEAR, "end_factor": 1.5}),
            "end_factor' must be a number from 0 to 1, got 1.5",
        ),
        (sequential({**LINEAR, "total_iters": 0}), "total_iters' must be an integer >= 1"),
        (sequential(STEP), "its first scheduler looks like StepLR, not a warmup"),
        (
            sequential(LINEAR, {**STEP, "gamma": 2}),
            "its second scheduler: field 'gamma' must be a number with 0 < gamma < 1",
        ),
        ({**sequential(LINEAR, t=3), "_last_lr": [0.5]}, r"field '_last_lr\[0\]' is 0.5 but"),
        ({**sequential(LINEAR), "_last_lr": [0.01, 0.02]}, "must be a list of 1 numbers"),
    ],
)
def test_malformed_sequential_states_are_refused(document: dict[str, Any], message: str) -> None:
    with pytest.raises(StateError, match=message):
        parse(document)
