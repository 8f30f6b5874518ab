"""The command line on files written by real torch and Accelerate (tests/data/real).

Values are those torch reported when it wrote the files (their manifest.json); the
readers themselves are tested in tests/formats/test_real_torch_readers.py.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from typer.testing import Result

Invoke = Callable[..., Result]

REAL = Path(__file__).resolve().parent.parent / "data" / "real"
TORCH = REAL / "torch"
ACCELERATE = REAL / "accelerate"


def test_inspect_reads_a_json_training_checkpoint(
    run: Invoke, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The design card's own use, as typed where the file is: `stepsched inspect
    checkpoint.json` (so the lines do not depend on where the clone lives)."""
    monkeypatch.chdir(TORCH / "ours")
    result = run("inspect", "checkpoint.json")
    assert result.exit_code == 0, result.stderr
    assert result.stderr == ""
    assert [line.rstrip() for line in result.stdout.splitlines()] == [
        "file        checkpoint.json (json-checkpoint format)",
        "key         scheduler",
        "schedule    lr=0.1, step_size=30, gamma=0.1",
        "position    step 65",
        "lr          0.001",
        "next decay  step 90 (in 25): lr 0.0001",
        "then        step 120: 1e-05, step 150: 1e-06, step 180: 1e-07",
    ]


def test_the_state_format_workflow_reads_our_state_in_torch_save(run: Invoke) -> None:
    """docs/state-format.md: torch.save({"scheduler": scheduler.state_dict(), ...})."""
    result = run("inspect", str(TORCH / "ours" / "checkpoint_zip.pt"), "--json")
    assert result.exit_code == 0, result.stderr
    record = json.loads(result.stdout)
    assert (record["format"], record["key"], record["step"], record["lr"]) == (
        "torch-checkpoint",
        "scheduler",
        65,
        0.001,
    )
    assert record["warnings"] == []


def test_validate_fails_on_our_state_beside_a_stale_optimizer(run: Invoke) -> None:
    path = str(TORCH / "ours" / "checkpoint_stale_optimizer.pt")
    result = run("validate", path, str(TORCH / "ours" / "checkpoint_legacy.pt"))
    assert result.exit_code == 1
    assert result.stdout == f"{TORCH / 'ours' / 'checkpoint_legacy.pt'}: ok\n"
    assert result.stderr == (
        f"stepsched: error: {path}: the optimizer at optimizer disagrees with the scheduler at "
        "scheduler (step 65): param_groups[0] lr is 0.01 but the scheduler gives 0.001\n"
    )


def test_sequential_warmup_is_shown_as_one_schedule_with_torchs_own_lr(run: Invoke) -> None:
    path = TORCH / "sequential" / "linear_multisteplr_before_warmup_end.pt"
    result = run("inspect", str(path))
    assert result.exit_code == 0, result.stderr
    text = " ".join(result.stdout.split())
    assert (
        "torch SequentialLR([LinearLR(start_factor=0.01, end_factor=1, total_iters=5), "
        "MultiStepLR(milestones=[8, 20], gamma=0.1)], milestones=[5]), base_lrs 0.1 "
        "schedule lr=0.1, milestones=8,20, gamma=0.1, warmup_steps=5, warmup_start_lr=0.001, "
        "warmup_prefix, decays at 13,25 position step 3 lr 0.0604 "
        "next decay step 13 (in 10): lr 0.01"
    ) in text
    record = json.loads(run("inspect", str(path), "--json").stdout)
    assert (record["lr"], record["torch_lrs"]) == (0.0604, [0.060399999999999995])


def test_sequential_warmup_converts_to_a_stepsched_warmup(run: Invoke, tmp_path: Path) -> None:
    output = tmp_path / "run.json"
    path = TORCH / "sequential" / "linear_steplr_after_decays_checkpoint.pt"
    result = run("convert", str(path), "-o", str(output))
    assert result.exit_code == 0, result.stderr
    state = json.loads(output.read_text())
    assert {key: state[key] for key in ("step", "lr", "warmup_steps", "warmup_start_lr")} == {
        "step": 32,
        "lr": 0.025,
        "warmup_steps": 5,
        "warmup_start_lr": 0.01,
    }


