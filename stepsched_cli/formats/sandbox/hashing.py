"""What the opcode bounds know of each object, and what inserting keys into it costs.

A dict or set finds a key by its hash, and compares it with every key already there
whose hash is the same: keys built to share one hash make each insertion cost as many
comparisons as there are such keys, so ``n`` of them cost ``n**2 / 2``.  Equal hashes
are easy to build from the allowlist: CPython hashes an integer as its value modulo
``2**61 - 1`` (so ``k * (2**61 - 1)`` hashes to 0 for every ``k``), ``hash(-1) ==
hash(-2)``, ``hash(0.5) == hash(2**60)``, a complex number hashes as ``hash(real) +
1000003 * hash(imag)`` and a tuple combines its items' hashes in a way that can be
solved for.  20,000 such integer keys took 3.6 s to load, the ~160,000 the work
budget admitted several minutes.

So :class:`~stepsched_cli.formats.sandbox.bounds.PickleBounds` rebuilds the exact
value of every key it can (numbers, strings, bytes, ``None``, booleans, complex
numbers and tuples and frozensets of these; a key is small, :data:`MAX_HASHED_SIZE`
bounds it), takes Python's own ``hash()`` of it (the same process loads the pickle,
so string hashes, randomised per process, are the very ones the load will use), and
keeps a :class:`KeyTable` per dict and set: inserting a key whose hash ``c`` keys of
that container already have costs ``c`` comparisons, paid as steps of the work budget
before the C unpickler does any of it.  A key whose value cannot be known beforehand
(a tensor stub, a storage, a device, an allowlisted global, the result of
``torch.Size``) is presumed to collide with every key of its container.

Example:
    >>> table, paid = KeyTable(), []
    >>> for key in (1, 2**61, 2 * 2**61 - 1, 1.0):
    ...     table.insert(key, 1, lambda steps, keys, presumed: paid.append(steps))
    >>> paid, table.known  # 2**61 and 2*2**61 - 1 hash like 1; 1.0 equals 1
    ([0, 1, 2, 3], 3)
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "BYTES_PER_STEP",
    "UNHASHABLE",
    "UNKNOWN",
    "Effect",
    "KeyTable",
    "Kind",
    "Payment",
    "Shape",
    "complex_value",
    "fill_from",
    "value_of",
]

BYTES_PER_STEP = 128
"""Characters copied or compared per step: ``bytes(text)`` and ``==`` run at memory speed."""


class _Marker:
    """A value the bounds cannot rebuild; compares equal only to itself."""

    def __init__(self, name: str) -> None:
        self._name = name

    def __repr__(self) -> str:
        return self._name


UNKNOWN: Any = _Marker("UNKNOWN")
"""A key whose value (so hash) is not known before loading: it may collide with any key."""
UNHASHABLE: Any = _Marker("UNHASHABLE")
"""A list, dict or set used as a key: the real load fails on it, so it costs nothing."""


class Effect(enum.Enum):
    """What calling an allowlisted global does, as far as the bounds are concerned."""

    VALUE = "value"
    """Builds a value from its arguments (bytes, a tensor stub, a device)."""
    COMPLEX = "complex"
    """Builds a complex number; the bounds compute it to know its hash."""
    HASHES_INTO_MUTABLE = "hashes-into-mutable"
    """Hashes the items of its first argument into a new set or Counter."""
    PAIRS_INTO_MUTABLE = "pairs-into-mutable"
    """Hashes the first item of each pair of its first argument into a new OrderedDict."""
    HASHES_INTO_FROZEN = "hashes-into-frozen"
    """Hashes the items of its first argument into a new frozenset."""
    RECORD = "record"
    """Builds a mutable record holding its arguments (argparse.Namespace, numpy)."""


class Kind(enum.Enum):
    """What sort of object a shape stands for."""

    ATOM = "atom"  # a number, None or a boolean: ``value`` holds it
    STRING = "string"  # str or bytes: ``pending`` holds its opcode and raw bytes
    SEQUENCE = "sequence"  # a tuple (immutable) or a list: ``items`` holds its items
    KEYED = "keyed"  # a dict, set, frozenset, Counter or OrderedDict: ``keys`` holds its keys
    RECORD = "record"  # an inert record: hashed by identity, never equal to another
    OPAQUE = "opaque"  # a global, a storage, or what an allowlisted callable built


Payment = Callable[[int, int, bool], None]
"""Pays ``(steps, keys, presumed)``: comparisons among ``keys`` keys that share a hash,
or may (``presumed``: some are of a value not known before loading)."""


@dataclass(slots=True, eq=False)
class KeyTable:
    """The keys of one dict or set, grouped by hash, as the bounds rebuilt them.

    Attributes:
        groups: Each hash (as 8 bytes, whose own hash is randomised, so no attacker can
            make this table slow) and the distinct keys having it, with their weights.
        known: Distinct keys of known value.
        unknown: Weights of the keys whose value is not known (any may collide).
        complete: Whether every key is known (a frozenset's value can be rebuilt).
    """

    groups: dict[bytes, list[tuple[object, int]]] = field(default_factory=dict)
    known: int = 0
    unknown: list[int] = field(default_factory=list)
    complete: bool = True

    def insert(self, key: object, weight: int, pay: Payment) -> None:
        """Insert ``key``, paying one comparison per key it may be compared with.

        A key is compared with each key of its hash before it is found or added, so it
        pays for all of them, equal or not (an equal key replaces, and is not added);
        each comparison costs ``weight``, the most elements comparing ``key`` visits.
        A key of unknown value pays for every key of the table, and every key inserted
        after it pays for it.  Payment comes first: a refusal leaves the work undone.
        """
        if key is UNHASHABLE:
            return
        if key is UNKNOWN:
            before = self.known + len(self.unknown)
            pay(before * weight, before + 1, True)
            self.unknown.append(weight)
            self.complete = False
            return
        group = self.groups.setdefault(hash(key).to_bytes(8, "little", signed=True), [])
        sharing = len(group) + len(self.unknown)
        pay(sharing * weight, sharing + 1, bool(self.unknown))
        for other, _ in group:
            if other is key or other == key:
                return
        group.append((key, weight))
        self.known += 1

    def insert_unknown(self, count: int, pay: Payment) -> None:
        """Insert ``count`` keys of unknown value and weight 1 (one sum, not a loop)."""
        before = self.known + len(self.unknown)
        pay(before * count + count * (count - 1) // 2, before + count, True)
        self.unknown.extend([1] * count)
        self.complete = False

    def members(self) -> Iterator[tuple[object, int]]:
        """Every key with its weight; ``UNKNOWN`` for each key of unknown value."""
        for group in self.groups.values():
            yield from group
        for weight in self.unknown:
            yield UNKNOWN, weight


@dataclass(slots=True, eq=False)
class Shape:
    """What the bounds know of one object the pickle builds.

    Attributes:
        kind: What sort of object it is.
        container: Whether it holds items (a shape that does not is never changed).
        mutable: Whether items may be added after it is built (lists, dicts, sets).
        height: Levels of containers below it (0 for an atom or an empty container).
        hash_cost: Elements that hashing it visits (1 when hashing stops at it).
        size: Items it holds, or characters of a string (what iterating it visits).
        content_hash: The sum of its items' ``hash_cost``.
        widest_item_hash: The largest ``hash_cost`` among its items.
        items: A tuple's or list's items (the arguments of a call are read from them).
        text: A short string's value (``STACK_GLOBAL`` names come from strings).
        effect: For an allowlisted global, what calling it does.
        value: Its exact value once known (see :func:`value_of`), else ``UNKNOWN``.
        pending: A string's opcode and raw argument, decoded when it is first hashed.
        weight: The most elements comparing it with an equal-hash key visits.
        keys: A dict's or set's keys.
    """

    kind: Kind = Kind.ATOM
    container: bool = False
    mutable: bool = False
    height: int = 0
    hash_cost: int = 1
    size: int = 0
    content_hash: int = 0
    widest_item_hash: int = 0
    items: list[Shape] | None = None
    text: str | None = None
    effect: Effect | None = None
    value: object = UNKNOWN
    pending: tuple[str, object] | None = None
    weight: int = 0
    keys: KeyTable | None = None


def _decode(name: str, raw: object) -> object:
    """A string opcode's value as the C unpickler builds it (its default ASCII for str8)."""
    if isinstance(raw, str):  # text opcodes arrive decoded by pickletools
        return raw if name == "UNICODE" else raw.encode("latin-1").decode("ascii")
    data = bytes(raw) if isinstance(raw, memoryview | bytes | bytearray) else b""
    if name in ("BINBYTES", "SHORT_BINBYTES", "BINBYTES8"):
        return data
    if name == "BYTEARRAY8":
        return UNHASHABLE
    if "UNICODE" in name:
        return data.decode("utf-8", "surrogatepass")
    return data.decode("ascii")


def _rebuild(shape: Shape) -> tuple[object, int]:
    """A shape's value and weight, from its parts (see :func:`value_of`)."""
    if shape.kind is Kind.STRING and shape.pending is not None:
        try:
            value = _decode(*shape.pending)
        except UnicodeError:
            value = UNHASHABLE  # the real load fails on this string
        return value, 1 + shape.size // BYTES_PER_STEP
    if shape.kind is Kind.RECORD:
        return object(), 1  # hashed by identity: equal to nothing else
    if shape.mutable:
        return UNHASHABLE, 1
    if shape.kind is Kind.SEQUENCE and shape.items is not None:
        parts = [value_of(item) for item in shape.items]
        values = [value for value, _ in parts]
        if any(value is UNHASHABLE for value in values):
            return UNHASHABLE, 1
        if any(value is UNKNOWN for value in values):
            return UNKNOWN, shape.hash_cost
        return tuple(values), 1 + sum(weight for _, weight in parts)
    if shape.kind is Kind.KEYED and shape.keys is not None and shape.keys.complete:
        members = list(shape.keys.members())
        return frozenset(value for value, _ in members), 1 + sum(w for _, w in members)
    return UNKNOWN, shape.hash_cost


def value_of(shape: Shape) -> tuple[object, int]:
    """The exact value of ``shape`` and its weight, or ``UNKNOWN``/``UNHASHABLE``.

    Call it only for a shape whose ``hash_cost`` is within :data:`MAX_HASHED_SIZE`: the
    rebuilding visits what hashing would.  The result is kept on the shape, so a shared
    sub-tuple is rebuilt once.  Strings are decoded only here, when first hashed.
    """
    if shape.weight == 0:
        if shape.kind is Kind.ATOM and shape.value is not UNKNOWN:
            shape.weight = 1
        else:
            shape.value, shape.weight = _rebuild(shape)
    return shape.value, shape.weight


_COMPLEX_ARGUMENTS = (int, float, complex, str)
_LONGEST_COMPLEX_TEXT = 256


def complex_value(arguments: list[Shape]) -> object:
    """``complex(*arguments)`` when every argument is a known number or short text.

    Anything else (or arguments ``complex`` refuses) is ``UNKNOWN``.
    """
    values = []
    for argument in arguments:
        if argument.kind is Kind.STRING and argument.size > _LONGEST_COMPLEX_TEXT:
            return UNKNOWN
        value, _ = value_of(argument) if argument.kind is Kind.STRING else (argument.value, 1)
        if not isinstance(value, _COMPLEX_ARGUMENTS):
            return UNKNOWN
        values.append(value)
    try:
        return complex(*values)
    except (TypeError, ValueError, OverflowError):
        return UNKNOWN


def _first_of_pair(pair: Shape) -> Shape:
    """The key ``OrderedDict`` takes from one pair (any other item: a key of unknown value)."""
    if pair.kind is Kind.SEQUENCE and pair.items is not None and len(pair.items) == 2:
        return pair.items[0]
    return Shape(kind=Kind.OPAQUE)


def fill_from(table: KeyTable, source: Shape, pay: Payment, *, pairs: bool) -> None:
    """Insert into ``table`` the keys a call takes from ``source`` (their hashing is paid).

    ``pairs``: the keys are the first items of ``source``'s items (``OrderedDict``).
    Iterating a string gives characters (str hashes are keyed per process, so they
    cannot be made to collide) or small integers (which never collide): nothing to pay.
    """
    if source.kind is Kind.SEQUENCE and source.items is not None:
        for item in source.items:
            key = _first_of_pair(item) if pairs else item
            table.insert(*value_of(key), pay)
    elif source.kind is Kind.KEYED and source.keys is not None and not pairs:
        for member, weight in source.keys.members():
            table.insert(member, weight, pay)
    elif source.kind is Kind.STRING:
        table.complete = False
    else:  # pairs of a dict or set, or what a callable built: presume the worst
        table.insert_unknown(max(source.size, source.hash_cost - 1), pay)
