"""Tests for stepsched_cli.formats.sandbox.unpickler: nothing outside the allowlist ever runs."""

from __future__ import annotations

import contextlib
import copy
import io
import pickle
import struct
from collections import Counter, OrderedDict
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from stepsched_cli.formats.checkpoint_errors import CheckpointError, UnsafeCheckpointError
from stepsched_cli.formats.sandbox.allowlist import (
    InertObject,
    PickledCounter,
    PickledOrderedDict,
    StorageType,
    TensorStub,
    TensorType,
    TorchDtype,
)
from stepsched_cli.formats.sandbox.unpickler import MAX_NESTING_DEPTH, PickleStream, safe_loads


def global_ref(module: str, name: str) -> bytes:
    return pickle.GLOBAL + f"{module}\n{name}\n".encode()


def text(value: str) -> bytes:
    encoded = value.encode()
    return pickle.BINUNICODE + struct.pack("<I", len(encoded)) + encoded


def whole(body: bytes) -> bytes:
    return pickle.PROTO + b"\x02" + body + pickle.STOP


def storage_pid(key: str, storage_class: str = "FloatStorage", numel: int = 4) -> bytes:
    """The zip-format persistent id torch writes for one storage."""
    return (
        pickle.MARK
        + text("storage")
        + global_ref("torch", storage_class)
        + text(key)
        + text("cpu")
        + pickle.BININT
        + struct.pack("<i", numel)
        + pickle.TUPLE
        + pickle.BINPERSID
    )


def rebuild_v2(key: str, size: tuple[int, ...]) -> bytes:
    """torch._utils._rebuild_tensor_v2(storage, 0, size, stride, False, OrderedDict())."""
    dims = b"".join(pickle.BININT + struct.pack("<i", n) for n in size)
    return (
        global_ref("torch._utils", "_rebuild_tensor_v2")
        + pickle.MARK
        + storage_pid(key)
        + pickle.BININT
        + struct.pack("<i", 0)
        + pickle.MARK
        + dims
        + pickle.TUPLE
        + pickle.MARK
        + dims
        + pickle.TUPLE
        + pickle.NEWFALSE
        + global_ref("collections", "OrderedDict")
        + pickle.EMPTY_TUPLE
        + pickle.REDUCE
        + pickle.TUPLE
        + pickle.REDUCE
    )


@pytest.mark.parametrize(
    ("module", "name"),
    [
        ("os", "system"),
        ("posix", "system"),
        ("builtins", "eval"),
        ("builtins", "exec"),
        ("builtins", "getattr"),
        ("builtins", "__import__"),
        ("builtins", "open"),
        ("copyreg", "_reconstructor"),
        ("operator", "attrgetter"),
        ("subprocess", "Popen"),
        ("collections", "deque"),
        ("torch.storage", "_load_from_bytes"),
        ("torch", "load"),
        ("numpy", "load"),
        ("made.up", "Class"),
    ],
)
def test_any_global_off_the_allowlist_is_refused_by_name(module: str, name: str) -> None:
    data = whole(global_ref(module, name) + pickle.EMPTY_TUPLE + pickle.REDUCE)
    with pytest.raises(UnsafeCheckpointError) as caught:
        safe_loads(data, source="ckpt.pt")
    assert str(caught.value) == (
        f"refusing to load 'ckpt.pt': its pickle references {module}.{name}, "
        "which is not on the allowlist of inert types"
    )
    assert caught.value.global_name == f"{module}.{name}"


def test_stack_global_is_checked_too() -> None:
    body = (
        pickle.PROTO
        + b"\x04"
        + pickle.SHORT_BINUNICODE
        + b"\x02os"
        + pickle.SHORT_BINUNICODE
        + b"\x06system"
        + pickle.STACK_GLOBAL
        + pickle.STOP
    )
    with pytest.raises(UnsafeCheckpointError, match=r"os\.system"):
        safe_loads(body, source="x")


