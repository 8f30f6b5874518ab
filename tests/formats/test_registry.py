"""The format table and the one Reading every reader returns."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from stepsched_cli.cli.commands import code as code_cmd
from stepsched_cli.errors import StateFileError
from stepsched_cli.formats import help_texts, registry
from stepsched_cli.formats.hints import Hints
from stepsched_cli.formats.reading import inspect_record
from stepsched_cli.schedule import StepSchedule
from stepsched_cli.scheduler import SchedulerState
from stepsched_cli.state import dumps_state

CHECKPOINTS = Path(__file__).resolve().parent.parent / "data" / "checkpoints"
TORCH_STEP = {"step_size": 30, "gamma": 0.1, "base_lrs": [0.1], "last_epoch": 45}
TORCH_REPEATED = {"milestones": {"30": 2}, "gamma": 0.1, "base_lrs": [0.1], "last_epoch": 10}
TIMM = {"timm": "StepLRScheduler", "lr": 0.1, "decay_t": 30, "decay_rate": 0.1}
KERAS_CONTINUOUS = {
    "class_name": "ExponentialDecay",
    "config": {
        "initial_learning_rate": 0.1,
        "decay_steps": 30,
        "decay_rate": 0.5,
        "staircase": False,
    },
}


def test_every_list_of_names_is_derived_from_the_one_table() -> None:
    names = [entry.name for entry in registry.FORMATS]
    assert len(set(names)) == len(names)
    assert registry.input_formats() == [
        "stepsched",
        "torch",
        "torch-checkpoint",
        "timm",
        "keras",
        "keras-model",
        "keras-h5",
        "flax-msgpack",
        "optax",
        "json-checkpoint",
    ]
    assert registry.output_formats() == ["stepsched", "torch", "timm", "keras", "optax"]
    assert registry.unpositioned_formats() == ["timm", "keras", "keras-model", "keras-h5", "optax"]
    assert registry.snippet_frameworks() == ["torch", "lightning", "timm", "keras", "optax"]
    assert list(code_cmd.SNIPPETS) == registry.snippet_frameworks()


@pytest.mark.parametrize(
    ("data", "source", "expected"),
    [
        (dumps_state(SchedulerState(StepSchedule(0.1, 30))), "run.json", "stepsched"),
        (json.dumps(TORCH_STEP).encode(), "s.json", "torch"),
        (json.dumps(TIMM).encode(), "t.json", "timm"),
        (json.dumps(KERAS_CONTINUOUS).encode(), "k.json", "keras"),
        (b"PK\x03\x04rest", "x.bin", "torch-checkpoint"),
        (b"PK\x03\x04rest", "model.keras", "keras-model"),
        (b"\x89HDF\r\n\x1a\n" + bytes(8), "model.h5", "keras-h5"),
        (b"\x89HDF\r\n\x1a\n" + bytes(8), "model.HDF5", "keras-h5"),
        (bytes.fromhex("83a4737465701a"), "checkpoint_23", "flax-msgpack"),
        (b"amp: false\n", "args.yaml", "timm"),
        (b'{"init_value": 0.1, "boundaries_and_scales": {"3": 0.5}}', "o.json", "optax"),
        (b"\x80\x02}q", "x.bin", "torch-checkpoint"),
        (b"{}", "model.pt", "torch-checkpoint"),
        (b"{not json", "x.json", "stepsched"),  # the native parser says what is wrong
        (b'{"a": "\xff"}', "x.json", "stepsched"),  # a bad byte in JSON: where it is
        (b"", "x.json", "stepsched"),
        (b'{"format": "x"}', "x.json", "stepsched"),  # claims a format: native names it
        (b"PK\x03\x04" + bytes(22) + b"\x0d\x00\x00\x00metadata.json", "m.zip", "keras-model"),
        (b'{"x": {"format": "stepsched.state"}}', "x.json", "json-checkpoint"),
    ],
)
def test_detection_tries_the_table_in_order(data: bytes, source: str, expected: str) -> None:
    assert registry.detect_format(data, source) == expected


TRIED = (
    "tried stepsched, torch, torch-checkpoint, timm, keras, keras-model, keras-h5, "
    "flax-msgpack, optax, json-checkpoint"
)


@pytest.mark.parametrize(
    ("data", "looks_like"),
    [
        (b'{"a": 1, "b c": 2}', "JSON with keys a, 'b c'"),
        (b"{}", "an empty JSON object"),
        (b"# timm\nsched: step\nlr: 0.1\n  - nested: 1\n", "YAML with keys sched, lr"),
        (b"---\nepochs: 3\n", "YAML with keys epochs"),
        (
            b"not json",
            "text that is not valid JSON: Expecting value at line 1 column 1 (its first line "
            "is 'not json')",
        ),
        (
            json.dumps({f"k{i}": i for i in range(10)}).encode(),
            "JSON with keys k0, k1, k2, k3, k4, k5, k6, k7 and 2 more",
        ),
        (b"[1, 2]", "a JSON array of 2 items"),
        (b"null", "JSON null"),
        (b'"lr"', "a JSON string"),
        (b"\xff\x00\x01", "binary data (its first bytes are ff 00 01)"),
        (b"\x89HDF\r\n\x1a\n\x00", "an HDF5 file (Keras's model.weights.h5 is one: the "
         "schedule is in the .keras file)"),
        (b"\x93NUMPY\x01\x00", "a NumPy .npy array"),
        (b"\x1f\x8b\x08\x00", "gzip-compressed data"),
        (b"\x0a\x00\x00\x00\x00\x00\x00\x00{\"w\": 1}\x00\x00", "a safetensors file "
         "(tensors only)"),
    ],
)  # fmt: skip
def test_an_unrecognised_file_says_what_it_looks_like(data: bytes, looks_like: str) -> None:
    with pytest.raises(StateFileError) as caught:
        registry.detect_format(data, "x.json")
    assert str(caught.value) == (
        f"x.json: no format stepsched reads recognises it: it is {looks_like}; {TRIED} "
        "(force one with --from)"
    )


def write(tmp_path: Path, document: object) -> str:
    path = tmp_path / "input.json"
    path.write_text(json.dumps(document))
    return str(path)


def test_a_convertible_torch_state_has_the_full_record_and_the_torch_fields(
    tmp_path: Path,
) -> None:
    path = write(tmp_path, TORCH_STEP)
    reading = registry.read_state(path)
    assert reading.state is not None
    assert reading.records_position
    assert inspect_record(reading) == {
        "file": path,
        "format": "torch",
        "step": 45,
        "mode": "step",
        "lr": 0.01,
        "lrs": [0.01],
        "initial_lr": 0.1,
        "initial_lrs": [0.1],
        "gamma": 0.1,
        "step_size": 30,
        "warmup_steps": 0,
        "warmup_start_lr": 0.0,
        "min_lr": 0.0,
        "steps_per_epoch": None,
        "next_boundary": 60,
        "next_lr": 0.001,
        "next_lrs": [0.001],
        "torch_scheduler": "StepLR",
        "convertible": True,
        "reason": None,
    }
    assert reading.view.described == (("torch", "StepLR(step_size=30, gamma=0.1), base_lrs 0.1"),)
    assert reading.view.decays is not None
    assert reading.view.decays.later == ((90, 0.0001), (120, 1e-05), (150, 1e-06))


def test_a_torch_state_without_a_stepsched_form_is_viewed_by_torch_rules(tmp_path: Path) -> None:
    reading = registry.read_state(write(tmp_path, TORCH_REPEATED))
    assert reading.state is None
    record = inspect_record(reading)
    assert (record["lr"], record["next_boundary"], record["next_lr"]) == (0.1, 30, 0.001)
    assert (record["milestones"], record["milestone_counts"]) == ([30], [2])
    assert record["convertible"] is False
    assert record["reason"].startswith("this torch MultiStepLR state cannot be a stepsched state")
    with pytest.raises(registry.StateFileError, match="milestone 30 appears 2 times"):
        reading.require_state()


def test_a_framework_schedule_without_a_stepsched_form_has_only_its_position_and_lr(
    tmp_path: Path,
) -> None:
    path = write(tmp_path, KERAS_CONTINUOUS)
    reading = registry.read_state(path, hints=Hints(position=30))
    assert reading.state is None
    assert not reading.records_position
    record = inspect_record(reading)
    assert list(record)[:6] == ["file", "format", "step", "mode", "lr", "lrs"]
    assert "next_boundary" not in record
    # Keras computes in float32: 0.1 * 0.5 ** 1 is the float32 nearest to 0.05.
    float32_lr = 0.05000000074505806
    assert (record["step"], record["lr"], record["framework_lr"]) == (30, float32_lr, float32_lr)
    assert record["framework_schedule"] == "ExponentialDecay"
    assert reading.view.decays is None


def test_a_framework_schedule_read_at_a_position_converts_with_its_own_lr(tmp_path: Path) -> None:
    reading = registry.read_state(write(tmp_path, TIMM), hints=Hints(position=45))
    record = inspect_record(reading)
    # timm computes 0.1 * 0.1 ** 1 in float64: one ulp above the exact 0.01.
    assert (record["step"], record["lr"], record["framework_lr"]) == (45, 0.01, 0.1 * 0.1)
    assert record["next_boundary"] == 60
    assert record["framework_document"]["timm"] == "StepLRScheduler"


@pytest.mark.parametrize(
    ("name", "key", "step", "lr"),
    [
        ("zip_steplr.pt", "lr_scheduler", 75, 0.001),
        ("legacy_steplr.pt", "lr_scheduler", 20, 0.025),
        ("lightning.ckpt", "lr_schedulers[0]", 250, 0.09409),
    ],
)
def test_checkpoints_are_recognised_by_the_file_and_add_their_key(
    name: str, key: str, step: int, lr: float
) -> None:
    reading = registry.read_state(str(CHECKPOINTS / name))
    record = inspect_record(reading)
    assert (record["format"], record["key"], record["warnings"]) == ("torch-checkpoint", key, [])
    assert (record["step"], record["lr"], record["torch_scheduler"]) == (step, lr, "StepLR")


def test_unknown_and_unwritable_formats_are_refused_with_the_known_names() -> None:
    with pytest.raises(registry.StateFileError, match=r"unknown format 'nope' \(known: stepsched"):
        registry.read_state("x.json", format="nope")
    with pytest.raises(
        registry.StateFileError,
        match=r"unknown output format 'torch-checkpoint' \(known: stepsched, torch, timm",
    ):
        registry.dump_state(SchedulerState(StepSchedule(0.1, 30)), "torch-checkpoint")


def test_a_tensorboard_event_file_points_to_check() -> None:
    source = "runs/a/events.out.tfevents.1732800000.host.1.0"
    with pytest.raises(StateFileError) as caught:
        registry.detect_format(b"\x18\x00\x00\x00\x00\x00\x00\x00\xa3\x7fK\x22", source)
    assert str(caught.value) == (
        f"{source}: no format stepsched reads recognises it: it is a TensorBoard event file "
        f"(stepsched check reads it, with --tag); {TRIED} (force one with --from)"
    )


def test_every_hint_a_format_takes_has_an_option() -> None:
    """The command line names no format: it maps each declared hint to its option."""
    from stepsched_cli.cli.options.parameters import option_for

    assert registry.hint_names() == ["optimizer", "position", "updates_per_epoch", "lr", "key"]
    assert [option_for(name) for name in registry.hint_names()] == [
        "--optimizer",
        "--position",
        "--updates-per-epoch",
        "--lr",
        "--key",
    ]


@pytest.mark.parametrize(
    ("name", "data", "source"),
    [
        ("stepsched", dumps_state(SchedulerState(StepSchedule(0.1, 30))), "run.json"),
        ("torch", json.dumps(TORCH_STEP).encode(), "s.json"),
        ("timm", json.dumps(TIMM).encode(), "t.json"),
        ("keras", json.dumps(KERAS_CONTINUOUS).encode(), "k.json"),
        ("json-checkpoint", json.dumps({"sched": TORCH_STEP}).encode(), "c.json"),
    ],
)
def test_the_table_says_which_readings_record_no_unit(
    tmp_path: Path, name: str, data: bytes, source: str
) -> None:
    path = tmp_path / source
    path.write_bytes(data)
    reading = registry.read_state(str(path))
    assert reading.format == name
    assert reading.records_unit is registry.FORMATS_BY_NAME[name].records_unit
    assert registry.FORMATS_BY_NAME[name].records_unit is (name not in ("torch", "json-checkpoint"))


def test_a_checkpoint_records_no_unit_as_its_entry_says() -> None:
    reading = registry.read_state(str(CHECKPOINTS / "multistep.pt"))
    assert (reading.format, reading.records_unit) == ("torch-checkpoint", False)
    assert registry.FORMATS_BY_NAME["torch-checkpoint"].records_unit is False


def test_help_phrases_are_derived_from_the_table_and_the_hints_records() -> None:
    assert help_texts.unitless_files() == "torch, torch-checkpoint and json-checkpoint files"
    assert help_texts.writing_help() == (
        "torch writes the JSON of a StepLR/MultiStepLR state_dict(); its last_epoch is the "
        "position in whatever unit the state counts. timm, keras and optax write the "
        "schedule's JSON document, which has no position."
    )
    assert help_texts.hint_help("position") == (
        "For documents that record no position (timm, keras, keras-model, keras-h5, optax): the "
        "position to read them at (timm's t; Keras's optimizer iterations, an int64 step "
        "counter; optax's update count, an int32 that stops at 2**31 - 1), 0 to "
        "9223372036854775807 (2**63 - 1). Default 0."
    )
    assert help_texts.hint_help("key").startswith("For a checkpoint with several scheduler")
    assert help_texts.hint_help("updates_per_epoch").startswith("For timm runs stepped per")
    assert help_texts.hint_help("lr").startswith("For timm's scheduler_kwargs(), which holds")
    assert help_texts.hint_help("optimizer").startswith("An optimizer state saved in a")
    assert help_texts.hint_help("no_such_hint") == ""
    # Every hint some format takes declares its help phrase somewhere in the table.
    assert all(help_texts.hint_help(name) for name in registry.hint_names())
