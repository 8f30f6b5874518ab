"""Tests for stepsched_cli.formats.sandbox.hashing: keys of equal hash are paid for.

CPython compares a key with every key of its dict or set that has the same hash, so
``n`` keys built to share a hash cost ``n**2 / 2`` comparisons.  The opcode bounds pay
for each comparison as a step of the work budget (500,000) before loading, so about
1,000 such keys load and a few more are refused, whatever the hashing site and
however the equal hashes were built.
"""

from __future__ import annotations

import pickle
import struct
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from stepsched_cli.formats.checkpoint_errors import CheckpointError
from stepsched_cli.formats.sandbox.bounds import PickleBounds
from stepsched_cli.formats.sandbox.hashing import UNKNOWN, KeyTable
from stepsched_cli.formats.sandbox.unpickler import safe_loads
from stepsched_cli.formats.torch.container import load_checkpoint

MODULUS = 2**61 - 1  # CPython hashes an int as its value modulo this prime
DATA = Path(__file__).resolve().parents[2] / "data"

# --- colliding keys, as opcodes ---------------------------------------------------------


def global_ref(module: str, name: str) -> bytes:
    return pickle.GLOBAL + f"{module}\n{name}\n".encode()


def integer(value: int) -> bytes:
    """A LONG1 opcode: any integer of up to 17 bytes."""
    raw = value.to_bytes((value.bit_length() + 8) // 8, "little", signed=True)
    return pickle.LONG1 + bytes([len(raw)]) + raw


def floating(value: float) -> bytes:
    return pickle.BINFLOAT + struct.pack(">d", value)


def int_key(index: int) -> bytes:
    """``index * (2**61 - 1)``: every one hashes to 0."""
    return integer(index * MODULUS)


def complex_key(index: int) -> bytes:
    """``complex(1000003 * i, -i)`` for i >= 2: hashes to ``1000003 * (i - i)`` = 0.

    (Not i = 1: ``hash(-1.0)`` is -2, as -1 is the C API's error value.)
    """
    number = index + 2
    arguments = floating(1000003.0 * number) + floating(-float(number)) + pickle.TUPLE2
    return global_ref("builtins", "complex") + arguments + pickle.REDUCE


# 0.5, 2.0**60 and 2.0**-62 hash alike, as 2**60 + k * (2**61 - 1) does for every k.
_FLOATS = [0.5, 2.0**-62, 2.0**121, 2.0**-123]


def float_or_int_key(index: int) -> bytes:
    """The floats above first, then ints ``2**60 + k * (2**61 - 1)``: all hash to 2**60."""
    if index < len(_FLOATS):
        return floating(_FLOATS[index])
    return integer(2**60 + (index - len(_FLOATS) + 1) * MODULUS)


_P1, _P2, _P5 = 11400714785074694791, 14029467366897019727, 2870177450012600261
_MASK = 2**64 - 1
TUPLE_HASH = 42


def _rotate(value: int, bits: int) -> int:
    return ((value << bits) | (value >> (64 - bits))) & _MASK


def tuple_partner(first: int) -> int | None:
    """The int ``b`` such that ``hash((first, b)) == 42``, if an int hashes as needed.

    CPython's tuple hash (xxHash's round on each item's hash) can be run backwards
    from the result for the last item: no element collides, only the tuples do.
    """
    accumulator = _rotate((_P5 + hash(first) * _P2) & _MASK, 31) * _P1 & _MASK
    before = (TUPLE_HASH - (2 ^ (_P5 ^ 3527539))) * pow(_P1, -1, 2**64) & _MASK
    lane = (_rotate(before, 33) - accumulator) * pow(_P2, -1, 2**64) & _MASK
    signed = lane - 2**64 if lane >= 2**63 else lane
    if -MODULUS < signed < MODULUS and signed != -1:
        return signed
    return None


_TUPLE_PAIRS = [
    (first, partner) for first in range(4000) if (partner := tuple_partner(first)) is not None
]


def tuple_key(index: int) -> bytes:
    """``(a, b)`` with a small ``a`` and ``b`` solved for: every one hashes to 42."""
    first, second = _TUPLE_PAIRS[index]
    return integer(first) + integer(second) + pickle.TUPLE2


KEYS: dict[str, Callable[[int], bytes]] = {
    "int": int_key,
    "complex": complex_key,
    "float or int": float_or_int_key,
    "tuple": tuple_key,
}


def test_the_keys_of_each_kind_are_distinct_and_share_one_hash() -> None:
    for kind, key in KEYS.items():
        values = [pickle.loads(b"\x80\x02" + key(index) + b".") for index in range(40)]
        assert len(set(map(repr, values))) == 40, kind
        assert len({hash(value) for value in values}) == 1, kind
    assert hash(_TUPLE_PAIRS[0]) == TUPLE_HASH
    assert len({first for first, _ in _TUPLE_PAIRS}) == len(_TUPLE_PAIRS) > 600


# --- hashing sites ----------------------------------------------------------------------


def whole(body: bytes, protocol: int = 2) -> bytes:
    return pickle.PROTO + bytes([protocol]) + body + pickle.STOP


def keys_of(key: Callable[[int], bytes], count: int, *, paired: bool = False) -> bytes:
    pair = pickle.NONE + pickle.TUPLE2 if paired else b""
    return pickle.MARK + b"".join(key(index) + pair for index in range(count))


def call(name: str, key: Callable[[int], bytes], count: int, *, paired: bool = False) -> bytes:
    module = "collections" if name in ("Counter", "OrderedDict") else "builtins"
    items = pickle.EMPTY_LIST + keys_of(key, count, paired=paired) + pickle.APPENDS
    return whole(global_ref(module, name) + items + pickle.TUPLE1 + pickle.REDUCE)


def pairs_of(key: Callable[[int], bytes], count: int) -> bytes:
    return pickle.MARK + b"".join(key(index) + pickle.NONE for index in range(count))


SITES: dict[str, Callable[[Callable[[int], bytes], int], bytes]] = {
    "SETITEMS": lambda key, count: whole(pickle.EMPTY_DICT + pairs_of(key, count)
                                         + pickle.SETITEMS),
    "DICT": lambda key, count: whole(pairs_of(key, count) + pickle.DICT),
    "ADDITEMS": lambda key, count: whole(
        pickle.EMPTY_SET + keys_of(key, count) + pickle.ADDITEMS, 4),
    "FROZENSET": lambda key, count: whole(keys_of(key, count) + pickle.FROZENSET, 4),
    "set()": lambda key, count: call("set", key, count),
    "frozenset()": lambda key, count: call("frozenset", key, count),
    "Counter()": lambda key, count: call("Counter", key, count),
    "OrderedDict()": lambda key, count: call("OrderedDict", key, count, paired=True),
}  # fmt: skip


# Where each boundary falls: N keys of one hash cost N * (N - 1) / 2 comparisons (each
# worth the key's weight: 1 for a number, 3 for a pair of numbers) on top of the
# opcodes, items and hashing every load pays; the budget is 500,000 steps.  The first
# refused count is refused by whichever payment crosses the budget: the comparisons
# (": N keys ... share a hash") or the items added after them (no suffix).
BOUNDARIES = [
    ("int", "SETITEMS", 995, ""),
    ("int", "DICT", 995, ""),
    ("int", "ADDITEMS", 997, ""),
    ("int", "FROZENSET", 997, ""),
    ("int", "set()", 995, ": 996 keys of one dict or set share a hash"),
    ("int", "frozenset()", 995, ": 996 keys of one dict or set share a hash"),
    ("int", "Counter()", 995, ": 996 keys of one dict or set share a hash"),
    ("int", "OrderedDict()", 989, ": 990 keys of one dict or set share a hash"),
    ("complex", "SETITEMS", 987, ""),
    ("complex", "DICT", 987, ""),
    ("complex", "ADDITEMS", 989, ""),
    ("complex", "FROZENSET", 989, ""),
    ("complex", "set()", 987, ": 988 keys of one dict or set share a hash"),
    ("complex", "frozenset()", 987, ": 988 keys of one dict or set share a hash"),
    ("complex", "Counter()", 987, ": 988 keys of one dict or set share a hash"),
    ("complex", "OrderedDict()", 981, ": 982 keys of one dict or set share a hash"),
    ("float or int", "SETITEMS", 995, ""),
    ("float or int", "DICT", 995, ""),
    ("float or int", "ADDITEMS", 997, ""),
    ("float or int", "FROZENSET", 997, ""),
    ("float or int", "set()", 995, ": 996 keys of one dict or set share a hash"),
    ("float or int", "frozenset()", 995, ": 996 keys of one dict or set share a hash"),
    ("float or int", "Counter()", 995, ": 996 keys of one dict or set share a hash"),
    ("float or int", "OrderedDict()", 989, ": 990 keys of one dict or set share a hash"),
    ("tuple", "SETITEMS", 574, ": 575 keys of one dict or set share a hash"),
    ("tuple", "DICT", 574, ": 575 keys of one dict or set share a hash"),
    ("tuple", "ADDITEMS", 574, ""),
    ("tuple", "FROZENSET", 574, ""),
    ("tuple", "set()", 574, ": 575 keys of one dict or set share a hash"),
    ("tuple", "frozenset()", 574, ": 575 keys of one dict or set share a hash"),
    ("tuple", "Counter()", 574, ": 575 keys of one dict or set share a hash"),
    ("tuple", "OrderedDict()", 572, ": 573 keys of one dict or set share a hash"),
]


@pytest.mark.parametrize(("kind", "site", "loaded", "reason"), BOUNDARIES)
def test_keys_of_one_hash_load_up_to_the_budget_and_one_more_is_refused(
    kind: str, site: str, loaded: int, reason: str
) -> None:
    build = SITES[site]
    value = safe_loads(build(KEYS[kind], loaded), source="hash.pt")
    assert len(value) == loaded  # type: ignore[arg-type]
    with pytest.raises(CheckpointError) as caught:
        safe_loads(build(KEYS[kind], loaded + 1), source="hash.pt")
    assert str(caught.value) == (
        f"cannot read 'hash.pt': its pickle takes more than 500000 steps to load, the limit{reason}"
    )


@pytest.mark.parametrize("site", SITES)
def test_keys_of_distinct_hashes_cost_no_comparisons(site: str) -> None:
    # 20,000 distinct small ints: twenty times the colliding count, and loaded.
    value = safe_loads(SITES[site](lambda index: integer(index), 20_000))
    assert len(value) == 20_000  # type: ignore[arg-type]


def test_an_equal_key_replaces_and_pays_only_for_the_keys_of_its_hash() -> None:
    # 10 colliding keys, then the last one again 5,000 times: each repeat compares with
    # the 10 keys of its hash (50,000 steps), and replaces ...
    repeated = pickle.MARK + b"".join(int_key(index) + pickle.NONE for index in range(10))
    repeated += (int_key(9) + pickle.NONE) * 5_000
    loaded = safe_loads(whole(pickle.EMPTY_DICT + repeated + pickle.SETITEMS))
    assert len(loaded) == 10  # type: ignore[arg-type]
    # ... while 5,010 distinct colliding keys would cost 12.5 million steps.
    with pytest.raises(CheckpointError, match="share a hash"):
        safe_loads(SITES["SETITEMS"](int_key, 5_010))


def _storage_key(index: int) -> bytes:
    """A storage stub as a key: a value the bounds cannot know (its numel collides)."""
    return (
        pickle.MARK
        + pickle.BINUNICODE
        + struct.pack("<I", 7)
        + b"storage"
        + global_ref("torch", "FloatStorage")
        + pickle.BINUNICODE
        + struct.pack("<I", 1)
        + b"0"
        + pickle.BINUNICODE
        + struct.pack("<I", 3)
        + b"cpu"
        + integer(index * MODULUS)
        + pickle.TUPLE
        + pickle.BINPERSID
    )


def test_keys_of_unknown_value_are_presumed_to_collide() -> None:
    assert len(safe_loads(SITES["SETITEMS"](_storage_key, 900))) == 900  # type: ignore[arg-type]
    with pytest.raises(CheckpointError) as caught:
        safe_loads(SITES["SETITEMS"](_storage_key, 1_100), source="s.pt")
    assert str(caught.value).endswith("keys of one dict or set may share a hash")


def test_a_counter_of_a_dict_pays_for_its_keys_again() -> None:
    # Counter(dict) is how a Counter pickles: its keys are inserted once more (the
    # 695th of the copy crosses the budget, 710 * 709 / 2 + 694 * 693 / 2 > 500,000).
    dict_of = pairs_of(int_key, 710)
    counter = global_ref("collections", "Counter") + pickle.EMPTY_DICT + dict_of
    counter += pickle.SETITEMS + pickle.TUPLE1 + pickle.REDUCE
    with pytest.raises(CheckpointError, match="695 keys of one dict or set share a hash"):
        safe_loads(whole(counter))
    assert len(safe_loads(SITES["SETITEMS"](int_key, 710))) == 710  # type: ignore[arg-type]


@given(
    st.lists(
        st.sampled_from(
            [
                0,
                1,
                -1,
                -2,
                0.5,
                2**60,
                MODULUS,
                2 * MODULUS,
                1.0,
                True,
                (0, MODULUS),
                (0, 0),
                1j,
                complex(1000003, -1),
            ]
        )
    )
)
def test_a_key_table_holds_what_a_set_holds_and_pays_for_each_key_of_its_hash(
    keys: list[object],
) -> None:
    table, paid = KeyTable(), []
    for key in keys:
        table.insert(key, 1, lambda steps, sharing, presumed: paid.append(steps))
    assert table.known == len(set(keys))
    expected, seen = [], []
    for key in keys:
        expected.append(sum(hash(other) == hash(key) for other in seen))
        if key not in seen:
            seen.append(key)
    assert paid == expected


def test_a_key_of_unknown_value_pays_for_every_key_and_every_key_after_it_too() -> None:
    table, paid = KeyTable(), []
    for key in ("a", "b", UNKNOWN, "c", UNKNOWN):
        table.insert(key, 2, lambda steps, sharing, presumed: paid.append((steps, presumed)))
    assert paid == [(0, False), (0, False), (4, True), (2, True), (8, True)]


def _data_pickles() -> list[Path]:
    return sorted(
        path
        for folder in ("checkpoints", "real")
        for path in (DATA / folder).rglob("*")
        if path.suffix in (".pt", ".ckpt", ".pth", ".tar") and path.is_file()
    )


def test_real_checkpoints_pay_for_no_comparisons(monkeypatch: pytest.MonkeyPatch) -> None:
    paid: list[int] = []
    original = PickleBounds._compare

    def counting(self: PickleBounds, steps: int, keys: int, presumed: bool) -> None:
        paid.append(steps)
        original(self, steps, keys, presumed)

    monkeypatch.setattr(PickleBounds, "_compare", counting)
    paths = _data_pickles()
    assert len(paths) > 20
    for path in paths:
        load_checkpoint(path)
    assert paid
    assert set(paid) == {0}