def test_real_pickles_of_live_callables_are_refused(tmp_path: Path) -> None:
    import subprocess

    marker = tmp_path / "pwned"

    class Payload:
        def __reduce__(self) -> tuple[Any, ...]:
            return (subprocess.call, (["touch", str(marker)],))

    for protocol in range(6):
        with pytest.raises(UnsafeCheckpointError, match=r"subprocess\.call"):
            safe_loads(pickle.dumps(Payload(), protocol=protocol), source="x")
    assert not marker.exists()


def test_ordered_dict_and_counter_round_trip_with_metadata() -> None:
    state = OrderedDict(weight=1)
    state._metadata = OrderedDict({"": {"version": 1}})  # type: ignore[attr-defined]
    loaded = safe_loads(pickle.dumps({"m": state, "c": Counter({30: 2, 80: 1})}, protocol=2))
    assert isinstance(loaded, dict)
    assert isinstance(loaded["m"], PickledOrderedDict)
    assert loaded["m"] == {"weight": 1}
    assert loaded["m"]._metadata == {"": {"version": 1}}
    assert isinstance(loaded["c"], PickledCounter)
    assert loaded["c"] == {30: 2, 80: 1}


def test_build_cannot_shadow_methods_of_the_returned_dict() -> None:
    data = whole(
        global_ref("collections", "OrderedDict")
        + pickle.EMPTY_TUPLE
        + pickle.REDUCE
        + pickle.EMPTY_DICT
        + text("items")
        + pickle.NONE
        + pickle.SETITEM
        + pickle.BUILD
    )
    with pytest.raises(CheckpointError, match="may not set attribute 'items'"):
        safe_loads(data, source="x")


def state_of(**fields: bytes) -> bytes:
    """A BUILD state dict, each value given as opcodes."""
    items = b"".join(text(name) + value for name, value in fields.items())
    return pickle.EMPTY_DICT + pickle.MARK + items + pickle.SETITEMS


@pytest.mark.parametrize(
    ("target", "state", "shown"),
    [
        (global_ref("torch", "float32"), state_of(name=text("evil")), "a TorchDtype"),
        (global_ref("torch", "FloatStorage"), state_of(dtype=text("int8")), "a StorageType"),
        (
            global_ref("torch.nn.parameter", "Parameter"),
            state_of(name=text("x")),
            "a TensorType",
        ),
        (
            global_ref("torch", "device")
            + pickle.MARK
            + text("cpu")
            + pickle.TUPLE
            + pickle.REDUCE,
            state_of(type=text("cuda")),
            "a TorchDevice",
        ),
        (storage_pid("0"), state_of(numel=pickle.NONE), "a StorageStub"),
        (rebuild_v2("0", (2,)), state_of(shape=pickle.EMPTY_TUPLE), "a TensorStub"),
        (
            global_ref("torch._utils", "_rebuild_tensor_v2"),
            pickle.NONE + state_of(__defaults__=pickle.NONE) + pickle.TUPLE2,
            "the function torch._utils._rebuild_tensor_v2",
        ),
        (
            global_ref("torch", "Size"),
            state_of(__code__=pickle.NONE),
            "the function torch.Size",
        ),
    ],
)
def test_build_cannot_change_a_shared_stand_in(target: bytes, state: bytes, shown: str) -> None:
    """The allowlisted globals are shared by every load: BUILD must not reach them."""
    with pytest.raises(CheckpointError) as caught:
        safe_loads(whole(target + state + pickle.BUILD), source="x")
    assert str(caught.value) == (
        f"cannot read 'x': malformed pickle (BUILD may not set the state of {shown}; only "
        "dicts, Counters and inert records take state)"
    )
    fresh = safe_loads(
        whole(
            pickle.MARK
            + global_ref("torch", "float32")
            + global_ref("torch", "FloatStorage")
            + global_ref("torch.nn.parameter", "Parameter")
            + rebuild_v2("0", (2,))
            + pickle.TUPLE
        )
    )
    assert fresh == (
        TorchDtype("float32"),
        StorageType("float32"),
        TensorType("torch.nn.parameter.Parameter"),
        TensorStub((2,), (2,), "float32", "0", 0, "cpu"),
    )


