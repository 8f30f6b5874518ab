"""A log file read in large blocks of complete lines, for the fast path of ``check``.

:func:`read_chunks` opens a log file in binary, reads its header as the row-by-row
reader does, then yields blocks of about :data:`CHUNK_BYTES` of complete lines.  A
block is handed over as arrays when :func:`stepsched_cli.runlog.vector.read_block`
(CSV) or a per-format regular expression (JSON lines) takes every line of it, and
otherwise as the points the row-by-row reader reads from it, with that reader's
messages and line numbers.

Some inputs are not worth a fast path and could make line numbers drift: a header the
row-by-row reader refuses, a quote character anywhere in a CSV (a quoted cell may
span lines), a lone carriage return (a line break to the text reader), an overlong
line with non-ASCII bytes.  For those :class:`Abandon` is raised and the caller reads
the whole log row by row instead, which gives exactly today's answer.
"""

from __future__ import annotations

import csv
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from stepsched_cli.runlog.columns import find_key, recognise_lr, recognise_step
from stepsched_cli.runlog.log_error import RunLogError
from stepsched_cli.runlog.rows import (
    MAX_LINE_LENGTH,
    CsvColumns,
    LogFormat,
    LogPoint,
    csv_columns,
    csv_delimiter,
    csv_points,
    format_by_suffix,
    jsonl_points,
    long_line_error,
)
from stepsched_cli.runlog.vector import Block, read_block
from stepsched_cli.state import loads_strict

# Bytes read at a time: large enough that numpy's per-call cost vanishes, small
# enough that a block's arrays stay a few MiB.
CHUNK_BYTES = 1 << 21
_BYTE_ORDER_MARK = b"\xef\xbb\xbf"


class Abandon(Exception):
    """The fast path gives up; the caller reads the log row by row from the start."""


@dataclass(frozen=True)
class Layout:
    """How the lines after the header are read."""

    log_format: LogFormat
    source: str
    step_column: str | None
    lr_column: str | None
    columns: CsvColumns | None  # CSV only


def read_chunks(
    path: str | Path,
    log_format: LogFormat | None,
    step_column: str | None,
    lr_column: str | None,
) -> Iterator[Block | list[LogPoint]]:
    """Blocks of the log after its header (see the module's docstring).

    Raises:
        Abandon: the log is better read row by row (before or while yielding).
        RunLogError: a bad row in a block read row by row.
    """
    source = str(path)
    try:
        handle = open(path, "rb")  # noqa: SIM115
    except OSError:
        raise Abandon from None
    with handle:
        layout, line = _read_header(handle, source, log_format, step_column, lr_column)
        yield from _blocks(handle, layout, line)


def _read_header(
    handle: BinaryIO,
    source: str,
    log_format: LogFormat | None,
    step_column: str | None,
    lr_column: str | None,
) -> tuple[Layout, int]:
    """Skip blank lines, read a CSV header; return the layout and the next line's number."""
    start = handle.read(3)
    if start != _BYTE_ORDER_MARK:
        handle.seek(0)
    number = 1 + _skip_blank_lines(handle)
    while True:
        offset = handle.tell()
        raw = handle.readline(MAX_LINE_LENGTH + 1)
        if not raw and number > 1:
            raise RunLogError(f"{source}: is empty; expected a header line or JSON lines")
        if not raw or len(raw) > MAX_LINE_LENGTH or b"\r" in raw.removesuffix(b"\r\n"):
            raise Abandon
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            raise Abandon from None
        if text.strip():
            break
        number += 1
    log_format = log_format or format_by_suffix(source)
    if log_format is None:
        log_format = "jsonl" if text.lstrip().startswith("{") else "csv"
    if log_format == "jsonl":
        handle.seek(offset)
        return Layout("jsonl", source, step_column, lr_column, None), number
    if '"' in text:
        raise Abandon
    delimiter = csv_delimiter(text)
    try:
        header = next(csv.reader([text], delimiter=delimiter))
        columns = csv_columns(header, delimiter, source, step_column, lr_column)
    except (csv.Error, RunLogError):
        raise Abandon from None
    return Layout("csv", source, step_column, lr_column, columns), number + 1


