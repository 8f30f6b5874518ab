"""flax msgpack files (``flax.serialization.to_bytes``): named, with the optax state they hold.

The real files (tests/data/real/flax) record optax counters and no schedule: they are
refused in one line that names the count (the position) and inject_hyperparams' lr, as
optax reported them.  The bounded decoder is checked against hand-made msgpack.
"""

from __future__ import annotations

import json
import struct
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from stepsched_cli.errors import StateFileError
from stepsched_cli.formats import registry, sniff
from stepsched_cli.formats.frameworks.flax import msgpack as flax_msgpack
from stepsched_cli.formats.frameworks.flax import reader as flax_reader
from stepsched_cli.formats.frameworks.flax.msgpack import Ext, MsgpackError, decode

REAL = Path(__file__).resolve().parents[2] / "data" / "real" / "flax"
MANIFEST: dict[str, Any] = json.loads((REAL / "manifest.json").read_text())["files"]
WHAT = "is a flax msgpack file (flax.serialization.to_bytes)"


def refusal(name: str, hints: registry.Hints | None = None) -> str:
    with pytest.raises(StateFileError) as raised:
        registry.read_state(str(REAL / name), hints=hints)
    return str(raised.value)


@pytest.mark.parametrize("name", ["train_state_inject.msgpack", "params_only.msgpack"])
def test_a_position_given_gets_the_files_own_refusal(name: str) -> None:
    """Not "records its own position": the file holds no schedule to read at any position."""
    given = registry.Hints(position=5, steps_per_epoch=2)
    assert refusal(name, given) == refusal(name)


@pytest.mark.parametrize("name", ["train_state_inject.msgpack", "opt_state_adam_inject.msgpack"])
def test_inject_hyperparams_count_and_lr_are_named(name: str) -> None:
    values = MANIFEST[name]["reported"]
    count, lr = values["count"], values["learning_rate"]
    # optax stored the lr of the last update, the schedule at count - 1.
    assert lr == values["lr_at"][str(count - 1)]
    assert refusal(name) == (
        f"{REAL / name}: {WHAT} holding optax count {count} (updates done: the schedule's "
        f"position), inject_hyperparams learning_rate {lr!r} (the lr of the last update, "
        f"position {count - 1}); it records no schedule: inspect the optax schedule's JSON "
        f"with --position {count}"
    )


def test_scale_by_schedules_count_is_named() -> None:
    values = MANIFEST["opt_state_schedule.msgpack"]["reported"]
    assert values["opt_state"] == "(EmptyState(), ScaleByScheduleState(count=23))"
    assert refusal("opt_state_schedule.msgpack") == (
        f"{REAL / 'opt_state_schedule.msgpack'}: {WHAT} holding optax count 23 (updates done: "
        "the schedule's position); it records no schedule: inspect the optax schedule's JSON "
        "with --position 23"
    )


def test_parameters_alone_hold_no_position() -> None:
    assert MANIFEST["params_only.msgpack"]["reported"]["keys"] == ["b", "w"]
    assert refusal("params_only.msgpack") == (
        f"{REAL / 'params_only.msgpack'}: {WHAT} with keys w, b and no optax schedule state "
        "(scale_by_schedule's or inject_hyperparams' count): it holds no position or lr"
    )


@pytest.mark.parametrize("name", sorted(MANIFEST))
def test_every_real_file_is_recognised(name: str) -> None:
    head = (REAL / name).read_bytes()[: registry.HEAD_BYTES]
    assert registry.detect_format(head, name) == "flax-msgpack"


def array(value: int | float, dtype: str) -> bytes:
    """A 0-d flax array as msgpack, as flax writes it."""
    codes = {"int32": "<i", "int64": "<q", "float32": "<f", "float64": "<d"}
    return flax_msgpack._array(struct.pack(codes[dtype], value), dtype)


def fixmap(pairs: list[tuple[str, bytes]]) -> bytes:
    out = bytes([0x80 | len(pairs)])
    for key, value in pairs:
        out += bytes([0xA0 | len(key)]) + key.encode() + value
    return out


