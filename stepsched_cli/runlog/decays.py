"""The decays a log shows, beside the ones the schedule plans.

While a log streams past, :class:`DecayWatch` records every change of the logged lr
after the schedule's warmup: where the lr was last seen at its old value, where it was
first seen at the new one, and both values.  :func:`compare_decays` pairs them, in
order, with the schedule's decays inside the logged steps; :func:`constant_shift`
finds the one offset that moves every planned decay onto the observed one, when there
is one (a run whose decays all came an epoch late).

Positions in a log are optimizer steps: a planned decay at epoch ``e`` of an
epoch-mode schedule with ``scale`` steps per epoch is at step ``e * scale``.

Example:
    >>> schedule = StepSchedule(0.1, milestones=(30, 60))
    >>> watch = DecayWatch(schedule, 1e-6, 1)
    >>> for step in range(90):
    ...     watch.add(step, schedule.lr_at(max(0, step - 2)))
    >>> rows = compare_decays(watch, schedule, largest_step=89)
    >>> [(row.planned_at, row.observed_at, row.difference) for row in rows]
    [(30, 32, 2), (60, 62, 2)]
    >>> constant_shift(rows, 1e-6, largest_step=89)
    (2, 2)
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import islice
from typing import TYPE_CHECKING

from stepsched_cli.runlog.intervals import approx
from stepsched_cli.schedule import StepSchedule

if TYPE_CHECKING:
    from stepsched_cli.runlog.vector import FloatArray, IntArray

# The most lr changes (and planned decays) compared: a log that changes its lr more
# often after the warmup than this is not following a step schedule at all.
MAX_DECAYS_LISTED = 100


@dataclass(frozen=True)
class LrChange:
    """A change of the logged lr between two consecutive logged points.

    Attributes:
        last_before: The last logged step at the old lr.
        first_after: The first logged step at the new lr (the change happened at a step
            in ``last_before + 1 .. first_after``).
        lr_before: The logged lr before.
        lr_after: The logged lr after.
    """

    last_before: int
    first_after: int
    lr_before: float
    lr_after: float


class DecayWatch:
    """Records the logged lr's changes after the warmup, in log order (bounded memory).

    Attributes:
        changes: The first :data:`MAX_DECAYS_LISTED` changes.
        more: Whether there were more changes than that.
    """

    def __init__(self, schedule: StepSchedule, tolerance: float, scale: int) -> None:
        self.scale = scale
        # The first logged step whose position is past the warmup's ramp.
        self.start = schedule.warmup_steps * scale
        self.tolerance = tolerance
        self.previous: tuple[int, float] | None = None
        self.changes: list[LrChange] = []
        self.more = False

    def add(self, step: int, logged: float) -> None:
        """One logged point, in log order."""
        previous = self.previous
        self.previous = (step, logged)
        if previous is None:
            return
        last_step, last_lr = previous
        if last_step < self.start or step <= last_step:
            return
        if not approx(logged, last_lr, self.tolerance):
            self._record(LrChange(last_step, step, last_lr, logged))

    def add_block(self, steps: IntArray, logged: FloatArray) -> None:
        """:meth:`add` of every point of a block (numpy arrays), the same records."""
        import numpy as np

        if self.previous is None:
            self.previous = (int(steps[0]), float(logged[0]))
            steps, logged = steps[1:], logged[1:]
            if not steps.size:
                return
        last_step, last_lr = self.previous
        steps_before = np.concatenate(([last_step], steps[:-1]))
        lrs_before = np.concatenate(([last_lr], logged[:-1]))
        changed = ~(
            np.abs(logged - lrs_before)
            <= self.tolerance * np.maximum(np.abs(logged), np.abs(lrs_before))
        )
        changed &= (steps_before >= self.start) & (steps > steps_before)
        room = MAX_DECAYS_LISTED + 1 - len(self.changes)
        for index in islice(np.flatnonzero(changed).tolist(), max(0, room)):
            self._record(
                LrChange(
                    int(steps_before[index]),
                    int(steps[index]),
                    float(lrs_before[index]),
                    float(logged[index]),
                )
            )
        self.previous = (int(steps[-1]), float(logged[-1]))

    def _record(self, change: LrChange) -> None:
        if len(self.changes) < MAX_DECAYS_LISTED:
            self.changes.append(change)
        else:
            self.more = True


@dataclass(frozen=True)
class DecayRow:
    """A planned decay beside the observed one it pairs with (in order).

    Attributes:
        planned_at: The step of the planned decay (None: an observed change the
            schedule does not plan).
        observed_at: The first logged step at the new lr (None: not seen in the log).
        last_before: The last logged step at the old lr (None when not observed).
        difference: ``observed_at - planned_at`` (None unless both are known).
        planned_lr_before: The schedule's lr before the planned decay.
        planned_lr_after: The schedule's lr after it.
        lr_before: The logged lr before the observed change.
        lr_after: The logged lr after it.
    """

    planned_at: int | None
    observed_at: int | None
    last_before: int | None
    difference: int | None
    planned_lr_before: float | None
    planned_lr_after: float | None
    lr_before: float | None
    lr_after: float | None

    def to_dict(self) -> dict[str, object]:
        """The JSON form of one row of ``check --json``'s ``decays``."""
        return {
            "planned_at": self.planned_at,
            "observed_at": self.observed_at,
            "difference": self.difference,
            "lr_before": self.lr_before,
            "lr_after": self.lr_after,
            "planned_lr_before": self.planned_lr_before,
            "planned_lr_after": self.planned_lr_after,
        }


