"""A bounded sample of a log's points, for drawing a run against its plan.

A picture shows about two points per pixel column, so a log of 10**7 rows is drawn
from a few thousand.  :class:`LogSample` keeps, for each bucket of ``width``
consecutive steps, the lowest and the highest logged lr (ties broken by the step), so
every excursion of the logged lr survives the sampling.  The bucket width doubles
(and neighbouring buckets merge) whenever the steps seen would need more than
``2 * budget`` buckets, so memory stays ``O(budget)`` however long the log is, and
the sample does not depend on how the points were grouped into blocks: the row-by-row
path and the block path (numpy) give the same points.

Example:
    >>> sample = LogSample(budget=2)
    >>> for step in range(8):
    ...     sample.add(step, 1.0 / (step + 1))
    >>> sample.width, sample.points()
    (2, ((0, 1.0), (1, 0.5), (2, 0.3333333333333333), (3, 0.25), (4, 0.2), (5, \
0.16666666666666666), (6, 0.14285714285714285), (7, 0.125)))
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from stepsched_cli.runlog.vector import FloatArray, IntArray

# A point as (lr, step): compared as tuples, the lowest lr first, then the earliest step.
_Key = tuple[float, int]


class LogSample:
    """The lowest and highest logged lr of each bucket of steps (see the module).

    Attributes:
        budget: About how many buckets are kept (between ``budget`` and ``2 * budget``).
        width: The steps per bucket (a power of two).
        largest_step: The largest step seen (-1 before any).
    """

    def __init__(self, budget: int) -> None:
        if budget < 1:
            raise ValueError(f"budget must be >= 1, got {budget}")
        self.budget = budget
        self.width = 1
        self.buckets: dict[int, tuple[_Key, _Key]] = {}
        self.largest_step = -1

    def clear(self) -> None:
        """Forget every point (to start the log again)."""
        self.width = 1
        self.buckets = {}
        self.largest_step = -1

    def add(self, step: int, lr: float) -> None:
        """One logged point."""
        self._widen(step)
        key = (lr, step)
        bucket = step // self.width
        kept = self.buckets.get(bucket)
        if kept is None:
            self.buckets[bucket] = (key, key)
        else:
            self.buckets[bucket] = (min(kept[0], key), max(kept[1], key))

    def add_block(self, steps: IntArray, lrs: FloatArray) -> None:
        """:meth:`add` of every point of a block (numpy arrays), a bucket at a time."""
        import numpy as np

        if not steps.size:
            return
        self._widen(int(steps.max()))
        buckets = steps // self.width
        order = np.lexsort((steps, lrs, buckets))
        sorted_buckets = buckets[order]
        starts = np.flatnonzero(np.diff(sorted_buckets, prepend=sorted_buckets[0] - 1))
        ends = np.append(starts[1:], order.size) - 1
        lows, highs = order[starts], order[ends]
        for bucket, low, high in zip(
            sorted_buckets[starts].tolist(), lows.tolist(), highs.tolist(), strict=True
        ):
            low_key = (float(lrs[low]), int(steps[low]))
            high_key = (float(lrs[high]), int(steps[high]))
            kept = self.buckets.get(bucket)
            if kept is not None:
                low_key, high_key = min(kept[0], low_key), max(kept[1], high_key)
            self.buckets[bucket] = (low_key, high_key)

    def _widen(self, step: int) -> None:
        """Double the width until ``step`` falls within ``2 * budget`` buckets."""
        self.largest_step = max(self.largest_step, step)
        if step // self.width < 2 * self.budget:
            return
        while step // self.width >= 2 * self.budget:
            self.width *= 2
        merged: dict[int, tuple[_Key, _Key]] = {}
        for low, high in self.buckets.values():
            bucket = low[1] // self.width
            kept = merged.get(bucket)
            if kept is not None:
                low, high = min(kept[0], low), max(kept[1], high)
            merged[bucket] = (low, high)
        self.buckets = merged

    def points(self) -> tuple[tuple[int, float], ...]:
        """The kept points as ``(step, lr)``, by step."""
        found = {key for pair in self.buckets.values() for key in pair}
        return tuple(sorted((step, lr) for lr, step in found))


__all__ = ["LogSample"]
