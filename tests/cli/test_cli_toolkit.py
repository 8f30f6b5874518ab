"""``steps-per-epoch``, ``check``, ``solve``, ``diff``, the data pipeline options and the
plausibility warnings, through the command line: stdout and stderr apart, exact values."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from typer.testing import Result

Invoke = Callable[..., Result]

LOGS = Path(__file__).resolve().parents[1] / "data" / "logs"
MANIFEST = json.loads((LOGS / "manifest.json").read_text())
IMAGENET = ["--dataset-size", "1281167"]


# -- steps-per-epoch -------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--batch-size", "256"], 5005),
        (["--batch-size", "256", "--drop-last"], 5004),
        (["--batch-size", "32", "--world-size", "8"], 5005),
        (["--batch-size", "32", "--world-size", "8", "--grad-accum", "4"], 1252),
        (
            ["--batch-size", "32", "--world-size", "8", "--grad-accum", "4",
             "--accumulation-rounding", "floor"],
            1251,
        ),
    ],
)  # fmt: skip
def test_steps_per_epoch_imagenet(run: Invoke, args: list[str], expected: int) -> None:
    result = run("steps-per-epoch", *IMAGENET, *args, "--json")
    assert result.exit_code == 0, result.stderr
    assert result.stderr == ""
    assert json.loads(result.stdout)["steps_per_epoch"] == expected


def test_steps_per_epoch_json_has_every_figure(run: Invoke) -> None:
    result = run("steps-per-epoch", *IMAGENET, "--batch-size", "32", "--world-size", "8", "--json")
    assert json.loads(result.stdout) == {
        "steps_per_epoch": 5005,
        "dataset_size": 1281167,
        "batch_size": 32,
        "global_batch_size": None,
        "world_size": 8,
        "grad_accum": 1,
        "drop_last": False,
        "accumulation_rounding": "ceil",
        "samples_per_rank": 160146,
        "batches_per_rank": 5005,
    }


def test_steps_per_epoch_from_a_global_batch(run: Invoke) -> None:
    args = [*IMAGENET, "--global-batch-size", "512", "--world-size", "8", "--grad-accum", "2"]
    record = json.loads(run("steps-per-epoch", *args, "--json").stdout)
    assert (record["batch_size"], record["global_batch_size"]) == (32, 512)
    assert record["steps_per_epoch"] == 2503
    assert run("steps-per-epoch", *args).stdout == (
        "batch per rank    512 / (8 ranks x 2 accumulated) = 32\n"
        "samples per rank  ceil(1281167 / 8) = 160146\n"
        "batches per rank  ceil(160146 / 32) = 5005\n"
        "steps per epoch   ceil(5005 / 2) = 2503\n"
    )


def test_steps_per_epoch_shows_the_formula(run: Invoke) -> None:
    result = run("steps-per-epoch", *IMAGENET, "--batch-size", "256", "--drop-last")
    assert result.stdout == (
        "batch per rank    256 (--batch-size is per rank)\n"
        "samples per rank  ceil(1281167 / 1) = 1281167\n"
        "batches per rank  floor(1281167 / 256) = 5004\n"
        "steps per epoch   ceil(5004 / 1) = 5004\n"
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            [],
            "Invalid value for '--dataset-size': give --dataset-size and --batch-size (or "
            "--global-batch-size)",
        ),
        (["--batch-size", "2"], "Invalid value for '--dataset-size': --dataset-size is needed"),
        (["--dataset-size", "10"], "Invalid value for '--batch-size': --batch-size is needed"),
        (
            ["--dataset-size", "10", "--batch-size", "0"],
            "Invalid value for '--batch-size': batch_size must be an integer >= 1, got 0",
        ),
        (
            ["--dataset-size", "10", "--batch-size", "2", "--world-size", "0"],
            "Invalid value for '--world-size': world_size must be an integer >= 1, got 0",
        ),
        (
            ["--dataset-size", "1", "--batch-size", "2", "--drop-last"],
            "Invalid value: an epoch of 1 samples gives 0 batches",
        ),
        (
            ["--dataset-size", "1", "--batch-size", "1", "--accumulation-rounding", "round"],
            "Invalid value for '--accumulation-rounding'",
        ),
    ],
)
def test_steps_per_epoch_usage_errors(run: Invoke, args: list[str], message: str) -> None:
    result = run("steps-per-epoch", *args)
    assert result.exit_code == 2
    assert result.stdout == ""
    assert result.stderr.startswith("stepsched: error: " + message), result.stderr
    assert result.stderr.count("\n") == 1


# -- the data pipeline options on schedule commands ------------------------------


@pytest.mark.parametrize("command", ["table", "boundaries", "at", "plot", "init", "code"])
def test_every_schedule_command_takes_the_pipeline_options(run: Invoke, command: str) -> None:
    result = run(command, "--help")
    for option in ("--dataset-size", "--batch-size", "--world-size", "--grad-accum",
                   "--drop-last", "--accumulation-rounding"):  # fmt: skip
        assert option in result.stdout, (command, option)


def test_pipeline_gives_the_steps_per_epoch(run: Invoke) -> None:
    pipeline = run(
        "table", "--lr", "0.1", "--mode", "epoch", *IMAGENET, "--batch-size", "256", "-f", "json"
    )
    explicit = run("table", "--lr", "0.1", "--mode", "epoch", "--steps-per-epoch", "5005",
                   "-f", "json")  # fmt: skip
    assert pipeline.exit_code == 0, pipeline.stderr
    assert pipeline.stdout == explicit.stdout
    assert json.loads(pipeline.stdout)[1]["start_step"] == 150150


def test_pipeline_at_in_epochs(run: Invoke) -> None:
    result = run("at", "45", "--lr", "0.1", "--mode", "epoch", *IMAGENET, "--batch-size", "32",
                 "--world-size", "8", "--json")  # fmt: skip
    assert json.loads(result.stdout) == {
        "step": 225225, "epoch": 45, "mode": "epoch", "lr": 0.01, "next_boundary": 60,
        "next_lr": 0.001,
    }  # fmt: skip


def test_pipeline_and_steps_per_epoch_conflict(run: Invoke) -> None:
    result = run("table", "--lr", "0.1", "--steps-per-epoch", "5", *IMAGENET, "--batch-size", "2")
    assert result.exit_code == 2
    assert result.stdout == ""
    assert result.stderr.startswith(
        "stepsched: error: Invalid value for '--steps-per-epoch': give either --steps-per-epoch "
        "or the data pipeline (--dataset-size, ...), not both"
    )


# -- plausibility warnings ---------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "warning"),
    [
        (
            ["table", "--lr", "0.1", "--step-size", "200", "--total", "100"],
            "step_size 200: the first decay at step 200 is beyond the horizon (100 steps); "
            "the lr never decays",
        ),
        (
            ["boundaries", "--lr", "0.1", "--milestones", "30,80", "--total", "50"],
            "milestone 80 at or beyond the horizon (50 steps) is never reached",
        ),
        (
            ["table", "--lr", "0.1", "--step-size", "30", *IMAGENET, "--batch-size", "256"],
            "step_size 30 is under a tenth of an epoch (5005 steps): epochs were probably "
            "meant; did you mean --mode epoch?",
        ),
        (
            ["at", "5", "--lr", "0.1", "--step-size", "1", "--gamma", "1e-200"],
            "the lr underflows to 0 at step 2, after 2 decays of gamma 1e-200: every later "
            "step trains with lr 0",
        ),
    ],
)
def test_warnings_go_to_stderr_and_change_nothing(
    run: Invoke, args: list[str], warning: str
) -> None:
    warned = run(*args)
    assert warned.exit_code == 0, warned.stderr
    assert warned.stderr == f"stepsched: warning: {warning}\n"
    assert warned.stdout != ""


def test_warnings_leave_json_alone(run: Invoke) -> None:
    result = run("table", "--lr", "0.1", "--step-size", "200", "--total", "100", "-f", "json")
    assert json.loads(result.stdout) == [{"start_step": 0, "end_step": 99, "lr": 0.1}]
    assert result.stderr.startswith("stepsched: warning: step_size 200")


def test_plausible_schedules_are_quiet(run: Invoke) -> None:
    assert run("table", "--lr", "0.1", "--step-size", "30", "--total", "120").stderr == ""


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
        "decays",
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


# -- solve --------------------------------------------------------------------------


def test_solve_decays(run: Invoke) -> None:
    result = run("solve", "--lr", "0.1", "--final-lr", "0.0001", "--total", "90", "--decays", "3",
                 "--json")  # fmt: skip
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout) == {
        "step_size": 22, "gamma": 0.1, "decays": 3, "final_lr": 0.0001, "reached_at": 66,
        "total": 90, "milestones": [22, 44, 66],
        "stages": [
            {"start": 0, "length": 22, "lr": 0.1},
            {"start": 22, "length": 22, "lr": 0.01},
            {"start": 44, "length": 22, "lr": 0.001},
            {"start": 66, "length": 24, "lr": 0.0001},
        ],
        "mode": "step",
    }  # fmt: skip


@pytest.mark.parametrize(
    "args",
    [
        ["--total", "90", "--mode", "epoch"],
        ["--epochs", "90", "--mode", "epoch"],
        ["--total", "450450st", "--mode", "epoch", "--steps-per-epoch", "5005"],
    ],
)
def test_solve_splits_the_classic_run_into_three_equal_stages(run: Invoke, args: list[str]) -> None:
    result = run("solve", "--lr", "0.1", "--final-lr", "0.001", "--decays", "2", *args)
    assert result.exit_code == 0, result.stderr
    assert result.stdout == (
        "step_size  30\n"
        "gamma      0.1\n"
        "decays     2 (the last at epoch 60)\n"
        "stages     3 of 30 epochs: 0.1 at epochs 0-29, 0.01 at epochs 30-59, 0.001 at "
        "epochs 60-89\n"
        "final lr   0.001 from epoch 60, inside the run (epochs 0-89)\n"
    )


def test_solve_in_steps_of_an_epoch_recipe(run: Invoke) -> None:
    result = run("solve", "--lr", "0.1", "--final-lr", "0.001", "--decays", "2", "--total",
                 "90ep", "--dataset-size", "1281167", "--global-batch-size", "256",
                 "--json")  # fmt: skip
    assert result.exit_code == 0, result.stderr
    solution = json.loads(result.stdout)
    assert (solution["step_size"], solution["total"], solution["mode"]) == (150150, 450450, "step")


def test_solve_human(run: Invoke) -> None:
    result = run("solve", "--lr", "0.1", "--final-lr", "0.001", "--total", "100", "--decays", "2")
    assert result.stdout == (
        "milestones 33,66 (every 33 steps: a step size alone would decay once more inside the "
        "run)\n"
        "gamma      0.1\n"
        "decays     2 (the last at step 66)\n"
        "stages     33, 33 and 34 steps: 0.1 at steps 0-32, 0.01 at steps 33-65, 0.001 at "
        "steps 66-99\n"
        "final lr   0.001 from step 66, inside the run (steps 0-99)\n"
    )


@pytest.mark.parametrize(
    "choice",
    [["--decays", "4"], ["--step-size", "25"], ["--step-size", "7"], ["--gamma", "0.5"]],
)
def test_solution_fed_back_into_table_gives_the_final_lr(run: Invoke, choice: list[str]) -> None:
    final_lr = "0.00625" if choice == ["--gamma", "0.5"] else "0.0001"
    solved = run("solve", "--lr", "0.1", "--final-lr", final_lr, "--total", "100", *choice,
                 "--json")  # fmt: skip
    assert solved.exit_code == 0, solved.stderr
    solution = json.loads(solved.stdout)
    table = run("table", "--lr", "0.1", "--step-size", str(solution["step_size"]),
                "--gamma", repr(solution["gamma"]), "--total", "100", "--every", "99",
                "-f", "json")  # fmt: skip
    assert table.exit_code == 0, table.stderr
    at_total = json.loads(table.stdout)[-1]
    assert at_total["step"] == 99  # the run's last position: the final lr is reached in it
    assert solution["reached_at"] <= 99
    assert at_total["lr"] == solution["final_lr"]
    assert at_total["lr"] == pytest.approx(float(final_lr), rel=1e-12)


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["--decays", "5"], 2, "Invalid value for '--total': give the run's length"),
        (["--total", "90", "--epochs", "3", "--decays", "5"], 2,
         "Invalid value for '--epochs': give either --total or --epochs, not both"),
        (["--total", "90", "--step-size", "2ep", "--mode", "epoch", "--steps-per-epoch", "0"],
         2, "Invalid value for '--steps-per-epoch'"),
        (["--total", "100", "--gamma", "0.3"], 1, "gamma 0.3 takes 0.1 to 0.0001 after"),
        (["--total", "90", "--decays", "3", "--gamma", "0.1"], 2,
         "Invalid value for '--gamma': give exactly one of --decays, --step-size, --gamma "
         "(got --decays and --gamma)"),
        (["--total", "90"], 2, "Invalid value for '--decays': give exactly one of"),
        (["--total", "0", "--decays", "3"], 2, "Invalid value for '--total': total must be"),
        (["--total", "1", "--decays", "3"], 2, "Invalid value for '--total': total must be"),
        (["--total", "90", "--step-size", "91"], 2, "Invalid value for '--step-size'"),
        (["--total", "90", "--gamma", "1.5"], 2, "Invalid value for '--gamma': gamma must be"),
    ],
)  # fmt: skip
def test_solve_errors(run: Invoke, args: list[str], code: int, message: str) -> None:
    result = run("solve", "--lr", "0.1", "--final-lr", "0.0001", *args)
    assert result.exit_code == code
    assert result.stdout == ""
    assert result.stderr.startswith("stepsched: error: " + message), result.stderr
    assert result.stderr.count("\n") == 1


def test_solve_refuses_a_gamma_too_coarse_for_its_decays(run: Invoke) -> None:
    result = run("solve", "--lr", "1", "--final-lr", "0.25", "--total", str(2**63 + 1),
                 "--step-size", "500", "--json")  # fmt: skip
    assert result.exit_code == 1
    assert result.stdout == ""
    assert result.stderr == (
        "stepsched: error: gamma 0.9999999999999999 cannot be represented precisely enough "
        "for 18446744073709551 decays: its rounding compounds to lr 0.15807678114641743 at "
        "position 9223372036854775808, not 0.25 (relative error 0.37, more than 1e-06); "
        "ask for fewer decays\n"
    )


def test_solve_final_lr_above_lr_is_a_usage_error(run: Invoke) -> None:
    result = run("solve", "--lr", "0.1", "--final-lr", "0.2", "--total", "90", "--decays", "3")
    assert result.exit_code == 2
    assert result.stderr.startswith("stepsched: error: Invalid value for '--final-lr'")


# -- diff -----------------------------------------------------------------------------

BASE = ["--lr", "0.1", "--step-size", "30"]


def test_diff_one_spec_is_base_against_base_plus_spec(run: Invoke) -> None:
    result = run("diff", "gamma=0.5,step_size=20", *BASE, "--total", "90", "-f", "json")
    assert result.exit_code == 0, result.stderr
    assert result.stderr == ""
    assert json.loads(result.stdout) == [
        {"start_step": 20, "end_step": 29, "lr_a": 0.1, "lr_b": 0.05, "ratio": 0.5},
        {"start_step": 30, "end_step": 39, "lr_a": 0.01, "lr_b": 0.05, "ratio": 5.0},
        {"start_step": 40, "end_step": 59, "lr_a": 0.01, "lr_b": 0.025, "ratio": 2.5},
        {"start_step": 60, "end_step": 79, "lr_a": 0.001, "lr_b": 0.0125, "ratio": 12.5},
        {"start_step": 80, "end_step": 89, "lr_a": 0.001, "lr_b": 0.00625, "ratio": 6.25},
    ]


def test_diff_two_specs(run: Invoke) -> None:
    result = run("diff", "lr=0.05", "milestones=30:80", *BASE, "--total", "90", "-f", "csv")
    assert result.stdout == (
        "start_step,end_step,lr_a,lr_b,ratio\n"
        "0,29,0.05,0.1,2.0\n"
        "30,59,0.005,0.01,2.0\n"
        "60,79,0.0005,0.01,20.0\n"
        "80,89,0.0005,0.001,2.0\n"
    )


def test_diff_human_and_markdown(run: Invoke) -> None:
    human = run("diff", "lr=0.05", *BASE, "--total", "60")
    assert human.stdout.splitlines()[:2] == [
        "A: lr=0.1, step_size=30, gamma=0.1",
        "B: lr=0.05, step_size=30, gamma=0.1",
    ]
    assert "   0-29    0.1    0.05   0.5" in human.stdout
    markdown = run("diff", "lr=0.05", *BASE, "--total", "60", "-f", "markdown")
    assert markdown.stdout == (
        "| steps | lr A | lr B | B/A |\n|---:|---:|---:|---:|\n"
        "| 0-29 | 0.1 | 0.05 | 0.5 |\n| 30-59 | 0.01 | 0.005 | 0.5 |\n"
    )


def test_diff_default_horizon_and_epochs(run: Invoke) -> None:
    result = run("diff", "step_size=40", *BASE, "--mode", "epoch", "--steps-per-epoch", "10",
                 "-f", "json")  # fmt: skip
    rows = json.loads(result.stdout)
    assert rows[0] == {
        "start_step": 300, "end_step": 399, "start_epoch": 30, "end_epoch": 39,
        "lr_a": 0.01, "lr_b": 0.1, "ratio": 10.0,
    }  # fmt: skip
    assert rows[-1]["end_epoch"] == 159  # one interval past B's third decay (120)


def test_diff_ramps_and_infinite_ratio(run: Invoke) -> None:
    result = run("diff", "warmup_steps=2", "--lr", "0.1", "--step-size", "3", "--total", "4",
                 "-f", "json")  # fmt: skip
    rows = json.loads(result.stdout)
    assert rows[0] == {"start_step": 0, "end_step": 1, "lr_a": 0.1, "lr_b": 0.0, "ratio": 0.0,
                       "lr_a_end": 0.1, "lr_b_end": 0.05}  # fmt: skip


def test_diff_ratio_overflow_is_inf_and_the_listing_completes(run: Invoke) -> None:
    args = ["diff", "lr=1e300,step_size=1000", "--lr", "0.1", "--step-size", "1", "--total", "400"]
    csv_result = run(*args, "--format", "csv")
    assert csv_result.exit_code == 0, csv_result.stderr
    assert csv_result.stderr == ""
    lines = csv_result.stdout.splitlines()
    assert lines[7:10] == [
        "6,6,1e-07,1e+300,1e+307",
        "7,7,1e-08,1e+300,1e+308",
        "8,8,1e-09,1e+300,",
    ]
    assert lines[-1] == "323,399,0.0,1e+300,"
    assert len(lines) == 325
    rows = json.loads(run(*args, "--format", "json").stdout)
    assert rows[8] == {"start_step": 8, "end_step": 8, "lr_a": 1e-09, "lr_b": 1e300, "ratio": None}
    human = [line.rstrip() for line in run(*args).stdout.splitlines()]
    assert human[5:7] == [
        "        0            0.1   1e+300   1e+301",
        "        1           0.01   1e+300   1e+302",
    ]
    assert human[13] == "        8          1e-09   1e+300      inf"
    assert human[-1] == "  323-399              0   1e+300      inf"


def test_diff_zero_over_zero_is_undefined_not_inf(run: Invoke) -> None:
    args = ["diff", "warmup_steps=10", "--lr", "0.1", "--step-size", "30", "--warmup-steps", "5",
            "--total", "50"]  # fmt: skip
    human = run(*args)
    assert human.exit_code == 0, human.stderr
    assert human.stdout == (
        "A: lr=0.1, step_size=30, gamma=0.1, warmup_steps=5\n"
        "B: lr=0.1, step_size=30, gamma=0.1, warmup_steps=10\n"
        "\n"
        "  steps        lr A           lr B   B/A\n"
        " ────────────────────────────────────────\n"
        "    0-4   0 to 0.08      0 to 0.04     -\n"
        "    5-9         0.1   0.05 to 0.09   0.5\n"
    )
    rows = json.loads(run(*args, "-f", "json").stdout)
    assert rows[0] == {"start_step": 0, "end_step": 4, "lr_a": 0.0, "lr_b": 0.0, "ratio": None,
                       "lr_a_end": 0.08, "lr_b_end": 0.04}  # fmt: skip


def test_diff_of_equal_schedules(run: Invoke) -> None:
    result = run("diff", "gamma=0.1", *BASE, "-f", "json")
    assert (result.exit_code, result.stdout) == (0, "[]\n")
    assert result.stderr == "the schedules agree at every step below 120\n"


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["a=1", *BASE], 2, "Invalid value for 'SPEC': SPEC 'a=1': unknown key 'a'"),
        (["gamma=2", *BASE], 2, "Invalid value for 'SPEC': SPEC 'gamma=2': gamma must be"),
        (
            ["mode=epoch", *BASE],
            2,
            "Invalid value for 'SPEC': cannot compare a step-mode schedule with an epoch-mode "
            "one: their positions count different units; give both the same mode "
            "(see 'stepsched diff --help')\n",
        ),
        (
            ["step_size=\u00b2", "--lr", "0.1"],
            2,
            "Invalid value for 'SPEC': SPEC 'step_size=\u00b2': step_size must be an integer, "
            "got '\u00b2' (see 'stepsched diff --help')\n",
        ),
        (
            ["milestones=30:\u0668\u0660", "--lr", "0.1"],
            2,
            "Invalid value for 'SPEC': SPEC 'milestones=30:\u0668\u0660': milestones must be "
            "integers separated by ',', ':' or ';', got '\u0668\u0660' (see 'stepsched diff "
            "--help')\n",
        ),
        (
            ["lr=1", "lr=2", "lr=3", *BASE],
            2,
            "Invalid value for 'SPEC': give one or two SPECs, got 3",
        ),
        ([*BASE], 2, "Missing argument 'SPEC [SPEC]'."),
    ],
)
def test_diff_errors(run: Invoke, args: list[str], code: int, message: str) -> None:
    result = run("diff", *args)
    assert result.exit_code == code
    assert result.stdout == ""
    assert result.stderr.startswith("stepsched: error: " + message), result.stderr