def test_stand_ins_still_copy_and_pickle() -> None:
    stub = TensorStub((2, 3), (3, 1), "float32", "0", 0, "cpu", requires_grad=True)
    assert copy.copy(stub) == stub
    assert copy.deepcopy(TorchDtype("float16")) == TorchDtype("float16")
    assert pickle.loads(pickle.dumps(stub)) == stub


def test_tensors_become_stubs_without_values() -> None:
    data = whole(
        pickle.EMPTY_DICT
        + pickle.MARK
        + text("weight")
        + rebuild_v2("0", (2, 3))
        + text("lr")
        + rebuild_v2("1", ())
        + pickle.SETITEMS
    )
    loaded = safe_loads(data)
    assert isinstance(loaded, dict)
    weight, lr = loaded["weight"], loaded["lr"]
    assert weight == TensorStub((2, 3), (2, 3), "float32", "0", 0, "cpu")
    assert weight.numel == 6
    assert not weight.is_scalar
    assert lr.is_scalar
    assert repr(lr) == "TensorStub(shape=(), dtype=float32, device=cpu, value unknown)"


def test_persistent_ids_other_than_storage_are_refused() -> None:
    data = whole(pickle.MARK + text("module") + pickle.TUPLE + pickle.BINPERSID)
    with pytest.raises(CheckpointError, match="unsupported persistent id 'module'"):
        safe_loads(data, source="x")


def test_argparse_namespace_is_an_inert_record() -> None:
    import argparse

    loaded = safe_loads(pickle.dumps(argparse.Namespace(lr=0.1), protocol=2))
    assert isinstance(loaded, InertObject)
    assert loaded.type_name == "argparse.Namespace"
    assert loaded.state == {"lr": 0.1}


def test_bytes_cannot_allocate_from_a_count() -> None:
    data = whole(
        global_ref("builtins", "bytes")
        + pickle.MARK
        + pickle.BININT
        + struct.pack("<i", 2**30)
        + pickle.TUPLE
        + pickle.REDUCE
    )
    with pytest.raises(CheckpointError, match="bytes"):
        safe_loads(data, source="x")


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "pickle exhausted before seeing STOP"),
        (b"\x80\x02]q\x00(K\x01", "pickle exhausted before seeing STOP"),
        (b"\x80\x04\x8d" + struct.pack("<Q", 2**40) + b"ab.", "expected 1099511627776 bytes"),
        (b"\x80\x04\x8e" + struct.pack("<Q", 2**40) + b"ab.", "expected 1099511627776 bytes"),
        (b"\x80\x02]r" + struct.pack("<I", 2**32 - 1) + b".", "memo index 4294967295"),
        (b"\x80\x04\x95" + struct.pack("<Q", 2**40) + b"N.", "frame of 1099511627776 bytes"),
        (b"\x80\x02\xff.", "opcode b'\\\\xff' unknown"),
        (b"\x80\x02\x82\x01.", "opcode EXT1 is not supported"),
        (b"\x80\x02h\x05.", "Memo value not found at index 5"),
    ],
)
def test_malformed_pickles_give_one_clean_error(data: bytes, message: str) -> None:
    with pytest.raises(CheckpointError, match=message) as caught:
        safe_loads(data, source="bad.pt")
    assert str(caught.value).startswith("cannot read 'bad.pt': malformed pickle (")
    assert "\n" not in str(caught.value)


def long_integer(value: int, length: int | None = None) -> bytes:
    """``value`` as LONG1 (or LONG4 past 255 bytes), ``length`` bytes long."""
    size = length or (value.bit_length() + 8) // 8
    encoded = value.to_bytes(size, "little", signed=True)
    if size < 256:
        return pickle.LONG1 + bytes([size]) + encoded
    return pickle.LONG4 + struct.pack("<i", size) + encoded


