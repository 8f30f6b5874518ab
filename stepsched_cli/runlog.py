"""Reading a logged learning-rate series and checking it against a schedule.

A training run logs ``(step, lr)`` pairs: a CSV file (a plain ``step,lr`` log,
TensorBoard's CSV export ``Wall time,Step,Value``, a Weights & Biases export with a
``_step`` and a ``train/learning_rate`` column, Lightning's ``lr-SGD`` ...) or JSON
lines (``{"step": 0, "lr": 0.1}``).  :func:`read_log` and :func:`parse_log` stream
such a log one row at a time, so a log of millions of rows costs constant memory.

:func:`check_log` compares every point with the schedule and, on a mismatch, names
the likely cause.  Each cause is a hypothesis about how the logged lr relates to the
schedule, tested against every point of the log while it streams past: the
hypotheses with an unknown parameter (a factor, a resume position) keep the set of
parameter values every point so far admits, an interval or two of integers, so the
memory stays bounded however long the log is.

Example:
    >>> schedule = StepSchedule(0.1, step_size=30, gamma=0.1)
    >>> log = ["step,lr"] + [f"{t},{schedule.lr_at(4 * t)}" for t in range(40)]
    >>> result = check_log(parse_log(log), schedule)
    >>> result.ok, result.first_mismatch_step, result.expected_lr, result.logged_lr
    (False, 8, 0.1, 0.01)
    >>> result.diagnosis.kind, result.diagnosis.factor
    ('early', 4)
"""

from __future__ import annotations

import csv
import io
import math
import os
import re
import stat
import sys
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from itertools import chain
from pathlib import Path
from typing import Literal

from stepsched_cli.errors import StepschedError
from stepsched_cli.schedule import StepSchedule
from stepsched_cli.state import loads_strict

LogFormat = Literal["csv", "jsonl"]
LOG_FORMATS: tuple[LogFormat, ...] = ("csv", "jsonl")

DiagnosisKind = Literal[
    "early", "late", "ahead_by_one", "behind_by_one", "reset", "constant", "unknown"
]

DEFAULT_TOLERANCE = 1e-6

# Step columns, most specific first: a W&B export has ``_step`` (its own log-call
# counter) next to ``train/global_step`` (the optimizer step), and the latter wins.
STEP_COLUMN_NAMES: tuple[str, ...] = (
    "step",
    "global_step",
    "global step",
    "trainer/global_step",
    "train/global_step",
    "optimizer_step",
    "iteration",
    "iter",
    "_step",
)
# Learning-rate columns matched by name, most specific first.
LR_COLUMN_NAMES: tuple[str, ...] = (
    "lr",
    "learning_rate",
    "learning-rate",
    "learning rate",
    "train/lr",
    "train/learning_rate",
)
# The last part of a column name (after "/" or " - ") that marks a learning rate.
_LR_NAME_ENDINGS = ("lr", "learning_rate", "learning-rate")
# TensorBoard's scalar export names the value column just "Value".
_FALLBACK_LR_COLUMN = "value"

_JSONL_SUFFIXES = (".jsonl", ".ndjson", ".json")
_CSV_SUFFIXES = (".csv", ".tsv", ".txt")
# Numbers in a text log are ASCII: int() and float() also take other scripts' digits
# and underscores ("1_000"), which no logger writes.
_INTEGER_TEXT = re.compile(r"[+-]?[0-9]+", re.ASCII)
_NUMBER_TEXT = re.compile(r"[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?", re.ASCII)
# An admissible parameter set that splinters into more intervals than this is given
# up on (no real bug produces one), which keeps memory bounded on hostile logs.
_MAX_INTERVALS = 64
_MAX_CACHED_VALUES = 512


class RunLogError(StepschedError, ValueError):
    """A log could not be read; the message names the source and, for a bad row, its line."""


@dataclass(frozen=True)
class LogPoint:
    """One logged learning rate.

    Attributes:
        step: The logged step, an integer >= 0 (optimizer steps, or whatever the
            log counts; see ``steps_per_epoch`` in :func:`check_log`).
        lr: The logged learning rate, finite and >= 0.
        line: The line of the source it came from (1-based; 0 when made by hand).
    """

    step: int
    lr: float
    line: int = 0


