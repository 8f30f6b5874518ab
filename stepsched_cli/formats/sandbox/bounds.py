"""Bound the work of loading a pickle before any of it is done.

The C unpickler trusts its input: it hashes every dict key and set member as it is
built (a tuple nested 200,000 deep crashes the interpreter in C; ``t(i+1) = (t(i),
t(i))`` to depth 60 takes 2**60 steps to hash), and a few kilobytes of ``DUP`` or
memo references make it build millions of objects.  :class:`PickleBounds` runs the
pickle's opcodes on *shapes* instead of values: for every object the pickle would
build it knows, when it is built, how deep it nests, how many elements hashing it
visits and how many items it holds.  So it refuses, before the real load starts,

* a container nesting deeper than :data:`MAX_NESTING_DEPTH`, as soon as it is built;
* a dict key or set member whose hashing visits more than :data:`MAX_HASHED_SIZE`
  elements, before anything hashes it;
* a pickle whose load takes more than :data:`MAX_PICKLE_WORK` steps: opcodes run,
  items added, references followed, elements hashed and items iterated by the
  allowlisted callables;
* integers too long to print or compute with, out-of-order memo indices, frames that
  overrun the data and opcodes torch never writes.

Shapes are exact for immutable values (tuples, frozensets, strings) and for what a
mutable container holds when it is used; a list filled after another container took
a reference to it can make that container deeper than its shape says, so
:func:`check_nesting` measures the loaded value once more, in linear time.

Example:
    >>> bomb = b"\\x80\\x02)" + b"\\x94h\\x00h\\x00\\x86" * 2
    >>> PickleBounds(bomb + b".", source="t.pt").run()
    >>> key = b"\\x80\\x02}" + b")" + b"\\x85" * 300 + b"Ns."
    >>> PickleBounds(key, source="k.pt").run()
    Traceback (most recent call last):
    ...
    stepsched_cli.formats.checkpoint_errors.CheckpointError: cannot read 'k.pt': containers nest \
deeper than 200 levels

Size: about 550 lines, over the house's ~500: one walk over the opcodes, whose cost
table and per-opcode effects must sit together to be checked against each other.
"""

from __future__ import annotations

import io
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from stepsched_cli.formats.checkpoint_errors import CheckpointError
from stepsched_cli.formats.sandbox.hashing import (
    BYTES_PER_STEP,
    Effect,
    KeyTable,
    Kind,
    Shape,
    complex_value,
    fill_from,
    value_of,
)
from stepsched_cli.formats.sandbox.opcodes import (
    LAYOUT,
    MAX_PICKLE_WORK,
    Argument,
    FixedArgument,
    PrefixedArgument,
    malformed,
    work_exceeded,
)
from stepsched_cli.validate import MAX_INTEGER_DIGITS

__all__ = [
    "MAX_HASHED_SIZE",
    "MAX_INTEGER_BYTES",
    "MAX_INTEGER_DIGITS",
    "MAX_NESTING_DEPTH",
    "Effect",
    "PickleBounds",
    "integer_too_long",
    "too_deep",
]

MAX_NESTING_DEPTH = 200
"""The deepest nesting of containers accepted in a loaded pickle."""

MAX_HASHED_SIZE = 1_000
"""The most elements that hashing one dict key or set member may visit.

Checkpoint keys are strings and small integers (1 element); a tuple key of a few
items is conceivable.  A key of more is only good for making hashing slow.
"""

MAX_INTEGER_BYTES = 17
"""The longest binary integer (``LONG1``/``LONG4``) accepted, in bytes.

17 bytes hold any 128-bit unsigned value and every integer of 40 digits, the limit of
the JSON readers; checkpoints hold nothing longer, and a longer one only serves to make
printing or arithmetic fail or crawl.
"""

# MAX_INTEGER_DIGITS (stepsched_cli.validate, the JSON readers' limit too) is the longest
# text integer (protocol 0 ``INT``/``LONG``) accepted, in decimal digits.

