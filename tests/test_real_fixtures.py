"""The real-library fixtures under tests/data/real are what their manifests say they are.

Each framework folder was written by ``tests/fixtures/make_real_<framework>.py`` with the
real library; its ``manifest.json`` lists every file with its SHA-256 and the values the
library reported.  These tests need none of the frameworks: they check that the files are
intact and complete, that each generator states the versions recorded, and that the
values a file holds in plain JSON agree with what the library reported next to it.
"""

from __future__ import annotations

import ast
import hashlib
import json
import struct
from pathlib import Path
from typing import Any

import pytest

REAL = Path(__file__).resolve().parent / "data" / "real"
REPOSITORY = REAL.parent.parent.parent
FRAMEWORKS = [
    "accelerate",
    "flax",
    "keras",
    "keras3",
    "mmengine_logs",
    "optax",
    "tensorboard",
    "tfkeras",
    "timm",
    "torch",
    "transformers_logs",
]


def manifest(framework: str) -> dict[str, Any]:
    document: dict[str, Any] = json.loads((REAL / framework / "manifest.json").read_text())
    return document


def load(framework: str, relative: str) -> Any:
    return json.loads((REAL / framework / relative).read_text(encoding="utf-8"))


def reported(framework: str, relative: str) -> dict[str, Any]:
    values: dict[str, Any] = manifest(framework)["files"][relative]["reported"]
    return values


def test_every_framework_folder_has_a_manifest() -> None:
    folders = sorted(path.name for path in REAL.iterdir() if path.is_dir())
    assert folders == FRAMEWORKS


@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_manifest_lists_exactly_the_files_with_their_hashes(framework: str) -> None:
    folder = REAL / framework
    listed = manifest(framework)["files"]
    on_disk = sorted(
        path.relative_to(folder).as_posix()
        for path in folder.rglob("*")
        if path.is_file() and path.name != "manifest.json"
    )
    assert sorted(listed) == on_disk
    for relative, entry in listed.items():
        data = (folder / relative).read_bytes()
        assert (len(data), hashlib.sha256(data).hexdigest()) == (entry["bytes"], entry["sha256"])


@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_generator_docstring_states_the_recorded_versions(framework: str) -> None:
    document = manifest(framework)
    assert document["generator"] == f"tests/fixtures/make_real_{framework}.py"
    source = (REPOSITORY / document["generator"]).read_text(encoding="utf-8")
    docstring = ast.get_docstring(ast.parse(source)) or ""
    missing = [
        f"{name} {version}"
        for name, version in document["versions"].items()
        if version not in docstring
    ]
    assert missing == []


@pytest.mark.parametrize(
    ("relative", "key", "optimizer_key"),
    [
        ("json/steplr_checkpoint.json", "lr_scheduler", "optimizer"),
        ("json/multisteplr_checkpoint.json", "lr_scheduler", "optimizer"),
        ("json/two_schedulers.json", "generator_scheduler", "generator_optimizer"),
        ("json/two_schedulers.json", "discriminator_scheduler", "discriminator_optimizer"),
    ],
)
def test_torch_json_checkpoints_hold_what_torch_reported(
    relative: str, key: str, optimizer_key: str
) -> None:
    document = load("torch", relative)
    facts = reported("torch", relative)
    facts = facts.get(key, facts)
    state = document[key]
    optimizer = document[optimizer_key]
    assert state["last_epoch"] == facts["last_epoch"]
    assert state["_last_lr"] == facts["get_last_lr"]
    assert [group["lr"] for group in optimizer["param_groups"]] == facts["optimizer_lrs"]
    assert facts["lrs_by_position"][state["last_epoch"]] == state["_last_lr"][0]


def test_our_json_checkpoint_holds_what_the_scheduler_reported() -> None:
    document = load("torch", "ours/checkpoint.json")
    facts = reported("torch", "ours/checkpoint.json")
    assert (document["scheduler"]["step"], document["scheduler"]["lr"]) == (65, 0.001)
    assert (facts["step"], facts["lr"]) == (65, 0.001)
    assert [group["lr"] for group in document["optimizer"]["param_groups"]] == [0.001]
    assert document["scheduler"]["format"] == "stepsched.state"


TIMM_STATE_JSON = sorted(
    name for name in manifest("timm")["files"] if name.startswith("state/") and ".json" in name
)


