"""Files a user hands over by mistake, written by the real libraries: each refusal is one
line saying what the file is, in the terms of the format asked for.

Found by acceptance testing with files from the real libraries (tests/data/real): the
weights file next to a schedule (Keras's ``model.weights.h5``, Accelerate's
``model.safetensors``) and a TensorBoard event file were refused as "is not UTF-8 text",
``--from torch-checkpoint`` on them as "malformed pickle (opcode b'H' unknown)", and a
``.keras`` model under another name as a zip without ``data.pkl``.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
from typer.testing import Result

Invoke = Callable[..., Result]

REAL = Path(__file__).resolve().parent.parent / "data" / "real"
WEIGHTS_H5 = REAL / "keras" / "exponential_staircase_model.weights.h5"
SAFETENSORS = REAL / "accelerate" / "save_state" / "model.safetensors"
EVENTS = next((REAL / "tensorboard" / "correct").glob("events.out.tfevents.*"))
TRIED = (
    "tried stepsched, torch, torch-checkpoint, timm, keras, keras-model, keras-h5, "
    "flax-msgpack, optax, mmengine, training-folder, json-checkpoint (force one with --from)"
)


@pytest.mark.parametrize(
    ("path", "looks_like"),
    [
        (SAFETENSORS, "a safetensors file (tensors only)"),
        (EVENTS, "a TensorBoard event file (stepsched check reads it, with --tag)"),
    ],
    ids=["safetensors", "tensorboard"],
)
def test_a_real_binary_file_is_named_by_its_kind(run: Invoke, path: Path, looks_like: str) -> None:
    result = run("inspect", str(path))
    assert (result.exit_code, result.stdout) == (1, "")
    assert result.stderr == (
        f"stepsched: error: {path}: no format stepsched reads recognises it: it is "
        f"{looks_like}; {TRIED}\n"
    )


def test_a_keras_weights_file_is_refused_as_weights_only(run: Invoke) -> None:
    pytest.importorskip("h5py")
    result = run("inspect", str(WEIGHTS_H5))
    assert (result.exit_code, result.stdout) == (1, "")
    assert result.stderr == (
        f"stepsched: error: {WEIGHTS_H5}: is an HDF5 file without training_config: weights "
        "only (save_weights(), a .keras file's model.weights.h5); the schedule is in the model "
        "saved with model.save() (.keras or .h5)\n"
    )


def test_a_csv_log_given_to_inspect_is_named_as_one(run: Invoke, tmp_path: Path) -> None:
    log = tmp_path / "metrics.csv"
    log.write_text("epoch,step,lr-SGD,train_loss\n0,0,0.1,2.3\n")
    result = run("inspect", str(log))
    assert result.exit_code == 1
    assert result.stderr == (
        f"stepsched: error: {log}: no format stepsched reads recognises it: it is CSV with "
        "columns epoch, step, 'lr-SGD', train_loss (a log? stepsched check reads logs); "
        f"{TRIED}\n"
    )


@pytest.mark.parametrize(
    ("first_bytes", "looks_like"),
    [
        (b"step,lr\n", "CSV with columns step, lr (a log? stepsched check reads logs)"),
        # A character cut where the first 64 KiB end must not make the text look binary.
        (b"step,lr,note\n" + "\u00e9".encode() * 40000 + b"\n", "CSV with columns step, lr, note"),
        (b"\x89HDF\r\n\x1a\n", "an HDF5 file (Keras's model.weights.h5 is one"),
    ],
)
def test_a_file_too_large_for_a_state_is_named_by_its_kind(
    run: Invoke,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    first_bytes: bytes,
    looks_like: str,
) -> None:
    """A 10 MB log is recognised as a log before the size limit, like a small one."""
    monkeypatch.chdir(tmp_path)
    rows = b"".join(b"%d,0.1\n" % step for step in range(1_300_000))
    Path("run.csv").write_bytes(first_bytes + rows)
    size = len(first_bytes + rows)
    assert size > 10**7
    result = run("inspect", "run.csv")
    assert (result.exit_code, result.stdout) == (1, "")
    assert result.stderr.startswith(
        f"stepsched: error: run.csv: no format stepsched reads recognises it: it is {looks_like}"
    )
    assert result.stderr.endswith(f", of {size} bytes; {TRIED}\n")


def test_a_json_document_too_large_for_a_state_keeps_the_size_error(
    run: Invoke, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    Path("state.json").write_text("{" + " " * (1 << 20) + "}")
    result = run("inspect", "state.json")
    assert (result.exit_code, result.stderr) == (
        1,
        "stepsched: error: state.json: is 1048578 bytes; a state file is at most 1048576 bytes\n",
    )


@pytest.mark.parametrize(
    ("name", "command"),
    [("checkpoint.json", "checkpoint.json"), ("my run.json", "'my run.json'")],
)
def test_a_missing_state_says_what_is_read_and_how_to_make_one(
    run: Invoke, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str, command: str
) -> None:
    monkeypatch.chdir(tmp_path)
    result = run("inspect", name)
    assert (result.exit_code, result.stdout) == (1, "")
    assert result.stderr == (
        f"stepsched: error: {name}: no such file; a scheduler state is read from a stepsched "
        f"state file (stepsched init -o {command} writes one) or from a file a framework wrote "
        "(torch, Lightning, Accelerate, timm, Keras, optax)\n"
    )


def test_random_bytes_are_binary_data(run: Invoke, tmp_path: Path) -> None:
    path = tmp_path / "noise.bin"
    path.write_bytes(b"\xc3\x28\x00\x01")
    result = run("inspect", str(path))
    assert result.stderr == (
        f"stepsched: error: {path}: no format stepsched reads recognises it: it is binary "
        "data (its first bytes are c3 28 00 01); tried stepsched, torch, torch-checkpoint, "
        "timm, keras, keras-model, keras-h5, flax-msgpack, optax, mmengine, training-folder, "
        "json-checkpoint (force one with --from)\n"
    )


def test_utf16_text_is_named(run: Invoke, tmp_path: Path) -> None:
    path = tmp_path / "run.json"
    path.write_bytes('{"format": "stepsched.state"}'.encode("utf-16"))
    result = run("inspect", str(path))
    assert "it is UTF-16 text (JSON and YAML are read as UTF-8: save it as UTF-8)" in (
        result.stderr
    )


@pytest.mark.parametrize(
    ("path", "starts_with"),
    [(WEIGHTS_H5, "b'\\x89HDF'"), (SAFETENSORS, None)],
    ids=["keras-weights", "safetensors"],
)
def test_from_torch_checkpoint_refuses_in_torch_save_terms(
    run: Invoke, path: Path, starts_with: str | None
) -> None:
    result = run("inspect", str(path), "--from", "torch-checkpoint")
    assert result.exit_code == 1
    expected = (
        f"stepsched: error: cannot read {str(path)!r}: not a torch.save checkpoint (a zip "
        "archive, or a legacy pickle stream starting with byte 0x80): it starts with "
    )
    assert result.stderr.startswith(expected)
    assert result.stderr.count("\n") == 1
    if starts_with is not None:
        assert result.stderr == f"{expected}{starts_with}\n"


def test_from_torch_checkpoint_on_a_csv(run: Invoke, tmp_path: Path) -> None:
    log = tmp_path / "log.csv"
    log.write_text("step,lr\n0,0.1\n")
    result = run("inspect", str(log), "--from", "torch-checkpoint")
    assert result.stderr == (
        f"stepsched: error: cannot read {str(log)!r}: not a torch.save checkpoint (a zip "
        "archive, or a legacy pickle stream starting with byte 0x80): it starts with b'step'\n"
    )


def test_a_keras_model_under_another_name_is_read_as_one(run: Invoke, tmp_path: Path) -> None:
    """Recognised by its first member (metadata.json), whatever its name."""
    model = tmp_path / "model.zip"
    shutil.copyfile(REAL / "keras" / "exponential_staircase.keras", model)
    result = run("inspect", str(model), "--json")
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["format"] == "keras-model"


def test_an_optimizer_file_that_holds_weights_is_named(run: Invoke) -> None:
    scheduler = REAL / "accelerate" / "save_state" / "scheduler.bin"
    result = run("inspect", str(scheduler), "--optimizer", str(SAFETENSORS))
    assert result.exit_code == 1
    assert result.stderr == (
        f"stepsched: error: {SAFETENSORS}: an optimizer file must be a torch.save file or "
        "JSON; it is a safetensors file (tensors only)\n"
    )


@pytest.mark.parametrize(
    ("name", "content", "reason"),
    [
        ("list.yaml", b"- 1\n- 2\n", "is YAML holding a list, not a mapping"),
        ("empty.yaml", b"# nothing here\n", "is YAML holding nothing, not a mapping"),
        ("log.csv", b"step,lr\n0,0.1\n", "is YAML holding plain text, not a mapping"),
    ],
)
def test_yaml_that_is_not_a_mapping_is_named(
    run: Invoke, tmp_path: Path, name: str, content: bytes, reason: str
) -> None:
    path = tmp_path / name
    path.write_bytes(content)
    args = ("inspect", str(path)) + (("--from", "timm") if name.endswith(".csv") else ())
    result = run(*args)
    assert result.exit_code == 1
    assert result.stderr == (
        f"stepsched: error: {path}: {reason}: a timm args.yaml maps train.py's options "
        "(sched, decay_epochs, ...)\n"
    )


def test_a_binary_file_named_yaml_is_named(run: Invoke, tmp_path: Path) -> None:
    named = tmp_path / "args.yaml"
    shutil.copyfile(WEIGHTS_H5, named)
    result = run("inspect", str(named))
    assert result.stderr == (
        f"stepsched: error: {named}: is not YAML: it is an HDF5 file (Keras's "
        "model.weights.h5 is one: the schedule is in the .keras file)\n"
    )
    path = tmp_path / "args.yaml"
    path.write_bytes(b"sched: step\nlr: \x81\n")
    result = run("inspect", str(path))
    assert result.stderr == f"stepsched: error: {path}: is not valid YAML: it is not UTF-8 text\n"


@pytest.mark.parametrize("name", ["uncompiled.keras", "config_uncompiled.json"])
def test_a_keras_model_saved_without_compile_has_no_schedule(run: Invoke, name: str) -> None:
    """Keras writes ``compile_config: {}`` for a model never compiled (the manifest
    records it): the refusal says so instead of "class_name must be ..., got
    'Sequential'"."""
    path = REAL / "keras" / name
    args = ("inspect", str(path)) + (("--from", "keras") if name.endswith(".json") else ())
    result = run(*args)
    assert result.exit_code == 1
    assert result.stderr == (
        f"stepsched: error: {path}: this Keras model config has no optimizer: compile_config "
        "is {} (the model was saved without compile()), so it holds no learning-rate schedule\n"
    )


