"""How each pickle opcode's argument is laid out, and cutting pickles off a stream.

:data:`LAYOUT` maps each opcode byte to its name and argument: none, a fixed number of
bytes (:class:`FixedArgument`), a length followed by that many bytes
(:class:`PrefixedArgument`) or text lines read by :mod:`pickletools`.  Walking a
pickle with it is several times faster than :func:`pickletools.genops` and copies no
argument, so the limits of :mod:`~stepsched_cli.formats.sandbox.bounds` and
:class:`PickleStream` cost time in proportion to the pickle, not to its fields.

Example:
    >>> import io, pickle
    >>> stream = PickleStream(io.BytesIO(pickle.dumps(1) + pickle.dumps([2])), source="s")
    >>> [pickle.loads(stream.next_pickle()) for _ in range(2)]
    [1, [2]]
"""

from __future__ import annotations

import pickletools
import struct
from dataclasses import dataclass
from typing import IO

from stepsched_cli.formats.checkpoint_errors import CheckpointError

__all__ = [
    "LAYOUT",
    "MAX_PICKLE_BYTES",
    "MAX_PICKLE_WORK",
    "Argument",
    "FixedArgument",
    "PickleStream",
    "PrefixedArgument",
    "malformed",
    "work_exceeded",
]

MAX_PICKLE_BYTES = 64 * 1024 * 1024
"""The largest pickle stream read, in bytes (checkpoint pickles are KBs to a few MB)."""

MAX_PICKLE_WORK = 500_000
"""The most steps one pickle may take to load.

A step is an opcode, an item added to a container, a memo reference followed, an
element visited while hashing or an item iterated by an allowlisted callable.  Real
checkpoints take about half a step per byte of pickle, so this admits a ``data.pkl``
of about a megabyte, tens of thousands of tensors; the worst pickle within it loads
in a second or two.
"""

_STREAM_CHUNK = 64 * 1024


def malformed(source: str, reason: object) -> CheckpointError:
    """The error for a pickle that cannot be read: one line naming ``source``."""
    text = " ".join(str(reason).split()) or type(reason).__name__
    return CheckpointError(f"cannot read {source!r}: malformed pickle ({text})")


def work_exceeded(source: str, what: str) -> CheckpointError:
    """The error for a pickle that would take more than :data:`MAX_PICKLE_WORK` steps."""
    return CheckpointError(
        f"cannot read {source!r}: its pickle takes more than {MAX_PICKLE_WORK} steps "
        f"to {what}, the limit"
    )


@dataclass(frozen=True)
class FixedArgument:
    """An argument of a fixed number of bytes (``BININT``, ``BINGET``, ``FRAME``)."""

    name: str
    format: struct.Struct


@dataclass(frozen=True)
class PrefixedArgument:
    """An argument whose length comes first (``BINUNICODE``, ``LONG1``, ``BINBYTES8``)."""

    name: str
    format: struct.Struct

    def read(self, view: memoryview, start: int) -> tuple[memoryview, int]:
        """The argument's bytes, uncopied, and where the next opcode starts."""
        if start + self.format.size > len(view):
            raise ValueError(f"not enough data in stream to read {self.name}")
        length: int = self.format.unpack_from(view, start)[0]
        if length < 0:
            raise ValueError(f"{self.name} byte count < 0: {length}")
        begin = start + self.format.size
        if begin + length > len(view):
            remain = len(view) - begin
            raise ValueError(f"expected {length} bytes in a {self.name}, but only {remain} remain")
        return view[begin : begin + length], begin + length


Argument = FixedArgument | PrefixedArgument | pickletools.ArgumentDescriptor | None
"""An opcode's argument; an ArgumentDescriptor means text lines, read by pickletools."""

_FIXED_FORMATS = {
    "uint1": "<B",
    "uint2": "<H",
    "int4": "<i",
    "uint4": "<I",
    "uint8": "<Q",
    "float8": ">d",
}
_PREFIX_FORMATS = {
    pickletools.TAKEN_FROM_ARGUMENT1: "<B",
    pickletools.TAKEN_FROM_ARGUMENT4: "<i",
    pickletools.TAKEN_FROM_ARGUMENT4U: "<I",
    pickletools.TAKEN_FROM_ARGUMENT8U: "<Q",
}