@pytest.mark.parametrize("relative", TIMM_STATE_JSON)
def test_timm_state_json_holds_the_constructor_arguments(relative: str) -> None:
    state = load("timm", relative)
    facts = reported("timm", relative)
    assert {name: state[name] for name in facts["kwargs"]} == facts["kwargs"]
    assert state["base_values"] == [facts["optimizer_lr"]]
    assert state["t_in_epochs"] == facts["t_in_epochs"]


@pytest.mark.parametrize("run", ["train_step", "train_multistep_updates", "train_step_noise"])
def test_timm_args_json_and_scheduler_kwargs_agree(run: str) -> None:
    args = load("timm", f"{run}/args.json")
    kwargs = load("timm", f"{run}/scheduler_kwargs.json")
    pairs = {
        "sched": "sched",
        "epochs": "num_epochs",
        "decay_rate": "decay_rate",
        "warmup_epochs": "warmup_epochs",
        "warmup_lr": "warmup_lr",
        "warmup_prefix": "warmup_prefix",
        "lr_noise": "noise",
        "seed": "noise_seed",
    }
    assert {arg: args[arg] for arg in pairs} == {arg: kwargs[kw] for arg, kw in pairs.items()}
    assert kwargs["step_on_epochs"] is not args["sched_on_updates"]
    assert reported("timm", f"{run}/args.json")["sched_on_updates"] is args["sched_on_updates"]


KERAS_SCHEDULES = [
    "exponential_staircase",
    "piecewise_constant",
    "exponential_far",
    "exponential_adam",
]


@pytest.mark.parametrize("case", [*KERAS_SCHEDULES, "momentum_constant"])
def test_keras_documents_hold_one_optimizer(case: str) -> None:
    config = load("keras", f"{case}_config.json")
    serialized = load("keras", f"{case}_optimizer_serialize.json")
    get_config = load("keras", f"{case}_optimizer_get_config.json")
    optimizer = config["compile_config"]["optimizer"]
    assert serialized == optimizer
    assert get_config == optimizer["config"]
    facts = reported("keras", f"{case}.keras")
    assert optimizer["class_name"] == facts["optimizer"]
    assert facts["iterations_dtype"] == "int32"
    assert facts["h5_scalars"][0] == f"optimizer/vars/0 (int32) = {facts['iterations']}"


@pytest.mark.parametrize("case", KERAS_SCHEDULES)
def test_keras_schedule_and_lr_at_the_stored_iterations(case: str) -> None:
    config = load("keras", f"{case}_config.json")
    schedule = config["compile_config"]["optimizer"]["config"]["learning_rate"]
    facts = reported("keras", f"{case}.keras")
    assert schedule["class_name"] == facts["schedule"]
    assert facts["h5_scalars"] == [f"optimizer/vars/0 (int32) = {facts['iterations']}"]
    if str(facts["iterations"]) in facts["lr_at"]:
        assert facts["lr_at"][str(facts["iterations"])] == facts["lr"]


def test_keras_constant_lr_is_a_variable_not_a_schedule() -> None:
    config = load("keras", "momentum_constant_config.json")
    # Keras serialises the lr variable's float32 value, not the 0.01 it was given.
    assert config["compile_config"]["optimizer"]["config"]["learning_rate"] == float32(0.01)
    assert float32(0.01) == 0.009999999776482582
    facts = reported("keras", "momentum_constant.keras")
    assert facts["schedule"] is None
    assert facts["h5_scalars"] == [
        "optimizer/vars/0 (int32) = 7",
        f"optimizer/vars/1 (float32) = {facts['lr']!r}",
    ]


def float32(value: float) -> float:
    """The value rounded to float32, as an event file stores a scalar."""
    rounded: float = struct.unpack("<f", struct.pack("<f", value))[0]
    return rounded


@pytest.mark.parametrize(
    "relative", sorted(manifest("tensorboard")["files"]), ids=lambda name: name.split("/")[0]
)
def test_tensorboard_reads_back_the_logged_values_as_float32(relative: str) -> None:
    facts = reported("tensorboard", relative)
    expected = {
        tag: [[step, float32(value)] for step, value in pairs]
        for tag, pairs in facts["logged"].items()
    }
    assert facts["read_back"] == expected
