"""Vectorised reading of numbers out of a block of CSV text (numpy).

The fast path of ``check`` parses a block of complete lines at once.  It takes only
the plainest text: ASCII, no quotes, exactly one cell per header column on every line,
steps of at most 16 plain digits and lrs in the grammar the row-by-row reader accepts
(``[+-]?digits[.digits][e[+-]digits]``).  Anything else makes these functions return
None and the caller reads the block row by row, with that reader's messages.

Numbers are exact where it is cheap to be: a mantissa below 2**53 with a decimal
exponent within +-22 is one correctly rounded operation (Clinger's fast path), the
same float ``float()`` gives.  Other lrs of up to 18 significant digits are computed
within 2 ulp and flagged inexact; the checker re-reads a flagged value with
``float()`` (:meth:`Block.exact_lr`) before it uses it.  Longer or more extreme
numbers are read with ``float()`` here.

numpy is imported by the caller's module only: this module is imported lazily.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]
ByteArray = npt.NDArray[np.uint8]
U64Array = npt.NDArray[np.uint64]

# Cells longer than this are left to the row-by-row reader (no logger writes them).
MAX_CELL_LENGTH = 40
# The most cells (rows x width) of number matrix read at once: the dozen int64 and
# bool arrays made of its shape stay a few MiB each.
MAX_MATRIX_CELLS = 1 << 18
_MAX_EXACT_MANTISSA = 2**53
_MAX_EXACT_EXPONENT = 22
_MAX_APPROXIMATE_EXPONENT = 290

_POWERS_OF_TEN_INT = np.array([10**k for k in range(19)], dtype=np.int64)
_POWERS_OF_TEN = np.array(
    [float(f"1e{k}") for k in range(-_MAX_APPROXIMATE_EXPONENT, _MAX_APPROXIMATE_EXPONENT + 1)]
)

# The row-by-row reader's number grammar (stepsched_cli.runlog.columns), for bytes.
_NUMBER = re.compile(rb"[+]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?")

# SWAR constants: eight ASCII digits in a little-endian 64-bit word.
_DIGITS_PER_WORD = 8
_ZEROS = np.uint64(0x3030303030303030)
_SIXES = np.uint64(0x0606060606060606)
_HIGH_NIBBLES = np.uint64(0xF0F0F0F0F0F0F0F0)
_ALL_BYTES = np.uint64(0xFFFFFFFFFFFFFFFF)
_PAIR_MASK = np.uint64(0x000000FF000000FF)
_PAIR_LOW = np.uint64(100 + (1000000 << 32))
_PAIR_HIGH = np.uint64(1 + (10000 << 32))
_BYTE_MASKS = np.array([(1 << (8 * count)) - 1 for count in range(9)], dtype=np.uint64)

_NEWLINE, _DOT, _PLUS, _MINUS, _ZERO, _NINE = 10, 46, 43, 45, 48, 57


@dataclass(frozen=True)
class Block:
    """Steps and lrs read from a block of CSV lines.

    Attributes:
        steps: The logged steps.
        lrs: The logged lrs (exact where ``inexact`` is False).
        inexact: Which lrs may differ from ``float()`` of their text by up to 2 ulp.
        text: The block's bytes, to re-read an inexact lr.
        lr_starts: Where each lr cell starts in ``text``.
        lr_ends: Where each lr cell ends.
    """

    steps: IntArray
    lrs: FloatArray
    inexact: BoolArray
    text: bytes
    lr_starts: IntArray
    lr_ends: IntArray

    def exact_lr(self, index: int) -> float:
        """The lr of row ``index`` exactly as ``float()`` reads its text."""
        return float(self.text[int(self.lr_starts[index]) : int(self.lr_ends[index])])


def read_block(
    text: bytes, columns: int, step_index: int, lr_index: int, delimiter: int
) -> Block | None:
    """Read the step and lr cells of complete CSV lines, or None if not plain.

    Args:
        text: Complete lines, each ending in ``\\n`` (no ``\\r``, ASCII, no quotes,
            no NUL).
        columns: Cells per line (the header's length).
        step_index: The step's cell.
        lr_index: The lr's cell.
        delimiter: The delimiter's byte.
    """
    buffer = np.frombuffer(text, dtype=np.uint8)
    cells = _cell_bounds(buffer, columns, delimiter)
    if cells is None:
        return None
    starts, ends = cells
    lr_starts = np.ascontiguousarray(starts[:, lr_index])
    lr_ends = np.ascontiguousarray(ends[:, lr_index])
    lengths = lr_ends - lr_starts
    if lengths.min() < 1 or lengths.max() > MAX_CELL_LENGTH:
        return None
    words = _words(text)
    steps = _integers(words, starts[:, step_index], ends[:, step_index])
    if steps is None:
        return None
    read = _lrs(text, words, lr_starts, lr_ends)
    if read is None:
        return None
    lrs, inexact = read
    return Block(steps, lrs, inexact, text, lr_starts, lr_ends)


def _cell_bounds(
    buffer: ByteArray, columns: int, delimiter: int
) -> tuple[IntArray, IntArray] | None:
    """Start and end of every cell, shaped (lines, columns), if every line has ``columns``."""
    separators = np.flatnonzero((buffer == delimiter) | (buffer == _NEWLINE))
    if separators.size == 0 or separators.size % columns:
        return None
    is_newline = (buffer[separators] == _NEWLINE).reshape(-1, columns)
    if not is_newline[:, -1].all() or is_newline[:, :-1].any():
        return None
    starts = np.empty_like(separators)
    starts[0] = 0
    starts[1:] = separators[:-1] + 1
    return starts.reshape(-1, columns), separators.reshape(-1, columns)


def _cell_matrix(
    buffer: ByteArray, starts: IntArray, ends: IntArray, *, right: bool = False, pad: int = 0
) -> ByteArray | None:
    """The cells' bytes as rows of a matrix, aligned left or right, padded with ``pad``."""
    lengths = ends - starts
    if lengths.size == 0 or lengths.min() < 1 or lengths.max() > MAX_CELL_LENGTH:
        return None
    width = int(lengths.max())
    padding = np.full(width, pad, dtype=np.uint8)
    padded = np.concatenate((padding, buffer, padding))
    windows = np.lib.stride_tricks.sliding_window_view(padded, width)
    offsets = np.arange(width, dtype=np.int64)
    if right:
        rows = windows[ends]  # the window ending at the cell's end (padded by width)
        outside = offsets[None, :] < width - lengths[:, None]
    else:
        rows = windows[starts + width]
        outside = offsets[None, :] >= lengths[:, None]
    rows[outside] = pad
    matrix: ByteArray = rows
    return matrix


def _words(text: bytes) -> U64Array:
    """Every 8 bytes of ``text`` from every offset, as little-endian integers (a view)."""
    padded = text + bytes(MAX_CELL_LENGTH + 8)
    count = len(padded) - 7
    words: U64Array = np.ndarray((count,), dtype="<u8", buffer=padded, offset=0, strides=(1,))
    return words


def _low_bytes(count: IntArray) -> U64Array:
    """Masks of the low ``count`` bytes (0 <= count <= 8)."""
    return _BYTE_MASKS[count]


def _integers(words: U64Array, starts: IntArray, ends: IntArray) -> IntArray | None:
    """Cells of 1 to 16 ASCII digits as integers, or None.

    Eight digits at a time by SWAR arithmetic: the last (up to) eight digits of a cell
    are moved to the top of a 64-bit word, left-padded with "0", checked to be digits
    and combined by three multiplications; a longer cell adds its first digits times
    10**8.
    """
    lengths = ends - starts
    if lengths.min() < 1 or lengths.max() > 2 * _DIGITS_PER_WORD:
        return None
    low_count = np.minimum(lengths, _DIGITS_PER_WORD)
    low = _eight_digits(words[ends - low_count], low_count)
    if low is None:
        return None
    high_count = lengths - low_count
    if not high_count.any():
        return low.astype(np.int64)
    high = _eight_digits(words[starts], high_count)
    if high is None:
        return None
    values: IntArray = (high * np.uint64(10**8) + low).astype(np.int64)
    return values


def _eight_digits(word: U64Array, count: IntArray) -> U64Array | None:
    """The value of the first ``count`` (0 to 8) bytes of each word as decimal digits."""
    shift = ((_DIGITS_PER_WORD - count) * 8).astype(np.uint64)
    digits = ((word & _low_bytes(count)) << shift) | (_ZEROS & ~(_ALL_BYTES << shift))
    if ((digits & _HIGH_NIBBLES) != _ZEROS).any() or (
        ((digits + _SIXES) & _HIGH_NIBBLES) != _ZEROS
    ).any():
        return None
    value = digits - _ZEROS
    value = value * np.uint64(10) + (value >> np.uint64(8))
    low_pairs = (value & _PAIR_MASK) * _PAIR_LOW
    high_pairs = ((value >> np.uint64(16)) & _PAIR_MASK) * _PAIR_HIGH
    combined: U64Array = (low_pairs + high_pairs) >> np.uint64(32)
    return combined


def _lrs(
    text: bytes, words: U64Array, starts: IntArray, ends: IntArray
) -> tuple[FloatArray, BoolArray] | None:
    """The lr cells, each distinct run of equal cells read once; None if one is not plain.

    A log repeats its lr for whole decay intervals: consecutive equal cells (compared
    as fixed-width byte strings) are read once.  Few distinct runs are read exactly
    by ``float()``; many (a warmup ramp, a decay every step) by :func:`_numbers`.
    """
    lengths = ends - starts
    new_run = np.empty(lengths.size, dtype=np.bool_)
    new_run[0] = True
    np.not_equal(lengths[1:], lengths[:-1], out=new_run[1:])
    for offset in range(0, int(lengths.max()), _DIGITS_PER_WORD):
        word = words[starts + offset] & _low_bytes(np.clip(lengths - offset, 0, 8))
        new_run[1:] |= word[1:] != word[:-1]
    heads = np.flatnonzero(new_run)
    run_of_row = np.cumsum(new_run) - 1
    if heads.size <= max(64, lengths.size // 8):
        values = _exact_numbers(text, starts[heads], ends[heads])
        if values is None:
            return None
        return values[run_of_row], np.zeros(lengths.size, dtype=np.bool_)
    read = _many_numbers(text, starts[heads], ends[heads])
    if read is None:
        return None
    values, inexact = read
    return values[run_of_row], inexact[run_of_row]


def _many_numbers(
    text: bytes, starts: IntArray, ends: IntArray
) -> tuple[FloatArray, BoolArray] | None:
    """Number cells read by :func:`_numbers`, a bounded batch of cells at a time.

    The matrix of a batch is cells x the widest cell, and :func:`_numbers` makes a
    dozen arrays of its shape: batches keep them under :data:`MAX_MATRIX_CELLS`
    whatever the block holds (one 40-character cell in a block of short lrs that
    change every row once made the matrix 40 bytes a row, and 1.1 GB in all).
    """
    buffer = np.frombuffer(text, dtype=np.uint8)
    widest = int((ends - starts).max())
    batch = max(1, MAX_MATRIX_CELLS // max(widest, 1))
    values = np.empty(starts.size, dtype=np.float64)
    inexact = np.empty(starts.size, dtype=np.bool_)
    for first in range(0, starts.size, batch):
        part = slice(first, first + batch)
        matrix = _cell_matrix(buffer, starts[part], ends[part])
        if matrix is None:
            return None
        read = _numbers(matrix, ends[part] - starts[part])
        if read is None:
            return None
        values[part], inexact[part], unread = read
        for index in np.flatnonzero(unread).tolist():
            cell = first + index
            values[cell] = float(text[int(starts[cell]) : int(ends[cell])])
    if not np.isfinite(values).all():
        return None
    return values, inexact


def _exact_numbers(text: bytes, starts: IntArray, ends: IntArray) -> FloatArray | None:
    """Cells read by ``float()`` after the row reader's grammar check, or None."""
    values = []
    for start, end in zip(starts.tolist(), ends.tolist(), strict=True):
        cell = text[start:end]
        if not _NUMBER.fullmatch(cell) or cell.startswith(b"-"):
            return None
        value = float(cell)
        if not math.isfinite(value):
            return None
        values.append(value)
    return np.array(values, dtype=np.float64)


@dataclass(frozen=True)
class _Shape:
    """Where the parts of each number cell are: exponent marker, dot, digits."""

    digit: BoolArray
    mantissa_digit: BoolArray
    exponent_digit: BoolArray
    after_dot: BoolArray
    exponent_negative: BoolArray


def _shape(matrix: ByteArray, inside: BoolArray, lengths: IntArray) -> _Shape | None:
    """Check each cell against the number grammar and locate its parts."""
    digit = (matrix >= _ZERO) & (matrix <= _NINE)
    dot = matrix == _DOT
    marker = (matrix == ord("e")) | (matrix == ord("E"))
    sign = (matrix == _PLUS) | (matrix == _MINUS)
    if not (digit | dot | marker | sign | ~inside).all():
        return None
    markers = marker.sum(axis=1)
    columns = np.arange(matrix.shape[1])[None, :]
    marker_at = np.where(markers > 0, marker.argmax(axis=1), lengths)[:, None]
    mantissa = inside & (columns < marker_at)
    exponent = inside & (columns > marker_at)
    sign_ok = (columns == 0) | (columns == marker_at + 1)
    mantissa_digit, exponent_digit = digit & mantissa, digit & exponent
    if (
        (markers > 1).any()
        or (dot.sum(axis=1) > 1).any()
        or (dot & exponent).any()
        or (sign & ~sign_ok).any()
        or (matrix[:, 0] == _MINUS).any()  # a negative lr: the row reader refuses it
        or not mantissa_digit.any(axis=1).all()
        or (exponent_digit.any(axis=1) != (markers > 0)).any()
    ):
        return None
    after_dot = np.cumsum(dot, axis=1) > 0
    negative = ((matrix == _MINUS) & (columns == marker_at + 1)).any(axis=1)
    return _Shape(digit, mantissa_digit, exponent_digit, after_dot, negative)


def _numbers(
    matrix: ByteArray, lengths: IntArray
) -> tuple[FloatArray, BoolArray, BoolArray] | None:
    """Number cells (a left-aligned matrix) as floats, which are inexact, which unread."""
    inside = np.arange(matrix.shape[1])[None, :] < lengths[:, None]
    shape = _shape(matrix, inside, lengths)
    if shape is None:
        return None
    digits = matrix.astype(np.int64) - _ZERO
    significant = shape.mantissa_digit & (np.cumsum(shape.mantissa_digit & (digits > 0), 1) > 0)
    count = significant.sum(axis=1)
    rank = np.clip(count[:, None] - np.cumsum(significant, axis=1), 0, 18)
    mantissa = (np.where(significant, digits, 0) * _POWERS_OF_TEN_INT[rank]).sum(axis=1)
    exponent_digits = shape.exponent_digit.sum(axis=1)
    place = np.clip(np.cumsum(shape.exponent_digit[:, ::-1], axis=1)[:, ::-1] - 1, 0, 18)
    exponent = (np.where(shape.exponent_digit, digits, 0) * _POWERS_OF_TEN_INT[place]).sum(1)
    exponent = np.where(shape.exponent_negative, -exponent, exponent)
    decimal = exponent - (shape.mantissa_digit & shape.after_dot).sum(axis=1)
    readable = (count <= 18) & (exponent_digits <= 4)
    decimal = np.where(readable, decimal, 0)
    exact = readable & (mantissa < _MAX_EXACT_MANTISSA) & (np.abs(decimal) <= _MAX_EXACT_EXPONENT)
    approximate = readable & ~exact & (np.abs(decimal) <= _MAX_APPROXIMATE_EXPONENT)
    values = _scaled(mantissa.astype(np.float64), decimal, exact)
    unread = ~(exact | approximate) & (mantissa != 0)
    return values, approximate & (mantissa != 0), unread


def _scaled(mantissa: FloatArray, decimal: IntArray, exact: BoolArray) -> FloatArray:
    """``mantissa * 10**decimal``: one rounding where exact, about two elsewhere."""
    index = np.clip(decimal, -_MAX_APPROXIMATE_EXPONENT, _MAX_APPROXIMATE_EXPONENT)
    power = _POWERS_OF_TEN[index + _MAX_APPROXIMATE_EXPONENT]
    small = np.clip(-decimal, 0, _MAX_EXACT_EXPONENT)
    divisor = _POWERS_OF_TEN[small + _MAX_APPROXIMATE_EXPONENT]
    divided = mantissa / divisor
    multiplied = mantissa * power
    scaled: FloatArray = np.where(exact & (decimal < 0), divided, multiplied)
    return scaled


__all__ = ["MAX_CELL_LENGTH", "MAX_MATRIX_CELLS", "Block", "read_block"]
