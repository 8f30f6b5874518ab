"""Readings of the scheduler states a checkpoint search finds besides torch's StepLR/MultiStepLR.

:func:`~stepsched_cli.formats.torch.search.select_scheduler` chooses one state in a
``torch.save`` checkpoint or a JSON document and parses it by its kind; the format
table (:mod:`~stepsched_cli.formats.registry`) turns torch's StepLR/MultiStepLR into a
reading itself and hands the other kinds here:

- stepsched's own ``StepScheduler.state_dict()``: the state as it is.
- torch's ``SequentialLR`` warmup idiom: one schedule at the outer ``last_epoch``, with
  torch's stored lr as the framework's own; when its warmup has no exact stepsched form,
  its position and lrs by torch's rules, a note, and the reason it cannot be converted.
"""

from __future__ import annotations

from typing import Any

from stepsched_cli.formats.reading import Reading, ScheduleView, state_view
from stepsched_cli.formats.torch.search import CheckpointReading
from stepsched_cli.formats.torch.sequential import SequentialState
from stepsched_cli.scheduler import SchedulerState

__all__ = ["found_reading", "sequential_details", "sequential_reading"]


def found_reading(found: CheckpointReading, name: str, source: str) -> Reading:
    """The reading of a found stepsched or SequentialLR state (``name``: the format)."""
    state = found.state
    if isinstance(state, SchedulerState):
        return Reading(
            name, source, state_view(state), state, key=found.key, warnings=found.mismatches
        )
    if isinstance(state, SequentialState):
        return sequential_reading(state, name, source, found.key, found.mismatches)
    raise TypeError(f"not a stepsched or SequentialLR state: {type(state).__name__}")


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
        return Reading(name, source, view, None, reason, key=key, warnings=warnings)
    converted = state.to_state()
    view = state_view(
        converted,
        described=described,
        framework_lr=torch_lr,
        details=sequential_details(state, None),
    )
    return Reading(name, source, view, converted, key=key, warnings=warnings)