@dataclass(frozen=True)
class Diagnosis:
    """The likely cause of a mismatch between a log and its schedule.

    Attributes:
        kind: Machine-readable cause:

            * ``"early"``: decays ``factor`` times too early; the log at step ``t``
              holds the schedule's lr at a position in ``[k*t, k*t + k - 1]`` (the
              scheduler stepped per micro-batch under gradient accumulation ``k``,
              or per batch while step_size counts epochs).
            * ``"late"``: decays ``factor`` times too late; the log at ``t`` holds
              the lr at ``t / k`` rounded down or up (stepped once per ``k`` steps).
            * ``"ahead_by_one"``: ``log(t) == lr(t + 1)`` (``scheduler.step()``
              before ``optimizer.step()``, or the lr read after ``scheduler.step()``).
            * ``"behind_by_one"``: ``log(t) == lr(t - 1)`` (steps numbered from 1,
              or each value logged one step late; the first value skipped).
            * ``"reset"``: the log follows the schedule up to ``resume_at``, then
              follows it again from position 0: ``log(t) == lr(t - resume_at)``
              (resumed without loading the scheduler's state).
            * ``"constant"``: every logged lr is the same (scheduler never stepped).
            * ``"unknown"``: none of the above explains every point.
        message: One or two sentences for people.
        factor: For early/late: the factor, when the log pins it to one value.
        factor_range: For early/late: every factor the log admits, ``(low, high)``,
            ``high`` None when unbounded.
        resume_at: For reset: the schedule position where the lr restarted, when the
            log pins it to one value.
        resume_range: For reset: every resume position the log admits.
        also_consistent: Other kinds that explain every point equally well (a short
            log may not tell them apart).

    Positions (``resume_at``) are in the schedule's unit: epochs in epoch mode.
    """

    kind: DiagnosisKind
    message: str
    factor: int | None = None
    factor_range: tuple[int, int | None] | None = None
    resume_at: int | None = None
    resume_range: tuple[int, int | None] | None = None
    also_consistent: tuple[DiagnosisKind, ...] = ()

    def to_dict(self) -> dict[str, object]:
        """The JSON form: every attribute, ranges as two-element lists."""
        return {
            "kind": self.kind,
            "message": self.message,
            "factor": self.factor,
            "factor_range": None if self.factor_range is None else list(self.factor_range),
            "resume_at": self.resume_at,
            "resume_range": None if self.resume_range is None else list(self.resume_range),
            "also_consistent": list(self.also_consistent),
        }


@dataclass(frozen=True)
class CheckResult:
    """The outcome of :func:`check_log`.

    Attributes:
        ok: Every logged lr matched the schedule within the tolerance.
        first_mismatch_step: The logged step of the first mismatching point, in log
            order (None when ok).
        expected_lr: The schedule's lr there (None when ok).
        logged_lr: The logged lr there (None when ok).
        diagnosis: The likely cause (None when ok).
        points_checked: How many points were compared.
        mismatches: How many of them did not match.
    """

    ok: bool
    first_mismatch_step: int | None
    expected_lr: float | None
    logged_lr: float | None
    diagnosis: Diagnosis | None
    points_checked: int
    mismatches: int = 0

    def to_dict(self) -> dict[str, object]:
        """The JSON contract of ``stepsched check --json``."""
        return {
            "ok": self.ok,
            "first_mismatch_step": self.first_mismatch_step,
            "expected_lr": self.expected_lr,
            "logged_lr": self.logged_lr,
            "diagnosis": None if self.diagnosis is None else self.diagnosis.to_dict(),
            "points_checked": self.points_checked,
        }


# -- reading ------------------------------------------------------------------


