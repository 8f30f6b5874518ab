"""timm's own training loop with our torch drop-ins, checked on the summary.csv it wrote.

The files in tests/data/dropin/timm/ were written by timm's ``train.py`` ``main()``
(tests/fixtures/make_dropin_timm_run.py: 3 epochs, then resumed by a second ``main()``
from the ``last.pth.tar`` of timm's ``CheckpointSaver`` up to 6); these tests need no
framework.  Every lr timm logged is checked against the plan with tolerance 0: the
exact decimals (0.001, not torch's 0.0010000000000000002), on both sides of the resume.
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
from tests.dropin.test_dropin_runs import cli_available

DATA = Path(__file__).resolve().parent.parent / "data" / "dropin" / "timm"
MANIFEST: dict[str, Any] = json.loads((DATA / "manifest.json").read_text())
PER_EPOCH = StepSchedule(0.1, step_size=2, gamma=0.1)
PER_UPDATE = StepSchedule(0.1, milestones=(5, 9, 14), gamma=0.1)
UPDATES_PER_EPOCH = 4


def test_the_schedulers_reported_the_plan_at_every_training_batch() -> None:
    """What the scheduler answered before each update, across the resume at epoch 3.

    Per epoch, ``last_epoch`` is the epoch (train.py's ``step(3)`` placed the resumed
    scheduler); per update it is the update (``step_update(12)`` placed it).
    """
    epochs, updates = MANIFEST["epochs"]["reported"], MANIFEST["updates"]["reported"]
    assert [row[0] for row in epochs] == [row[0] for row in updates] == list(range(24))
    assert [row[1] for row in epochs] == [update // UPDATES_PER_EPOCH for update in range(24)]
    assert [row[2] for row in epochs] == [
        PER_EPOCH.lr_at(update // UPDATES_PER_EPOCH) for update in range(24)
    ]
    assert [row[1] for row in updates] == list(range(24))
    assert [row[2] for row in updates] == [PER_UPDATE.lr_at(update) for update in range(24)]
    assert sorted({row[2] for row in updates}) == [0.0001, 0.001, 0.01, 0.1]


@pytest.mark.parametrize(("log", "epochs"), [(0, [0, 1, 2]), (1, [3, 4, 5])])
def test_per_epoch_summaries_match_the_plan_exactly(log: int, epochs: list[int]) -> None:
    path = DATA / MANIFEST["epochs"]["logs"][log]
    assert [point.step for point in read_log(path, step_column="epoch")] == epochs
    result = check_log_file(path, PER_EPOCH, step_column="epoch", tolerance=0.0)
    assert result.ok
    assert result.points_checked == 3


def test_per_epoch_lrs_on_both_sides_of_the_resume() -> None:
    before, after = (
        [point.lr for point in read_log(DATA / log, step_column="epoch")]
        for log in MANIFEST["epochs"]["logs"]
    )
    assert before + after == [0.1, 0.1, 0.01, 0.01, 0.001, 0.001]


def after_each_epoch(points: list[LogPoint]) -> list[LogPoint]:
    """train.py logs the lr after the epoch's last step_update: update 4 * (epoch + 1)."""
    return [
        dataclasses.replace(point, step=UPDATES_PER_EPOCH * (point.step + 1)) for point in points
    ]


@pytest.mark.parametrize("log", [0, 1])
def test_per_update_summaries_hold_the_lr_of_the_next_epochs_first_update(log: int) -> None:
    points = list(read_log(DATA / MANIFEST["updates"]["logs"][log], step_column="epoch"))
    assert [point.step for point in points] == [3 * log, 3 * log + 1, 3 * log + 2]
    assert check_log(after_each_epoch(points), PER_UPDATE, tolerance=0.0).ok


def test_per_update_lrs_on_both_sides_of_the_resume() -> None:
    lrs = [
        point.lr
        for log in MANIFEST["updates"]["logs"]
        for point in read_log(DATA / log, step_column="epoch")
    ]
    # updates 4, 8, 12 | 16, 20, 24 (milestones 5, 9, 14)
    assert lrs == [0.1, 0.01, 0.001, 0.0001, 0.0001, 0.0001]


def test_torch_steplr_is_not_accepted_by_timms_loop() -> None:
    """The evidence for the added calls: torch's own class, in the same loop."""
    assert MANIFEST["torch_steplr"] == {
        "main": "AttributeError: 'StepLR' object has no attribute 't_in_epochs'",
        "has_step_update": "False",
        "step(1, metric=None)": (
            "TypeError: LRScheduler.step() got an unexpected keyword argument 'metric'"
        ),
    }


@pytest.mark.parametrize("log", MANIFEST["epochs"]["logs"])
def test_stepsched_check_accepts_timms_summaries(log: str) -> None:
    if not cli_available():
        pytest.skip("the command line's dependencies are not installed here")
    options = [*MANIFEST["epochs"]["check"], "--step-column", "epoch", "--tolerance", "0"]
    result = subprocess.run(
        [sys.executable, "-m", "stepsched_cli", "check", str(DATA / log), *options, "--json"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    document = json.loads(result.stdout)
    assert document["ok"] is True
    assert document["points_checked"] == 3
