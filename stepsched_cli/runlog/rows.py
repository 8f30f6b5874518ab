"""Streaming a run log's ``(step, lr)`` points out of a CSV or JSON-lines file.

:func:`read_log` and :func:`parse_log` read one row at a time, so a log of millions
of rows costs constant memory.  Which columns hold the step and the lr, and how a
cell becomes a number, is :mod:`stepsched_cli.runlog.columns`' business.
"""

from __future__ import annotations

import csv
import io
import os
import stat
import sys
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from itertools import chain
from pathlib import Path
from typing import TYPE_CHECKING, Literal, TextIO

from stepsched_cli.runlog.columns import (
    STEP_COLUMN_NAMES,
    choose_column,
    find_key,
    lr_from_json,
    lr_from_text,
    recognise_lr,
    recognise_step,
    refuse_keras_csv_without_lr,
    step_from_json,
    step_from_text,
)
from stepsched_cli.runlog.log_error import RunLogError
from stepsched_cli.state import loads_strict

if TYPE_CHECKING:
    import _csv

LogFormat = Literal["csv", "jsonl"]
LOG_FORMATS: tuple[LogFormat, ...] = ("csv", "jsonl")

_JSONL_SUFFIXES = (".jsonl", ".ndjson", ".json")
_CSV_SUFFIXES = (".csv", ".tsv", ".txt")
# A first line that only opens an object or array: one indented JSON document.
_WHOLE_DOCUMENT_HINT = (
    " (one JSON document over several lines, not JSON lines: give a Hugging Face "
    "trainer_state.json as a file, without --log-format)"
)
# Key tuples of JSON objects remembered with their chosen keys (bounded for hostile logs).
_MAX_CACHED_KEYS = 512
# The longest line (with its line break) a log may have, in characters.  A log line is
# a row of numbers, a few dozen characters (a wide W&B export, a few thousand); the
# bound refuses a binary file, /dev/zero or a one-line giant quickly, in bounded memory.
MAX_LINE_LENGTH = 1 << 20


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
    return _read_file(path, log_format or format_by_suffix(path), step_column, lr_column)


def format_by_suffix(path: str | Path) -> LogFormat | None:
    """The format a file's suffix names, if any (see :func:`read_log`)."""
    suffix = Path(path).suffix.lower()
    if suffix in _JSONL_SUFFIXES:
        return "jsonl"
    if suffix in _CSV_SUFFIXES:
        return "csv"
    return None


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
        lines = bounded_lines(handle, str(path))
        yield from _parse_text(lines, str(path), log_format, step_column, lr_column)


def _read_stdin(
    log_format: LogFormat | None, step_column: str | None, lr_column: str | None
) -> Iterator[LogPoint]:
    """Standard input decoded as a file is (UTF-8, a byte-order mark skipped).

    A text-only stdin (no ``buffer``, as some notebooks and tests give) is read as
    text, a leading byte-order mark dropped.
    """
    buffer = getattr(sys.stdin, "buffer", None)
    if buffer is None:
        lines = bounded_lines(sys.stdin, "<stdin>")
        first = next(lines, "")
        text = chain([first.removeprefix("\ufeff")], lines)
        yield from _parse_text(text, "<stdin>", log_format, step_column, lr_column)
        return
    wrapper = io.TextIOWrapper(buffer, encoding="utf-8-sig", newline="")
    try:
        lines = bounded_lines(wrapper, "<stdin>")
        yield from _parse_text(lines, "<stdin>", log_format, step_column, lr_column)
    finally:
        wrapper.detach()  # closing the wrapper would close stdin's own buffer


def bounded_lines(handle: TextIO, source: str, first_line: int = 1) -> Iterator[str]:
    """The lines of a text stream, each read in bounded memory.

    Raises:
        RunLogError: a line longer than :data:`MAX_LINE_LENGTH`, naming it.
    """
    number = first_line
    while line := handle.readline(MAX_LINE_LENGTH + 1):
        if len(line) > MAX_LINE_LENGTH:
            raise long_line_error(source, number)
        yield line
        number += 1


def long_line_error(source: str, line: int) -> RunLogError:
    """The error for a line over :data:`MAX_LINE_LENGTH`."""
    return RunLogError(
        f"{source} line {line}: is longer than {MAX_LINE_LENGTH} characters "
        "(MAX_LINE_LENGTH); a log line is a row of numbers: is this a log file?"
    )


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
        return jsonl_points(rest, source, skipped, step_column, lr_column)
    return _parse_csv(rest, source, skipped, step_column, lr_column)


