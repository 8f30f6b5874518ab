"""The scheduler state a checkpoint search found and :mod:`.choice` chose, parsed by its kind.

The search (:mod:`.search`) found state dicts by their shape and recorded each one's
kind; the one chosen is parsed here by that kind (torch's StepLR/MultiStepLR by
:mod:`.state_dict`, its SequentialLR warmup idiom by :mod:`.sequential`, stepsched's own
``StepScheduler.state_dict()``), with what its optimizer is then checked against
(:mod:`.optimizer_check`): the lrs it drives and its position in its own terms.
"""

from __future__ import annotations

from dataclasses import dataclass

from stepsched_cli.formats.torch import sequential, state_dict
from stepsched_cli.formats.torch.search import SEQUENTIAL_KIND, STEPSCHED_KIND, FoundState
from stepsched_cli.formats.torch.sequential import SequentialState
from stepsched_cli.formats.torch.state_dict import TorchStepState
from stepsched_cli.scheduler import SchedulerState

__all__ = [
    "ParsedScheduler",
    "ParsedState",
    "driven_lrs",
    "parse_scheduler",
    "position_of",
]

ParsedScheduler = TorchStepState | SequentialState | SchedulerState
"""A scheduler state found and parsed: torch's StepLR/MultiStepLR, its SequentialLR warmup
idiom, or stepsched's own ``StepScheduler.state_dict()``."""


@dataclass(frozen=True)
class ParsedState:
    """A chosen scheduler state, parsed, with what its optimizer is checked against.

    Attributes:
        state: The parsed state.
        position: Its position in its own terms (:func:`position_of`).
        lrs: Every parameter group's lr at its position (:func:`driven_lrs`).
        initial_lrs: Every group's initial lr.
        groups: How many parameter groups it drives, -1 when it does not say (a
            stepsched state saved without an optimizer).
    """

    state: ParsedScheduler
    position: str
    lrs: tuple[float, ...]
    initial_lrs: tuple[float, ...]
    groups: int


def parse_scheduler(found: FoundState) -> ParsedState:
    """Parse a scheduler state the search found, by the kind it recorded.

    Raises:
        StateError: it is not a valid state of its kind.
    """
    if found.kind == STEPSCHED_KIND:
        own = SchedulerState.from_dict(found.state)
        position = f"{own.schedule.mode} {own.position}"
        if not own.group_initial_lrs:  # saved without an optimizer: its schedule's lr
            return ParsedState(own, position, (own.lr,), (own.schedule.initial_lr,), -1)
        groups = len(own.group_initial_lrs)
        return ParsedState(own, position, own.group_lrs, own.group_initial_lrs, groups)
    torch_state: TorchStepState | SequentialState
    if found.kind == SEQUENTIAL_KIND:
        torch_state = sequential.parse(found.state)
    else:
        torch_state = state_dict.parse(found.state)
    position = f"last_epoch {torch_state.last_epoch}"
    lrs, base_lrs = torch_state.lrs, torch_state.base_lrs
    return ParsedState(torch_state, position, lrs, base_lrs, len(base_lrs))


def position_of(state: ParsedScheduler) -> str:
    """A parsed state's position in its own terms: ``last_epoch 75``, ``step 65`` (as
    :func:`parse_scheduler` records it)."""
    if isinstance(state, SchedulerState):
        return f"{state.schedule.mode} {state.position}"
    return f"last_epoch {state.last_epoch}"


def driven_lrs(state: ParsedScheduler) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """A parsed state's current lr and initial lr for every parameter group it drives (as
    :func:`parse_scheduler` records them).

    A stepsched state without groups (no optimizer attached) gives its schedule's lrs.
    """
    if isinstance(state, SchedulerState):
        if state.group_initial_lrs:
            return state.group_lrs, state.group_initial_lrs
        return (state.lr,), (state.schedule.initial_lr,)
    return state.lrs, state.base_lrs
