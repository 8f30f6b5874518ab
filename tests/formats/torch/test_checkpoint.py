"""Tests for formats/torch/container.py and search.py, on fixtures recorded with real torch.

The fixtures under tests/data/ are committed with the scripts that made them
(tests/fixtures/make_torch_checkpoints.py, make_hostile_pickles.py); these tests need
no torch, except the one marked ``torch``.
"""

from __future__ import annotations

import json
import struct
import zipfile
import zlib
from pathlib import Path
from typing import Any

import pytest

from stepsched_cli.formats.checkpoint_errors import CheckpointError, UnsafeCheckpointError
from stepsched_cli.formats.sandbox.allowlist import PickledCounter, TensorStub
from stepsched_cli.formats.torch.container import (
    MAX_INFLATION_RATIO,
    UNBOUNDED_INFLATION_BYTES,
    load_checkpoint,
)
from stepsched_cli.formats.torch.search import (
    FoundGroups,
    find_optimizer_param_groups,
    find_scheduler_states,
    format_key_path,
)

DATA = Path(__file__).resolve().parents[2] / "data"
CHECKPOINTS = DATA / "checkpoints"
HOSTILE = DATA / "hostile"
EXPECTED: dict[str, Any] = json.loads((CHECKPOINTS / "expected.json").read_text())["files"]
MANIFEST: dict[str, Any] = json.loads((HOSTILE / "manifest.json").read_text())
TORCH_FILES = sorted(name for name, facts in EXPECTED.items() if facts["layout"] != "json")


def scheduler_facts(path: tuple[str | int, ...], state: dict[str, Any]) -> dict[str, Any]:
    """The same facts make_torch_checkpoints.py records, computed from what we read."""
    facts: dict[str, Any] = {
        "path": list(path),
        "last_epoch": state["last_epoch"],
        "base_lrs": state["base_lrs"],
        "_last_lr": state["_last_lr"],
        "gamma": state["gamma"],
    }
    if "step_size" in state:
        facts["step_size"] = state["step_size"]
    if "milestones" in state:
        facts["milestones"] = {str(k): v for k, v in sorted(state["milestones"].items())}
    return facts


@pytest.mark.parametrize("name", TORCH_FILES)
def test_scheduler_states_match_what_torch_saved(name: str) -> None:
    checkpoint = load_checkpoint(CHECKPOINTS / name)
    found = find_scheduler_states(checkpoint)
    assert [scheduler_facts(f.path, f.state) for f in found] == EXPECTED[name]["schedulers"]


@pytest.mark.parametrize("name", TORCH_FILES)
def test_optimizer_groups_match_what_torch_saved(name: str) -> None:
    found = find_optimizer_param_groups(load_checkpoint(CHECKPOINTS / name))
    facts = [
        {
            "path": list(f.path),
            "lrs": f.lrs,
            "initial_lrs": [group.get("initial_lr") for group in f.param_groups],
        }
        for f in found
    ]
    assert facts == EXPECTED[name]["optimizers"]


@pytest.mark.parametrize("name", ["steplr_state.json", "multisteplr_state.json"])
def test_json_state_dicts_are_recognised_at_the_top(name: str) -> None:
    state = json.loads((CHECKPOINTS / name).read_text())
    found = find_scheduler_states(state)
    assert [scheduler_facts(f.path, f.state) for f in found] == EXPECTED[name]["schedulers"]


def test_milestones_keep_their_counter_and_repeats() -> None:
    (found,) = find_scheduler_states(load_checkpoint(CHECKPOINTS / "multistep.pt"))
    assert isinstance(found.state["milestones"], PickledCounter)
    assert found.state["milestones"] == {30: 2, 80: 1}


def test_tensors_are_stubs_and_a_scalar_says_its_value_is_unknown() -> None:
    checkpoint = load_checkpoint(CHECKPOINTS / "zip_steplr.pt")
    assert isinstance(checkpoint, dict)
    weight = checkpoint["model"]["weight"]
    assert weight == TensorStub((1, 2), (2, 1), "float32", "0", 0, "cpu")
    best = checkpoint["best_loss"]
    assert isinstance(best, TensorStub)
    assert best.is_scalar
    assert "value unknown" in repr(best)
    assert checkpoint["model"]._metadata[""]["version"] == 1