def planned_decays(schedule: StepSchedule, scale: int, largest_step: int) -> list[int]:
    """The steps of the schedule's decays up to ``largest_step`` (at most the listed many)."""
    last_position = largest_step // scale
    found = islice(schedule.boundaries(1, last_position + 1), MAX_DECAYS_LISTED)
    return [position * scale for position in found]


def compare_decays(watch: DecayWatch, schedule: StepSchedule, largest_step: int) -> list[DecayRow]:
    """The planned decays inside the log beside the observed changes, paired in order."""
    scale = watch.scale
    planned = planned_decays(schedule, scale, largest_step)
    rows = []
    for index in range(max(len(planned), len(watch.changes))):
        at = planned[index] if index < len(planned) else None
        seen = watch.changes[index] if index < len(watch.changes) else None
        position = None if at is None else at // scale
        rows.append(
            DecayRow(
                planned_at=at,
                observed_at=None if seen is None else seen.first_after,
                last_before=None if seen is None else seen.last_before,
                difference=None if at is None or seen is None else seen.first_after - at,
                planned_lr_before=None if position is None else schedule.lr_at(position - 1),
                planned_lr_after=None if position is None else schedule.lr_at(position),
                lr_before=None if seen is None else seen.lr_before,
                lr_after=None if seen is None else seen.lr_after,
            )
        )
    return rows


def constant_shift(
    rows: list[DecayRow], tolerance: float, largest_step: int
) -> tuple[int, int] | None:
    """The offsets ``(low, high)`` that move every planned decay onto the observed one.

    None unless every row pairs a planned decay with an observed change between the
    same lrs, and one nonzero offset fits them all (a change seen between two logged
    steps admits every offset in between).  A last planned decay that a late shift
    pushes past the log's end may be unobserved.
    """
    paired = [row for row in rows if row.planned_at is not None and row.observed_at is not None]
    if not paired or any(row.planned_at is None for row in rows):
        return None
    low, high = -(2**63), 2**63
    for row in paired:
        planned = row.planned_at
        if planned is None or row.last_before is None or row.observed_at is None:
            return None  # pragma: no cover - filtered above
        if not (
            approx(row.lr_before or 0.0, row.planned_lr_before or 0.0, tolerance)
            and approx(row.lr_after or 0.0, row.planned_lr_after or 0.0, tolerance)
        ):
            return None
        low = max(low, row.last_before + 1 - planned)
        high = min(high, row.observed_at - planned)
    unobserved = rows[len(paired) :]
    if low > high or (low <= 0 <= high) or len(unobserved) > 1:
        return None
    if unobserved and (unobserved[0].planned_at or 0) + low <= largest_step:
        return None
    return low, high


__all__ = [
    "MAX_DECAYS_LISTED",
    "DecayRow",
    "DecayWatch",
    "LrChange",
    "compare_decays",
    "constant_shift",
    "planned_decays",
]