def read_log(
    path: str | Path,
    *,
    log_format: LogFormat | None = None,
    step_column: str | None = None,
    lr_column: str | None = None,
) -> Iterator[LogPoint]:
    """Stream the points of a log file (``"-"`` reads standard input).

    The file is checked at once (missing, a directory) and then read lazily, one line
    at a time, as the returned iterator is consumed.  A UTF-8 byte-order mark (as
    spreadsheet programs write) is skipped.

    Args:
        path: The log file, or ``"-"`` for standard input.
        log_format: ``"csv"`` or ``"jsonl"``; by default chosen by the suffix
            (``.jsonl``, ``.ndjson``, ``.json`` are JSON lines; ``.csv``, ``.tsv``,
            ``.txt`` are CSV), otherwise by the first non-blank line (``{`` starts
            JSON lines).
        step_column: The step column (CSV) or key (JSON lines); by default
            recognised by name (see :func:`parse_log`).
        lr_column: The learning-rate column or key; by default recognised by name.

    Raises:
        RunLogError: the file cannot be opened, or (while iterating) a row is bad.
    """
    if log_format is not None and log_format not in LOG_FORMATS:
        raise RunLogError(f"log_format must be 'csv' or 'jsonl', got {log_format!r}")
    if str(path) == "-":
        return _read_stdin(log_format, step_column, lr_column)
    try:
        info = os.stat(path)
    except FileNotFoundError:
        raise RunLogError(f"{path}: no such file") from None
    except OSError as error:
        raise RunLogError(f"{path}: cannot be read ({error.strerror})") from None
    if stat.S_ISDIR(info.st_mode):
        raise RunLogError(f"{path}: is a directory, not a log file")
    if log_format is None:
        suffix = Path(path).suffix.lower()
        if suffix in _JSONL_SUFFIXES:
            log_format = "jsonl"
        elif suffix in _CSV_SUFFIXES:
            log_format = "csv"
    return _read_file(path, log_format, step_column, lr_column)


def _read_file(
    path: str | Path,
    log_format: LogFormat | None,
    step_column: str | None,
    lr_column: str | None,
) -> Iterator[LogPoint]:
    try:
        handle = open(path, encoding="utf-8-sig", newline="")  # noqa: SIM115
    except OSError as error:
        raise RunLogError(f"{path}: cannot be read ({error.strerror})") from None
    with handle:
        yield from _parse_text(handle, str(path), log_format, step_column, lr_column)


def _read_stdin(
    log_format: LogFormat | None, step_column: str | None, lr_column: str | None
) -> Iterator[LogPoint]:
    """Standard input decoded as a file is (UTF-8, a byte-order mark skipped).

    A text-only stdin (no ``buffer``, as some notebooks and tests give) is read as
    text, a leading byte-order mark dropped.
    """
    buffer = getattr(sys.stdin, "buffer", None)
    if buffer is None:
        lines = iter(sys.stdin)
        first = next(lines, "")
        text = chain([first.removeprefix("\ufeff")], lines)
        yield from _parse_text(text, "<stdin>", log_format, step_column, lr_column)
        return
    wrapper = io.TextIOWrapper(buffer, encoding="utf-8-sig", newline="")
    try:
        yield from _parse_text(wrapper, "<stdin>", log_format, step_column, lr_column)
    finally:
        wrapper.detach()  # closing the wrapper would close stdin's own buffer


def _parse_text(
    handle: Iterable[str],
    source: str,
    log_format: LogFormat | None,
    step_column: str | None,
    lr_column: str | None,
) -> Iterator[LogPoint]:
    try:
        yield from parse_log(
            handle,
            source=source,
            log_format=log_format,
            step_column=step_column,
            lr_column=lr_column,
        )
    except UnicodeDecodeError as error:
        raise RunLogError(
            f"{source}: is not UTF-8 text (invalid byte {error.object[error.start]:#04x})"
        ) from None