def test_counters_that_disagree_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "state.msgpack"
    path.write_bytes(
        fixmap(
            [
                ("a", fixmap([("count", array(5, "int32"))])),
                ("b", fixmap([("count", array(7, "int64"))])),
            ]
        )
    )
    assert flax_reader.describe_file(str(path)) == (
        f"{WHAT} whose optax counters disagree (5 at a, 7 at b): the schedule's position is "
        "not established"
    )


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"\x81\xa1a", "ends inside a value at byte 3"),
        (b"\x81\xa1a\xc1", "has the unused type byte 0xc1 at byte 3"),
        (b"\x81\xa1a\x01\x02", "has 1 bytes after its value"),
        (b"\x81\x90\x01", "has a map key of type list"),
        (b"\x81\xa2\xff\xfe\x01", "has a string that is not UTF-8 at byte 2"),
    ],
)
def test_bad_msgpack_is_refused_saying_where(tmp_path: Path, data: bytes, reason: str) -> None:
    path = tmp_path / "state.msgpack"
    path.write_bytes(data)
    with pytest.raises(StateFileError) as raised:
        flax_reader.describe_file(str(path))
    assert str(raised.value) == f"{path}: starts like msgpack (flax) but {reason}"


def test_nesting_items_and_strings_are_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    deep = b"\x81\xa1a" * (flax_msgpack.MAX_DEPTH + 1) + b"\x01"
    with pytest.raises(MsgpackError, match=r"^nests deeper than 64 levels$"):
        decode(deep)
    monkeypatch.setattr(flax_msgpack, "MAX_ITEMS", 3)
    with pytest.raises(MsgpackError, match=r"^holds more than 3 items$"):
        decode(b"\x94\x01\x02\x03\x04")
    monkeypatch.setattr(flax_msgpack, "MAX_TEXT", 2)
    with pytest.raises(MsgpackError, match=r"^has a string of 3 bytes at byte 1$"):
        decode(b"\xa3abc")


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (b"\xc0", None),
        (b"\xc3", True),
        (b"\x7f", 127),
        (b"\xff", -1),
        (b"\xcd\x01\x00", 256),
        (b"\xd1\xff\x00", -256),
        (b"\xcb" + struct.pack(">d", 0.1), 0.1),
        (b"\xca" + struct.pack(">f", 0.5), 0.5),
        (b"\xd9\x01a", "a"),
        (b"\xc4\x02ab", b"ab"),
        (b"\xdc\x00\x02\x01\x02", [1, 2]),
        (b"\xde\x00\x01\xa1k\x05", {"k": 5}),
    ],
)
def test_decoded_values(data: bytes, expected: object) -> None:
    assert decode(data) == expected


@settings(max_examples=100, deadline=None)
@given(
    value=st.one_of(st.integers(0, 2**31 - 1).map(lambda n: (n, "int32")),
                    st.integers(0, 2**63 - 1).map(lambda n: (n, "int64")),
                    st.floats(width=32, allow_nan=False).map(lambda x: (x, "float32")),
                    st.floats(allow_nan=False).map(lambda x: (x, "float64")))
)  # fmt: skip
def test_property_a_0d_array_reads_back_its_number(value: tuple[int | float, str]) -> None:
    number, dtype = value
    decoded = decode(array(number, dtype))
    assert isinstance(decoded, Ext)
    assert decoded.value() == number


@pytest.mark.parametrize(
    "payload",
    [b"\x93\x91\x01\xa5int32\xc4\x04\x00\x00\x00\x00", b"\x93\x90\xa4int9\xc4\x01\x00", b"\x01"],
    ids=["not-0-d", "unknown-dtype", "not-a-triple"],
)
def test_an_array_that_is_not_a_0d_number_has_no_value(payload: bytes) -> None:
    assert Ext(flax_msgpack.NDARRAY, memoryview(payload)).value() is None


@pytest.mark.parametrize(
    ("head", "expected"),
    [
        (bytes.fromhex("83a4737465701a"), True),
        (bytes.fromhex("de0001a1"), True),
        (bytes.fromhex("df00000001d903"), True),
        (b"\x80\x02}q", False),  # a pickle
        (b"\x81\x01", False),  # an integer key: not flax
        (b"{", False),
        (b"\x83", False),
    ],
)
def test_recognised_by_a_map_with_a_string_key(head: bytes, expected: bool) -> None:
    assert sniff.looks_like_msgpack_map(head) is expected