@pytest.mark.parametrize(
    ("data", "size", "position"),
    [
        (whole(long_integer(10**400)), "167 bytes", 2),
        (whole(long_integer(-(10**5000))), "2077 bytes", 2),
        (whole(long_integer(1, length=18)), "18 bytes", 2),
        (b"(I" + b"9" * 41 + b"\nl.", "41 digits", 1),
        (b"L-1" + b"0" * 400 + b"L\n.", "401 digits", 0),
        (b"I" + b"7" * 5000 + b"\n.", "more than 4300 digits", None),
    ],
)
def test_integers_too_long_to_use_are_refused_before_loading(
    data: bytes, size: str, position: int | None
) -> None:
    with pytest.raises(CheckpointError) as caught:
        safe_loads(data, source="big.pt")
    where = "" if position is None else f" at byte {position}"
    assert str(caught.value) == (
        f"cannot read 'big.pt': its pickle holds an integer of {size}{where}, more than the "
        "limit of 17 bytes (40 digits)"
    )


@pytest.mark.parametrize("value", [2**128 - 1, -(2**128), 10**40 - 1, -(10**40) + 1])
def test_integers_up_to_128_bits_and_40_digits_load(value: int) -> None:
    assert safe_loads(whole(long_integer(value))) == value
    assert safe_loads(pickle.dumps(value, protocol=0)) == value


def test_deep_nesting_is_refused_without_recursion_error() -> None:
    depth = 100_000
    data = b"\x80\x02" + b"]" * depth + b"a" * (depth - 1) + b"."
    with pytest.raises(CheckpointError, match=f"nest deeper than {MAX_NESTING_DEPTH} levels"):
        safe_loads(data, source="deep.pt")


def test_nesting_within_the_limit_loads() -> None:
    value: list[Any] = []
    for _ in range(MAX_NESTING_DEPTH - 1):
        value = [value]
    assert safe_loads(pickle.dumps(value, protocol=2)) == value


def test_shared_and_cyclic_references_load() -> None:
    shared = [1]
    cyclic: list[Any] = [shared, shared]
    cyclic.append(cyclic)
    loaded = safe_loads(pickle.dumps(cyclic, protocol=2))
    assert isinstance(loaded, list)
    assert loaded[0] is loaded[1]
    assert loaded[2] is loaded


plain_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(10**40) + 1, 10**40 - 1)
    | st.floats(allow_nan=False)
    | st.text(),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=5), children, max_size=4)
    ),
    max_leaves=20,
)


@given(value=plain_values, protocol=st.integers(min_value=0, max_value=5))
def test_plain_data_round_trips_at_every_protocol(value: object, protocol: int) -> None:
    assert safe_loads(pickle.dumps(value, protocol=protocol)) == value


@given(data=st.binary(max_size=200))
def test_arbitrary_bytes_never_escape_as_other_errors(data: bytes) -> None:
    with contextlib.suppress(CheckpointError):
        safe_loads(data)


def test_pickle_stream_cuts_consecutive_pickles() -> None:
    stream = PickleStream(io.BytesIO(pickle.dumps(1) + pickle.dumps("two") + b"rest"), source="s")
    assert safe_loads(stream.next_pickle()) == 1
    assert safe_loads(stream.next_pickle()) == "two"
    with pytest.raises(CheckpointError, match="cannot read 's': malformed pickle"):
        stream.next_pickle()


def test_pickle_stream_refuses_pickles_over_the_limit() -> None:
    data = pickle.dumps("x" * 1000, protocol=2)
    with pytest.raises(
        CheckpointError, match="declares a field of 1000 bytes, more than the limit of 100"
    ):
        PickleStream(io.BytesIO(data), source="s", limit=100).next_pickle()
    many = pickle.dumps(list(range(200)), protocol=2)
    with pytest.raises(CheckpointError, match="longer than the limit of 100 bytes"):
        PickleStream(io.BytesIO(many), source="s", limit=100).next_pickle()


# -- bounds on the work of a load (issue 12) ----------------------------------------------


