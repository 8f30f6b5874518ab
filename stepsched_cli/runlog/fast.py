"""Checking a log file at the speed of vectorised parsing, with today's exact answers.

:func:`check_log_file` gives the result of ``check_log(read_log(path, ...), ...)``:
the same :class:`CheckResult`, the same errors.  It gets there in one of two ways:

1. A first pass reads the file in blocks (:mod:`stepsched_cli.runlog.chunks`) and
   compares whole blocks with the schedule.  The schedule is piecewise constant: the
   expected lr is computed once per decay interval present in a block (numpy spreads
   it over the rows), not once per row.  When every point matches, that is the
   answer: ok, and how many points were checked.
2. A mismatch needs the diagnosis, whose hypotheses are narrowed by every point of
   the log; so does a log the first pass abandons (quotes, lone carriage returns).
   Then the log is read again by the row-by-row reader and :func:`check_log`, whose
   answer is today's by construction.

Memory is a block's worth in both passes, whatever the log's length.  Standard input,
pipes, FIFOs and devices cannot be read twice and are read row by row.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from stepsched_cli.runlog.checking import DEFAULT_TOLERANCE, LrLookup, check_log, position_scale
from stepsched_cli.runlog.diagnosis import CheckResult
from stepsched_cli.runlog.errors import RunLogError
from stepsched_cli.runlog.intervals import approx
from stepsched_cli.runlog.reading import LogFormat, LogPoint, read_log
from stepsched_cli.schedule import StepSchedule

if TYPE_CHECKING:
    from stepsched_cli.runlog.vector import Block, FloatArray, IntArray

Progress = Callable[[int], None]
# How often the row-by-row pass reports progress, in points.
_PROGRESS_EVERY = 1 << 16
# An lr read within 2 ulp is re-read exactly when its comparison is this close to the
# tolerance's edge (relative to the larger value; 2 ulp is about 4.4e-16).
_DOUBT = 1e-14
# Beyond every position a block holds (steps of at most 16 digits).
_BEYOND = 2**62


def check_log_file(
    path: str | Path,
    schedule: StepSchedule,
    *,
    log_format: LogFormat | None = None,
    step_column: str | None = None,
    lr_column: str | None = None,
    tolerance: float = DEFAULT_TOLERANCE,
    steps_per_epoch: int | None = None,
    progress: Progress | None = None,
) -> CheckResult:
    """``check_log(read_log(path, ...), ...)``, fast on long logs (see the module).

    Args:
        path: The log file, or ``"-"`` for standard input.
        schedule: The intended schedule.
        log_format: As in :func:`read_log`.
        step_column: As in :func:`read_log`.
        lr_column: As in :func:`read_log`.
        tolerance: As in :func:`check_log`.
        steps_per_epoch: As in :func:`check_log`.
        progress: Called now and then with the number of points read so far.

    Raises:
        RunLogError: as :func:`read_log` and :func:`check_log` raise.
    """
    scale = position_scale(schedule, tolerance, steps_per_epoch)
    columns = (step_column, lr_column)
    points = read_log(path, log_format=log_format, step_column=step_column, lr_column=lr_column)

    def row_by_row(log: Iterable[LogPoint]) -> CheckResult:
        counted = _counted(log, progress)
        return check_log(counted, schedule, tolerance=tolerance, steps_per_epoch=steps_per_epoch)

    if str(path) == "-" or not _is_regular_file(path):
        return row_by_row(points)
    checked = _first_pass(path, log_format, columns, _Matcher(schedule, tolerance, scale), progress)
    if checked is None:
        return row_by_row(
            read_log(path, log_format=log_format, step_column=step_column, lr_column=lr_column)
        )
    if checked == 0:
        raise RunLogError("the log has no points to check")
    return CheckResult(True, None, None, None, None, checked, 0)


def _is_regular_file(path: str | Path) -> bool:
    """Only a regular file can be read twice (a pipe, a FIFO or a device cannot)."""
    try:
        return stat.S_ISREG(os.stat(path).st_mode)
    except OSError:
        return False


def _first_pass(
    path: str | Path,
    log_format: LogFormat | None,
    columns: tuple[str | None, str | None],
    matcher: _Matcher,
    progress: Progress | None,
) -> int | None:
    """The number of points when all match; None for a mismatch or an abandoned pass."""
    from stepsched_cli.runlog.chunks import Abandon, read_chunks

    try:
        for block in read_chunks(path, log_format, *columns):
            matched = matcher.points(block) if isinstance(block, list) else matcher.block(block)
            if not matched:
                return None
            if progress is not None:
                progress(matcher.checked)
    except Abandon:
        return None
    return matcher.checked


class _Matcher:
    """Whether blocks of points match the schedule, counting them."""

    def __init__(self, schedule: StepSchedule, tolerance: float, scale: int) -> None:
        self.schedule = schedule
        self.tolerance = float(tolerance)
        self.scale = scale
        self.lookup = LrLookup(schedule)
        self.checked = 0

    def points(self, points: list[LogPoint]) -> bool:
        self.checked += len(points)
        lookup, scale, tolerance = self.lookup, self.scale, self.tolerance
        return all(approx(point.lr, lookup(point.step // scale), tolerance) for point in points)

    def block(self, block: Block) -> bool:
        import numpy as np

        self.checked += len(block.steps)
        expected = expected_lrs(self.schedule, block.steps // self.scale)
        logged = block.lrs
        larger = np.maximum(np.abs(logged), np.abs(expected))
        distance = np.abs(logged - expected)
        bound = self.tolerance * larger
        matches = distance <= bound
        doubtful = block.inexact & (np.abs(distance - bound) <= _DOUBT * larger)
        for index in np.flatnonzero(doubtful).tolist():
            exact = block.exact_lr(index)
            matches[index] = approx(exact, float(expected[index]), self.tolerance)
        return bool(matches.all())


def expected_lrs(schedule: StepSchedule, positions: IntArray) -> FloatArray:
    """``schedule.lr_at`` of every position, computed once per distinct value."""
    import numpy as np

    expected = np.empty(positions.shape, dtype=np.float64)
    # Positions fit in 16 digits (the blocks' bound): larger parameters act as 2**62.
    warmup = min(schedule.warmup_steps, _BEYOND)
    ramp = positions < warmup
    if ramp.any():
        expected[ramp] = _per_distinct(positions[ramp], schedule.lr_at)
    decaying = ~ramp
    clock = positions[decaying] - warmup
    if schedule.milestones is not None:
        milestones = np.array([min(m, _BEYOND) for m in schedule.milestones], dtype=np.int64)
        decays = np.searchsorted(milestones, clock, side="right")
    else:
        decays = clock // min(int(schedule.step_size or 1), _BEYOND)
    decays = np.minimum(decays, min(schedule.boundary_count, _BEYOND))
    expected[decaying] = _per_distinct(decays, schedule.lr_after_decays)
    return expected


def _per_distinct(values: IntArray, function: Callable[[int], float]) -> FloatArray:
    """``function`` of every value, called once per distinct one (cheap when sorted)."""
    import numpy as np

    if values.size == 0:
        return np.empty(0, dtype=np.float64)
    if bool((values[1:] >= values[:-1]).all()):
        changes = np.flatnonzero(values[1:] != values[:-1]) + 1
        distinct = values[np.concatenate(([0], changes))]
        inverse = np.zeros(values.size, dtype=np.int64)
        inverse[changes] = 1
        inverse = np.cumsum(inverse)
    else:
        distinct, inverse = np.unique(values, return_inverse=True)
    results = np.array([function(value) for value in distinct.tolist()], dtype=np.float64)
    return results[inverse]


def _counted(points: Iterable[LogPoint], progress: Progress | None) -> Iterator[LogPoint]:
    """The points, reporting their count now and then."""
    if progress is None:
        yield from points
        return
    for count, point in enumerate(points, start=1):
        yield point
        if count % _PROGRESS_EVERY == 0:
            progress(count)


__all__ = ["Progress", "check_log_file", "expected_lrs"]
