"""The command line on torch state dicts and checkpoints: inspect, validate, convert.

Expected facts come from tests/data/checkpoints/expected.json (recorded with real
torch by tests/fixtures/make_torch_checkpoints.py); no torch is needed here.
"""

from __future__ import annotations

import json
import math
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from typer.testing import Result

Invoke = Callable[..., Result]

DATA = Path(__file__).resolve().parent.parent / "data"
CHECKPOINTS = DATA / "checkpoints"
HOSTILE = DATA / "hostile"
EXPECTED: dict[str, Any] = json.loads((CHECKPOINTS / "expected.json").read_text())["files"]
MANIFEST: dict[str, Any] = json.loads((HOSTILE / "manifest.json").read_text())
SINGLE = sorted(name for name, facts in EXPECTED.items() if len(facts["schedulers"]) == 1)


def key_path(path: list[str | int]) -> str:
    from stepsched_cli.formats.torch.search import format_key_path

    return format_key_path(tuple(path))


@pytest.mark.parametrize("name", SINGLE)
def test_inspect_json_gives_the_recorded_facts(run: Invoke, name: str) -> None:
    facts = EXPECTED[name]["schedulers"][0]
    result = run("inspect", str(CHECKPOINTS / name), "--json")
    assert result.exit_code == 0, result.stderr
    record = json.loads(result.stdout)
    is_json = EXPECTED[name]["layout"] == "json"
    assert record["format"] == ("torch" if is_json else "torch-checkpoint")
    assert record["step"] == facts["last_epoch"]
    assert record["mode"] == "step"
    assert record["initial_lrs"] == facts["base_lrs"]
    assert record["initial_lr"] == facts["base_lrs"][0]
    assert record["gamma"] == facts["gamma"]
    assert len(record["lrs"]) == len(facts["_last_lr"])
    for ours, torchs in zip(record["lrs"], facts["_last_lr"], strict=True):
        assert math.isclose(ours, torchs, rel_tol=1e-12)
    assert record["lr"] == record["lrs"][0]
    if "step_size" in facts:
        assert record["step_size"] == facts["step_size"]
        assert record["torch_scheduler"] == "StepLR"
        boundary = (facts["last_epoch"] // facts["step_size"] + 1) * facts["step_size"]
        assert record["next_boundary"] == boundary
        assert record["next_lr"] == pytest.approx(
            facts["base_lrs"][0] * facts["gamma"] ** (boundary // facts["step_size"]), rel=1e-12
        )
    else:
        counts = sorted((int(m), count) for m, count in facts["milestones"].items())
        assert record["milestones"] == [m for m, _ in counts]
        assert record["milestone_counts"] == [count for _, count in counts]
        repeats = [m for m, _ in counts]
        assert record["torch_scheduler"] == "MultiStepLR"
        after = [m for m in repeats if m > facts["last_epoch"]]
        assert record["next_boundary"] == (min(after) if after else None)
    if is_json:
        assert "key" not in record
    else:
        assert record["key"] == key_path(facts["path"])


def test_inspect_human_output_of_a_checkpoint(run: Invoke, monkeypatch: pytest.MonkeyPatch) -> None:
    """Run where the file is, as typed: the lines do not depend on where the clone lives."""
    monkeypatch.chdir(CHECKPOINTS)
    result = run("inspect", "lightning.ckpt")
    assert result.exit_code == 0
    lines = [line.rstrip() for line in result.stdout.splitlines()]
    assert lines == [
        "file        lightning.ckpt (torch-checkpoint format)",
        "key         lr_schedulers[0]",
        "torch       StepLR(step_size=100, gamma=0.97), base_lrs 0.1",
        "schedule    lr=0.1, step_size=100, gamma=0.97",
        "position    step 250 (Lightning epoch 2, global_step 250)",
        "lr          0.09409",
        "next decay  step 300 (in 50): lr 0.0912673",
        "then        step 400: 0.0885293, step 500: 0.0858734, step 600: 0.0832972",
        'note        the scheduler counts optimizer steps (interval="step")',
    ]
    assert result.stderr == ""


def test_two_groups_show_every_group(run: Invoke) -> None:
    result = run("inspect", str(CHECKPOINTS / "two_groups.pt"), "--json")
    record = json.loads(result.stdout)
    assert (record["lrs"], record["next_boundary"], record["next_lrs"]) == (
        [0.025, 0.0025],
        6,
        [0.0125, 0.00125],
    )


def test_repeated_milestones_are_inspected_with_torch_semantics(run: Invoke) -> None:
    result = run("inspect", str(CHECKPOINTS / "multisteplr_state.json"), "--json")
    record = json.loads(result.stdout)
    assert (record["step"], record["lr"], record["next_boundary"], record["next_lr"]) == (
        45,
        0.001,
        80,
        0.0001,
    )
    assert (record["milestones"], record["milestone_counts"]) == ([30, 80], [2, 1])
    assert record["convertible"] is False
    assert "milestone 30 appears 2 times" in record["reason"]


def test_a_milestone_repeated_a_trillion_times_is_refused_not_expanded(
    run: Invoke, tmp_path: Path
) -> None:
    path = tmp_path / "repeats.json"
    path.write_text(
        '{"milestones": {"30": 1000000000000}, "gamma": 0.5, "base_lrs": [0.1], "last_epoch": 0}'
    )
    result = run("inspect", str(path))
    assert result.exit_code == 1
    assert result.stderr == (
        f"stepsched: error: {path}: field 'milestones' repeats milestone 30 1000000000000 "
        "times, more than the limit of 1000000\n"
    )


def test_repeated_milestones_cannot_be_converted(run: Invoke, tmp_path: Path) -> None:
    out = tmp_path / "out.json"
    result = run("convert", str(CHECKPOINTS / "multistep.pt"), "-o", str(out))
    assert result.exit_code == 1
    assert "milestone 30 appears 2 times" in result.stderr
    assert not out.exists()


# -- ambiguity, absence, mismatch -------------------------------------------------------


def test_two_schedulers_need_key(run: Invoke) -> None:
    result = run("inspect", str(CHECKPOINTS / "two_schedulers.pt"))
    assert result.exit_code == 2
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert lines[1:3] == [
        "  scheduler  StepLR  last_epoch 20",
        "  sched  MultiStepLR  last_epoch 20",
    ]
    assert "2 LR scheduler states found (scheduler, sched); choose one with --key" in lines[-1]


def test_key_picks_one_and_a_wrong_key_is_a_usage_error(run: Invoke) -> None:
    # Both schedulers drive one optimizer: neither alone explains the saved lr.
    result = run("inspect", str(CHECKPOINTS / "two_schedulers.pt"), "--key", "sched")
    assert result.exit_code == 1
    assert "[sched]: field '_last_lr[0]' is 0.0025000000000000005" in result.stderr
    result = run("inspect", str(CHECKPOINTS / "two_schedulers.pt"), "--key", "nope")
    assert result.exit_code == 2
    assert "Invalid value for '--key'" in result.stderr
    assert "no LR scheduler state at key 'nope' (found: scheduler, sched)" in result.stderr


def test_key_on_an_unambiguous_file(run: Invoke) -> None:
    result = run("inspect", str(CHECKPOINTS / "lightning.ckpt"), "--key", "lr_schedulers[0]")
    assert result.exit_code == 0


def test_no_scheduler_is_a_clear_error(run: Invoke) -> None:
    result = run("inspect", str(CHECKPOINTS / "no_scheduler.pt"))
    assert result.exit_code == 1
    assert result.stderr.count("\n") == 1
    assert "no LR scheduler state found" in result.stderr
    assert "it has an optimizer at optimizer, but no scheduler" in result.stderr


MISMATCH = (
    "resume_mismatch.pt: the optimizer at optimizer disagrees with the scheduler at "
    "lr_scheduler (last_epoch 100): param_groups[0] lr is 0.1 but the scheduler gives 0.0001"
)


def test_resume_mismatch_warns_in_inspect(run: Invoke) -> None:
    result = run("inspect", str(CHECKPOINTS / "resume_mismatch.pt"), "--json")
    assert result.exit_code == 0
    assert f"stepsched: warning: {CHECKPOINTS / MISMATCH}" in result.stderr
    assert "has no initial_lr" in result.stderr
    record = json.loads(result.stdout)
    assert record["lr"] == 0.0001
    assert len(record["warnings"]) == 2


def test_resume_mismatch_fails_validate(run: Invoke, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(CHECKPOINTS)
    result = run("validate", "resume_mismatch.pt", "zip_steplr.pt")
    assert result.exit_code == 1
    assert result.stdout == "zip_steplr.pt: ok\n"
    assert result.stderr.startswith(f"stepsched: error: {MISMATCH}; ")
    assert result.stderr.count("\n") == 1


def test_validate_every_consistent_layout(run: Invoke, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(CHECKPOINTS)
    names = [n for n in SINGLE if n != "resume_mismatch.pt"]
    result = run("validate", *names)
    assert result.exit_code == 0, result.stderr
    assert result.stdout.splitlines() == [f"{name}: ok" for name in names]


def test_validate_ambiguous_is_invalid(run: Invoke) -> None:
    result = run("validate", str(CHECKPOINTS / "two_schedulers.pt"))
    assert result.exit_code == 1
    assert "choose one with --key" in result.stderr


# -- hostile files ----------------------------------------------------------------------

UNSAFE = [entry for entry in MANIFEST["files"] if entry["kind"] == "unsafe"]


@pytest.mark.parametrize("entry", UNSAFE, ids=lambda entry: entry["file"])
def test_hostile_files_are_refused_and_nothing_runs(run: Invoke, entry: dict[str, Any]) -> None:
    marker = Path(MANIFEST["header"]["marker_prefix"] + entry["file"])
    marker.unlink(missing_ok=True)
    result = run("inspect", str(HOSTILE / entry["file"]), "--from", "torch-checkpoint")
    assert result.exit_code == 1
    assert result.stdout == ""
    assert result.stderr.count("\n") == 1
    assert f"references {entry['global']}," in result.stderr
    assert not marker.exists()


# -- detection and --from --------------------------------------------------------------


def test_checkpoint_detected_by_magic_bytes(run: Invoke, tmp_path: Path) -> None:
    copy = tmp_path / "weights.bin"
    shutil.copy(CHECKPOINTS / "legacy_steplr.pt", copy)
    result = run("inspect", str(copy), "--json")
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["format"] == "torch-checkpoint"


def test_torch_json_from_stdin(run: Invoke) -> None:
    text = (CHECKPOINTS / "steplr_state.json").read_text()
    result = run("inspect", "-", "--json", input=text)
    assert result.exit_code == 0
    assert json.loads(result.stdout)["format"] == "torch"


def test_from_forces_the_format(run: Invoke) -> None:
    path = str(CHECKPOINTS / "steplr_state.json")
    result = run("inspect", path, "--from", "stepsched")
    assert result.exit_code == 1
    assert "field 'format' must be 'stepsched.state'" in result.stderr
    assert run("inspect", path, "--from", "torch").exit_code == 0


KERAS_MODEL = CHECKPOINTS.parent / "real" / "keras" / "exponential_adam.keras"


@pytest.mark.parametrize(
    ("path", "forced", "what"),
    [
        (CHECKPOINTS / "zip_steplr.pt", None,
         "a torch checkpoint (only its pickle is read, never the whole file)"),
        (KERAS_MODEL, None, "a .keras model (a zip, read member by member)"),
        (KERAS_MODEL, "keras-model", "a .keras model (a zip, read member by member)"),
    ],
)  # fmt: skip
def test_zips_from_stdin_are_refused_in_their_own_terms(
    run: Invoke, path: Path, forced: str | None, what: str
) -> None:
    extra = ("--from", forced) if forced else ()
    result = run("inspect", "-", *extra, input=path.read_bytes())
    assert result.exit_code == 1
    assert result.stderr == (
        f"stepsched: error: <stdin>: {what} is read from its file, not from stdin or a pipe; "
        "save it and name the file\n"
    )


def test_other_torch_scheduler_is_refused(run: Invoke, tmp_path: Path) -> None:
    path = tmp_path / "cosine.json"
    path.write_text('{"T_max": 100, "eta_min": 0.0, "base_lrs": [0.1], "last_epoch": 3}')
    result = run("inspect", str(path))
    assert result.exit_code == 1
    assert "not a step-decay scheduler: it looks like a CosineAnnealingLR" in result.stderr


# -- convert ---------------------------------------------------------------------------


def test_convert_checkpoint_to_stepsched_and_torch(run: Invoke, tmp_path: Path) -> None:
    native = tmp_path / "run.json"
    result = run("convert", str(CHECKPOINTS / "two_groups.pt"), "-o", str(native))
    assert result.exit_code == 0, result.stderr
    state = json.loads(native.read_text())
    assert (state["step"], state["step_size"], state["gamma"]) == (5, 2, 0.5)
    assert state["param_groups"] == [
        {"initial_lr": 0.1, "lr": 0.025},
        {"initial_lr": 0.01, "lr": 0.0025},
    ]
    result = run("convert", str(native), "--to", "torch", "-o", "-")
    assert result.exit_code == 0
    assert json.loads(result.stdout) == {
        "step_size": 2,
        "gamma": 0.5,
        "base_lrs": [0.1, 0.01],
        "last_epoch": 5,
        "_step_count": 6,
        "_is_initial": False,
        "_get_lr_called_within_step": False,
        "_last_lr": [0.025, 0.0025],
    }


def test_convert_checkpoint_with_key_to_torch(run: Invoke) -> None:
    result = run(
        "convert", str(CHECKPOINTS / "lightning.ckpt"), "--key", "lr_schedulers[0]", "--to",
        "torch", "-o", "-",
    )  # fmt: skip
    assert result.exit_code == 0
    assert json.loads(result.stdout)["_last_lr"] == [0.09409000000000001]  # torch's own


def test_convert_to_torch_refuses_warmup(run: Invoke, tmp_path: Path) -> None:
    native = tmp_path / "warm.json"
    assert run("init", "--lr", "0.1", "--warmup-steps", "5", "-o", str(native)).exit_code == 0
    result = run("convert", str(native), "--to", "torch", "-o", "-")
    assert result.exit_code == 1
    assert "torch StepLR has no warmup, so warmup_steps=5 cannot be written" in result.stderr


def test_state_option_reads_a_checkpoint(run: Invoke) -> None:
    result = run("at", "--state", str(CHECKPOINTS / "zip_steplr.pt"), "--json")
    assert result.exit_code == 0
    assert json.loads(result.stdout) == {
        "step": 75,
        "epoch": None,
        "mode": "step",
        "lr": 0.001,
        "next_boundary": 90,
        "next_lr": 0.0001,
    }
