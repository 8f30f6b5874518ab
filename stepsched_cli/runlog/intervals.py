"""Sets of integers as a few intervals, and the hypotheses' admitted parameter sets.

A diagnosis hypothesis with an unknown parameter (a factor, a resume position) keeps
the set of parameter values every point so far admits.  Such a set is a tuple of
sorted, disjoint, non-adjacent closed intervals, so memory stays bounded however long
the log is.  :class:`PositionsWithLr` finds where the schedule carries a logged lr;
:func:`early_factors`, :func:`late_factors` and :func:`resume_positions` turn those
positions into the parameter values one point admits.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from stepsched_cli.schedule import StepSchedule

# Logged lr values whose positions are remembered at once (cleared when full).
_MAX_CACHED_VALUES = 512

# A set of integers as sorted, disjoint, non-adjacent closed intervals; None = no end.
Interval = tuple[int, int | None]
IntervalSet = tuple[Interval, ...]


def intersect(first: IntervalSet, second: IntervalSet) -> IntervalSet:
    result: list[Interval] = []
    i = j = 0
    while i < len(first) and j < len(second):
        (low_a, high_a), (low_b, high_b) = first[i], second[j]
        low = max(low_a, low_b)
        high = _min_end(high_a, high_b)
        if high is None or low <= high:
            result.append((low, high))
        if high_a is not None and (high_b is None or high_a < high_b):
            i += 1
        else:
            j += 1
    return tuple(result)


def _min_end(first: int | None, second: int | None) -> int | None:
    if first is None:
        return second
    if second is None:
        return first
    return min(first, second)


def normalise(intervals: Iterable[Interval]) -> IntervalSet:
    """Sort, drop empty intervals and merge overlapping or adjacent ones."""
    kept = sorted((low, high) for low, high in intervals if high is None or low <= high)
    merged: list[Interval] = []
    for low, high in kept:
        if merged:
            last_low, last_high = merged[-1]
            if last_high is None or low <= last_high + 1:
                end = None if last_high is None or high is None else max(last_high, high)
                merged[-1] = (last_low, end)
                continue
        merged.append((low, high))
    return tuple(merged)


def approx(first: float, second: float, tolerance: float) -> bool:
    return abs(first - second) <= tolerance * max(abs(first), abs(second))


def _least(predicate: Callable[[int], bool], low: int, high: int) -> int:
    """The least x in ``[low, high]`` with ``predicate(x)`` (monotone), else ``high + 1``."""
    high += 1
    while low < high:
        middle = (low + high) // 2
        if predicate(middle):
            high = middle
        else:
            low = middle + 1
    return low


def _matching_range(
    value_at: Callable[[int], float],
    low: int,
    high: int,
    target: float,
    tolerance: float,
    increasing: bool,
) -> tuple[int, int] | None:
    """The range of x in ``[low, high]`` where a monotone ``value_at(x)`` matches ``target``."""

    def reached(x: int) -> bool:
        value = value_at(x)
        passed = value >= target if increasing else value <= target
        return passed or approx(value, target, tolerance)

    def beyond(x: int) -> bool:
        value = value_at(x)
        passed = value > target if increasing else value < target
        return passed and not approx(value, target, tolerance)

    first = _least(reached, low, high)
    after = _least(beyond, first, high)
    return (first, after - 1) if first < after else None


class PositionsWithLr:
    """The positions where the schedule's lr matches a value, cached per value."""

    def __init__(self, schedule: StepSchedule, tolerance: float) -> None:
        self.schedule = schedule
        self.tolerance = tolerance
        self.cache: dict[float, IntervalSet] = {}

    def __call__(self, value: float) -> IntervalSet:
        found = self.cache.get(value)
        if found is None:
            found = self._compute(value)
            if len(self.cache) >= _MAX_CACHED_VALUES:
                self.cache.clear()
            self.cache[value] = found
        return found

    def _compute(self, value: float) -> IntervalSet:
        schedule = self.schedule
        pieces: list[Interval] = []
        warmup = schedule.warmup_steps
        if warmup:
            increasing = schedule.lr_at(warmup - 1) >= schedule.lr_at(0)
            ramp = _matching_range(schedule.lr_at, 0, warmup - 1, value, self.tolerance, increasing)
            if ramp is not None:
                pieces.append(ramp)
        limit = schedule.boundary_count
        decays = _matching_range(
            schedule.lr_after_decays, 0, limit, value, self.tolerance, increasing=False
        )
        if decays is not None:
            first, last = decays
            start = warmup if first == 0 else schedule.boundary(first)
            after = schedule.boundary(last + 1) if last < limit else None
            pieces.append((start or 0, None if after is None else after - 1))
        return normalise(pieces)


# -- hypotheses ---------------------------------------------------------------


def _ceil_div(numerator: int, denominator: int) -> int:
    return -(-numerator // denominator)


def early_factors(step: int, scale: int, positions: IntervalSet) -> IntervalSet:
    """Factors k >= 2 for which some position in ``[k*t/s, (k*t + k - 1)/s]`` (floored) fits.

    Both ends of each admitted interval are non-increasing in ``step``.
    """
    admitted: list[Interval] = []
    for low, high in positions:
        least = max(2, _ceil_div(low * scale + 1, step + 1))
        if high is None or step == 0:
            admitted.append((least, None))
        else:
            admitted.append((least, ((high + 1) * scale - 1) // step))
    return normalise(admitted)


def late_factors(step: int, scale: int, positions: IntervalSet) -> IntervalSet:
    """Factors k >= 2 for which ``t/(k*s)`` rounded down or up lands in ``positions``.

    Both ends of each admitted interval are non-decreasing in ``step``.
    """
    admitted: list[Interval] = []
    for low, high in positions:
        least = 2 if high is None else max(2, step // ((high + 1) * scale) + 1)
        if low == 0 or (low == 1 and step > 0):
            admitted.append((least, None))
        elif step > 0:
            admitted.append((least, (step - 1) // ((low - 1) * scale)))
    return normalise(admitted)


def resume_positions(position: int, matches: bool, positions: IntervalSet) -> IntervalSet:
    """Resume positions r >= 1 explaining a point: r > p (no reset yet), or p - r fits.

    For a point that does not match the schedule both ends are non-decreasing in
    ``position``.
    """
    admitted: list[Interval] = [(position + 1, None)] if matches else []
    for low, high in positions:
        least = 1 if high is None else max(1, position - high)
        admitted.append((least, position - low))
    return normalise(admitted)


__all__ = [
    "Interval",
    "IntervalSet",
    "PositionsWithLr",
    "approx",
    "early_factors",
    "intersect",
    "late_factors",
    "normalise",
    "resume_positions",
]
