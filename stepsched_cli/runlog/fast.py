"""Checking a log file at the speed of vectorised parsing, with today's exact answers.

:func:`check_log_file` gives the result of ``check_log(read_log(path, ...), ...)``:
the same :class:`CheckResult`, the same errors, in one pass over the file.

The file is read in blocks (:mod:`stepsched_cli.runlog.chunks`) and each block is
given to the same :class:`Checker` that :func:`check_log` drives point by point.  The
schedule is piecewise constant: the expected lr is computed once per decay interval
present in a block (numpy spreads it over the rows), and the comparisons and the
flag hypotheses (constant, one ahead, one behind) are whole-array operations.  The
hypotheses with a parameter (a factor, a resume position) already treat a run of
points with one logged lr as its first and last point (``checking.Run``); here a run
costs one call however long it is, and the resume windows inside it are merged with
array operations, so the checker ends in the state the point-by-point loop leaves.

A block the fast path cannot take is read by the row-by-row reader and added point by
point.  When the fast path gives up on the file (``chunks.Abandon``: quotes, lone
carriage returns, an undecodable byte) the whole log is checked row by row from the
start.  Memory is a block's worth whatever the log's length.  Standard input, pipes,
FIFOs and devices are checked row by row.
"""

from __future__ import annotations

import dataclasses
import os
import stat
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from stepsched_cli.runlog.checking import (
    DEFAULT_TOLERANCE,
    Checker,
    Run,
    check_log,
    finish,
    position_scale,
)
from stepsched_cli.runlog.counting import (
    HF_TRAINER_STATE,
    recognise_file,
    shifted,
    step_counting,
    with_counting,
)
from stepsched_cli.runlog.diagnosis import CheckResult
from stepsched_cli.runlog.rows import LogFormat, LogPoint, read_log
from stepsched_cli.runlog.sample import LogSample
from stepsched_cli.runlog.trainer_state import trainer_state_points
from stepsched_cli.schedule import StepSchedule

if TYPE_CHECKING:
    from stepsched_cli.runlog.vector import Block, BoolArray, FloatArray, IntArray

Progress = Callable[[int], None]
# How often the row-by-row pass reports progress, in points.
_PROGRESS_EVERY = 1 << 16
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
    steps_from: int | None = None,
    progress: Progress | None = None,
    sample: LogSample | None = None,
) -> CheckResult:
    """``check_log(read_log(path, ...), ...)``, fast on long logs (see the module).

    A log whose shape shows a known format that counts its steps from 1 (the Hugging
    Face Trainer's ``trainer_state.json``, read whole; MMEngine's ``scalars.json``) is
    checked with that counting unless ``steps_from`` is given, and the result says so
    (:mod:`~stepsched_cli.runlog.counting`).  Standard input is a generic log.

    Args:
        path: The log file, or ``"-"`` for standard input.
        schedule: The intended schedule.
        log_format: As in :func:`read_log`.
        step_column: As in :func:`read_log`.
        lr_column: As in :func:`read_log`.
        tolerance: As in :func:`check_log`.
        steps_per_epoch: As in :func:`check_log`.
        steps_from: 0 (step t logs ``lr(t)``) or 1 (step s logs ``lr(s - 1)``); by
            default the recognised format's counting, else 0.
        progress: Called now and then with the number of points read so far.
        sample: As in :func:`check_log`.

    Raises:
        RunLogError: as :func:`read_log` and :func:`check_log` raise.
    """
    scale = position_scale(schedule, tolerance, steps_per_epoch)
    regular = str(path) != "-" and _is_regular_file(path)
    known = recognise_file(path) if regular and log_format is None else None
    counting = step_counting(steps_from, known)
    offset, source = counting.steps_from, str(path)

    def row_by_row(log: Iterable[LogPoint]) -> CheckResult:
        counted = _counted(shifted(log, offset, source), progress)
        if sample is not None:
            sample.clear()  # the fast path may have given up half-way
        result = check_log(
            counted, schedule, tolerance=tolerance, steps_per_epoch=steps_per_epoch, sample=sample
        )
        return with_counting(result, counting)

    if known is HF_TRAINER_STATE:
        return row_by_row(trainer_state_points(path, step_column, lr_column))
    points = read_log(path, log_format=log_format, step_column=step_column, lr_column=lr_column)
    if not regular:
        return row_by_row(points)
    from stepsched_cli.runlog.chunks import Abandon, read_chunks

    checker = Checker(schedule, float(tolerance), scale, sample)
    try:
        for block in read_chunks(path, log_format, step_column, lr_column):
            if isinstance(block, list):
                for point in shifted(block, offset, source):
                    checker.add(point.step, point.lr)
            else:
                feed_block(checker, _shifted_block(block, offset))
            if progress is not None:
                progress(checker.checked)
    except Abandon:
        return row_by_row(
            read_log(path, log_format=log_format, step_column=step_column, lr_column=lr_column)
        )
    return with_counting(finish(checker, steps_per_epoch), counting)


def _shifted_block(block: Block, offset: int) -> Block:
    """The block with each step moved to its position; a step below ``offset`` gives
    up on the fast path, so that the row reader names its line."""
    if offset == 0:
        return block
    from stepsched_cli.runlog.chunks import Abandon

    if int(block.steps.min()) < offset:
        raise Abandon
    return dataclasses.replace(block, steps=block.steps - offset)


