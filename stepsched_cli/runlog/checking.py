"""Checking a stream of logged points against a schedule.

:func:`check_log` compares every point with the schedule and, on a mismatch, names
the likely cause.  Each cause is a hypothesis about how the logged lr relates to the
schedule, tested against every point of the log while it streams past: the
hypotheses with an unknown parameter (a factor, a resume position) keep the set of
parameter values every point so far admits, an interval or two of integers
(:mod:`stepsched_cli.runlog.intervals`), so the memory stays bounded however long
the log is.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from stepsched_cli.runlog.decays import DecayWatch, compare_decays
from stepsched_cli.runlog.diagnosis import CheckResult, Evidence, diagnose
from stepsched_cli.runlog.intervals import (
    IntervalSet,
    PositionsWithLr,
    approx,
    early_factors,
    intersect,
    late_factors,
    normalise,
    resume_positions,
)
from stepsched_cli.runlog.log_error import RunLogError
from stepsched_cli.runlog.rows import LogPoint
from stepsched_cli.runlog.sample import LogSample
from stepsched_cli.schedule import StepSchedule

DEFAULT_TOLERANCE = 1e-6

# An admissible parameter set that splinters into more intervals than this is given
# up on (no real bug produces one), which keeps memory bounded on hostile logs.
_MAX_INTERVALS = 64


class LrLookup:
    """``schedule.lr_at`` with the last constant segment remembered (logs walk forwards)."""

    def __init__(self, schedule: StepSchedule) -> None:
        self.schedule = schedule
        self.low, self.lr = 0, 0.0
        self.high: int | None = -1

    def __call__(self, position: int) -> float:
        if self.low <= position and (self.high is None or position <= self.high):
            return self.lr
        schedule = self.schedule
        lr = schedule.lr_at(position)
        if position >= schedule.warmup_steps:
            decays = schedule.decays_at(position)
            start = schedule.boundary(decays) if decays else schedule.warmup_steps
            after = schedule.next_boundary(position)
            self.low, self.lr = start or 0, lr
            self.high = None if after is None else after - 1
        return lr


@dataclass
class Run:
    """Consecutive points with one logged lr, all matching or all not, steps increasing.

    Every hypothesis but one admits, for such a run, exactly what its first and last
    points admit together (the bounds move monotonically with the step), so a run
    costs O(1) memory and two updates.  The exception, a resume before matching
    points, excludes a window ``[p - a + 1, p]`` per point (``a`` the first position
    of the lr's segment); overlapping windows are merged as they come.
    """

    logged: float
    matches: bool
    positions: IntervalSet
    first_step: int
    first_position: int
    last_step: int
    last_position: int
    window: tuple[int, int] | None


class Checker:
    """Streams points, finds the first mismatch and narrows every hypothesis."""

    def __init__(
        self, schedule: StepSchedule, tolerance: float, scale: int, sample: LogSample | None = None
    ) -> None:
        self.schedule = schedule
        self.sample = sample
        self.tolerance = tolerance
        self.scale = scale
        self.lr = LrLookup(schedule)
        self.positions_with = PositionsWithLr(schedule, tolerance)
        self.checked = 0
        self.largest_step = 0
        self.mismatches = 0
        self.first_mismatch: tuple[int, float, float] | None = None
        self.first_lr: float | None = None
        self.constant = self.ahead = self.behind = True
        self.early: IntervalSet | None = ((2, None),)
        self.late: IntervalSet | None = ((2, None),)
        self.reset: IntervalSet | None = ((1, None),)
        self.run: Run | None = None
        self.decays = DecayWatch(schedule, tolerance, scale)

    def add(self, step: int, logged: float) -> None:
        self.checked += 1
        self.decays.add(step, logged)
        if self.sample is not None:
            self.sample.add(step, logged)
        self.largest_step = max(self.largest_step, step)
        position = step // self.scale
        tolerance = self.tolerance
        expected = self.lr(position)
        matches = approx(logged, expected, tolerance)
        if not matches:
            self.mismatches += 1
            if self.first_mismatch is None:
                self.first_mismatch = (step, expected, logged)
        if self.first_lr is None:
            self.first_lr = logged
        elif self.constant:
            self.constant = approx(logged, self.first_lr, tolerance)
        if self.ahead:
            self.ahead = approx(logged, self.lr(position + 1), tolerance)
        if self.behind:
            self.behind = approx(logged, self.lr(max(0, position - 1)), tolerance)
        self.track(step, position, logged, matches)

    @property
    def narrowing(self) -> bool:
        """Whether a hypothesis with a parameter still stands (else points are not tracked)."""
        return self.early is not None or self.late is not None or self.reset is not None

    def track(self, step: int, position: int, logged: float, matches: bool) -> None:
        """Narrow the hypotheses with parameters by one point (after the flags are updated)."""
        if not self.narrowing:
            return
        run = self.run
        if (
            run is not None
            and run.logged == logged
            and run.matches == matches
            and run.last_step < step
        ):
            run.last_step, run.last_position = step, position
            if matches:
                self.extend_window(run, position)
            return
        self.flush()
        positions = self.positions_with(logged)
        if len(positions) != 1:
            # Two separate stretches of the schedule carry this lr (a warmup ramp
            # crossing a decayed value): no run shortcut, narrow point by point.
            self._narrow_point(step, position, matches, positions)
            return
        self.run = Run(logged, matches, positions, step, position, step, position, None)
        if matches:
            self.extend_window(self.run, position)

    def extend_window(self, run: Run, position: int) -> None:
        segment_start = run.positions[0][0]
        if segment_start == 0:
            return
        low, high = max(1, position - segment_start + 1), position
        if run.window is not None:
            window_low, window_high = run.window
            if low <= window_high + 1:
                run.window = (window_low, max(window_high, high))
                return
            self.exclude(run.window)
        run.window = (low, high)

    def exclude(self, window: tuple[int, int]) -> None:
        low, high = window
        self.reset = self._narrow(self.reset, normalise([(1, low - 1), (high + 1, None)]))

    def _narrow_point(
        self, step: int, position: int, matches: bool, positions: IntervalSet
    ) -> None:
        self.early = self._narrow(self.early, early_factors(step, self.scale, positions))
        self.late = self._narrow(self.late, late_factors(step, self.scale, positions))
        self.reset = self._narrow(self.reset, resume_positions(position, matches, positions))

    def flush(self) -> None:
        run, self.run = self.run, None
        if run is None:
            return
        scale, positions = self.scale, run.positions
        for step in {run.first_step, run.last_step}:
            self.early = self._narrow(self.early, early_factors(step, scale, positions))
            self.late = self._narrow(self.late, late_factors(step, scale, positions))
        if run.matches:
            if run.window is not None:
                self.exclude(run.window)
        else:
            for position in {run.first_position, run.last_position}:
                admitted = resume_positions(position, False, positions)
                self.reset = self._narrow(self.reset, admitted)

    @staticmethod
    def _narrow(current: IntervalSet | None, admitted: IntervalSet) -> IntervalSet | None:
        if current is None:
            return None
        narrowed = intersect(current, admitted)
        if not narrowed or len(narrowed) > _MAX_INTERVALS:
            return None
        return narrowed

    def evidence(self) -> Evidence:
        """What the points so far admit (call :meth:`flush` first)."""
        return Evidence(
            self.tolerance,
            self.first_lr,
            self.constant,
            self.ahead,
            self.behind,
            self.early,
            self.late,
            self.reset,
            self.largest_step,
        )


def position_scale(schedule: StepSchedule, tolerance: float, steps_per_epoch: int | None) -> int:
    """Check :func:`check_log`'s arguments; the logged steps per schedule position.

    Raises:
        RunLogError: the tolerance or steps per epoch is out of range.
    """
    if (
        isinstance(tolerance, bool)
        or not isinstance(tolerance, (int, float))
        or not 0 <= tolerance < 1
    ):
        raise RunLogError(f"tolerance must be a number with 0 <= tolerance < 1, got {tolerance!r}")
    if steps_per_epoch is not None and (
        isinstance(steps_per_epoch, bool)
        or not isinstance(steps_per_epoch, int)
        or steps_per_epoch < 1
    ):
        raise RunLogError(f"steps_per_epoch must be an integer >= 1, got {steps_per_epoch!r}")
    return steps_per_epoch if schedule.mode == "epoch" and steps_per_epoch else 1


def check_log(
    points: Iterable[LogPoint],
    schedule: StepSchedule,
    *,
    tolerance: float = DEFAULT_TOLERANCE,
    steps_per_epoch: int | None = None,
    sample: LogSample | None = None,
) -> CheckResult:
    """Compare every logged point with the schedule, and diagnose a mismatch.

    A point matches when ``|logged - expected| <= tolerance * max(|logged|,
    |expected|)``.  The points are consumed once, in the order given (the first
    mismatch is the first in that order), and memory stays bounded.

    Units: logged steps are optimizer steps.  For an epoch-mode schedule with
    ``steps_per_epoch``, step ``t`` is at epoch ``t // steps_per_epoch``; without it,
    logged steps are taken as epochs.  For a step-mode schedule ``steps_per_epoch``
    only serves the diagnosis (whether a factor equals it).

    On a mismatch, each cause in :class:`Diagnosis` is tested against every point of
    the log; the first that explains all of them wins, in the order constant,
    ahead_by_one, behind_by_one, early, late, reset, and the others that also do are
    listed in ``also_consistent``.

    Args:
        points: The log, e.g. from :func:`read_log`.
        schedule: The intended schedule.
        tolerance: Relative tolerance, ``0 <= tolerance < 1``.
        steps_per_epoch: Optimizer steps per epoch (an integer >= 1), if known.
        sample: Given, it keeps a bounded sample of the points (to draw them).

    Raises:
        RunLogError: the log has no points, or an argument is out of range.
    """
    scale = position_scale(schedule, tolerance, steps_per_epoch)
    checker = Checker(schedule, float(tolerance), scale, sample)
    for point in points:
        checker.add(point.step, point.lr)
    return finish(checker, steps_per_epoch)


def finish(checker: Checker, steps_per_epoch: int | None) -> CheckResult:
    """The result once every point was added: ok, or the first mismatch and its diagnosis.

    Raises:
        RunLogError: no point was added.
    """
    checker.flush()
    if checker.checked == 0:
        raise RunLogError("the log has no points to check")
    decays = tuple(compare_decays(checker.decays, checker.schedule, checker.largest_step))
    if checker.first_mismatch is None:
        return CheckResult(True, None, None, None, None, checker.checked, 0, decays)
    evidence = checker.evidence()
    first_mismatch, scale = checker.first_mismatch, checker.scale
    diagnosis = diagnose(evidence, checker.schedule, first_mismatch, scale, steps_per_epoch, decays)
    step, expected, logged = first_mismatch
    return CheckResult(
        False, step, expected, logged, diagnosis, checker.checked, checker.mismatches, decays
    )


__all__ = [
    "DEFAULT_TOLERANCE",
    "Checker",
    "LrLookup",
    "Run",
    "check_log",
    "finish",
    "position_scale",
]