def test_lightning_hyper_parameters_are_an_inert_record() -> None:
    checkpoint = load_checkpoint(CHECKPOINTS / "lightning.ckpt")
    assert isinstance(checkpoint, dict)
    hparams = checkpoint["hyper_parameters"]
    assert hparams.type_name == "argparse.Namespace"
    assert hparams.state == {"lr": 0.1, "step_size": 100}


def test_resume_mismatch_is_visible_in_the_facts() -> None:
    checkpoint = load_checkpoint(CHECKPOINTS / "resume_mismatch.pt")
    (scheduler,) = find_scheduler_states(checkpoint)
    (groups,) = find_optimizer_param_groups(checkpoint)
    assert scheduler.state["_last_lr"] == [0.00010000000000000003]
    assert groups.lrs == [0.1]
    assert "initial_lr" not in groups.param_groups[0]


@pytest.mark.parametrize(
    ("path", "rendered"),
    [
        ((), "(top level)"),
        (("lr_scheduler",), "lr_scheduler"),
        (("lr_schedulers", 0), "lr_schedulers[0]"),
        (("state", "training", "scheduler_state_dict"), "state.training.scheduler_state_dict"),
        (("callbacks", "lr-monitor", 1), "callbacks['lr-monitor'][1]"),
        ((0, "sched"), "[0].sched"),
    ],
)
def test_format_key_path(path: tuple[str | int, ...], rendered: str) -> None:
    assert format_key_path(path) == rendered


def test_common_keys_come_first_then_file_order() -> None:
    state = {"last_epoch": 1, "base_lrs": [0.1], "gamma": 0.5}
    checkpoint = {
        "extras": {"old": dict(state)},
        "zzz": [dict(state)],
        "training": {"lr_sched": dict(state)},
        "lr_schedulers": [dict(state), dict(state)],
    }
    paths = [found.path for found in find_scheduler_states(checkpoint)]
    assert paths == [
        ("training", "lr_sched"),
        ("lr_schedulers", 0),
        ("lr_schedulers", 1),
        ("extras", "old"),
        ("zzz", 0),
    ]


def test_search_survives_cycles_and_deep_structures() -> None:
    cyclic: dict[str, Any] = {"sched": {"last_epoch": 2, "base_lrs": [1.0], "_last_lr": [1.0]}}
    cyclic["self"] = cyclic
    deep: Any = cyclic
    for _ in range(10_000):
        deep = [deep]
    assert [found.path for found in find_scheduler_states(cyclic)] == [("sched",)]
    assert find_scheduler_states(deep) == []


def test_lookalikes_are_not_scheduler_states() -> None:
    assert find_scheduler_states({"last_epoch": True, "base_lrs": [0.1], "gamma": 1}) == []
    assert find_scheduler_states({"last_epoch": 1, "base_lrs": ["x"], "gamma": 1}) == []
    assert find_scheduler_states({"last_epoch": 1, "base_lrs": [0.1]}) == []
    assert find_optimizer_param_groups({"state": {}, "param_groups": [{"lr": 1}]}) == []
    assert find_optimizer_param_groups(
        {"state": {}, "param_groups": [{"lr": 1, "params": []}]}
    ) == [FoundGroups((), [{"lr": 1, "params": []}])]


UNSAFE = [entry for entry in MANIFEST["files"] if entry["kind"] == "unsafe"]
MALFORMED = [entry["file"] for entry in MANIFEST["files"] if entry["kind"] == "malformed"]


@pytest.mark.parametrize("entry", UNSAFE, ids=[entry["file"] for entry in UNSAFE])
def test_hostile_checkpoints_are_refused_naming_the_global(entry: dict[str, Any]) -> None:
    marker = Path(MANIFEST["header"]["marker_prefix"] + entry["file"])
    marker.unlink(missing_ok=True)
    path = HOSTILE / entry["file"]
    with pytest.raises(UnsafeCheckpointError) as caught:
        load_checkpoint(path)
    assert str(caught.value) == (
        f"refusing to load {str(path)!r}: its pickle references {entry['global']}, "
        "which is not on the allowlist of inert types"
    )
    assert not marker.exists()


