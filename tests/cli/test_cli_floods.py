"""Issue 12 item 16: stderr never floods; long lists are summarised as counts plus a few.

A checkpoint with 20,000 scheduler states printed 20,002 lines; 20,000 mismatched
optimizer groups gave 40,000 warning lines (``validate``: one 6.6 MB line); a 1 MB
string in a state file was echoed whole.
"""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import pytest

from tests.cli.conftest import Invoke
from tests.hardening.test_attack_inputs import GENERATOR

STATES = 20_000
SCHEDULERS = 10_000  # 20,000 now run into the pickle work limit first


def _checkpoint(tmp_path: Path, document: object) -> Path:
    path = tmp_path / "flood.pt"
    path.write_bytes(GENERATOR.torch_zip(pickle.dumps(document, protocol=2)))
    return path


def _scheduler(last_epoch: int = 3, groups: int = 1) -> dict[str, object]:
    return {"step_size": 30, "gamma": 0.1, "base_lrs": [0.1] * groups, "last_epoch": last_epoch}


def test_ten_thousand_scheduler_states_are_summarised(run: Invoke, tmp_path: Path) -> None:
    path = _checkpoint(tmp_path, {"schedulers": [_scheduler() for _ in range(SCHEDULERS)]})
    summary = (
        f"{SCHEDULERS} LR scheduler states found (schedulers[0], schedulers[1], schedulers[2], "
        f"schedulers[3], schedulers[4], schedulers[5], schedulers[6], schedulers[7] and "
        f"{SCHEDULERS - 8} more); choose one with --key"
    )
    result = run("inspect", str(path))
    assert result.exit_code == 2
    lines = result.stderr.splitlines()
    assert lines[0] == "scheduler states found (key  type  position):"
    assert lines[1:11] == [f"  schedulers[{index}]  StepLR  last_epoch 3" for index in range(10)]
    assert lines[11] == f"  ... and {SCHEDULERS - 10} more"
    assert len(lines) == 13
    assert summary in lines[12]
    validated = run("validate", str(path))
    assert validated.exit_code == 1
    assert validated.stderr.splitlines() == [f"stepsched: error: {path}: {summary}"]


def test_a_missing_key_lists_a_few_of_the_states(run: Invoke, tmp_path: Path) -> None:
    path = _checkpoint(tmp_path, {"schedulers": [_scheduler() for _ in range(SCHEDULERS)]})
    result = run("inspect", str(path), "--key", "x" * 1_000_000)
    assert result.exit_code == 2
    assert len(result.stderr.splitlines()) == 13
    assert max(len(line) for line in result.stderr.splitlines()) < 500
    assert "no LR scheduler state at key 'xxxxxxxx" in result.stderr
    assert "(str of 1000000 characters)" in result.stderr


def test_twenty_thousand_mismatched_optimizer_groups_are_summarised(
    run: Invoke, tmp_path: Path
) -> None:
    groups = [{"lr": 0.5, "params": [index]} for index in range(STATES)]
    document = {
        "lr_scheduler": _scheduler(groups=STATES),
        "optimizer": {"state": {}, "param_groups": groups},
    }
    path = _checkpoint(tmp_path, document)
    result = run("inspect", str(path))
    assert result.exit_code == 0, result.stderr
    warnings = result.stderr.splitlines()
    assert len(warnings) == 9
    assert warnings[0].endswith("param_groups[0] lr is 0.5 but the scheduler gives 0.1")
    assert warnings[-1].endswith(f"and {2 * STATES - 8} more disagreements")
    validated = run("validate", str(path))
    assert len(validated.stdout) + len(validated.stderr) < 2_000


@pytest.mark.parametrize(
    ("field", "expected"),
    [
        ("format", "field 'format' must be 'stepsched.state', got 'yyyy"),
        ("mode", "field 'mode' must be 'step' or 'epoch', got 'yyyy"),
        ("order", "field 'order' must be 'optimizer_first' or 'scheduler_first', got 'yyyy"),
    ],
)
def test_a_megabyte_string_in_a_state_file_is_not_echoed(
    run: Invoke, tmp_path: Path, field: str, expected: str
) -> None:
    assert run("init", "-o", str(tmp_path / "run.json")).exit_code == 0
    document = json.loads((tmp_path / "run.json").read_text())
    document[field] = "y" * 1_000_000
    path = tmp_path / "big.json"
    path.write_text(json.dumps(document))
    result = run("validate", str(path))
    assert result.exit_code == 1
    output = result.stdout + result.stderr
    assert len(output) < 400
    assert expected in output
    assert "(str of 1000000 characters)" in output


MILESTONES = ",".join(str(milestone) for milestone in range(1, 20_001))


@pytest.mark.parametrize(
    ("target", "description"),
    [
        ("torch", "torch       MultiStepLR(milestones=[1, 2, 3, ..., 20000 (20000 in all)],"),
        ("timm", "timm        MultiStepLRScheduler(lr=0.1, decay_t=[2, 3, 4, ..., 20001 (20000 in"),
        ("optax", 'boundaries_and_scales={"1": 0.999, "2": 0.999, "3": 0.999, ...,'),
    ],
)
def test_twenty_thousand_milestones_are_summarised_in_every_description(
    run: Invoke, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, target: str, description: str
) -> None:
    """Issue 20: a schedule's description names a long list by its ends and its count (the
    framework's own line included), in a few lines; --json keeps every milestone."""
    monkeypatch.chdir(tmp_path)
    made = run("init", "--milestones", MILESTONES, "--gamma", "0.999", "-o", "state.json")
    assert made.stderr == (
        "wrote state.json: lr=0.1, milestones=1,2,3,...,20000 (20000 in all), gamma=0.999, "
        "at step 0\n"
    )
    assert run("convert", "state.json", "--to", target, "-o", "framework.json").exit_code == 0
    result = run("inspect", "framework.json")
    assert (result.exit_code, result.stderr) == (0, "")
    assert len(result.stdout.splitlines()) <= 12
    words = " ".join(result.stdout.split())
    assert " ".join(description.split()) in words
    assert "schedule lr=0.1, milestones=1,2,3,...,20000 (20000 in all), gamma=0.999" in words
    record = json.loads(run("inspect", "framework.json", "--json").stdout)
    assert record["milestones"] == list(range(1, 20_001))
