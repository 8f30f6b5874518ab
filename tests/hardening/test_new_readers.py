"""Hostile inputs to the readers of issue 18 (flax msgpack, ChainedScheduler), run by
the installed command under the hardening limits.

Each input is built by hand here (no framework): a flax file whose counters sit under
a deep chain of long keys, counters with escape codes in their keys or a negative count,
and torch ChainedScheduler states with thousands of members or milestones.  Every
answer must stay short (one line for a refusal, a bounded description for a reading)
and come within the time limit.
"""

from __future__ import annotations

import json
import os
import pickle
import struct
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

Capped = Callable[..., subprocess.CompletedProcess[str]]  # conftest.py's fixture
LONGEST_MESSAGE = 400

_TORCH_MAGIC = 0x1950A86A20F9469CFC6C


def _text(text: str) -> bytes:
    raw = text.encode()
    if len(raw) < 32:
        return bytes([0xA0 | len(raw)]) + raw
    if len(raw) < 1 << 16:
        return b"\xda" + struct.pack(">H", len(raw)) + raw
    return b"\xdb" + struct.pack(">I", len(raw)) + raw


def _map(size: int) -> bytes:
    return bytes([0x80 | size]) if size < 16 else b"\xdf" + struct.pack(">I", size)


def _count(number: int) -> bytes:
    """A 0-d int64 flax array (msgpack extension type 1)."""
    payload = b"\x93\x90" + _text("int64") + b"\xc4\x08" + struct.pack("<q", number)
    return b"\xc7" + bytes([len(payload), 1]) + payload


def _deep_wide(depth: int, key_length: int, width: int) -> bytes:
    """``depth`` nested maps under keys of ``key_length`` characters, then ``width``
    leaves: a where-string per node would copy megabytes ``width`` times."""
    data = b"".join(_map(1) + _text("k" * key_length + str(level)) for level in range(depth))
    leaves = b"".join(_text(f"c{index}") + b"\x01" for index in range(width))
    return data + _map(width) + leaves


def _torch_legacy(obj: object, path: Path) -> None:
    """``obj`` as a legacy ``torch.save`` stream (magic, version, sys info, object, keys)."""
    with path.open("wb") as handle:
        for part in (_TORCH_MAGIC, 1001, {"protocol_version": 1001}, obj, []):
            pickle.dump(part, handle, protocol=2)


def _step(last_epoch: int = 0) -> dict[str, object]:
    return {"step_size": 10, "gamma": 0.5, "base_lrs": [0.1], "last_epoch": last_epoch}


def test_flax_counters_under_a_deep_tree_of_long_keys_are_found_in_bounded_time(
    capped: Capped, tmp_path: Path
) -> None:
    # No counter, 100,000 leaves under 60 keys of 60,000 characters:
    # 16.9 s for 60,000 leaves before (the path string rebuilt for every node, so 100,000
    # leaves time out), well under a second now.
    data = _deep_wide(60, 60_000, 100_000)
    (tmp_path / "deep.msgpack").write_bytes(data)
    result = capped("inspect", "deep.msgpack", cwd=tmp_path)
    assert result.returncode == 1
    assert "no optax schedule state" in result.stderr
    assert len(result.stderr.splitlines()) == 1
    assert len(result.stderr) < LONGEST_MESSAGE


def test_flax_counter_paths_are_shortened_and_escaped(capped: Capped, tmp_path: Path) -> None:
    deep = b"".join(_map(1) + _text(f"\x1b[31m{level}" + "x" * 3000) for level in range(30))
    data = (
        _map(2)
        + _text("a")
        + deep
        + _map(1)
        + _text("count")
        + _count(3)
        + _text("b\nline")
        + _map(1)
        + _text("count")
        + _count(4)
    )
    (tmp_path / "paths.msgpack").write_bytes(data)
    result = capped("inspect", "paths.msgpack", cwd=tmp_path)
    assert result.returncode == 1
    (line,) = result.stderr.splitlines()
    assert "optax counters disagree (3 at a/.../'\\x1b[31m29xxx" in line
    assert "4 at 'b\\nline')" in line
    assert "\x1b" not in line
    assert len(line) < LONGEST_MESSAGE


