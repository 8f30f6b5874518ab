"""Readings of torch scheduler states: the views ``inspect`` shows, by torch's own rules.

- torch's StepLR/MultiStepLR (:func:`torch_reading`): converted when exact; else (a
  repeated milestone) by torch's own rules (:func:`torch_view`), with the reason.
- stepsched's own ``StepScheduler.state_dict()``: the state as it is.
- torch's ``SequentialLR`` warmup idiom: one schedule at the outer ``last_epoch``, with
  torch's stored lr as the framework's own; when its warmup has no exact stepsched form,
  its position and lrs by torch's rules, a note, and the reason it cannot be converted.
"""

from __future__ import annotations

from itertools import islice
from typing import Any

from stepsched_cli.formats.reading import (
    UPCOMING_DECAYS,
    Decays,
    Reading,
    ScheduleView,
    state_view,
)
from stepsched_cli.formats.torch.choice import CheckpointReading
from stepsched_cli.formats.torch.sequential import SequentialState
from stepsched_cli.formats.torch.state_dict import TorchStepState
from stepsched_cli.scheduler import SchedulerState

__all__ = [
    "found_reading",
    "sequential_details",
    "sequential_reading",
    "torch_details",
    "torch_reading",
    "torch_view",
]


def torch_details(torch_state: TorchStepState, reason: str | None) -> tuple[tuple[str, Any], ...]:
    """The torch fields of an ``inspect`` record (``milestone_counts`` for MultiStepLR)."""
    details: list[tuple[str, Any]] = [("torch_scheduler", torch_state.kind)]
    if torch_state.milestones is not None:
        details.append(("milestone_counts", [count for _, count in torch_state.milestones]))
    details += [("convertible", reason is None), ("reason", reason)]
    return tuple(details)


def torch_view(torch_state: TorchStepState, reason: str | None) -> ScheduleView:
    """The view of a torch state by torch's own rules (a repeated milestone decays by
    ``gamma ** count``, a milestone 0 at position 0); each milestone is listed once."""
    position = torch_state.last_epoch
    following = torch_state.next_boundary(position)
    later: tuple[tuple[int, float], ...] = ()
    if following is not None:
        ahead = islice(torch_state.boundaries_after(following), UPCOMING_DECAYS)
        later = tuple((t, torch_state.lrs_at(t)[0]) for t in ahead)
    milestones = torch_state.milestones
    decays = Decays(
        initial_lrs=torch_state.base_lrs,
        gamma=torch_state.gamma,
        step_size=torch_state.step_size,
        milestones=None if milestones is None else tuple(m for m, _ in milestones),
        warmup_steps=0,
        warmup_start_lr=0.0,
        min_lr=0.0,
        steps_per_epoch=None,
        next_boundary=following,
        next_lrs=None if following is None else torch_state.lrs_at(following),
        later=later,
    )
    return ScheduleView(
        position=position,
        unit="step",
        position_text=f"step {position}",
        lrs=torch_state.lrs,
        decays=decays,
        described=(("torch", torch_state.describe()),),
        details=torch_details(torch_state, reason),
    )


def torch_reading(
    torch_state: TorchStepState,
    name: str,
    source: str,
    key: str | None = None,
    warnings: tuple[str, ...] = (),
) -> Reading:
    """A StepLR/MultiStepLR state as a reading (``name``: the format)."""
    reason = torch_state.unrepresentable_reason()
    if reason is not None:
        reason = f"this torch {torch_state.kind} state cannot be a stepsched state: {reason}"
        view = torch_view(torch_state, reason)
        return Reading(
            name, source, view, None, reason, key=key, warnings=warnings, records_unit=False
        )
    state = torch_state.to_state()
    view = state_view(
        state,
        described=(("torch", torch_state.describe()),),
        details=torch_details(torch_state, None),
    )
    return Reading(name, source, view, state, key=key, warnings=warnings, records_unit=False)


def found_reading(found: CheckpointReading, name: str, source: str) -> Reading:
    """The reading of the scheduler state a checkpoint search chose, whatever its kind
    (``name``: the format)."""
    state = found.state
    if isinstance(state, TorchStepState):
        return torch_reading(state, name, source, found.key, found.mismatches)
    if isinstance(state, SchedulerState):
        return Reading(
            name, source, state_view(state), state, key=found.key, warnings=found.mismatches
        )
    return sequential_reading(state, name, source, found.key, found.mismatches)


def sequential_details(state: SequentialState, reason: str | None) -> tuple[tuple[str, Any], ...]:
    """The torch fields of an ``inspect`` record for a SequentialLR."""
    return (
        ("torch_scheduler", "SequentialLR"),
        ("warmup_scheduler", state.warmup_kind),
        ("decay_scheduler", state.decay.kind),
        ("torch_lrs", None if state.torch_lrs is None else list(state.torch_lrs)),
        ("convertible", reason is None),
        ("reason", reason),
    )


def sequential_reading(
    state: SequentialState,
    name: str,
    source: str,
    key: str | None = None,
    warnings: tuple[str, ...] = (),
) -> Reading:
    """A SequentialLR as one schedule: converted when exact, else by torch's rules."""
    torch_lr = None if state.torch_lrs is None else state.torch_lrs[0]
    described = (("torch", state.describe()),)
    reason = state.unrepresentable_reason()
    if reason is not None:
        reason = f"this torch SequentialLR cannot be a stepsched state: {reason}"
        view = ScheduleView(
            position=state.last_epoch,
            unit="step",
            position_text=f"step {state.last_epoch}",
            lrs=state.lrs,
            decays=None,
            described=described,
            framework_lr=torch_lr,
            notes=(
                "its decays are not listed: stepsched evaluates this warmup by torch's "
                "closed form only",
            ),
            details=sequential_details(state, reason),
        )
        return Reading(
            name, source, view, None, reason, key=key, warnings=warnings, records_unit=False
        )
    converted = state.to_state()
    view = state_view(
        converted,
        described=described,
        framework_lr=torch_lr,
        details=sequential_details(state, None),
    )
    return Reading(name, source, view, converted, key=key, warnings=warnings, records_unit=False)