_LONGEST_GLOBAL_NAME = 256
"""Strings longer than this are never module or class names, so their text is not kept."""


Resolver = Callable[[str, str], Effect]
"""Maps an allowlisted ``(module, name)`` to its effect; raises for any other global."""

# Numbers, None and booleans are never changed, so the most common share their shapes.
_SMALL_INTS = [Shape(value=number) for number in range(256)]
_CONSTANTS = {
    "NONE": Shape(value=None),
    "NEWTRUE": Shape(value=True),
    "NEWFALSE": Shape(value=False),
}
_OPAQUE = Shape(kind=Kind.OPAQUE)  # a storage stub: hashable, of a value not known here
_HASHING_EFFECTS = (
    Effect.HASHES_INTO_MUTABLE,
    Effect.PAIRS_INTO_MUTABLE,
    Effect.HASHES_INTO_FROZEN,
)


def _iteration_cost(argument: Shape) -> int:
    """Steps an allowlisted callable takes to go through one argument."""
    return argument.size if argument.container else argument.size // BYTES_PER_STEP


_STRINGS = frozenset(
    {
        "STRING",
        "BINSTRING",
        "SHORT_BINSTRING",
        "UNICODE",
        "BINUNICODE",
        "SHORT_BINUNICODE",
        "BINUNICODE8",
        "BINBYTES",
        "SHORT_BINBYTES",
        "BINBYTES8",
        "BYTEARRAY8",
    }
)
_SMALL_TUPLES = {"EMPTY_TUPLE": 0, "TUPLE1": 1, "TUPLE2": 2, "TUPLE3": 3}
_BINARY_LONGS = {"LONG1": 1, "LONG4": 4}  # opcode -> bytes of its length field
# Opcodes torch never writes that would reach beyond find_class or need extra inputs.
_REFUSED_OPCODES = frozenset({"EXT1", "EXT2", "EXT4", "NEXT_BUFFER", "READONLY_BUFFER"})


def integer_too_long(source: str, size: str, position: int | None) -> CheckpointError:
    """The error for an integer longer than :data:`MAX_INTEGER_BYTES`."""
    where = "" if position is None else f" at byte {position}"
    return CheckpointError(
        f"cannot read {source!r}: its pickle holds an integer of {size}{where}, more than "
        f"the limit of {MAX_INTEGER_BYTES} bytes ({MAX_INTEGER_DIGITS} digits)"
    )


def too_deep(source: str, max_depth: int) -> CheckpointError:
    """The error for containers nesting deeper than ``max_depth``."""
    return CheckpointError(
        f"cannot read {source!r}: containers nest deeper than {max_depth} levels"
    )


