"""``stepsched check``: every recorded log, the units hint, plausibility warnings, progress on a
terminal, and its failures."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console

from stepsched_cli.cli.check_progress import CheckProgress, progress_for
from stepsched_cli.schedule import StepSchedule

from .conftest import Invoke

EPOCHS = StepSchedule(0.1, step_size=30, gamma=0.1, mode="epoch")
LOGS = Path(__file__).resolve().parents[1] / "data" / "logs"
MANIFEST = json.loads((LOGS / "manifest.json").read_text())


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


# -- check ---------------------------------------------------------------------------


def schedule_args(entry: dict[str, Any]) -> list[str]:
    schedule = entry["schedule"]
    args = [
        *("--lr", str(schedule["initial_lr"]), "--gamma", str(schedule["gamma"])),
        *("--mode", schedule["mode"], "--steps-per-epoch", str(entry["steps_per_epoch"])),
    ]
    if "milestones" in schedule:
        return [*args, "--milestones", ",".join(str(m) for m in schedule["milestones"])]
    return [*args, "--step-size", str(schedule["step_size"])]


@pytest.mark.parametrize("entry", MANIFEST["logs"], ids=lambda entry: entry["file"])
def test_check_every_recorded_log(run: Invoke, entry: dict[str, Any]) -> None:
    expected = entry["expected"]
    result = run("check", str(LOGS / entry["file"]), *schedule_args(entry), "--json")
    assert result.exit_code == (0 if expected["ok"] else 1), result.stderr
    assert result.stderr == ""
    report = json.loads(result.stdout)
    assert list(report) == [
        "ok", "first_mismatch_step", "expected_lr", "logged_lr", "diagnosis", "points_checked",
        "decays", "steps_from", "counting_note",
    ]  # fmt: skip
    assert report["ok"] is expected["ok"]
    assert report["first_mismatch_step"] == expected["first_mismatch_step"]
    assert report["points_checked"] == expected["points_checked"]
    if expected["ok"]:
        assert report["diagnosis"] is None
    else:
        assert report["diagnosis"]["kind"] == expected["kind"]
        assert report["diagnosis"]["factor"] == expected["factor"]
        assert report["diagnosis"]["resume_at"] == expected["resume_at"]


GRAD_ACCUM = ["--lr", "0.1", "--step-size", "20", "--gamma", "0.5"]


def test_check_human_mismatch(run: Invoke) -> None:
    result = run("check", str(LOGS / "grad_accum_4.jsonl"), *GRAD_ACCUM)
    assert result.exit_code == 1
    assert result.stderr == ""
    assert result.stdout.splitlines()[:4] == [
        "mismatch at step 5: expected lr 0.1, logged 0.05 (95 of 100 points differ)",
        "diagnosis: the lr decays 4 times too early: at step t the log holds the schedule's "
        "lr at 4*t (first mismatch at step 5: expected 0.1, logged 0.05); the scheduler is "
        "stepped 4 times per optimizer step: per micro-batch under gradient accumulation, or "
        "per batch while step_size counts epochs",
        "decays: planned and observed (the first logged step at the new lr)",
        "",
    ]
    table = result.stdout.splitlines()[4:]
    assert table[0].split() == ["planned", "at", "step", "observed", "at", "difference",
                                "planned", "lr", "logged", "lr"]  # fmt: skip
    assert [line.split() for line in table[2:7]] == [
        ["20", "5", "-15", "0.1", "->", "0.05", "0.1", "->", "0.05"],
        ["40", "10", "-30", "0.05", "->", "0.025", "0.05", "->", "0.025"],
        ["60", "15", "-45", "0.025", "->", "0.0125", "0.025", "->", "0.0125"],
        ["80", "20", "-60", "0.0125", "->", "0.00625", "0.0125", "->", "0.00625"],
        ["-", "25", "-", "-", "0.00625", "->", "0.003125"],
    ]
    assert table[-1] == "... 13 more (all in --json)"


def test_check_human_ok(run: Invoke) -> None:
    result = run("check", str(LOGS / "correct.csv"), *GRAD_ACCUM)
    assert (result.exit_code, result.stderr) == (0, "")
    assert result.stdout == "ok: 100 points match lr=0.1, step_size=20, gamma=0.5\n"


def test_check_names_other_consistent_causes(run: Invoke) -> None:
    result = run("check", str(LOGS / "never_stepped.jsonl"), *GRAD_ACCUM)
    assert result.exit_code == 1
    assert "also consistent with: late" in result.stdout.splitlines()


def test_check_reads_stdin(run: Invoke) -> None:
    log = (LOGS / "resume_reset.csv").read_text()
    result = run("check", "-", *GRAD_ACCUM, "--json", input=log)
    assert result.exit_code == 1
    assert json.loads(result.stdout)["diagnosis"]["kind"] == "reset"


def test_check_columns_and_format(run: Invoke) -> None:
    log = "iteration,my_lr,other\n0,0.1,3\n20,0.05,4\n"
    result = run("check", "-", *GRAD_ACCUM, "--step-column", "iteration", "--lr-column", "my_lr",
                 "--log-format", "csv", "--json", input=log)  # fmt: skip
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["points_checked"] == 2


def test_check_tolerance(run: Invoke) -> None:
    log = "step,lr\n0,0.1001\n"
    assert run("check", "-", *GRAD_ACCUM, input=log).exit_code == 1
    assert run("check", "-", *GRAD_ACCUM, "--tolerance", "0.01", input=log).exit_code == 0


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["missing.csv", *GRAD_ACCUM], 1, "missing.csv: no such file"),
        (["-", *GRAD_ACCUM, "--tolerance", "1"], 2, "Invalid value for '--tolerance'"),
        (["-", *GRAD_ACCUM, "--log-format", "xml"], 2, "Invalid value for '--log-format'"),
        (["-", "--lr", "0", "--step-size", "20"], 2, "Invalid value for '--lr'"),
        (["-", *GRAD_ACCUM, "--lr-column", "nope"], 1, "<stdin>"),
    ],
)
def test_check_errors(run: Invoke, args: list[str], code: int, message: str) -> None:
    result = run("check", *args, input="step,lr\n0,0.1\n")
    assert result.exit_code == code
    assert result.stdout == ""
    assert result.stderr.startswith("stepsched: error: " + message), result.stderr
    assert result.stderr.count("\n") == 1


def test_check_stdin_with_a_byte_order_mark_passes_like_the_file(
    run: Invoke, tmp_path: Path
) -> None:
    data = b"\xef\xbb\xbfstep,lr\r\n0,0.1\r\n30,0.01\r\n"
    (tmp_path / "excel.csv").write_bytes(data)
    expected = "ok: 2 points match lr=0.1, step_size=30, gamma=0.1\n"
    from_file = run("check", str(tmp_path / "excel.csv"), "--lr", "0.1")
    from_stdin = run("check", "-", "--lr", "0.1", input=data)
    assert (from_file.exit_code, from_file.stdout) == (0, expected)
    assert (from_stdin.exit_code, from_stdin.stdout, from_stdin.stderr) == (0, expected, "")


def test_check_refuses_stdin_for_both_log_and_state(run: Invoke) -> None:
    state = run("init", "--lr", "0.1", "-o", "-").stdout
    result = run("check", "-", "--state", "-", input=state)
    assert result.exit_code == 2
    assert result.stdout == ""
    assert result.stderr == (
        "stepsched: error: Invalid value for '--state': only one of LOG and --state can be - "
        "(standard input) (see 'stepsched check --help')\n"
    )


@pytest.mark.parametrize(
    ("log", "message"),
    [
        ("a,lr\n0,0.1\n",
         "<stdin>: no step column recognised among 'a', 'lr' (known names: step, global_step, "
         "global step, trainer/global_step, train/global_step, optimizer_step, iteration, "
         "iter, _step); choose one with --step-column"),
        ("step,lr-SGD,lr-Adam\n0,0.1,0.1\n",
         "<stdin>: several columns look like a learning rate ('lr-SGD', 'lr-Adam'); "
         "choose one with --lr-column"),
    ],
)  # fmt: skip
def test_check_errors_name_the_column_options(run: Invoke, log: str, message: str) -> None:
    result = run("check", "-", "--lr", "0.1", input=log)
    assert result.exit_code == 1
    assert result.stderr == f"stepsched: error: {message}\n"


def test_check_empty_log(run: Invoke) -> None:
    result = run("check", "-", *GRAD_ACCUM, input="")
    assert result.exit_code == 1
    assert result.stderr.startswith("stepsched: error: <stdin>: is empty")