@pytest.mark.parametrize("name", MALFORMED)
def test_malformed_files_give_one_clean_checkpoint_error(name: str) -> None:
    path = HOSTILE / name
    with pytest.raises(CheckpointError) as caught:
        load_checkpoint(path)
    assert not isinstance(caught.value, UnsafeCheckpointError)
    message = str(caught.value)
    assert message.startswith(f"cannot read {str(path)!r}: ")
    assert "\n" not in message


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("empty.pt", "the file is empty"),
        ("not_a_zip.pt", "broken zip archive"),
        ("zip_without_data_pkl.pt", "no <prefix>/data.pkl member"),
        ("zip_bomb_data_pkl.pt", "declares 268435456 bytes, more than the limit of 67108864"),
        ("zip_bomb_lying_header.pt", "Bad CRC-32"),
        ("deep_nesting.pt", "nest deeper than 200 levels"),
        ("huge_length_legacy.pt", "declares a field of 1099511627776 bytes"),
        ("plain_pickle.pkl", "not a torch checkpoint"),
    ],
)
def test_malformed_reasons(name: str, reason: str) -> None:
    with pytest.raises(CheckpointError, match=reason.replace(".", r"\.").replace("<", ".")):
        load_checkpoint(HOSTILE / name)


def test_storage_bomb_loads_without_inflating_storage() -> None:
    found = find_scheduler_states(load_checkpoint(HOSTILE / "zip_bomb_storage.pt"))
    assert [f.path for f in found] == [("lr_scheduler",)]


def zip_with_members(count: int, *, declared: int | None = None, zip64: bool = False) -> bytes:
    """A stored zip of archive/data.pkl plus ``count - 1`` members named 0000001, ..., by hand.

    ``declared`` is the member count its end records claim (``count`` by default).
    """
    data = b"\x80\x02}q\x00."
    crc = zlib.crc32(data)
    sizes = struct.pack("<3L", crc, len(data), len(data))
    name = b"archive/data.pkl"
    local = b"PK\x03\x04" + struct.pack("<5H", 20, 0, 0, 0, 0) + sizes
    local += struct.pack("<2H", len(name), 0) + name + data

    def member(member_name: bytes) -> bytes:
        header = struct.pack("<6H", 20, 20, 0, 0, 0, 0) + sizes
        header += struct.pack("<5H2L", len(member_name), 0, 0, 0, 0, 0, 0)
        return b"PK\x01\x02" + header + member_name

    directory = member(name) + b"".join(member(b"%07d" % index) for index in range(1, count))
    claimed = count if declared is None else declared
    end = b""
    if zip64:
        end_position = len(local) + len(directory)
        end += b"PK\x06\x06" + struct.pack(
            "<Q2H2L4Q", 44, 45, 45, 0, 0, claimed, claimed, len(directory), len(local)
        )
        end += b"PK\x06\x07" + struct.pack("<LQL", 0, end_position, 1)
        claimed = 0xFFFF
    end += b"PK\x05\x06" + struct.pack(
        "<4H2LH", 0, 0, claimed, claimed, len(directory), len(local), 0
    )
    return local + directory + end


@pytest.mark.parametrize(
    ("count", "declared", "zip64", "shown"),
    [
        (100_001, None, True, "100001"),
        (100_001, 1, False, "100001 or more"),
        (2, 2_200_000, True, "2200000"),
    ],
)
def test_zip_with_too_many_members_is_refused_before_listing_them(
    tmp_path: Path, count: int, declared: int | None, zip64: bool, shown: str
) -> None:
    path = tmp_path / "many.pt"
    path.write_bytes(zip_with_members(count, declared=declared, zip64=zip64))
    with pytest.raises(CheckpointError) as caught:
        load_checkpoint(path)
    assert str(caught.value) == (
        f"cannot read {str(path)!r}: its zip archive has {shown} members, more than the "
        "limit of 100000 (a torch checkpoint has one per tensor storage)"
    )