def put(index: int) -> bytes:
    return pickle.LONG_BINPUT + struct.pack("<I", index)


def get(index: int) -> bytes:
    return pickle.LONG_BINGET + struct.pack("<I", index)


def flat_tuple(items: int) -> bytes:
    """A tuple of ``items`` small ints: hashing it visits ``items + 1`` elements."""
    return pickle.MARK + pickle.BININT1 + b"\x07" + pickle.DUP * (items - 1) + pickle.TUPLE


def tuple_dag(depth: int) -> bytes:
    """``t(i+1) = (t(i), t(i))``: ``2**(depth + 1) - 1`` elements to hash, 8 bytes a level."""
    body = pickle.EMPTY_TUPLE + put(0) + pickle.POP
    for index in range(depth):
        body += get(index) + get(index) + pickle.TUPLE2 + put(index + 1) + pickle.POP
    return body + get(depth)


def called(module: str, name: str, argument: bytes) -> bytes:
    return whole(global_ref(module, name) + argument + pickle.TUPLE1 + pickle.REDUCE)


def in_list(item: bytes) -> bytes:
    return pickle.EMPTY_LIST + item + pickle.APPEND


HASHING_SITES = {
    "SETITEM key": lambda key: whole(pickle.EMPTY_DICT + key + pickle.NONE + pickle.SETITEM),
    "DICT key": lambda key: whole(pickle.MARK + key + pickle.NONE + pickle.DICT),
    "FROZENSET member": lambda key: b"\x80\x04" + pickle.MARK + key + pickle.FROZENSET + b".",
    "ADDITEMS member": lambda key: b"\x80\x04" + pickle.EMPTY_SET + pickle.MARK + key
    + pickle.ADDITEMS + b".",
    "set() member": lambda key: called("builtins", "set", in_list(key)),
    "frozenset() member": lambda key: called("builtins", "frozenset", in_list(key)),
    "Counter key": lambda key: called("collections", "Counter", in_list(key)),
}  # fmt: skip


@pytest.mark.parametrize("site", HASHING_SITES)
@pytest.mark.parametrize(
    ("key", "cost"),
    [(flat_tuple(1000), 1001), (tuple_dag(60), 2**61 - 1), (tuple_dag(9), 1023)],
)
def test_keys_too_costly_to_hash_are_refused_before_anything_hashes_them(
    site: str, key: bytes, cost: int
) -> None:
    with pytest.raises(CheckpointError) as caught:
        safe_loads(HASHING_SITES[site](key), source="hash.pt")
    assert str(caught.value) == (
        f"cannot read 'hash.pt': its pickle hashes a key of {cost} elements, more than the "
        "limit of 1000"
    )


@pytest.mark.parametrize("site", HASHING_SITES)
def test_keys_up_to_the_hashing_limit_load(site: str) -> None:
    loaded = safe_loads(HASHING_SITES[site](flat_tuple(999)))
    assert isinstance(loaded, dict | set | frozenset)
    assert (7,) * 999 in loaded


def test_an_ordered_dict_counts_the_pairs_it_hashes_keys_from() -> None:
    pair = flat_tuple(997) + pickle.NONE + pickle.TUPLE2  # 1 + 998 + 1 elements
    loaded = safe_loads(called("collections", "OrderedDict", in_list(pair)))
    assert loaded == {(7,) * 997: None}
    too_many = flat_tuple(998) + pickle.NONE + pickle.TUPLE2
    with pytest.raises(CheckpointError, match="hashes a key of 1001 elements"):
        safe_loads(called("collections", "OrderedDict", in_list(too_many)))