def _argument(opcode: pickletools.OpcodeInfo) -> Argument:
    descriptor = opcode.arg
    if descriptor is None:
        return None
    if descriptor.name in _FIXED_FORMATS:
        return FixedArgument(descriptor.name, struct.Struct(_FIXED_FORMATS[descriptor.name]))
    if descriptor.n in _PREFIX_FORMATS:
        return PrefixedArgument(descriptor.name, struct.Struct(_PREFIX_FORMATS[descriptor.n]))
    return descriptor


LAYOUT: list[tuple[str, Argument] | None] = [None] * 256
"""Each opcode byte's name and argument; None for a byte that is no opcode."""
for _opcode in pickletools.opcodes:
    LAYOUT[ord(_opcode.code)] = (_opcode.name, _argument(_opcode))
_TWO_LINES = frozenset({"GLOBAL", "INST"})


class PickleStream:
    """Cut consecutive pickles off a binary stream without running them.

    Legacy torch files hold several pickles back to back.  Each call of
    :meth:`next_pickle` steps over one pickle's opcodes up to ``STOP`` using
    :data:`LAYOUT`, reading only what the pickle declares, so a declared length is
    never allocated before its data is there, a stream of tensor bytes is never read
    past the pickle (beyond one read-ahead chunk), and the work is linear in the
    pickle's size and bounded by :data:`MAX_PICKLE_WORK` opcodes.

    Args:
        stream: A binary stream positioned at the start of a pickle.
        source: A name for the stream, used in error messages.
        limit: The most bytes accepted for any one pickle.
    """

    def __init__(self, stream: IO[bytes], *, source: str, limit: int = MAX_PICKLE_BYTES) -> None:
        self._stream = stream
        self._source = source
        self._limit = limit
        self._buffer = bytearray()

    def _require(self, end: int) -> None:
        """Buffer the pickle's first ``end`` bytes, or raise saying why they are not there."""
        if end > self._limit:
            raise CheckpointError(
                f"cannot read {self._source!r}: its pickle is longer than the limit "
                f"of {self._limit} bytes"
            )
        while len(self._buffer) < end:
            chunk = self._stream.read(max(_STREAM_CHUNK, end - len(self._buffer)))
            if not chunk:
                raise malformed(self._source, "pickle exhausted before seeing STOP")
            self._buffer += chunk

    def _line_end(self, position: int) -> int:
        """Where the text line starting at ``position`` ends (after its newline)."""
        searched = position
        while True:
            newline = self._buffer.find(b"\n", searched)
            if newline != -1:
                self._require(newline + 1)
                return newline + 1
            searched = len(self._buffer)
            self._require(searched + 1)

    def _argument_end(self, name: str, argument: Argument, position: int) -> int:
        """Where the argument starting at ``position`` ends."""
        if argument is None:
            return position
        if isinstance(argument, FixedArgument):
            self._require(position + argument.format.size)
            return position + argument.format.size
        if isinstance(argument, PrefixedArgument):
            self._require(position + argument.format.size)
            length: int = argument.format.unpack_from(self._buffer, position)[0]
            if length < 0:
                raise malformed(self._source, f"{argument.name} byte count < 0: {length}")
            if length > self._limit:
                raise CheckpointError(
                    f"cannot read {self._source!r}: its pickle declares a field of "
                    f"{length} bytes, more than the limit of {self._limit}"
                )
            end = position + argument.format.size + length
            self._require(end)
            return end
        for _ in range(2 if name in _TWO_LINES else 1):
            position = self._line_end(position)
        return position

    def next_pickle(self) -> bytes:
        """Return the bytes of the next pickle in the stream.

        Raises:
            CheckpointError: The stream ends early, is malformed, the pickle is longer
                than ``limit`` or has more than :data:`MAX_PICKLE_WORK` opcodes.
        """
        position = 0
        for _ in range(MAX_PICKLE_WORK):
            self._require(position + 1)
            code = self._buffer[position]
            layout = LAYOUT[code]
            if layout is None:
                reason = f"at position {position}, opcode {bytes([code])!r} unknown"
                raise malformed(self._source, reason)
            name, argument = layout
            position = self._argument_end(name, argument, position + 1)
            if name == "STOP":
                pickle_bytes = bytes(self._buffer[:position])
                del self._buffer[:position]
                return pickle_bytes
        raise work_exceeded(self._source, "read")