def _is_regular_file(path: str | Path) -> bool:
    """Only a regular file can be read again when the fast path gives up."""
    try:
        return stat.S_ISREG(os.stat(path).st_mode)
    except OSError:
        return False


def feed_block(checker: Checker, block: Block) -> None:
    """``checker.add`` of every point of the block, a block at a time.

    The comparisons and the flag hypotheses (constant, ahead, behind) are vectorised;
    the hypotheses with parameters see one call per run of equal lrs, as
    :meth:`Checker.add` gives them, so the result is the same.
    """
    import numpy as np

    steps, logged = block.steps, _exact_lrs(block)
    schedule, tolerance = checker.schedule, checker.tolerance
    positions = steps // checker.scale
    expected = expected_lrs(schedule, positions)
    matches = _approx(logged, expected, tolerance)
    checker.checked += steps.size
    checker.decays.add_block(steps, logged)
    if checker.sample is not None:
        checker.sample.add_block(steps, logged)
    checker.largest_step = max(checker.largest_step, int(steps.max()))
    misses = np.flatnonzero(~matches)
    checker.mismatches += misses.size
    if checker.first_mismatch is None and misses.size:
        first = int(misses[0])
        checker.first_mismatch = (int(steps[first]), float(expected[first]), float(logged[first]))
    if checker.first_lr is None:
        checker.first_lr = float(logged[0])
    if checker.constant:
        checker.constant = bool(_approx(logged, checker.first_lr, tolerance).all())
    if checker.ahead:
        after = expected_lrs(schedule, positions + 1)
        checker.ahead = bool(_approx(logged, after, tolerance).all())
    if checker.behind:
        before = expected_lrs(schedule, np.maximum(positions - 1, 0))
        checker.behind = bool(_approx(logged, before, tolerance).all())
    _track_runs(checker, steps, positions, logged, matches)


def _track_runs(
    checker: Checker, steps: IntArray, positions: IntArray, logged: FloatArray, matches: BoolArray
) -> None:
    """``checker.track`` for the first point of each run; the rest of a run at once."""
    import numpy as np

    if not checker.narrowing:
        return
    continues = np.empty(steps.size, dtype=np.bool_)
    continues[1:] = (
        (logged[1:] == logged[:-1]) & (matches[1:] == matches[:-1]) & (steps[1:] > steps[:-1])
    )
    run = checker.run
    continues[0] = (
        run is not None
        and run.logged == float(logged[0])
        and run.matches == bool(matches[0])
        and run.last_step < int(steps[0])
    )
    start = 0
    for head in [*np.flatnonzero(~continues).tolist(), steps.size]:
        if start < head:
            _continue_run(checker, steps, positions, logged, matches, start, head)
        if head == steps.size:
            return
        checker.track(
            int(steps[head]), int(positions[head]), float(logged[head]), bool(matches[head])
        )
        start = head + 1


def _continue_run(
    checker: Checker,
    steps: IntArray,
    positions: IntArray,
    logged: FloatArray,
    matches: BoolArray,
    start: int,
    stop: int,
) -> None:
    """Points ``start..stop-1``, each continuing the checker's current run."""
    run = checker.run
    if run is None or not checker.narrowing:
        for index in range(start, stop):
            checker.track(
                int(steps[index]), int(positions[index]), float(logged[index]), bool(matches[index])
            )
        return
    run.last_step, run.last_position = int(steps[stop - 1]), int(positions[stop - 1])
    if run.matches:
        _extend_windows(checker, run, positions[start:stop])


def _extend_windows(checker: Checker, run: Run, positions: IntArray) -> None:
    """``checker.extend_window`` for each position (non-decreasing), gaps found at once."""
    import numpy as np

    segment_start = run.positions[0][0]
    if segment_start == 0:
        return
    if run.window is None:
        for position in positions.tolist():
            checker.extend_window(run, position)
        return
    lows = np.maximum(1, positions - segment_start + 1)
    highs_before = np.concatenate(([run.window[1]], positions[:-1]))
    low = run.window[0]
    for gap in np.flatnonzero(lows > highs_before + 1).tolist():
        checker.exclude((low, int(highs_before[gap])))
        low = int(lows[gap])
    run.window = (low, int(positions[-1]))


def _exact_lrs(block: Block) -> FloatArray:
    """The block's lrs with every inexact one read again exactly."""
    import numpy as np

    if not block.inexact.any():
        return block.lrs
    lrs: FloatArray = block.lrs.copy()
    for index in np.flatnonzero(block.inexact).tolist():
        lrs[index] = block.exact_lr(index)
    return lrs


def _approx(first: FloatArray, second: FloatArray | float, tolerance: float) -> BoolArray:
    """:func:`approx` of arrays, with the same float operations."""
    import numpy as np

    result: BoolArray = np.abs(first - second) <= tolerance * np.maximum(
        np.abs(first), np.abs(second)
    )
    return result


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
    # The decay clock starts at 0 (a decay inside the warmup applies when it ends) or,
    # with warmup_prefix, after the warmup.
    clock = positions[decaying] - (warmup if schedule.warmup_prefix else 0)
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