_BLANK = b" \t\n"
_BLANK_BLOCK = 1 << 16


def _skip_blank_lines(handle: BinaryIO) -> int:
    """Skip the lines of spaces and tabs before the header a block at a time, leaving
    ``handle`` at the start of the first other line; return how many were skipped.

    Read line by line, 4 MB of newlines took 6 s (a line cost two tells and a decode,
    then the row-by-row reader read them again).
    """
    skipped = 0
    resume = handle.tell()  # after the last newline skipped: a long line of spaces stays
    while True:
        offset = handle.tell()
        block = handle.read(_BLANK_BLOCK)
        content = len(block) - len(block.lstrip(_BLANK))
        end = block.rfind(b"\n", 0, content) + 1
        if end:
            skipped += block.count(b"\n", 0, end)
            resume = offset + end
        if content < len(block) or not block:
            handle.seek(resume)
            return skipped


def _blocks(handle: BinaryIO, layout: Layout, line: int) -> Iterator[Block | list[LogPoint]]:
    """Blocks of complete lines, the first starting at line ``line``."""
    carry = b""
    while True:
        data = handle.read(CHUNK_BYTES)
        text = carry + data
        if not data:
            if text:
                yield _block(text if text.endswith(b"\n") else text + b"\n", layout, line)
            return
        cut = text.rfind(b"\n") + 1
        if cut == 0:
            _refuse_long(text, layout.source, line)
            carry = text
            continue
        block, carry = text[:cut], text[cut:]
        _refuse_long(carry, layout.source, line + block.count(b"\n"))
        yield _block(block, layout, line)
        line += block.count(b"\n")


def _refuse_long(partial: bytes, source: str, line: int) -> None:
    """An unfinished line already over the bound: refuse it (or abandon if not ASCII)."""
    if len(partial) > MAX_LINE_LENGTH:
        if not partial.isascii():
            raise Abandon
        raise long_line_error(source, line)


def _block(text: bytes, layout: Layout, line: int) -> Block | list[LogPoint]:
    """One block of complete lines as arrays, or its points read row by row."""
    if b"\r" in text:
        text = text.replace(b"\r\n", b"\n")
        if b"\r" in text:
            raise Abandon
    _check_line_lengths(text, layout.source, line)
    fast = _fast_block(text, layout) if text.isascii() else None
    return fast if fast is not None else _slow_block(text, layout, line)


def _check_line_lengths(text: bytes, source: str, line: int) -> None:
    """Refuse a complete line over the bound inside a block."""
    import numpy as np

    if len(text) <= MAX_LINE_LENGTH:
        return
    ends = np.flatnonzero(np.frombuffer(text, dtype=np.uint8) == ord("\n"))
    lengths = np.diff(ends, prepend=-1)
    longest = int(lengths.argmax())
    if lengths[longest] > MAX_LINE_LENGTH:
        start = int(ends[longest] - lengths[longest] + 1)
        _refuse_long(text[start : int(ends[longest]) + 1], source, line + longest)


def _fast_block(text: bytes, layout: Layout) -> Block | None:
    if layout.columns is not None:
        if b'"' in text:
            raise Abandon
        if b"\x00" in text:
            return None
        columns = layout.columns
        return read_block(
            text,
            len(columns.header),
            columns.step_index,
            columns.lr_index,
            ord(columns.delimiter),
        )
    return _jsonl_block(text, layout)