def parse_log(
    lines: Iterable[str],
    *,
    source: str = "<log>",
    log_format: LogFormat | None = None,
    step_column: str | None = None,
    lr_column: str | None = None,
) -> Iterator[LogPoint]:
    """Stream the points of a log given as lines of text.

    Column recognition (CSV headers and JSON keys alike, case-insensitively, names
    stripped of surrounding spaces):

    * step: the first present of :data:`STEP_COLUMN_NAMES` (``step``,
      ``global_step``, ..., ``iteration``, ``iter``, ``_step``).
    * lr: the first present of :data:`LR_COLUMN_NAMES` (``lr``, ``learning_rate``,
      ``learning-rate``, ``train/lr``, ...); otherwise the one column whose name
      starts with ``lr-`` (Lightning: ``lr-SGD``, ``lr-AdamW``) or whose last part,
      after a ``/`` or ``" - "``, is ``lr``, ``learning_rate`` or ``learning-rate``
      (W&B: ``train/learning_rate``, ``run-7 - train/learning_rate``), leaving out
      ``momentum`` and W&B's ``__MIN``/``__MAX`` columns; otherwise ``Value``
      (TensorBoard).  Two candidates at the same rank are an error: choose one.

    Rows: blank lines are skipped, and so are rows whose lr cell is empty (or whose
    JSON object has no lr key, or a null one): W&B and JSON-lines logs are sparse.
    A step is an integer >= 0 (``"30.0"`` is read as 30); an lr is a finite number
    >= 0.  CSV may be tab-separated (detected from the header line).

    Args:
        lines: The text, one line per item (a file object works).
        source: What to call the text in messages.
        log_format: ``"csv"``, ``"jsonl"``, or None to sniff the first non-blank line.
        step_column: The step column or key, matched exactly, then case-insensitively.
        lr_column: The lr column or key, matched likewise.

    Raises:
        RunLogError: while iterating: no header, no recognisable column, or a bad row;
            the message names the source, the line, the column and the value.

    Example:
        >>> rows = ["Wall time,Step,Value", "1700000000.0,0,0.1", "1700000001.5,30,0.01"]
        >>> [(point.step, point.lr, point.line) for point in parse_log(rows)]
        [(0, 0.1, 2), (30, 0.01, 3)]
        >>> [point.step for point in parse_log(['{"global_step": 7, "learning_rate": 0.1}'])]
        [7]
    """
    if log_format is not None and log_format not in LOG_FORMATS:
        raise RunLogError(f"log_format must be 'csv' or 'jsonl', got {log_format!r}")
    iterator = iter(lines)
    skipped = 0
    first = None
    for line in iterator:
        if line.strip():
            first = line
            break
        skipped += 1
    if first is None:
        raise RunLogError(f"{source}: is empty; expected a header line or JSON lines")
    rest = chain([first], iterator)
    if log_format is None:
        log_format = "jsonl" if first.lstrip().startswith("{") else "csv"
    if log_format == "jsonl":
        return _parse_jsonl(rest, source, skipped, step_column, lr_column)
    return _parse_csv(rest, source, skipped, step_column, lr_column)


def _parse_csv(
    lines: Iterator[str],
    source: str,
    skipped: int,
    step_column: str | None,
    lr_column: str | None,
) -> Iterator[LogPoint]:
    first = next(lines)
    delimiter = "\t" if "\t" in first and "," not in first else ","
    reader = csv.reader(chain([first], lines), delimiter=delimiter)
    try:
        header = [name.strip() for name in next(reader)]
        step_index = _choose_column(header, step_column, "step", _recognise_step, source)
        lr_index = _choose_column(header, lr_column, "lr", _recognise_lr, source)
        needed = max(step_index, lr_index) + 1
        for row in reader:
            line = reader.line_num + skipped
            if not any(cell.strip() for cell in row):
                continue
            if len(row) < needed:
                raise RunLogError(
                    f"{source} line {line}: has {len(row)} cells; the "
                    f"{header[max(step_index, lr_index)]!r} column is cell {needed}"
                )
            lr_text = row[lr_index].strip()
            if not lr_text:
                continue
            step = _step_from_text(row[step_index].strip(), header[step_index], source, line)
            lr = _lr_from_text(lr_text, header[lr_index], source, line)
            yield LogPoint(step, lr, line)
    except csv.Error as error:
        raise RunLogError(f"{source} line {reader.line_num + skipped}: {error}") from None