def test_zip_central_directory_over_16_mib_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "big_directory.pt"
    path.write_bytes(zip_with_members(400_000, declared=1))
    with pytest.raises(CheckpointError) as caught:
        load_checkpoint(path)
    assert str(caught.value) == (
        f"cannot read {str(path)!r}: its zip central directory is 21200009 bytes, more than "
        "the limit of 16777216 (a torch checkpoint has few members)"
    )


@pytest.mark.parametrize(("count", "zip64"), [(65_535, False), (100_000, True)])
def test_zip_with_the_most_members_allowed_loads(tmp_path: Path, count: int, zip64: bool) -> None:
    path = tmp_path / "most.pt"
    path.write_bytes(zip_with_members(count, zip64=zip64))
    assert load_checkpoint(path) == {}


def test_missing_file_names_it(tmp_path: Path) -> None:
    missing = tmp_path / "nope.pt"
    with pytest.raises(CheckpointError, match=r"cannot read '.*nope\.pt': No such file"):
        load_checkpoint(missing)


def write_sparse_zip(path: Path, members: list[tuple[str, bytes | int]]) -> None:
    """Write a stored zip; an int member is that many bytes left as a hole in the file.

    Holes are never written, so a multi-GB member costs no disk and no time.  Their CRC
    is left 0, so any reader that did open one would fail.
    """
    central = b""
    with path.open("wb") as handle:
        for name, content in members:
            offset = handle.tell()
            size = content if isinstance(content, int) else len(content)
            crc = 0 if isinstance(content, int) else zlib.crc32(content)
            encoded = name.encode()
            handle.write(
                struct.pack(
                    "<IHHHHHIIIHH", 0x04034B50, 20, 0, 0, 0, 0x21, crc, size, size, len(encoded), 0
                )
                + encoded
            )
            if isinstance(content, int):
                handle.seek(content, 1)
            else:
                handle.write(content)
            central += (
                struct.pack(
                    "<IHHHHHHIIIHHHHHII",
                    0x02014B50,
                    20,
                    20,
                    0,
                    0,
                    0,
                    0x21,
                    crc,
                    size,
                    size,
                    len(encoded),
                    0,
                    0,
                    0,
                    0,
                    0,
                    offset,
                )
                + encoded
            )
        start = handle.tell()
        handle.write(central)
        handle.write(
            struct.pack(
                "<IHHHHIIH", 0x06054B50, 0, 0, len(members), len(members), len(central), start, 0
            )
        )


