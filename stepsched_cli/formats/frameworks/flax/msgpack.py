"""msgpack as flax writes it (``flax.serialization.to_bytes``), decoded within bounds.

Maps, arrays, strings, numbers and extension values; an array (0-d ones included) is
flax's extension type 1 holding msgpack ``[shape, dtype name, raw bytes]``
(little-endian).  Nesting, items and strings have limits; extension payloads are views
of the input, never copied, and only a 0-d array's number is decoded on demand
(:meth:`Ext.value`).

Example:
    >>> data = bytes.fromhex("81a5636f756e74") + _array(bytes([23, 0, 0, 0]), "int32")
    >>> decode(data)["count"].value()
    23
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

MAX_DEPTH = 64
"""Nesting of maps and arrays: flax's parameter trees are a dozen levels deep."""
MAX_ITEMS = 1 << 20
"""Map entries and array items in a file: a model of a million arrays is beyond flax's."""
MAX_TEXT = 1 << 16
"""The longest key or string: flax's keys are parameter and field names."""
NDARRAY = 1
"""flax's extension type for a numpy or jax array."""
_DTYPES = {
    "int8": "b", "int16": "h", "int32": "i", "int64": "q",
    "uint8": "B", "uint16": "H", "uint32": "I", "uint64": "Q",
    "float16": "e", "float32": "f", "float64": "d", "bool": "?",
}  # fmt: skip


class MsgpackError(ValueError):
    """The bytes are not msgpack (or exceed a limit); the reason in one line."""


@dataclass(frozen=True)
class Ext:
    """An extension value: its type code and where its payload is (not copied)."""

    code: int
    data: memoryview

    def value(self) -> float | int | bool | None:
        """The number a 0-d flax array holds, None for anything else."""
        if self.code != NDARRAY:
            return None
        try:
            shape, dtype, raw = decode(self.data)
        except (MsgpackError, TypeError, ValueError):
            return None
        code = _DTYPES.get(dtype) if isinstance(dtype, str) else None
        if shape != [] or code is None or not isinstance(raw, bytes):
            return None
        if len(raw) != struct.calcsize("<" + code):
            return None
        number: float | int | bool = struct.unpack("<" + code, raw)[0]
        return number


def _array(raw: bytes, dtype: str) -> bytes:
    """A 0-d flax array as msgpack (for examples and tests)."""
    payload = b"\x93\x90" + bytes([0xA0 | len(dtype)]) + dtype.encode() + b"\xc4"
    payload += bytes([len(raw)]) + raw
    return b"\xc7" + bytes([len(payload), NDARRAY]) + payload


class _Reader:
    """A cursor over msgpack bytes with the limits of the module."""

    def __init__(self, data: memoryview | bytes) -> None:
        self.data = memoryview(data)
        self.offset = 0
        self.items = 0

    def take(self, size: int) -> memoryview:
        end = self.offset + size
        if end > len(self.data):
            raise MsgpackError(f"ends inside a value at byte {self.offset}")
        chunk = self.data[self.offset : end]
        self.offset = end
        return chunk

    def unsigned(self, size: int) -> int:
        return int.from_bytes(self.take(size), "big")

    def count(self, size: int) -> int:
        self.items += size
        if self.items > MAX_ITEMS:
            raise MsgpackError(f"holds more than {MAX_ITEMS} items")
        return size

    def text(self, size: int) -> str:
        if size > MAX_TEXT:
            raise MsgpackError(f"has a string of {size} bytes at byte {self.offset}")
        start = self.offset
        try:
            return bytes(self.take(size)).decode("utf-8")
        except UnicodeDecodeError:
            raise MsgpackError(f"has a string that is not UTF-8 at byte {start}") from None

    def value(self, depth: int = 0) -> Any:
        if depth > MAX_DEPTH:
            raise MsgpackError(f"nests deeper than {MAX_DEPTH} levels")
        first = self.unsigned(1)
        if first <= 0x7F:
            return first
        if first >= 0xE0:
            return first - 0x100
        if first <= 0x8F:
            return self.map(first & 0x0F, depth)
        if first <= 0x9F:
            return self.array(first & 0x0F, depth)
        if first <= 0xBF:
            return self.text(first & 0x1F)
        read = _BY_TYPE_BYTE.get(first)
        if read is None:
            raise MsgpackError(f"has the unused type byte 0xc1 at byte {self.offset - 1}")
        return read(self, first, depth)

    def ext(self, size: int) -> Ext:
        code = int.from_bytes(self.take(1), "big", signed=True)
        return Ext(code, self.take(size))

    def array(self, size: int, depth: int) -> list[Any]:
        return [self.value(depth + 1) for _ in range(self.count(size))]

    def map(self, size: int, depth: int) -> dict[Any, Any]:
        result: dict[Any, Any] = {}
        for _ in range(self.count(size)):
            key = self.value(depth + 1)
            if not isinstance(key, (str, int)):
                raise MsgpackError(f"has a map key of type {type(key).__name__}")
            result[key] = self.value(depth + 1)
        return result


def _sized(reader: _Reader, first: int, base: int) -> int:
    """The length field of a sized type: 1, 2 or 4 bytes by the type byte's offset."""
    return reader.unsigned(1 << (first - base))


_BY_TYPE_BYTE: dict[int, Callable[[_Reader, int, int], Any]] = {
    0xC0: lambda reader, first, depth: None,
    0xC2: lambda reader, first, depth: False,
    0xC3: lambda reader, first, depth: True,
    **{
        byte: lambda reader, first, depth: bytes(reader.take(_sized(reader, first, 0xC4)))
        for byte in (0xC4, 0xC5, 0xC6)  # bin 8/16/32
    },
    **{
        byte: lambda reader, first, depth: reader.ext(_sized(reader, first, 0xC7))
        for byte in (0xC7, 0xC8, 0xC9)  # ext 8/16/32
    },
    0xCA: lambda reader, first, depth: struct.unpack(">f", reader.take(4))[0],
    0xCB: lambda reader, first, depth: struct.unpack(">d", reader.take(8))[0],
    **{
        byte: lambda reader, first, depth: int.from_bytes(
            reader.take(1 << ((first - 0xCC) % 4)), "big", signed=first >= 0xD0
        )
        for byte in range(0xCC, 0xD4)  # uint 8..64, int 8..64
    },
    **{
        byte: lambda reader, first, depth: reader.ext(1 << (first - 0xD4))
        for byte in range(0xD4, 0xD9)  # fixext 1..16
    },
    **{
        byte: lambda reader, first, depth: reader.text(_sized(reader, first, 0xD9))
        for byte in (0xD9, 0xDA, 0xDB)  # str 8/16/32
    },
    0xDC: lambda reader, first, depth: reader.array(reader.unsigned(2), depth),
    0xDD: lambda reader, first, depth: reader.array(reader.unsigned(4), depth),
    0xDE: lambda reader, first, depth: reader.map(reader.unsigned(2), depth),
    0xDF: lambda reader, first, depth: reader.map(reader.unsigned(4), depth),
}


def decode(data: memoryview | bytes) -> Any:
    """One msgpack value that fills ``data``.

    Raises:
        MsgpackError: not msgpack, bytes after the value, or a limit exceeded.
    """
    reader = _Reader(data)
    value = reader.value()
    if reader.offset != len(reader.data):
        raise MsgpackError(f"has {len(reader.data) - reader.offset} bytes after its value")
    return value


__all__ = [
    "MAX_DEPTH",
    "MAX_ITEMS",
    "MAX_TEXT",
    "NDARRAY",
    "Ext",
    "MsgpackError",
    "decode",
]
