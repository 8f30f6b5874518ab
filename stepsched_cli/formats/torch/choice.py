"""Choose one scheduler state among those a search found, then parse and check it.

:func:`read_found_states` is the step after the search (:mod:`.search`): it chooses the
state the ``key`` hint names (or the only one), parses it by the kind the search
recorded (:mod:`.scheduler_states`), then finds and checks the optimizer that drives it
(:mod:`.optimizer_check`).  Each step is called once, in that order, and none calls back
into an earlier one.

Example:
    >>> from stepsched_cli.formats.torch.search import find_schedulers
    >>> checkpoint = {
    ...     "lr_scheduler": {"step_size": 30, "gamma": 0.1, "base_lrs": [0.1],
    ...                      "last_epoch": 75, "_last_lr": [0.001]},
    ...     "optimizer": {"state": {}, "param_groups": [{"lr": 0.001, "initial_lr": 0.1,
    ...                                                   "params": [0]}]},
    ... }
    >>> reading = read_found_states(find_schedulers(checkpoint), "ckpt.pt")
    >>> reading.key, reading.state.kind, reading.optimizer_key, reading.mismatches
    ('lr_scheduler', 'StepLR', 'optimizer', ())
"""

from __future__ import annotations

from dataclasses import dataclass

from stepsched_cli.errors import StateError
from stepsched_cli.formats.checkpoint_errors import (
    AmbiguousCheckpointError,
    SchedulerCandidate,
    no_scheduler_state_error,
)
from stepsched_cli.formats.torch.optimizer_check import check_driving_optimizer
from stepsched_cli.formats.torch.scheduler_states import ParsedScheduler, parse_scheduler
from stepsched_cli.formats.torch.search import MAX_LISTED, FoundSchedulers, FoundState
from stepsched_cli.validate import shown

__all__ = ["CheckpointReading", "read_found_states"]


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


def read_found_states(
    found: FoundSchedulers, source: str, key: str | None = None
) -> CheckpointReading:
    """Choose the scheduler state ``key`` names (or the only one), parse it, check its
    optimizer.

    Raises:
        CheckpointError: no scheduler state was found.
        AmbiguousCheckpointError: several scheduler states and no ``key``, or ``key``
            names none of them.
        StateError: the chosen state is not a valid scheduler state; the message starts
            with the file and key.
    """
    chosen = _choose(found, source, key)
    try:
        parsed = parse_scheduler(chosen)
    except StateError as error:
        raise StateError(f"{source} [{chosen.key}]: {error}", parameter=error.parameter) from None
    optimizer_key, mismatches = check_driving_optimizer(parsed, found.optimizers, chosen)
    return CheckpointReading(chosen.key, parsed.state, optimizer_key, mismatches)


def _choose(found: FoundSchedulers, source: str, key: str | None) -> FoundState:
    """The scheduler state ``key`` names, or the only one; refusals list the candidates."""
    states = found.states
    if not states:
        optimizer_key = found.optimizers[0].key if found.optimizers else None
        raise no_scheduler_state_error(source, optimizer_key)
    candidates = tuple(SchedulerCandidate(hit.key, hit.kind, hit.last_epoch) for hit in states)
    keys = [hit.key for hit in states]
    shortened = [name if len(name) <= 60 else name[:57] + "..." for name in keys[:MAX_LISTED]]
    more = f", ... ({len(keys)} in all)" if len(keys) > MAX_LISTED else ""
    listed = ", ".join(shortened) + more
    if key is None:
        if len(states) > 1:
            raise AmbiguousCheckpointError(
                f"{source}: {len(states)} LR scheduler states found ({listed}); "
                "choose one with --key",
                candidates,
                None,
            )
        return states[0]
    for hit in states:
        if hit.key == key:
            return hit
    raise AmbiguousCheckpointError(
        f"{source}: no LR scheduler state at key {shown(key)} (found: {listed})", candidates, key
    )