def test_a_constant_warmup_is_inspected_but_not_converted(run: Invoke, tmp_path: Path) -> None:
    path = str(TORCH / "sequential" / "constant_steplr_before_warmup_end.pt")
    inspected = run("inspect", path, "--json")
    assert inspected.exit_code == 0, inspected.stderr
    record = json.loads(inspected.stdout)
    assert (record["step"], record["lr"], record["convertible"]) == (3, 0.025, False)
    converted = run("convert", path, "-o", str(tmp_path / "out.json"))
    assert converted.exit_code == 1
    assert converted.stderr == (
        f"stepsched: error: {path}: this torch SequentialLR cannot be a stepsched state: its "
        "ConstantLR warmup (factor 0.25 for 5 positions) is not a linear ramp reaching the "
        "base lr at the milestone 5; stepsched's warmup ramps linearly over warmup_steps\n"
    )
    assert not (tmp_path / "out.json").exists()


@pytest.mark.parametrize(
    ("optimizer", "exit_code"),
    [("plain/optimizer.pt", 0), ("plain/optimizer_stale.pt", 1)],
)
def test_validate_optimizer_checks_a_separate_optimizer_file(
    run: Invoke, optimizer: str, exit_code: int
) -> None:
    scheduler = str(ACCELERATE / "plain" / "scheduler.pt")
    result = run("validate", scheduler, "--optimizer", str(ACCELERATE / optimizer))
    assert result.exit_code == exit_code
    if exit_code == 0:
        assert result.stdout == f"{scheduler}: ok\n"
    else:
        assert result.stderr == (
            f"stepsched: error: {scheduler}: the optimizer in {ACCELERATE / optimizer} "
            "disagrees with the scheduler (step 45): param_groups[0] lr is 0.1 but the "
            "scheduler gives 0.01\n"
        )


def test_inspect_optimizer_warns_and_still_shows_the_state(run: Invoke) -> None:
    scheduler = str(ACCELERATE / "plain" / "scheduler.pt")
    stale = ACCELERATE / "plain" / "optimizer_stale.pt"
    result = run("inspect", scheduler, "--optimizer", str(stale), "--json")
    assert result.exit_code == 0
    assert json.loads(result.stdout)["step"] == 45
    assert result.stderr.startswith(f"stepsched: warning: {scheduler}: the optimizer in {stale}")


@pytest.mark.parametrize(
    ("content", "looks_like"),
    [
        (b'{"epoch": 3, "model": {}, "net": 1}', "JSON with keys epoch, model, net"),
        (b"sched: step\nlr: 0.1\n", "YAML with keys sched, lr"),
    ],
)
def test_an_unknown_file_says_what_it_looks_like(
    run: Invoke, tmp_path: Path, content: bytes, looks_like: str
) -> None:
    path = tmp_path / "what.json"
    path.write_bytes(content)
    result = run("inspect", str(path))
    assert result.exit_code == 1
    assert result.stderr == (
        f"stepsched: error: {path}: no format stepsched reads recognises it: it is "
        f"{looks_like}; tried stepsched, torch, torch-checkpoint, timm, keras, keras-model, "
        "keras-h5, flax-msgpack, optax, mmengine, training-folder, json-checkpoint "
        "(force one with --from)\n"
    )


def test_from_torch_checkpoint_on_json_says_so_in_torch_terms(run: Invoke) -> None:
    path = str(TORCH / "ours" / "checkpoint.json")
    result = run("inspect", path, "--from", "torch-checkpoint")
    assert result.exit_code == 1
    assert result.stderr == (
        f"stepsched: error: cannot read {path!r}: not a torch.save checkpoint (a zip archive "
        "or a pickle stream): it starts like a JSON document; read it without --from\n"
    )
