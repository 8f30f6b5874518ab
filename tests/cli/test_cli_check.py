"""``stepsched check``: the units hint, plausibility warnings and progress on a terminal."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from rich.console import Console

from stepsched_cli.cli.check_progress import CheckProgress, progress_for
from stepsched_cli.schedule import StepSchedule

from .conftest import Invoke

EPOCHS = StepSchedule(0.1, step_size=30, gamma=0.1, mode="epoch")


def step_indexed_log(path: Path) -> Path:
    rows = "".join(f"{t},{EPOCHS.lr_at(t // 5005)}\n" for t in range(0, 90 * 5005, 1000))
    path.write_text("step,lr\n" + rows)
    return path


def test_epoch_mode_without_steps_per_epoch_names_the_option(run: Invoke, tmp_path: Path) -> None:
    log = step_indexed_log(tmp_path / "run.csv")
    result = run("check", str(log), "--lr", "0.1", "--step-size", "30", "--mode", "epoch")
    assert result.exit_code == 1
    lines = result.stdout.splitlines()
    assert (
        lines[0]
        == "mismatch at step 1000: expected lr 1e-34, logged 0.1 (450 of 451 points differ)"
    )
    assert "the units are mixed and the code may well be right" in lines[1]
    assert lines[2] == (
        "hint: the schedule counts epochs: give --steps-per-epoch (or --dataset-size and "
        "--batch-size) so that logged optimizer steps are read as epochs"
    )
    fixed = run("check", str(log), "--lr", "0.1", "--step-size", "30", "--mode", "epoch",
                "--steps-per-epoch", "5005")  # fmt: skip
    assert (fixed.exit_code, fixed.stdout) == (
        0,
        "ok: 451 points match lr=0.1, step_size=30, gamma=0.1, mode=epoch\n",
    )


def test_an_epoch_log_with_steps_per_epoch_gets_the_other_hint(run: Invoke, tmp_path: Path) -> None:
    log = tmp_path / "epochs.csv"
    log.write_text("epoch,lr\n" + "".join(f"{e},{EPOCHS.lr_at(e)}\n" for e in range(90)))
    result = run("check", str(log), "--lr", "0.1", "--step-size", "30", "--mode", "epoch",
                 "--steps-per-epoch", "5005", "--step-column", "epoch")  # fmt: skip
    assert result.exit_code == 1
    assert "steps_per_epoch (5005) is in that range" in result.stdout
    assert (
        "hint: if the log's step column counts epochs, check it without --steps-per-epoch "
        "and the data pipeline options"
    ) in result.stdout.splitlines()


def test_check_gives_the_plausibility_warnings(run: Invoke) -> None:
    result = run("check", "-", "--lr", "0.1", "--step-size", "30", "--steps-per-epoch", "5005",
                 input="step,lr\n0,0.1\n")  # fmt: skip
    assert result.exit_code == 0
    assert result.stderr == (
        "stepsched: warning: step_size 30 is under a tenth of an epoch (5005 steps): epochs "
        "were probably meant; did you mean --mode epoch?\n"
    )


def test_progress_shows_rows_and_rate_after_a_while() -> None:
    output = io.StringIO()
    console = Console(file=output, force_terminal=True, width=80, color_system=None)
    with CheckProgress(console, started=0.0) as progress:
        progress(1_000_000)
        progress(2_000_000)
    assert "checked 2,000,000 rows" in output.getvalue()
    assert "rows/s)" in output.getvalue()


def test_progress_is_silent_at_first() -> None:
    output = io.StringIO()
    console = Console(file=output, force_terminal=True)
    with CheckProgress(console) as progress:
        progress(10)
    assert output.getvalue() == ""


def test_progress_only_for_people_on_a_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    monkeypatch.setattr("sys.stderr", io.StringIO())
    assert progress_for(json_output=False) is None
    monkeypatch.setattr("sys.stderr", Terminal())
    assert progress_for(json_output=True) is None
    assert isinstance(progress_for(json_output=False), CheckProgress)