def test_a_keras_model_config_whose_optimizer_has_no_lr(run: Invoke, tmp_path: Path) -> None:
    path = tmp_path / "config.json"
    path.write_text('{"class_name": "Sequential", "compile_config": {"optimizer": "sgd"}}')
    result = run("inspect", str(path), "--from", "keras")
    assert result.stderr == (
        f"stepsched: error: {path}: this Keras model config's compile_config.optimizer has no "
        "learning_rate: 'sgd'\n"
    )


@pytest.mark.parametrize(
    ("document", "keys"),
    [
        (
            '{"init_value": 0.1, "transition_steps": 10, "decay_rate": 0.5}',
            "'init_value', 'transition_steps', 'decay_rate'",
        ),
        ("{}", "none"),
    ],
)
def test_from_keras_on_another_document_says_what_keras_files_hold(
    run: Invoke, tmp_path: Path, document: str, keys: str
) -> None:
    path = tmp_path / "other.json"
    path.write_text(document)
    result = run("inspect", str(path), "--from", "keras")
    assert result.exit_code == 1
    assert result.stderr == (
        f"stepsched: error: {path}: a Keras document is a schedule (serialize() or "
        "get_config(): initial_learning_rate, decay_steps, decay_rate or boundaries, values), "
        "an optimizer's config (learning_rate) or a model's config.json "
        f"(compile_config.optimizer); got keys {keys}\n"
    )


@pytest.mark.parametrize(
    ("format", "reads"),
    [
        ("stepsched", "a state file"),
        ("torch", "a StepLR or MultiStepLR state_dict as JSON"),
        ("optax", "an optax schedule as JSON"),
    ],
)
@pytest.mark.parametrize(
    ("path", "kind"),
    [
        (
            REAL / "accelerate" / "save_state" / "scheduler.bin",
            "a zip archive (a torch.save checkpoint or a .keras model is one)",
        ),
        (
            REAL / "torch" / "ours" / "checkpoint_legacy.pt",
            "a pickle stream (a legacy torch.save checkpoint is one)",
        ),
        (SAFETENSORS, "a safetensors file (tensors only)"),
    ],
    ids=["zip", "legacy", "safetensors"],
)
def test_a_binary_file_forced_as_a_json_format_is_named(
    run: Invoke, format: str, reads: str, path: Path, kind: str
) -> None:
    result = run("inspect", str(path), "--from", format)
    assert result.exit_code == 1
    assert result.stderr == (
        f"stepsched: error: {path}: --from {format} reads {reads}; this file is {kind}\n"
    )