@dataclass
class PickleBounds:
    """Run a pickle's opcodes on shapes, refusing it before it could cost too much.

    Args:
        data: The complete pickle.
        source: A name for the data, used in error messages.
        resolve: The effect of each allowlisted global; raises for any other.
        max_depth: The deepest container nesting accepted.
    """

    data: bytes
    source: str
    resolve: Resolver = field(default=lambda module, name: Effect.VALUE)
    max_depth: int = MAX_NESTING_DEPTH
    work: int = 0
    _stack: list[Shape] = field(default_factory=list)
    _marks: list[list[Shape]] = field(default_factory=list)
    _memo: dict[int, Shape] = field(default_factory=dict)

    def run(self) -> None:
        """Walk every opcode up to ``STOP``.

        Raises:
            CheckpointError: The pickle is malformed, nests too deeply, hashes too
                large a key, holds too long an integer or takes too much work.
            UnsafeCheckpointError: It names a global off the allowlist (from ``resolve``).
        """
        try:
            self._walk()
        except CheckpointError:
            raise
        except ValueError as error:
            if str(error).startswith("Exceeds the limit"):
                # pickletools parses a text integer with int(), which refuses this many digits.
                digits = f"more than {sys.get_int_max_str_digits()} digits"
                raise integer_too_long(self.source, digits, None) from None
            raise malformed(self.source, error) from None

    def _walk(self) -> None:
        """Decode opcode after opcode (as :func:`pickletools.genops` does, faster)."""
        data = self.data
        view = memoryview(data)
        text_lines = io.BytesIO(data)
        position = 0
        while True:
            self.work += 1
            if self.work > MAX_PICKLE_WORK:
                raise work_exceeded(self.source, "load")
            if position >= len(data):
                raise ValueError("pickle exhausted before seeing STOP")
            code = data[position]
            entry = _DECODE[code]
            if entry is None:
                raise ValueError(f"at position {position}, opcode {bytes([code])!r} unknown")
            name, handler, argument = entry
            start = position + 1
            if argument is None:
                arg: Any = None
                position = start
            elif isinstance(argument, FixedArgument):
                if start + argument.format.size > len(data):
                    raise ValueError(f"not enough data in stream to read {argument.name}")
                arg = argument.format.unpack_from(data, start)[0]
                position = start + argument.format.size
            elif isinstance(argument, PrefixedArgument):
                arg, position = argument.read(view, start)
            else:
                text_lines.seek(start)
                arg = argument.reader(text_lines)
                position = text_lines.tell()
            handler(self, name, arg, start - 1)
            if name == "STOP":
                return

    # -- bookkeeping ----------------------------------------------------------------

    def _spend(self, steps: int) -> None:
        self.work += steps
        if self.work > MAX_PICKLE_WORK:
            raise work_exceeded(self.source, "load")

    def _push(self, shape: Shape) -> None:
        self._stack.append(shape)

    def _pop(self) -> Shape:
        if not self._stack:
            raise malformed(self.source, "unpickling stack underflow")
        return self._stack.pop()

    def _top(self) -> Shape:
        if not self._stack:
            raise malformed(self.source, "unpickling stack underflow")
        return self._stack[-1]

    def _pop_mark(self) -> list[Shape]:
        if not self._marks:
            raise malformed(self.source, "could not find MARK")
        items, self._stack = self._stack, self._marks.pop()
        return items

    def _hash(self, shape: Shape, table: KeyTable | None = None) -> None:
        """Account for hashing ``shape`` and inserting it into ``table``.

        Refuses a key whose hashing visits too many elements before anything hashes it;
        then pays for the comparisons with keys of equal hash already in ``table``.
        """
        if shape.hash_cost > MAX_HASHED_SIZE:
            raise CheckpointError(
                f"cannot read {self.source!r}: its pickle hashes a key of "
                f"{shape.hash_cost} elements, more than the limit of {MAX_HASHED_SIZE}"
            )
        if table is not None:
            table.insert(*value_of(shape), self._compare)
        self._spend(shape.hash_cost)

    def _compare(self, steps: int, keys: int, presumed: bool) -> None:
        """Pay ``steps`` of key comparisons among ``keys`` keys of one hash (a Payment)."""
        self.work += steps
        if self.work > MAX_PICKLE_WORK:
            shared = "may share a hash" if presumed else "share a hash"
            raise CheckpointError(
                f"cannot read {self.source!r}: its pickle takes more than {MAX_PICKLE_WORK} "
                f"steps to load, the limit: {keys} keys of one dict or set {shared}"
            )

    def _add(self, target: Shape, items: list[Shape]) -> None:
        """Put ``items`` into ``target`` (a shape that holds nothing is left alone)."""
        self._spend(len(items))
        if not target.container:
            return  # the real load fails on this opcode with its own message
        for item in items:
            target.size += 1
            if item is not target:  # a cycle: check_nesting measures it after the load
                target.height = max(target.height, item.height + 1)
            target.content_hash += item.hash_cost
            target.widest_item_hash = max(target.widest_item_hash, item.hash_cost)
            if target.items is not None:
                target.items.append(item)
        if not target.mutable:
            target.hash_cost = 1 + target.content_hash
        if target.height > self.max_depth:
            raise too_deep(self.source, self.max_depth)

    def _new(self, items: list[Shape], kind: Kind = Kind.SEQUENCE, *, mutable: bool) -> Shape:
        """A new tuple or list (whose items are kept), or dict or set (whose keys are)."""
        keyed = kind is Kind.KEYED
        shape = Shape(
            kind=kind,
            container=True,
            mutable=mutable,
            items=None if keyed else [],
            keys=KeyTable() if keyed else None,
        )
        self._add(shape, items)
        return shape

    # -- opcodes: each handler takes (name, arg, position) ------------------------------

    def _number(self, name: str, arg: object, position: int | None) -> None:
        if name in _BINARY_LONGS and position is not None:
            field_bytes = _BINARY_LONGS[name]
            raw = self.data[position + 1 : position + 1 + field_bytes]
            # LONG1's length is an unsigned byte, LONG4's a signed 32-bit int.
            length = int.from_bytes(raw, "little", signed=field_bytes == 4)
            if length > MAX_INTEGER_BYTES:
                raise integer_too_long(self.source, f"{length} bytes", position)
            arg = int.from_bytes(arg if isinstance(arg, memoryview) else b"", "little", signed=True)
        elif isinstance(arg, int) and abs(arg) >= 10**MAX_INTEGER_DIGITS:
            raise integer_too_long(self.source, f"{len(str(abs(arg)))} digits", position)
        if name in _CONSTANTS:
            self._push(_CONSTANTS[name])
        elif type(arg) is int and 0 <= arg < len(_SMALL_INTS):
            self._push(_SMALL_INTS[arg])
        else:
            self._push(Shape(value=arg))

    def _string(self, name: str, arg: object, position: int | None) -> None:
        """Every string and bytes opcode: a binary one passes its bytes, a text one its value."""
        if isinstance(arg, memoryview):
            size = len(arg)
            text = None
            if size <= _LONGEST_GLOBAL_NAME and name not in _BYTES_OPCODES:
                text = bytes(arg).decode("latin-1" if "STRING" in name else "utf-8", "replace")
        else:
            size = len(arg) if isinstance(arg, str | bytes | bytearray) else 0
            text = arg if isinstance(arg, str) and size <= _LONGEST_GLOBAL_NAME else None
        self._push(Shape(kind=Kind.STRING, size=size, text=text, pending=(name, arg)))

    def _get(self, name: str, index: int, position: int | None) -> None:
        self._spend(1)
        if index not in self._memo:
            raise malformed(self.source, f"Memo value not found at index {index}")
        self._push(self._memo[index])

    def _put(self, name: str, index: int | None, position: int | None) -> None:
        # A pickler numbers memo entries 0, 1, 2, ...; a larger index only serves to
        # make the C unpickler allocate a huge memo table.
        if name == "MEMOIZE" or index is None:
            index = len(self._memo)
        elif index > len(self._memo):
            raise malformed(self.source, f"memo index {index} at byte {position} out of order")
        self._memo[index] = self._top()

    def _frame(self, name: str, arg: int, position: int | None) -> None:
        if position is not None and arg > len(self.data) - position:
            raise malformed(
                self.source, f"frame of {arg} bytes at byte {position} overruns the data"
            )

    def _nothing(self, name: str, arg: object, position: int | None) -> None:
        """PROTO and STOP change nothing the bounds track."""

    def _refused(self, name: str, arg: object, position: int | None) -> None:
        raise malformed(self.source, f"opcode {name} is not supported")

    def _stack_op(self, name: str, arg: object, position: int | None) -> None:
        """MARK, POP, POP_MARK and DUP."""
        if name == "MARK":
            self._marks.append(self._stack)
            self._stack = []
        elif name == "DUP":
            self._push(self._top())
        elif name == "POP" and self._stack:
            self._stack.pop()
        else:
            self._pop_mark()

    def _small_tuple(self, name: str, arg: object, position: int | None) -> None:
        """EMPTY_TUPLE and TUPLE1-3: a tuple of the top 0-3 items."""
        items = [self._pop() for _ in range(_SMALL_TUPLES[name])][::-1]
        self._push(self._new(items, mutable=False))

    def _empty(self, name: str, arg: object, position: int | None) -> None:
        """EMPTY_LIST, EMPTY_DICT and EMPTY_SET."""
        kind = Kind.SEQUENCE if name == "EMPTY_LIST" else Kind.KEYED
        self._push(self._new([], kind, mutable=True))

    def _collection(self, name: str, arg: object, position: int | None) -> None:
        """LIST, TUPLE, DICT and FROZENSET: a new container of the items above the mark."""
        items = self._pop_mark()
        keys = items if name == "FROZENSET" else []
        if name == "DICT":
            if len(items) % 2:
                raise malformed(self.source, "odd number of items for DICT")
            keys = items[0::2]
        kind = Kind.KEYED if name in ("DICT", "FROZENSET") else Kind.SEQUENCE
        shape = self._new([], kind, mutable=name in ("LIST", "DICT"))
        for key in keys:
            self._hash(key, shape.keys)
        self._add(shape, items)
        if name == "FROZENSET":
            shape.hash_cost = 1 + shape.size  # a frozenset hashes its members' stored hashes
        self._push(shape)

    def _fill(self, name: str, arg: object, position: int | None) -> None:
        """APPEND(S), SETITEM(S) and ADDITEMS: items added to the container below them."""
        if name in ("APPEND", "SETITEM"):
            items = [self._pop() for _ in range(1 if name == "APPEND" else 2)][::-1]
        else:
            items = self._pop_mark()
        keys: list[Shape] = items if name == "ADDITEMS" else []
        if name in ("SETITEM", "SETITEMS"):
            if len(items) % 2:
                raise malformed(self.source, "odd number of items for SETITEMS")
            keys = items[0::2]
        target = self._top()
        for key in keys:
            self._hash(key, target.keys)
        self._add(target, items)

    def _global(self, name: str, arg: object, position: int | None) -> None:
        """GLOBAL, STACK_GLOBAL and INST: resolved against the allowlist right away."""
        if name == "STACK_GLOBAL":
            attribute, module = self._pop().text, self._pop().text
            if attribute is None or module is None:
                raise malformed(self.source, "STACK_GLOBAL needs two short strings")
        else:
            module, _, attribute = str(arg).partition(" ")
        effect = self.resolve(module, attribute)
        if name == "INST":
            self._push(self._call(effect, self._new(self._pop_mark(), mutable=False)))
        else:
            self._push(Shape(kind=Kind.OPAQUE, effect=effect))

    def _apply(self, name: str, arg: object, position: int | None) -> None:
        """REDUCE, NEWOBJ, NEWOBJ_EX and OBJ: a callable applied to its arguments."""
        if name == "OBJ":
            items = self._pop_mark()
            if not items:
                raise malformed(self.source, "OBJ without a class")
            callee, arguments = items[0], self._new(items[1:], mutable=False)
        else:
            keywords = [self._pop()] if name == "NEWOBJ_EX" else []
            arguments = self._pop()
            if keywords:
                arguments = self._new([arguments, *keywords], mutable=False)
            callee = self._pop()
        self._push(self._call(callee.effect, arguments))

    def _call(self, effect: Effect | None, arguments: Shape) -> Shape:
        """The shape of what an allowlisted callable returns, after paying for its work."""
        items = arguments.items or []
        self._spend(len(items) + sum(_iteration_cost(item) for item in items))
        if effect is Effect.RECORD:
            record = Shape(kind=Kind.RECORD, container=True, mutable=True)
            self._add(record, [arguments])
            return record
        if effect in _HASHING_EFFECTS and items:
            return self._hashing_call(effect, items[0])
        # Not callable (the real load refuses it), a value, or an empty collection.
        cost = 1 + sum(item.hash_cost + item.content_hash for item in items)
        if effect in _HASHING_EFFECTS:
            mutable = effect is not Effect.HASHES_INTO_FROZEN
            return Shape(kind=Kind.KEYED, container=mutable, mutable=mutable, keys=KeyTable())
        value = complex_value(items) if effect is Effect.COMPLEX else None
        if value is not None:
            return Shape(value=value)
        return Shape(kind=Kind.OPAQUE, height=arguments.height, hash_cost=cost)

    def _hashing_call(self, effect: Effect, source: Shape) -> Shape:
        """``set``, ``frozenset``, ``Counter`` or ``OrderedDict`` of ``source``."""
        if source.widest_item_hash > MAX_HASHED_SIZE:
            self._hash(Shape(hash_cost=source.widest_item_hash))
        self._spend(source.content_hash + source.size)
        frozen = effect is Effect.HASHES_INTO_FROZEN
        shape = Shape(
            kind=Kind.KEYED,
            container=True,
            mutable=not frozen,
            height=source.height,
            hash_cost=1 + source.size if frozen else 1,
            size=source.size,
            content_hash=source.content_hash,
            widest_item_hash=source.widest_item_hash,
            keys=KeyTable(),
        )
        if shape.keys is not None:
            fill_from(shape.keys, source, self._compare, pairs=effect is Effect.PAIRS_INTO_MUTABLE)
        return shape

    def _build(self, name: str, arg: object, position: int | None) -> None:
        state = self._pop()
        self._spend(state.size)
        self._add(self._top(), [state])

    def _persistent(self, name: str, arg: object, position: int | None) -> None:
        """PERSID and BINPERSID: a storage stub, whatever the id held."""
        if name == "BINPERSID":
            self._spend(self._pop().size)
        self._push(_OPAQUE)


