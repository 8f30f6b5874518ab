"""Plausibility: schedules that are valid but probably not what was meant.

:func:`check_plausibility` looks at a schedule (and, when known, the horizon and the
steps per epoch) and returns warnings for people.  Warnings never change a result:
the command line prints them on stderr and carries on with the same output and exit
code.  Every check is O(number of milestones) at most, never O(horizon).

The checks:

* ``never_reached``: a step size or milestone at or beyond the horizon ``total``, so
  that decay never happens in the run.
* ``epochs_meant``: a step-mode schedule whose step size (or last milestone) is under
  a tenth of an epoch: decays every few batches usually means the numbers were
  epochs.
* ``warmup_above``: a warmup that starts above the lr it warms up to, so that it
  ramps down: almost always a typo (``--warmup-start-lr 0.5 --lr 0.1``).
* ``underflow``: so many decays that the lr reaches exactly 0.0 (float underflow)
  within the horizon; every later step trains with lr 0.

Example:
    >>> schedule = StepSchedule(0.1, step_size=30)
    >>> [w.kind for w in check_plausibility(schedule, total=20, steps_per_epoch=5005)]
    ['never_reached', 'epochs_meant']
    >>> check_plausibility(schedule, total=120)
    ()
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, cast

from stepsched_cli.numbers import format_lr, format_positions
from stepsched_cli.schedule import StepSchedule

WarningKind = Literal["never_reached", "epochs_meant", "warmup_above", "underflow"]

# A step-mode decay interval under this fraction of an epoch suggests epochs were meant.
EPOCH_FRACTION = 10


@dataclass(frozen=True)
class PlausibilityWarning:
    """Something about a schedule that is allowed but probably a mistake.

    Attributes:
        kind: Machine-readable: ``"never_reached"``, ``"epochs_meant"``,
            ``"warmup_above"`` or ``"underflow"``.
        message: One sentence for people, naming the parameter and the values.
    """

    kind: WarningKind
    message: str


def check_plausibility(
    schedule: StepSchedule,
    *,
    total: int | None = None,
    horizon: int | None = None,
    steps_per_epoch: int | None = None,
) -> tuple[PlausibilityWarning, ...]:
    """The warnings for ``schedule``, in the order of the checks above.

    Args:
        schedule: The schedule.
        total: The horizon the user asked for (positions ``0..total-1``, in the
            schedule's unit): decays at or beyond it are never reached.  None: no
            such check.
        horizon: The positions an output covers, for the underflow check (defaults to
            ``total``; None: no underflow check).
        steps_per_epoch: Optimizer steps per epoch, when known (enables the
            ``epochs_meant`` check for step-mode schedules).
    """
    horizon = total if horizon is None else horizon
    checks = (
        _never_reached(schedule, total),
        _epochs_meant(schedule, steps_per_epoch),
        _warmup_above(schedule),
        _underflow(schedule, horizon),
    )
    return tuple(warning for warning in checks if warning is not None)


def _never_reached(schedule: StepSchedule, total: int | None) -> PlausibilityWarning | None:
    """Decays at or beyond the horizon ``total``."""
    if total is None:
        return None
    unit = schedule.mode
    if schedule.milestones is not None:
        late = [
            milestone
            for index, milestone in enumerate(schedule.milestones, start=1)
            if cast(int, schedule.decay_position(index)) >= total
        ]
        if not late:
            return None
        shown = format_positions(late)
        these, verb = ("milestone", "is") if len(late) == 1 else ("milestones", "are")
        return PlausibilityWarning(
            "never_reached",
            f"{these} {shown} at or beyond the horizon ({total} {unit}s) {verb} never reached",
        )
    first = schedule.boundary(1)
    if first is None or first < total:
        return None
    return PlausibilityWarning(
        "never_reached",
        f"step_size {schedule.step_size}: the first decay at {unit} {first} "
        f"is beyond the horizon ({total} {unit}s); the lr never decays",
    )


def _epochs_meant(
    schedule: StepSchedule, steps_per_epoch: int | None
) -> PlausibilityWarning | None:
    """A step-mode decay interval under a tenth of an epoch."""
    if schedule.mode != "step" or steps_per_epoch is None:
        return None
    interval = schedule.step_size if schedule.milestones is None else schedule.milestones[-1]
    if interval is None or interval * EPOCH_FRACTION >= steps_per_epoch:
        return None
    what = "step_size" if schedule.milestones is None else "the last milestone"
    return PlausibilityWarning(
        "epochs_meant",
        f"{what} {interval} is under a tenth of an epoch ({steps_per_epoch} "
        "steps): epochs were probably meant",
    )


def _warmup_above(schedule: StepSchedule) -> PlausibilityWarning | None:
    """A warmup whose start lr is above the lr it ramps to."""
    if not schedule.warmup_steps or schedule.warmup_start_lr <= schedule.initial_lr:
        return None
    unit = schedule.mode
    return PlausibilityWarning(
        "warmup_above",
        f"warmup_start_lr {format_lr(schedule.warmup_start_lr)} is above the lr "
        f"{format_lr(schedule.initial_lr)}: the warmup ramps the lr down over "
        f"{schedule.warmup_steps} {unit}s instead of up: a typo?",
    )


def _underflow(schedule: StepSchedule, horizon: int | None) -> PlausibilityWarning | None:
    """The lr reaching exactly 0.0 within the horizon."""
    if horizon is None or schedule.min_lr != 0:
        return None
    limit = schedule.boundary_count
    at = schedule.boundary(limit)
    if at is None or at >= horizon or schedule.lr_after_decays(limit) != 0.0:
        return None
    unit = schedule.mode
    return PlausibilityWarning(
        "underflow",
        f"the lr underflows to 0 at {unit} {at}, after {limit} decays of gamma "
        f"{format_lr(schedule.gamma)}: every later {unit} trains with lr 0",
    )


__all__ = ["EPOCH_FRACTION", "PlausibilityWarning", "WarningKind", "check_plausibility"]