def _parse_jsonl(
    lines: Iterator[str],
    source: str,
    skipped: int,
    step_column: str | None,
    lr_column: str | None,
) -> Iterator[LogPoint]:
    keys_seen: dict[tuple[str, ...], tuple[str, str | None]] = {}
    for number, text in enumerate(lines, start=skipped + 1):
        if not text.strip():
            continue
        try:
            record = loads_strict(text.encode("utf-8"))
        except ValueError as error:
            raise RunLogError(f"{source} line {number} {error}") from None
        if not isinstance(record, dict):
            raise RunLogError(
                f"{source} line {number}: is a JSON {type(record).__name__}; "
                'expected an object such as {"step": 0, "lr": 0.1}'
            )
        names = tuple(record)
        chosen = keys_seen.get(names)
        if chosen is None:
            lr_key = _find_key(names, lr_column, "lr", _recognise_lr, source, number)
            if lr_key is None:
                continue
            step_key = _find_key(names, step_column, "step", _recognise_step, source, number)
            chosen = (lr_key, step_key)
            if len(keys_seen) < _MAX_CACHED_VALUES:
                keys_seen[names] = chosen
        lr_key, step_key = chosen
        lr_value = record[lr_key]
        if lr_value is None:
            continue
        if step_key is None:
            expected = step_column or "one of " + ", ".join(STEP_COLUMN_NAMES)
            raise RunLogError(
                f"{source} line {number}: has no step key (expected {expected}); "
                f"keys are {', '.join(names)}"
            )
        step = _step_from_json(record[step_key], step_key, source, number)
        lr = _lr_from_json(lr_value, lr_key, source, number)
        yield LogPoint(step, lr, number)


def _find_key(
    names: Sequence[str],
    explicit: str | None,
    what: str,
    recognise: Callable[[Sequence[str], str], int | None],
    source: str,
    line: int,
) -> str | None:
    if explicit is None:
        index = recognise(names, f"{source} line {line}")
        return None if index is None else names[index]
    # An explicit key missing from one object: a sparse lr is skipped, a missing step
    # is reported by the caller.
    index = _match_explicit(names, explicit)
    return None if index is None else names[index]


def _choose_column(
    header: Sequence[str],
    explicit: str | None,
    what: str,
    recognise: Callable[[Sequence[str], str], int | None],
    source: str,
) -> int:
    if explicit is not None:
        index = _match_explicit(header, explicit)
        if index is None:
            raise RunLogError(
                f"{source}: has no column {explicit!r} for the {what}; "
                f"columns are {', '.join(map(repr, header))}"
            )
        return index
    index = recognise(header, source)
    if index is None:
        known = STEP_COLUMN_NAMES if what == "step" else LR_COLUMN_NAMES
        raise RunLogError(
            f"{source}: no {what} column recognised among {', '.join(map(repr, header))} "
            f"(known names: {', '.join(known)}); choose one with {what}_column"
        )
    return index


def _match_explicit(names: Sequence[str], wanted: str) -> int | None:
    if wanted in names:
        return list(names).index(wanted)
    folded = [name.strip().lower() for name in names]
    matches = [i for i, name in enumerate(folded) if name == wanted.strip().lower()]
    return matches[0] if matches else None


def _recognise_step(names: Sequence[str], source: str) -> int | None:
    folded = [name.strip().lower() for name in names]
    for candidate in STEP_COLUMN_NAMES:
        if candidate in folded:
            return folded.index(candidate)
    return None


def _recognise_lr(names: Sequence[str], source: str) -> int | None:
    folded = [name.strip().lower() for name in names]
    for candidate in LR_COLUMN_NAMES:
        if candidate in folded:
            return folded.index(candidate)
    patterned = [i for i, name in enumerate(folded) if _looks_like_lr(name)]
    if len(patterned) > 1:
        listed = ", ".join(repr(names[i]) for i in patterned)
        raise RunLogError(
            f"{source}: several columns look like a learning rate ({listed}); "
            "choose one with lr_column"
        )
    if patterned:
        return patterned[0]
    if _FALLBACK_LR_COLUMN in folded:
        return folded.index(_FALLBACK_LR_COLUMN)
    return None


def _looks_like_lr(name: str) -> bool:
    if "momentum" in name or name.endswith(("__min", "__max")):
        return False
    if name.startswith("lr-"):
        return True
    last = name.rsplit(" - ", 1)[-1].rsplit("/", 1)[-1]
    return last in _LR_NAME_ENDINGS


def _step_from_text(text: str, column: str, source: str, line: int) -> int:
    if _INTEGER_TEXT.fullmatch(text):
        try:
            return _check_step(int(text), text, column, source, line)
        except ValueError:  # more digits than int() converts
            pass
    number = float(text) if _NUMBER_TEXT.fullmatch(text) else math.nan
    if not math.isfinite(number) or not number.is_integer():
        raise RunLogError(
            f"{source} line {line}: {column} {text!r} is not an integer step >= 0"
        ) from None
    return _check_step(int(number), text, column, source, line)