@pytest.mark.parametrize(
    ("dtype", "raw", "expected"),
    [
        ("int64", struct.pack("<q", -5), "whose optax count is -5, not a number of updates"),
        ("bool", b"\x01", "holding optax count 7 (updates done: the schedule's position);"),
    ],
    ids=["negative-count", "bool-lr"],
)
def test_flax_counts_and_lrs_of_no_meaning_are_not_shown_as_values(
    capped: Capped, tmp_path: Path, dtype: str, raw: bytes, expected: str
) -> None:
    payload = b"\x93\x90" + _text(dtype) + bytes([0xC4, len(raw)]) + raw
    value = b"\xc7" + bytes([len(payload), 1]) + payload
    if dtype == "int64":
        data = _map(1) + _text("count") + value
    else:  # inject_hyperparams whose learning_rate is a bool array
        data = (
            _map(3)
            + _text("count")
            + _count(7)
            + _text("hyperparams")
            + _map(1)
            + _text("learning_rate")
            + value
            + _text("inner_state")
            + _map(0)
        )
    (tmp_path / "odd.msgpack").write_bytes(data)
    result = capped("inspect", "odd.msgpack", cwd=tmp_path)
    assert result.returncode == 1
    assert expected in result.stderr
    assert "learning_rate" not in result.stderr


def test_chained_scheduler_members_disagreeing_are_listed_briefly(
    capped: Capped, tmp_path: Path
) -> None:
    state = {"_last_lr": [0.1], "_schedulers": [_step(index) for index in range(4000)]}
    _torch_legacy(state, tmp_path / "chain.pt")
    result = capped("inspect", "chain.pt", cwd=tmp_path)
    assert result.returncode == 1
    assert result.stderr.splitlines() == [
        "stepsched: error: chain.pt [(top level)]: the members of a ChainedScheduler "
        "disagree on last_epoch (0, 1, 2, ..., 3999 (4000 in all)): they were not "
        "stepped together"
    ]


def test_chained_scheduler_of_many_members_and_milestones_is_described_briefly(
    capped: Capped, tmp_path: Path
) -> None:
    multistep = {
        "milestones": dict.fromkeys(range(100, 60100, 3), 1),
        "gamma": 0.1,
        "base_lrs": [0.1],
        "last_epoch": 0,
    }
    state = {"_last_lr": [0.1], "_schedulers": [multistep] + [_step() for _ in range(3000)]}
    _torch_legacy(state, tmp_path / "chain.pt")
    result = capped("inspect", "chain.pt", cwd=tmp_path, columns="1000")
    assert result.returncode == 0, result.stderr
    torch_line = next(line for line in result.stdout.splitlines() if line.startswith("torch"))
    assert torch_line.split(None, 1)[1] == (
        "ChainedScheduler([MultiStepLR(milestones=[100, 103, 106, ..., 60097 (20000 in all)], "
        "gamma=0.1), StepLR(step_size=10, gamma=0.5), StepLR(step_size=10, gamma=0.5), ..., "
        "StepLR(step_size=10, gamma=0.5) (3001 in all)]), base_lrs 0.1"
    )
    assert "a chain of MultiStepLR, StepLR, StepLR, ..., StepLR (3001 in all)" in result.stdout
    assert len(result.stdout) < 2000


def _trainer_checkpoint(folder: Path, trainer_state: object) -> None:
    folder.mkdir()
    state = {**_step(5), "_last_lr": [0.1], "_step_count": 6}
    _torch_legacy(state, folder / "scheduler.pt")
    (folder / "trainer_state.json").write_text(json.dumps(trainer_state))


@pytest.mark.parametrize("name", ["scheduler.pt", "optimizer.pt", "trainer_state.json"])
def test_a_training_folder_whose_file_is_a_fifo_is_refused_without_waiting(
    capped: Capped, tmp_path: Path, name: str
) -> None:
    # A FIFO the user did not name waited for a writer forever (a timeout before).
    folder = tmp_path / "checkpoint-5"
    _trainer_checkpoint(folder, {"global_step": 5})
    (folder / name).unlink(missing_ok=True)
    os.mkfifo(folder / name)
    result = capped("inspect", "checkpoint-5", cwd=tmp_path)
    assert result.returncode == 1
    assert result.stderr.splitlines() == [
        f"stepsched: error: checkpoint-5: its {name} is not a regular file (a FIFO, a socket "
        "or a device); stepsched reads a folder's files only when they are regular files"
    ]