_Handler = Callable[[PickleBounds, str, Any, "int | None"], None]
_GROUPS: dict[_Handler, tuple[str, ...]] = {
    PickleBounds._number: (
        "NONE",
        "NEWTRUE",
        "NEWFALSE",
        "BININT",
        "BININT1",
        "BININT2",
        "FLOAT",
        "BINFLOAT",
        "INT",
        "LONG",
        "LONG1",
        "LONG4",
    ),
    PickleBounds._string: tuple(_STRINGS),
    PickleBounds._get: ("GET", "BINGET", "LONG_BINGET"),
    PickleBounds._put: ("PUT", "BINPUT", "LONG_BINPUT", "MEMOIZE"),
    PickleBounds._frame: ("FRAME",),
    PickleBounds._nothing: ("PROTO", "STOP"),
    PickleBounds._refused: tuple(_REFUSED_OPCODES),
    PickleBounds._stack_op: ("MARK", "POP", "POP_MARK", "DUP"),
    PickleBounds._small_tuple: tuple(_SMALL_TUPLES),
    PickleBounds._empty: ("EMPTY_LIST", "EMPTY_DICT", "EMPTY_SET"),
    PickleBounds._collection: ("LIST", "TUPLE", "DICT", "FROZENSET"),
    PickleBounds._fill: ("APPEND", "APPENDS", "SETITEM", "SETITEMS", "ADDITEMS"),
    PickleBounds._global: ("GLOBAL", "STACK_GLOBAL", "INST"),
    PickleBounds._apply: ("REDUCE", "NEWOBJ", "NEWOBJ_EX", "OBJ"),
    PickleBounds._build: ("BUILD",),
    PickleBounds._persistent: ("PERSID", "BINPERSID"),
}
_HANDLERS: dict[str, _Handler] = {
    name: handler for handler, names in _GROUPS.items() for name in names
}
_BYTES_OPCODES = frozenset({"BINBYTES", "SHORT_BINBYTES", "BINBYTES8", "BYTEARRAY8"})
_DECODE: list[tuple[str, _Handler, Argument] | None] = [
    None
    if layout is None
    else (layout[0], _HANDLERS.get(layout[0], PickleBounds._refused), layout[1])
    for layout in LAYOUT
]
