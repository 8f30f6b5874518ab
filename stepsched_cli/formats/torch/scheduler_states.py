"""The scheduler states a checkpoint search chooses among, parsed by their kind.

A search (:mod:`.search`) finds state dicts by their shape; the one chosen is parsed here
by its kind (torch's StepLR/MultiStepLR by :mod:`.state_dict`, its SequentialLR warmup
idiom by :mod:`.sequential`, stepsched's own ``StepScheduler.state_dict()``), then
checked against its optimizer (:mod:`.optimizer_check`) and shown (:mod:`.views`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TypeGuard

from stepsched_cli.formats.torch import sequential
from stepsched_cli.formats.torch.sequential import SequentialState, is_sequential_state
from stepsched_cli.formats.torch.state_dict import TorchStepState, parse
from stepsched_cli.scheduler import STATE_FORMAT, SchedulerState

__all__ = [
    "CheckpointReading",
    "ParsedScheduler",
    "driven_lrs",
    "is_stepsched_state",
    "parse_scheduler",
    "position_of",
]

ParsedScheduler = TorchStepState | SequentialState | SchedulerState
"""A scheduler state found and parsed: torch's StepLR/MultiStepLR, its SequentialLR warmup
idiom, or stepsched's own ``StepScheduler.state_dict()``."""


def is_stepsched_state(value: object) -> TypeGuard[dict[str, object]]:
    """Whether ``value`` is a stepsched ``StepScheduler.state_dict()`` (its ``format`` marker).

    Example:
        >>> is_stepsched_state({"format": "stepsched.state", "version": 1})
        True
    """
    return isinstance(value, dict) and value.get("format") == STATE_FORMAT


def parse_scheduler(found: dict[str, object]) -> ParsedScheduler:
    """Parse a state dict :func:`is_any_scheduler_state` accepted, by its kind.

    Raises:
        StateError: it is not a valid state of its kind.
    """
    if is_stepsched_state(found):
        return SchedulerState.from_dict(found)
    if is_sequential_state(found):
        return sequential.parse(found)
    return parse(found)


def position_of(state: ParsedScheduler) -> str:
    """A parsed state's position in its own terms: ``last_epoch 75``, ``step 65``."""
    if isinstance(state, SchedulerState):
        return f"{state.schedule.mode} {state.position}"
    return f"last_epoch {state.last_epoch}"


def driven_lrs(state: ParsedScheduler) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """A parsed state's current lr and initial lr for every parameter group it drives.

    A stepsched state without groups (no optimizer attached) gives its schedule's lrs.
    """
    if isinstance(state, SchedulerState):
        if state.group_initial_lrs:
            return state.group_lrs, state.group_initial_lrs
        return (state.lr,), (state.schedule.initial_lr,)
    return state.lrs, state.base_lrs


@dataclass(frozen=True)
class CheckpointReading:
    """The scheduler state chosen in a checkpoint, with the optimizer cross-check.

    Attributes:
        key: The scheduler state's key path (``(top level)`` for a bare state dict).
        state: The parsed state (torch's, a SequentialLR's or stepsched's own).
        optimizer_key: The optimizer checked against it, None when there was none.
        mismatches: One line per disagreement between the optimizer's param groups and
            the scheduler, without the file name (empty when they agree or nothing was
            checked).
    """

    key: str
    state: ParsedScheduler
    optimizer_key: str | None = None
    mismatches: tuple[str, ...] = ()