@pytest.mark.parametrize(
    ("trainer_state", "position"),
    [
        ({"global_step": 5, "epoch": 1.25}, "step 5 (Trainer global_step 5, epoch 1.25)"),
        ({"global_step": 5, "epoch": True}, "step 5 (Trainer global_step 5)"),
        ({"global_step": 5}, "step 5 (Trainer global_step 5)"),
    ],
    ids=["epoch", "bool-epoch", "no-epoch"],
)
def test_a_trainer_epoch_is_shown_only_when_it_is_a_number(
    capped: Capped, tmp_path: Path, trainer_state: object, position: str
) -> None:
    _trainer_checkpoint(tmp_path / "checkpoint-5", trainer_state)
    result = capped("inspect", "checkpoint-5", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert next(line for line in lines if line.startswith("position")).split(None, 1)[1] == position


def _check_trainer_state(
    capped: Capped, folder: Path, text: str, *options: str
) -> subprocess.CompletedProcess[str]:
    """``check trainer_state.json`` holding ``text`` against lr 0.1, step 10, gamma 0.5."""
    (folder / "trainer_state.json").write_text(text)
    schedule = ("--lr", "0.1", "--step-size", "10", "--gamma", "0.5")
    return capped("check", "trainer_state.json", *schedule, *options, cwd=folder)


def test_a_trainer_state_of_many_small_values_is_refused_before_it_is_parsed(
    capped: Capped, tmp_path: Path
) -> None:
    # 48 MB of empty entries took 1.2 GB (internal error: MemoryError under 1 GiB).
    entries = ",".join(["{}"] * 16_000_000)
    result = _check_trainer_state(capped, tmp_path, f'{{\n"log_history": [{entries}]\n}}\n')
    assert result.returncode == 1
    assert result.stderr.splitlines() == [
        "stepsched: error: trainer_state.json: a JSON document (its first line is '{') that "
        "may hold 32000002 values, more than the limit of 2000000"
    ]


def test_a_training_folder_trainer_state_of_many_values_is_a_warning(
    capped: Capped, tmp_path: Path
) -> None:
    _trainer_checkpoint(tmp_path / "checkpoint-5", {"global_step": 5, "x": [0] * 2_000_000})
    result = capped("inspect", "checkpoint-5", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stderr.splitlines() == [
        "stepsched: warning: checkpoint-5/scheduler.pt: checkpoint-5/trainer_state.json: not "
        "read (may hold 2000003 values, more than the limit of 2000000)"
    ]


def test_a_duplicate_long_key_is_named_briefly(capped: Capped, tmp_path: Path) -> None:
    key = "k" * 100_000
    result = _check_trainer_state(capped, tmp_path, f'{{\n"{key}": 1, "{key}": 2\n}}\n')
    assert result.returncode == 1
    (line,) = result.stderr.splitlines()
    assert line.endswith(f"duplicate key {'k' * 60!r}... (100000 characters)")


def _legacy_keras(path: Path, optimizer_name: str, counters: dict[str, int]) -> None:
    """A Keras 3 legacy ``.h5`` model: training_config, keras_version, the counters."""
    h5py = pytest.importorskip("h5py")
    schedule = {
        "class_name": "ExponentialDecay",
        "config": {
            "initial_learning_rate": 0.1, "decay_steps": 10, "decay_rate": 0.5, "staircase": True
        },
    }  # fmt: skip
    optimizer = {
        "class_name": "Adam",
        "config": {"name": optimizer_name, "learning_rate": schedule},
    }
    with h5py.File(path, "w") as model:
        model.attrs["training_config"] = json.dumps({"optimizer_config": optimizer})
        model.attrs["keras_version"] = "3.15.1"
        weights = model.create_group("optimizer_weights")
        for name, value in counters.items():
            weights.create_dataset(name, data=value, dtype="int64")


@pytest.mark.parametrize(
    ("name", "counters", "message"),
    [
        (
            "adam",
            {"adam/iteration": -3},
            "model.h5: optimizer_weights/adam/iteration must be an integer >= 0, got -3",
        ),
        (
            ".",
            {"iteration": 7},
            "model.h5: its optimizer config has no usable name ('.'): Keras 3 keeps the counter "
            "at optimizer_weights/<name>/iteration",
        ),
        (
            "\x1b[31mred\n" * 200,
            {"iteration": 7},
            "model.h5: its optimizer config has no usable name ('\\x1b[31mred\\n\\x1b[31mred\\n"
            "\\x1b[31mred\\n\\x1b[31mred\\n\\x1b[31... (str of 1800 characters)): Keras 3 keeps "
            "the counter at optimizer_weights/<name>/iteration",
        ),
    ],
    ids=["negative-iterations", "dot-name", "escape-name"],
)
def test_a_legacy_keras_counter_of_no_meaning_is_refused_in_one_short_line(
    capped: Capped, tmp_path: Path, name: str, counters: dict[str, int], message: str
) -> None:
    _legacy_keras(tmp_path / "model.h5", name, counters)
    result = capped("inspect", "model.h5", cwd=tmp_path)
    assert result.returncode == 1
    assert result.stderr.splitlines() == [f"stepsched: error: {message}"]


@pytest.mark.parametrize(
    ("options", "key"),
    [
        (("--step-column", "step", "--lr-column", "step"), "step"),
        (("--step-column", "learning_rate"), "learning_rate"),
    ],
    ids=["both-named", "step-named-as-the-default-lr"],
)
def test_a_trainer_state_key_cannot_be_both_the_step_and_the_lr(
    capped: Capped, tmp_path: Path, options: tuple[str, ...], key: str
) -> None:
    # Accepted before: every point's lr was its step (the CSV and JSON-lines readers refuse).
    history = [{"learning_rate": 0.1, "step": step} for step in range(1, 11)]
    document = json.dumps({"global_step": 10, "log_history": history}, indent=2)
    result = _check_trainer_state(capped, tmp_path, document, *options)
    assert result.returncode == 2
    assert result.stderr.splitlines() == [
        f"stepsched: error: Invalid value for '--step-column': trainer_state.json: {key!r} "
        "cannot be both the step and the lr column (see 'stepsched check --help')"
    ]


def _mmengine_step(position: int = 5) -> dict[str, object]:
    return {
        "step_size": 3, "gamma": 0.5, "param_name": "lr", "begin": 0, "end": 10**9,
        "by_epoch": False, "base_values": [0.1], "last_step": position,
        "_global_step": position, "_last_value": [0.1 * 0.5 ** (position // 3)],
    }  # fmt: skip


def test_an_mmengine_runner_of_many_schedulers_is_described_briefly(
    capped: Capped, tmp_path: Path
) -> None:
    runner = {"meta": {"epoch": 0, "iter": 5}, "param_schedulers": [_mmengine_step()] * 3000}
    _torch_legacy(runner, tmp_path / "iter_5.pth")
    result = capped("inspect", "iter_5.pth", cwd=tmp_path, columns="1000")
    assert result.returncode == 0, result.stderr
    line = next(line for line in result.stdout.splitlines() if line.startswith("mmengine"))
    step = "StepLR(step_size=3, gamma=0.5, begin=0, by_epoch=False)"
    assert line.split(None, 1)[1] == f"[{step}, {step}, {step}, ..., {step} (3000 in all)]"
    assert "schedulers (StepLR, StepLR, StepLR, ..., StepLR (3000 in all))" in result.stdout
    assert len(result.stdout) < 2000


def test_an_mmengine_runner_of_many_optimizers_names_them_briefly(
    capped: Capped, tmp_path: Path
) -> None:
    schedulers = {f"\x1b[31m{index}": [_mmengine_step()] for index in range(3000)}
    _torch_legacy({"meta": {"iter": 5}, "param_schedulers": schedulers}, tmp_path / "iter_5.pth")
    result = capped("inspect", "iter_5.pth", cwd=tmp_path)
    assert result.returncode == 1
    names = ", ".join(f"'\\x1b[31m{index}'" for index in range(8))
    assert result.stderr.splitlines() == [
        "stepsched: error: iter_5.pth: param_schedulers holds the schedulers of several "
        f"optimizers ({names} and 2992 more); stepsched reads a Runner with one optimizer"
    ]


_HISTORY_BUFFER = b"cmmengine.logging.history_buffer\nHistoryBuffer\n"


@pytest.mark.parametrize(
    "arguments",
    [
        _HISTORY_BUFFER + b"]\x86",  # getattr(HistoryBuffer, []): unhashable name
        _HISTORY_BUFFER + b"X\t\x00\x00\x00__class__\x86",  # a name that is no statistic
        _HISTORY_BUFFER + b"X\x03\x00\x00\x00minN\x87",  # a default: three arguments
        b"NX\x03\x00\x00\x00min\x86",  # another target
    ],
    ids=["list-name", "dunder-name", "three-arguments", "none-target"],
)
def test_getattr_in_an_mmengine_pickle_is_refused_unless_it_names_a_statistic(
    capped: Capped, tmp_path: Path, arguments: bytes
) -> None:
    # getattr(HistoryBuffer, []) was "malformed pickle (unhashable type: 'list')".
    with (tmp_path / "epoch_1.pth").open("wb") as handle:
        for part in (_TORCH_MAGIC, 1001, {"protocol_version": 1001}):
            pickle.dump(part, handle, protocol=2)
        handle.write(b"\x80\x02cbuiltins\ngetattr\n" + arguments + b"R.")
        pickle.dump([], handle, protocol=2)
    result = capped("inspect", "epoch_1.pth", cwd=tmp_path)
    assert result.returncode == 1
    assert result.stderr.splitlines() == [
        "stepsched: error: refusing to load 'epoch_1.pth': its pickle references "
        "builtins.getattr, which is not on the allowlist of inert types"
    ]