def _check_step(step: int, shown: object, column: str, source: str, line: int) -> int:
    if step < 0:
        raise RunLogError(f"{source} line {line}: {column} {shown!r} is not an integer step >= 0")
    return step


def _lr_from_text(text: str, column: str, source: str, line: int) -> float:
    value = float(text) if _NUMBER_TEXT.fullmatch(text) else math.nan
    if not math.isfinite(value) or value < 0:
        raise RunLogError(
            f"{source} line {line}: {column} {text!r} is not a learning rate (a finite number >= 0)"
        )
    return value


def _step_from_json(value: object, key: str, source: str, line: int) -> int:
    if isinstance(value, int) and not isinstance(value, bool):
        return _check_step(value, value, key, source, line)
    if isinstance(value, float) and value.is_integer():
        return _check_step(int(value), value, key, source, line)
    raise RunLogError(f"{source} line {line}: {key} {value!r} is not an integer step >= 0")


def _lr_from_json(value: object, key: str, source: str, line: int) -> float:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        number = float(value)
        if math.isfinite(number) and number >= 0:
            return number
    raise RunLogError(
        f"{source} line {line}: {key} {value!r} is not a learning rate (a finite number >= 0)"
    )


# -- position sets ------------------------------------------------------------

# A set of integers as sorted, disjoint, non-adjacent closed intervals; None = no end.
Interval = tuple[int, int | None]
IntervalSet = tuple[Interval, ...]

_EVERYTHING: IntervalSet = ((0, None),)


def _intersect(first: IntervalSet, second: IntervalSet) -> IntervalSet:
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


def _normalise(intervals: Iterable[Interval]) -> IntervalSet:
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


def _approx(first: float, second: float, tolerance: float) -> bool:
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
        return passed or _approx(value, target, tolerance)

    def beyond(x: int) -> bool:
        value = value_at(x)
        passed = value > target if increasing else value < target
        return passed and not _approx(value, target, tolerance)

    first = _least(reached, low, high)
    after = _least(beyond, first, high)
    return (first, after - 1) if first < after else None


class _PositionsWithLr:
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
        return _normalise(pieces)


# -- hypotheses ---------------------------------------------------------------