def test_multi_gigabyte_checkpoint_reads_only_data_pkl(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with zipfile.ZipFile(CHECKPOINTS / "zip_steplr.pt") as archive:
        data_pkl = archive.read("zip_steplr/data.pkl")
    big = tmp_path / "big.pt"
    three_gib = 3 * 1024**3
    write_sparse_zip(
        big,
        [
            ("big/data.pkl", data_pkl),
            ("big/data/0", three_gib),
            ("big/data/1", 4),
            ("big/data/2", 4),
            ("big/version", b"3\n"),
        ],
    )
    assert big.stat().st_size > three_gib
    opened: list[str] = []
    original_open = zipfile.ZipFile.open

    def recording_open(self: zipfile.ZipFile, name: Any, *args: Any, **kwargs: Any) -> Any:
        opened.append(name.filename if isinstance(name, zipfile.ZipInfo) else name)
        return original_open(self, name, *args, **kwargs)

    monkeypatch.setattr(zipfile.ZipFile, "open", recording_open)
    found = find_scheduler_states(load_checkpoint(big))
    assert [f.state["last_epoch"] for f in found] == [75]
    assert opened == ["big/data.pkl"]


def test_multi_gigabyte_legacy_checkpoint_reads_only_its_pickles(tmp_path: Path) -> None:
    big = tmp_path / "big_legacy.pt"
    with big.open("wb") as handle:
        handle.write((CHECKPOINTS / "legacy_steplr.pt").read_bytes())
        handle.seek(3 * 1024**3, 1)
        handle.write(b"\0")

    class CountingReads:
        total = 0

    original_open = open

    def counting_open(*args: Any, **kwargs: Any) -> Any:
        handle = original_open(*args, **kwargs)
        read = handle.read

        def counted(size: int = -1) -> bytes:
            chunk: bytes = read(size)
            CountingReads.total += len(chunk)
            return chunk

        handle.read = counted
        return handle

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr("builtins.open", counting_open)
        found = find_scheduler_states(load_checkpoint(big))
    assert [f.state["last_epoch"] for f in found] == [20]
    assert CountingReads.total < 1024 * 1024


@pytest.mark.torch
@pytest.mark.parametrize("name", TORCH_FILES)
def test_reader_agrees_with_torch_load(name: str) -> None:
    import argparse

    torch = pytest.importorskip("torch")
    with torch.serialization.safe_globals([argparse.Namespace]):
        reference = torch.load(CHECKPOINTS / name, weights_only=True)
    ours = load_checkpoint(CHECKPOINTS / name)

    def same(left: Any, right: Any) -> bool:
        if isinstance(right, torch.Tensor):
            return (
                isinstance(left, TensorStub)
                and left.shape == tuple(right.shape)
                and left.dtype == str(right.dtype).removeprefix("torch.")
            )
        if isinstance(right, argparse.Namespace):
            return bool(left.state == vars(right))
        if isinstance(right, dict):
            return (
                isinstance(left, dict)
                and list(left) == list(right)
                and all(same(left[key], right[key]) for key in right)
            )
        if isinstance(right, list | tuple):
            return (
                type(left) is type(right)
                and len(left) == len(right)
                and all(map(same, left, right))
            )
        return bool(left == right) and type(left) is type(right)

    assert same(ours, reference)


def deflated_checkpoint(path: Path, payload: bytes) -> int:
    """Write ``payload`` as a deflated ``archive/data.pkl``; its compressed size."""
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("archive/data.pkl", payload)
        archive.writestr("archive/version", "3\n")
        return archive.getinfo("archive/data.pkl").compress_size


def padded_pickle(size: int) -> bytes:
    """A pickle of exactly ``size`` bytes loading to ``{}``: a string of filler, popped."""
    filler = size - 10
    return b"\x80\x02}X" + struct.pack("<I", filler) + b"a" * filler + b"0."


@pytest.mark.parametrize(
    ("inflated", "refused"),
    [
        (UNBOUNDED_INFLATION_BYTES, False),  # any ratio up to 1 MiB
        (UNBOUNDED_INFLATION_BYTES + 1, True),  # over 1 MiB from a few KB: a bomb
    ],
)
def test_a_deflated_data_pkl_inflates_at_most_a_hundredfold(
    tmp_path: Path, inflated: int, refused: bool
) -> None:
    path = tmp_path / "deflated.pt"
    compressed = deflated_checkpoint(path, padded_pickle(inflated))
    assert MAX_INFLATION_RATIO * compressed < UNBOUNDED_INFLATION_BYTES
    if not refused:
        assert load_checkpoint(path) == {}
        return
    with pytest.raises(CheckpointError) as caught:
        load_checkpoint(path)
    assert str(caught.value) == (
        f"cannot read {str(path)!r}: archive/data.pkl inflates to more than 100 times its "
        f"{compressed} compressed bytes (a zip bomb; torch.save stores it uncompressed)"
    )


def test_a_real_deflated_checkpoint_is_far_inside_the_ratio(tmp_path: Path) -> None:
    """A re-zipped checkpoint compresses a few times; it loads whatever its size."""
    state = b"".join(b"X\x17\x00\x00\x00layer%05d.conv1.weight" % index for index in range(40_000))
    payload = b"\x80\x02]q\x00(" + state + b"e."
    path = tmp_path / "rezipped.pt"
    compressed = deflated_checkpoint(path, payload)
    assert len(payload) > UNBOUNDED_INFLATION_BYTES
    assert len(payload) < MAX_INFLATION_RATIO * compressed
    loaded = load_checkpoint(path)
    assert isinstance(loaded, list)
    assert len(loaded) == 40_000
    assert loaded[39_999] == "layer39999.conv1.weight"