@pytest.mark.parametrize(
    "data",
    [
        whole(pickle.EMPTY_DICT + pickle.EMPTY_TUPLE + pickle.TUPLE1 * 200_000 + b"Ns"),
        b"\x80\x04(" + pickle.EMPTY_TUPLE + pickle.TUPLE1 * 200_000 + pickle.FROZENSET + b".",
        called("builtins", "set", in_list(pickle.EMPTY_TUPLE + pickle.TUPLE1 * 200_000)),
        whole(pickle.EMPTY_TUPLE + pickle.TUPLE1 * 201),
    ],
    ids=["dict key", "frozenset", "set call", "201 deep"],
)
def test_deep_tuples_are_refused_as_they_are_built(data: bytes) -> None:
    with pytest.raises(CheckpointError) as caught:
        safe_loads(data, source="deep.pt")
    assert str(caught.value) == "cannot read 'deep.pt': containers nest deeper than 200 levels"


def test_a_tuple_at_the_nesting_limit_is_a_key() -> None:
    key = pickle.EMPTY_TUPLE + pickle.TUPLE1 * 199  # 199 tuples around (): 199 levels
    loaded = safe_loads(whole(pickle.EMPTY_DICT + key + pickle.NONE + pickle.SETITEM))
    assert isinstance(loaded, dict)
    assert len(loaded) == 1


@pytest.mark.parametrize(
    ("data", "action"),
    [
        (
            whole(pickle.EMPTY_LIST + put(0) + pickle.MARK + get(0) + pickle.DUP * 500_000 + b"l"),
            "load",
        ),
        (whole(b"N0" * 250_001), "load"),
        (
            whole(pickle.EMPTY_LIST + put(0) + pickle.POP + pickle.MARK + get(0) * 250_000 + b"l"),
            "load",
        ),
    ],
    ids=["references", "opcodes", "memo gets"],
)
def test_loads_beyond_the_work_limit_are_refused(data: bytes, action: str) -> None:
    with pytest.raises(CheckpointError) as caught:
        safe_loads(data, source="big.pt")
    assert str(caught.value) == (
        f"cannot read 'big.pt': its pickle takes more than 500000 steps to {action}, the limit"
    )


def test_iterating_a_shared_argument_again_and_again_is_paid_for() -> None:
    # bytes(list) of the same 100,000-item list, five times over: 500,000 items iterated.
    body = pickle.EMPTY_LIST + put(0) + pickle.MARK + pickle.BININT1 + b"\x01"
    body += pickle.DUP * 99_999 + pickle.APPENDS + pickle.TUPLE1 + put(1) + pickle.POP
    body += pickle.EMPTY_LIST + pickle.MARK
    body += (global_ref("builtins", "bytes") + get(1) + pickle.REDUCE) * 5 + pickle.APPENDS
    with pytest.raises(CheckpointError, match="more than 500000 steps to load"):
        safe_loads(whole(body))


def list_dag(depth: int) -> bytes:
    body = pickle.EMPTY_LIST + put(0) + pickle.POP
    for index in range(depth):
        body += pickle.EMPTY_LIST + pickle.MARK + get(index) + get(index) + pickle.APPENDS
        body += put(index + 1) + pickle.POP
    return body + get(depth)


DAG_SHOWN = "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[], []], [[], []]], ... (list of 2 items)"


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (whole(list_dag(40) + pickle.BINPERSID), f"unsupported persistent id {DAG_SHOWN}"),
        (
            called("torch", "device", list_dag(40)),
            f"torch.device arguments must be (str, int), got ({DAG_SHOWN[:59]}... "
            "(tuple of 2 items)",
        ),
        (
            whole(
                global_ref("torch._utils", "_rebuild_tensor_v2")
                + pickle.MARK
                + storage_pid("0")
                + pickle.BININT1
                + b"\x00"
                + list_dag(40)
                + pickle.EMPTY_TUPLE
                + pickle.TUPLE
                + pickle.REDUCE
            ),
            f"tensor size must be a tuple of ints, got {DAG_SHOWN}",
        ),
    ],
    ids=["persistent id", "torch.device", "tensor size"],
)
def test_messages_describe_hostile_values_in_bounded_space(data: bytes, message: str) -> None:
    with pytest.raises(CheckpointError) as caught:
        safe_loads(data, source="repr.pt")
    assert str(caught.value) == f"cannot read 'repr.pt': malformed pickle ({message})"