def _ceil_div(numerator: int, denominator: int) -> int:
    return -(-numerator // denominator)


def _early_factors(step: int, scale: int, positions: IntervalSet) -> IntervalSet:
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
    return _normalise(admitted)


def _late_factors(step: int, scale: int, positions: IntervalSet) -> IntervalSet:
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
    return _normalise(admitted)


def _resume_positions(position: int, matches: bool, positions: IntervalSet) -> IntervalSet:
    """Resume positions r >= 1 explaining a point: r > p (no reset yet), or p - r fits.

    For a point that does not match the schedule both ends are non-decreasing in
    ``position``.
    """
    admitted: list[Interval] = [(position + 1, None)] if matches else []
    for low, high in positions:
        least = 1 if high is None else max(1, position - high)
        admitted.append((least, position - low))
    return _normalise(admitted)


class _LrLookup:
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
class _Run:
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


class _Checker:
    """Streams points, finds the first mismatch and narrows every hypothesis."""

    def __init__(self, schedule: StepSchedule, tolerance: float, scale: int) -> None:
        self.schedule = schedule
        self.tolerance = tolerance
        self.scale = scale
        self.lr = _LrLookup(schedule)
        self.positions_with = _PositionsWithLr(schedule, tolerance)
        self.checked = 0
        self.mismatches = 0
        self.first_mismatch: tuple[int, float, float] | None = None
        self.first_lr: float | None = None
        self.constant = self.ahead = self.behind = True
        self.early: IntervalSet | None = ((2, None),)
        self.late: IntervalSet | None = ((2, None),)
        self.reset: IntervalSet | None = ((1, None),)
        self.run: _Run | None = None

    def add(self, step: int, logged: float) -> None:
        self.checked += 1
        position = step // self.scale
        tolerance = self.tolerance
        expected = self.lr(position)
        matches = _approx(logged, expected, tolerance)
        if not matches:
            self.mismatches += 1
            if self.first_mismatch is None:
                self.first_mismatch = (step, expected, logged)
        if self.first_lr is None:
            self.first_lr = logged
        elif self.constant:
            self.constant = _approx(logged, self.first_lr, tolerance)
        if self.ahead:
            self.ahead = _approx(logged, self.lr(position + 1), tolerance)
        if self.behind:
            self.behind = _approx(logged, self.lr(max(0, position - 1)), tolerance)
        if self.early is None and self.late is None and self.reset is None:
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
                self._extend_window(run, position)
            return
        self.flush()
        positions = self.positions_with(logged)
        if len(positions) != 1:
            # Two separate stretches of the schedule carry this lr (a warmup ramp
            # crossing a decayed value): no run shortcut, narrow point by point.
            self._narrow_point(step, position, matches, positions)
            return
        self.run = _Run(logged, matches, positions, step, position, step, position, None)
        if matches:
            self._extend_window(self.run, position)

    def _extend_window(self, run: _Run, position: int) -> None:
        segment_start = run.positions[0][0]
        if segment_start == 0:
            return
        low, high = max(1, position - segment_start + 1), position
        if run.window is not None:
            window_low, window_high = run.window
            if low <= window_high + 1:
                run.window = (window_low, max(window_high, high))
                return
            self._exclude(run.window)
        run.window = (low, high)

    def _exclude(self, window: tuple[int, int]) -> None:
        low, high = window
        self.reset = self._narrow(self.reset, _normalise([(1, low - 1), (high + 1, None)]))

    def _narrow_point(
        self, step: int, position: int, matches: bool, positions: IntervalSet
    ) -> None:
        self.early = self._narrow(self.early, _early_factors(step, self.scale, positions))
        self.late = self._narrow(self.late, _late_factors(step, self.scale, positions))
        self.reset = self._narrow(self.reset, _resume_positions(position, matches, positions))

    def flush(self) -> None:
        run, self.run = self.run, None
        if run is None:
            return
        scale, positions = self.scale, run.positions
        for step in {run.first_step, run.last_step}:
            self.early = self._narrow(self.early, _early_factors(step, scale, positions))
            self.late = self._narrow(self.late, _late_factors(step, scale, positions))
        if run.matches:
            if run.window is not None:
                self._exclude(run.window)
        else:
            for position in {run.first_position, run.last_position}:
                admitted = _resume_positions(position, False, positions)
                self.reset = self._narrow(self.reset, admitted)

    @staticmethod
    def _narrow(current: IntervalSet | None, admitted: IntervalSet) -> IntervalSet | None:
        if current is None:
            return None
        narrowed = _intersect(current, admitted)
        if not narrowed or len(narrowed) > _MAX_INTERVALS:
            return None
        return narrowed


def check_log(
    points: Iterable[LogPoint],
    schedule: StepSchedule,
    *,
    tolerance: float = DEFAULT_TOLERANCE,
    steps_per_epoch: int | None = None,
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

    Raises:
        RunLogError: the log has no points, or an argument is out of range.
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
    scale = steps_per_epoch if schedule.mode == "epoch" and steps_per_epoch else 1
    checker = _Checker(schedule, float(tolerance), scale)
    for point in points:
        checker.add(point.step, point.lr)
    checker.flush()
    if checker.checked == 0:
        raise RunLogError("the log has no points to check")
    if checker.first_mismatch is None:
        return CheckResult(True, None, None, None, None, checker.checked, 0)
    diagnosis = _diagnose(checker, schedule, checker.first_mismatch, scale, steps_per_epoch)
    step, expected, logged = checker.first_mismatch
    return CheckResult(
        False, step, expected, logged, diagnosis, checker.checked, checker.mismatches
    )


def _diagnose(
    checker: _Checker,
    schedule: StepSchedule,
    first_mismatch: tuple[int, float, float],
    scale: int,
    steps_per_epoch: int | None,
) -> Diagnosis:
    step, expected, logged = first_mismatch
    where = f"first mismatch at step {step}: expected {expected!r}, logged {logged!r}"
    unit = "epoch" if schedule.mode == "epoch" else "step"
    found: list[Diagnosis] = []
    if checker.constant:
        first_lr = checker.first_lr
        if first_lr is not None and _approx(first_lr, schedule.initial_lr, checker.tolerance):
            cause = "the scheduler was never stepped"
        else:
            cause = (
                f"it is not even the schedule's initial lr {schedule.initial_lr!r}: the "
                "scheduler was never stepped, or the lr comes from somewhere else"
            )
        found.append(
            Diagnosis("constant", f"the logged lr is constant at {first_lr!r}: {cause} ({where})")
        )
    if checker.ahead:
        found.append(
            Diagnosis(
                "ahead_by_one",
                f"the log is one {unit} ahead of the schedule, log(t) == lr(t + 1): "
                "scheduler.step() is called before optimizer.step(), or the lr is read "
                f"after scheduler.step() ({where})",
            )
        )
    if checker.behind:
        found.append(
            Diagnosis(
                "behind_by_one",
                f"the log is one {unit} behind the schedule, log(t) == lr(t - 1): the logged "
                "steps count from 1, or each lr is logged one step late, as if the first "
                f"value were skipped ({where})",
            )
        )
    if checker.early:
        found.append(_factor_diagnosis("early", checker.early, where, steps_per_epoch))
    if checker.late:
        found.append(_factor_diagnosis("late", checker.late, where, steps_per_epoch))
    if checker.reset:
        found.append(_reset_diagnosis(checker.reset, where, unit, scale))
    if not found:
        return Diagnosis("unknown", f"unknown: {where}")
    best = found[0]
    others = tuple(diagnosis.kind for diagnosis in found[1:])
    return Diagnosis(
        best.kind,
        best.message,
        factor=best.factor,
        factor_range=best.factor_range,
        resume_at=best.resume_at,
        resume_range=best.resume_range,
        also_consistent=others,
    )


def _describe_range(low: int, high: int | None) -> str:
    if high is None:
        return f"at least {low}"
    return str(low) if low == high else f"between {low} and {high}"


def _factor_diagnosis(
    kind: DiagnosisKind,
    admitted: IntervalSet,
    where: str,
    steps_per_epoch: int | None,
) -> Diagnosis:
    low, high = admitted[0][0], admitted[-1][1]
    factor = low if low == high else None
    amount = _describe_range(low, high)
    shown = str(factor) if factor is not None else "k"
    if kind == "early":
        message = (
            f"the lr decays {amount} times too early: at step t the log holds the "
            f"schedule's lr at {shown}*t ({where}); the scheduler is stepped {shown} times "
            "per optimizer step: per micro-batch under gradient accumulation, or per batch "
            "while step_size counts epochs"
        )
    else:
        message = (
            f"the lr decays {amount} times too late: at step t the log holds the "
            f"schedule's lr at t/{shown} ({where}); the scheduler is stepped once every "
            f"{shown} optimizer steps: per epoch while step_size counts steps, or only "
            "every few steps"
        )
    if steps_per_epoch is not None:
        if factor == steps_per_epoch:
            message += f"; the factor equals steps_per_epoch ({steps_per_epoch})"
            message += (
                ": scheduler.step() runs every batch but the schedule counts epochs"
                if kind == "early"
                else ": scheduler.step() runs once per epoch but the schedule counts steps"
            )
        elif factor is not None:
            message += f"; the factor is not steps_per_epoch ({steps_per_epoch})"
            if kind == "early":
                message += f", so gradient accumulation over {factor} micro-batches is likelier"
    return Diagnosis(kind, message, factor=factor, factor_range=(low, high))


def _reset_diagnosis(admitted: IntervalSet, where: str, unit: str, scale: int) -> Diagnosis:
    low, high = admitted[0][0], admitted[-1][1]
    resume_at = low if low == high else None
    in_steps = f" (step {low * scale})" if scale > 1 and resume_at is not None else ""
    message = (
        f"the lr was reset to the start of the schedule at {unit} "
        f"{_describe_range(low, high)}{in_steps}: from there the log follows the schedule "
        "from 0 again, as when a run is resumed without loading the scheduler's state "
        f"({where})"
    )
    return Diagnosis("reset", message, resume_at=resume_at, resume_range=(low, high))


__all__ = [
    "DEFAULT_TOLERANCE",
    "LOG_FORMATS",
    "LR_COLUMN_NAMES",
    "STEP_COLUMN_NAMES",
    "CheckResult",
    "Diagnosis",
    "DiagnosisKind",
    "LogFormat",
    "LogPoint",
    "RunLogError",
    "check_log",
    "parse_log",
    "read_log",
]
