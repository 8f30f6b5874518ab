"""Lightning and Hugging Face Trainer runs with our torch drop-ins, checked on their own logs.

The logs in tests/data/dropin/ were written by the frameworks themselves
(tests/fixtures/make_dropin_runs.py: each run checkpointed and resumed by a new
trainer); these tests need no framework.  Every lr a framework logged is checked
against the plan by ``stepsched check`` with tolerance 0: the values are the exact
decimals (0.001, not torch's 0.0010000000000000002), on both sides of the resume.
"""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from stepsched_cli.runlog import LogPoint, check_log, check_log_file, read_log
from stepsched_cli.schedule import StepSchedule

DATA = Path(__file__).resolve().parent.parent / "data" / "dropin"
MANIFEST: dict[str, Any] = json.loads((DATA / "manifest.json").read_text())
LIGHTNING = StepSchedule(0.1, step_size=3, gamma=0.1)
HF = StepSchedule(0.1, milestones=(4, 7, 10), gamma=0.1)


def test_the_manifest_records_what_the_schedulers_reported() -> None:
    """The values seen by a callback in the runs are the exact plan, across the resume."""
    lightning = MANIFEST["lightning"]["reported"]
    assert [step for step, _ in lightning] == list(range(20))
    assert [lr for _, lr in lightning] == [LIGHTNING.lr_at(step) for step in range(20)]
    # The Trainer's callback runs after scheduler.step(): position = steps done.
    hf = MANIFEST["hf_trainer"]["reported"]
    assert [step for step, _ in hf] == list(range(1, 13))
    assert [lr for _, lr in hf] == [HF.lr_at(step) for step in range(1, 13)]
    assert {lr for _, lr in lightning} >= {0.001, 1e-07}


@pytest.mark.parametrize("log", MANIFEST["lightning"]["logs"])
def test_lightning_logs_match_the_plan_exactly(log: str) -> None:
    result = check_log_file(DATA / log, LIGHTNING, tolerance=0.0)
    assert result.ok
    assert result.points_checked == 10


def test_lightning_resumed_at_the_checkpoint() -> None:
    before, after = (list(read_log(DATA / log)) for log in MANIFEST["lightning"]["logs"])
    assert [p.step for p in before] == list(range(10))
    assert [p.step for p in after] == list(range(10, 20))
    assert after[0].lr == 0.0001 == before[-1].lr  # positions 9 and 10: three decays


def shifted(points: list[LogPoint]) -> list[LogPoint]:
    return [dataclasses.replace(point, step=point.step - 1) for point in points]


def test_hf_log_history_matches_the_plan_with_the_trainers_step_numbering() -> None:
    """The Trainer logs the lr a step trained with under the count of steps done.

    transformers 5 reads the lr before ``lr_scheduler.step()`` and logs it at
    ``global_step`` after the increment, so logged step s holds iteration s - 1's lr:
    check calls exactly that "one step behind" and finds nothing else wrong.
    """
    log = DATA / MANIFEST["hf_trainer"]["log_history"]
    raw = check_log_file(log, HF, tolerance=0.0)
    assert not raw.ok
    assert raw.diagnosis is not None
    assert raw.diagnosis.kind == "behind_by_one"
    points = list(read_log(log))
    assert [p.step for p in points] == list(range(1, 13))
    assert check_log(shifted(points), HF, tolerance=0.0).ok


def test_hf_tensorboard_run_holds_the_same_lrs_in_float32() -> None:
    pytest.importorskip("tensorboard")
    numpy = pytest.importorskip("numpy")
    from stepsched_cli.runlog import read_events

    points = list(
        read_events(str(DATA / MANIFEST["hf_trainer"]["logs"][0]), MANIFEST["hf_trainer"]["tag"])
    )
    assert [p.step for p in points] == list(range(1, 13))  # both halves, resumed at 6
    assert [p.lr for p in points] == [float(numpy.float32(HF.lr_at(p.step - 1))) for p in points]


def cli_available() -> bool:
    probe = subprocess.run(
        [sys.executable, "-c", "import stepsched_cli.cli.app"], capture_output=True, check=False
    )
    return probe.returncode == 0


@pytest.mark.parametrize("log", MANIFEST["lightning"]["logs"])
def test_stepsched_check_accepts_the_lightning_logs(log: str) -> None:
    if not cli_available():
        pytest.skip("the command line's dependencies are not installed here")
    arguments = [*MANIFEST["lightning"]["check"], "--tolerance", "0", "--json"]
    result = subprocess.run(
        [sys.executable, "-m", "stepsched_cli", "check", str(DATA / log), *arguments],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["ok"] is True