@given(
    values=st.lists(plain_values, min_size=1, max_size=3),
    protocol=st.integers(min_value=0, max_value=5),
)
def test_pickle_stream_cuts_exactly_the_pickles_written(
    values: list[object], protocol: int
) -> None:
    pickles = [pickle.dumps(value, protocol=protocol) for value in values]
    stream = PickleStream(io.BytesIO(b"".join(pickles) + b"tensor bytes"), source="s")
    assert [stream.next_pickle() for _ in pickles] == pickles


def test_pickle_stream_cuts_long_fields_and_text_lines() -> None:
    long_text = pickle.dumps("x" * 3_000_000, protocol=0)  # one UNICODE line of 3 MB
    long_bytes = pickle.dumps(b"y" * 3_000_000, protocol=3)  # one BINBYTES of 3 MB
    stream = PickleStream(io.BytesIO(long_text + long_bytes), source="s")
    assert stream.next_pickle() == long_text
    assert stream.next_pickle() == long_bytes


def test_pickle_stream_refuses_pickles_of_too_many_opcodes() -> None:
    stream = PickleStream(io.BytesIO(whole(b"N0" * 250_001)), source="s")
    with pytest.raises(CheckpointError) as caught:
        stream.next_pickle()
    assert str(caught.value) == (
        "cannot read 's': its pickle takes more than 500000 steps to read, the limit"
    )


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"\x80\x02a.", "unpickling stack underflow"),
        (b"\x80\x02(K\x01d.", "odd number of items for DICT"),
        (b"\x80\x02}(K\x01u.", "odd number of items for SETITEMS"),
        (b"\x80\x04K\x01K\x02\x93.", "STACK_GLOBAL needs two short strings"),
        (b"\x80\x02(o.", "OBJ without a class"),
        (b"\x80\x02T\xff\xff\xff\xff.", "string4 byte count < 0: -1"),
        (b"Pfoo\n.", "unsupported persistent id 'foo'"),
    ],
)
def test_malformed_stacks_and_fields_are_refused_by_name(data: bytes, reason: str) -> None:
    with pytest.raises(CheckpointError) as caught:
        safe_loads(data, source="bad.pt")
    assert str(caught.value) == f"cannot read 'bad.pt': malformed pickle ({reason})"


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (b"(c__builtin__\nset\no.", set()),
        (b"(i__builtin__\nset\n.", set()),
        (b"\x80\x04cbuiltins\nfrozenset\n)}\x92.", frozenset()),
        (pickle.dumps("x" * 300, protocol=4), "x" * 300),
    ],
    ids=["OBJ", "INST", "NEWOBJ_EX", "long string"],
)
def test_every_way_of_calling_an_allowlisted_type_loads(data: bytes, expected: object) -> None:
    assert safe_loads(data) == expected


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"\xff", "at position 0, opcode b'\\\\xff' unknown"),
        (b"\x80\x02T\xff\xff\xff\xff.", "string4 byte count < 0: -1"),
    ],
)
def test_pickle_stream_refuses_malformed_opcodes(data: bytes, reason: str) -> None:
    with pytest.raises(CheckpointError, match=reason):
        PickleStream(io.BytesIO(data), source="s").next_pickle()


def test_bytes_up_to_the_copy_budget_load_once_and_copies_of_them_are_paid_for() -> None:
    blob = "\xff" * 4_000_000  # protocol 2 writes bytes as _codecs.encode(str, "latin1")
    encode = global_ref("_codecs", "encode") + text(blob) + put(0)
    encode += text("latin1") + put(1) + pickle.TUPLE2 + pickle.REDUCE
    assert safe_loads(whole(encode)) == b"\xff" * 4_000_000
    again = global_ref("_codecs", "encode") + get(0) + get(1) + pickle.TUPLE2 + pickle.REDUCE
    copies = pickle.EMPTY_LIST + pickle.MARK + encode + again * 16 + pickle.APPENDS
    with pytest.raises(CheckpointError, match="more than 500000 steps to load"):
        safe_loads(whole(copies))
