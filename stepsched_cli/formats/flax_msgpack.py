"""flax's msgpack files (``flax.serialization.to_bytes``): what optax state they hold.

flax saves a pytree's state dict as msgpack: maps of string keys (a named tuple becomes
a map of its fields, a tuple a map of ``"0"``, ``"1"``, ...), and arrays, 0-d ones
included, as extension type 1 holding msgpack ``[shape, dtype name, raw bytes]``
(little-endian).  Such a file records no schedule: optax keeps only counters, and
``inject_hyperparams`` the last hyperparameters applied.  So stepsched names what it
finds and refuses, in one line:

- ``scale_by_schedule``'s state ``{"count": n}``, and ``inject_hyperparams``'
  ``{"count": n, "hyperparams": {"learning_rate": lr}, "inner_state": ...}``: ``n``
  updates done, the schedule's position; ``lr`` is the lr of the last update,
  the schedule at ``n - 1``;
- counters that disagree, or none: said so.

The decoder is bounded: the file is mapped, never read whole; nesting, items, keys and
strings have limits; array payloads are not copied, only the 0-d counters and lrs are
decoded.

Example:
    >>> data = bytes.fromhex("81a5636f756e74") + _array(b"\\x17\\x00\\x00\\x00", "int32")
    >>> decode(data)["count"].value()
    23
"""

from __future__ import annotations

import math
import mmap
import struct
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from stepsched_cli import validate
from stepsched_cli.errors import StateFileError

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


@dataclass(frozen=True)
class Counter:
    """An optax counter found in the tree, with the lr inject_hyperparams stored beside it."""

    where: str
    count: int
    learning_rate: float | None


def counters(tree: object, where: str = "") -> Iterator[Counter]:
    """Every schedule counter in a decoded state dict, depth first, in key order."""
    if not isinstance(tree, Mapping):
        return
    count = tree.get("count")
    value = count.value() if isinstance(count, Ext) else None
    scale_by_schedule = set(tree) == {"count"}
    inject = {"count", "hyperparams", "inner_state"} <= set(tree)
    if isinstance(value, int) and not isinstance(value, bool) and (scale_by_schedule or inject):
        lr = None
        hyperparams = tree.get("hyperparams")
        if inject and isinstance(hyperparams, Mapping):
            found = hyperparams.get("learning_rate")
            lr = found.value() if isinstance(found, Ext) else None
        yield Counter(where or "the top level", value, float(lr) if lr is not None else None)
    for key, child in tree.items():
        yield from counters(child, f"{where}/{key}" if where else str(key))


def describe_file(path: str) -> str:
    """What a flax msgpack file holds, for the one-line refusal (see the module).

    Raises:
        StateFileError: the file cannot be read or is not msgpack.
    """
    try:
        with (
            open(path, "rb") as handle,
            mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) as mapped,
        ):
            text, reason = _describe_mapped(mapped)
    except (OSError, ValueError) as error:  # an empty file cannot be mapped
        problem = getattr(error, "strerror", None) or str(error)
        raise StateFileError(f"{path}: cannot be read as msgpack ({problem})") from None
    if reason is not None:
        raise StateFileError(f"{path}: starts like msgpack (flax) but {reason}")
    return text


def _describe_mapped(mapped: mmap.mmap) -> tuple[str, str | None]:
    """``(description, None)`` or ``("", reason)``.  Every view of the mapping is gone
    when this returns (the error's traceback holds the decoder's), so it can close."""
    view = memoryview(mapped)
    reason = None
    try:
        tree = decode(view)
    except MsgpackError as error:
        reason, tree = str(error), None
    text = "" if reason is not None else _describe(tree)
    del tree
    view.release()
    return text, reason


_WHAT = "a flax msgpack file (flax.serialization.to_bytes)"


def _key(key: object) -> str:
    text = str(key)
    return text if text.isidentifier() and len(text) <= 60 else validate.shown(text)


def _describe(tree: object) -> str:
    found = list(counters(tree))
    if not found:
        keys = ", ".join(_key(key) for key in list(tree)[:8]) if isinstance(tree, Mapping) else ""
        return (
            f"is {_WHAT} with keys {keys or 'none'} and no optax schedule state "
            "(scale_by_schedule's or inject_hyperparams' count): it holds no position or lr"
        )
    counts = {counter.count for counter in found}
    if len(counts) > 1:
        listed = ", ".join(f"{counter.count} at {counter.where}" for counter in found[:4])
        return (
            f"is {_WHAT} whose optax counters disagree ({listed}): the schedule's position "
            "is not established"
        )
    (count,) = counts
    lrs = [counter.learning_rate for counter in found if counter.learning_rate is not None]
    held = f"optax count {count} (updates done: the schedule's position)"
    if lrs and math.isfinite(lrs[0]) and count > 0:
        held += (
            f", inject_hyperparams learning_rate {lrs[0]!r} (the lr of the last update, "
            f"position {count - 1})"
        )
    return (
        f"is {_WHAT} holding {held}; it records no schedule: inspect the optax schedule's "
        f"JSON with --position {count}"
    )


__all__ = [
    "MAX_DEPTH",
    "MAX_ITEMS",
    "MAX_TEXT",
    "Counter",
    "Ext",
    "MsgpackError",
    "counters",
    "decode",
    "describe_file",
]