def _slow_block(text: bytes, layout: Layout, line: int) -> list[LogPoint]:
    """The block read by the row-by-row reader, with its messages and line numbers."""
    try:
        decoded = text.decode("utf-8")
    except UnicodeDecodeError:
        # The text reader decodes ahead of its rows: its error comes where it comes.
        raise Abandon from None
    lines = [piece + "\n" for piece in decoded.split("\n")[:-1]]
    if layout.columns is None:
        points = jsonl_points(lines, layout.source, line - 1, layout.step_column, layout.lr_column)
        return list(points)
    reader = csv.reader(lines, delimiter=layout.columns.delimiter)
    return list(csv_points(reader, layout.columns, layout.source, line - 1))


# -- JSON lines ------------------------------------------------------------------------

# JSON numbers as the fast path takes them: a step of at most 18 digits; an lr
# (non-negative) and any other value bounded so that the strict reader would take them.
_STEP = rb"(0|[1-9][0-9]{0,17})"
_LR = rb"((?:0|[1-9][0-9]{0,38})(?:\.[0-9]{1,300})?(?:[eE][+-]?[0-9]{1,3})?)"
_OTHER = rb"-?(?:0|[1-9][0-9]{0,38})(?:\.[0-9]{1,300})?(?:[eE][+-]?[0-9]{1,2})?"
_SPACE = rb"[ \t]*"
_MAX_TEMPLATES = 64


def _jsonl_block(text: bytes, layout: Layout) -> Block | None:
    """Every line of the block an object of numbers with one first line's keys, or None."""
    import numpy as np

    first = text[: text.find(b"\n")]
    template = _template(first, layout)
    if template is None:
        return None
    pattern, swapped = template
    found = pattern.findall(text)
    if len(found) != text.count(b"\n"):
        return None
    first_group, second_group = zip(*found, strict=True)
    steps_text, lrs_text = (second_group, first_group) if swapped else (first_group, second_group)
    steps = np.fromiter(map(int, steps_text), dtype=np.int64, count=len(found))
    lrs = np.fromiter(map(float, lrs_text), dtype=np.float64, count=len(found))
    if not np.isfinite(lrs).all():
        return None
    nowhere = np.zeros(len(found), dtype=np.int64)
    return Block(steps, lrs, np.zeros(len(found), dtype=np.bool_), b"", nowhere, nowhere)


_Template = tuple[re.Pattern[bytes], bool]
_templates: dict[tuple[tuple[str, ...], str | None, str | None], _Template | None] = {}


def _template(first: bytes, layout: Layout) -> _Template | None:
    """A regular expression for lines with the keys of ``first``, in its order.

    Returns the pattern and whether the lr comes before the step; None when the first
    line is not an object of numbers with a step and an lr.
    """
    try:
        record = loads_strict(first)
    except ValueError:
        return None
    if not isinstance(record, dict) or not record:
        return None
    key = (tuple(record), layout.step_column, layout.lr_column)
    if key not in _templates:
        if len(_templates) >= _MAX_TEMPLATES:
            _templates.clear()
        _templates[key] = _compile_template(key[0], layout)
    return _templates[key]


def _compile_template(names: tuple[str, ...], layout: Layout) -> _Template | None:
    try:
        lr_key = find_key(names, layout.lr_column, "lr", recognise_lr, layout.source, 0)
        step_key = find_key(names, layout.step_column, "step", recognise_step, layout.source, 0)
    except RunLogError:
        return None
    if lr_key is None or step_key is None:
        return None
    parts = []
    for name in names:
        value = _STEP if name == step_key else _LR if name == lr_key else _OTHER
        quoted = re.escape(json.dumps(name).encode("ascii"))
        parts.append(_SPACE + quoted + _SPACE + b":" + _SPACE + value + _SPACE)
    body = b",".join(parts)
    pattern = re.compile(rb"^" + _SPACE + rb"\{" + body + rb"\}" + _SPACE + rb"$", re.MULTILINE)
    return pattern, names.index(step_key) > names.index(lr_key)


__all__ = ["CHUNK_BYTES", "Abandon", "Layout", "read_chunks"]