def _parse_csv(
    lines: Iterator[str],
    source: str,
    skipped: int,
    step_column: str | None,
    lr_column: str | None,
) -> Iterator[LogPoint]:
    first = next(lines)
    delimiter = csv_delimiter(first)
    reader = csv.reader(chain([first], lines), delimiter=delimiter)
    try:
        columns = csv_columns(next(reader), delimiter, source, step_column, lr_column)
    except csv.Error as error:
        raise RunLogError(f"{source} line {reader.line_num + skipped}: {error}") from None
    yield from csv_points(reader, columns, source, skipped)


def csv_delimiter(header_line: str) -> str:
    """A tab when the header has tabs and no comma, else a comma."""
    return "\t" if "\t" in header_line and "," not in header_line else ","


@dataclass(frozen=True)
class CsvColumns:
    """The header of a CSV log and the cells that hold the step and the lr."""

    header: tuple[str, ...]
    step_index: int
    lr_index: int
    delimiter: str


def csv_columns(
    header_row: Sequence[str],
    delimiter: str,
    source: str,
    step_column: str | None,
    lr_column: str | None,
) -> CsvColumns:
    """Choose the step and lr columns of a CSV header (see :func:`parse_log`)."""
    header = tuple(name.strip() for name in header_row)
    if lr_column is None:
        refuse_keras_csv_without_lr(header, source)
    step_index = choose_column(header, step_column, "step", recognise_step, source)
    lr_index = choose_column(header, lr_column, "lr", recognise_lr, source)
    return CsvColumns(header, step_index, lr_index, delimiter)


def csv_points(
    reader: _csv.Reader, columns: CsvColumns, source: str, offset: int
) -> Iterator[LogPoint]:
    """The points of CSV rows after the header, row by row.

    Args:
        reader: A ``csv.reader`` (its ``line_num`` counts the lines it has read).
        columns: The chosen columns.
        source: What to call the log in messages.
        offset: Added to ``reader.line_num`` to give a line of the file.
    """
    header, step_index, lr_index = columns.header, columns.step_index, columns.lr_index
    needed = max(step_index, lr_index) + 1
    try:
        for row in reader:
            line = reader.line_num + offset
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
            step = step_from_text(row[step_index].strip(), header[step_index], source, line)
            lr = lr_from_text(lr_text, header[lr_index], source, line)
            yield LogPoint(step, lr, line)
    except csv.Error as error:
        line_num = reader.line_num
        raise RunLogError(f"{source} line {line_num + offset}: {error}") from None


def jsonl_points(
    lines: Iterable[str],
    source: str,
    skipped: int,
    step_column: str | None,
    lr_column: str | None,
) -> Iterator[LogPoint]:
    """The points of JSON lines, the first being line ``skipped + 1`` of the source."""
    keys_seen: dict[tuple[str, ...], tuple[str, str | None]] = {}
    for number, text in enumerate(lines, start=skipped + 1):
        if not text.strip():
            continue
        try:
            record = loads_strict(text.encode("utf-8"))
        except ValueError as error:
            whole = _WHOLE_DOCUMENT_HINT if text.strip() in ("{", "[") else ""
            raise RunLogError(f"{source} line {number} {error}{whole}") from None
        if not isinstance(record, dict):
            raise RunLogError(
                f"{source} line {number}: is a JSON {type(record).__name__}; "
                'expected an object such as {"step": 0, "lr": 0.1}'
            )
        names = tuple(record)
        chosen = keys_seen.get(names)
        if chosen is None:
            lr_key = find_key(names, lr_column, "lr", recognise_lr, source, number)
            if lr_key is None:
                continue
            step_key = find_key(names, step_column, "step", recognise_step, source, number)
            chosen = (lr_key, step_key)
            if len(keys_seen) < _MAX_CACHED_KEYS:
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
        step = step_from_json(record[step_key], step_key, source, number)
        lr = lr_from_json(lr_value, lr_key, source, number)
        yield LogPoint(step, lr, number)


__all__ = [
    "LOG_FORMATS",
    "MAX_LINE_LENGTH",
    "CsvColumns",
    "LogFormat",
    "LogPoint",
    "bounded_lines",
    "csv_columns",
    "csv_delimiter",
    "csv_points",
    "format_by_suffix",
    "jsonl_points",
    "long_line_error",
    "parse_log",
    "read_log",
]
