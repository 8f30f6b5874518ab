"""``table``, ``at`` and ``boundaries``: exact records, every format, every failure."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner, Result

from stepsched_cli.cli.app import app
from stepsched_cli.schedule import StepSchedule

Invoke = Callable[..., Result]

SEED = ["--lr", "0.1", "--step-size", "30"]
IMAGENET = ["--dataset-size", "1281167"]


def ok_json(run: Invoke, *args: str) -> Any:
    result = run(*args)
    assert result.exit_code == 0, result.stderr
    assert result.stderr == ""
    return json.loads(result.stdout)


# -- table -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (
            SEED,
            [
                {"start_step": 0, "end_step": 29, "lr": 0.1},
                {"start_step": 30, "end_step": 59, "lr": 0.01},
                {"start_step": 60, "end_step": 89, "lr": 0.001},
                {"start_step": 90, "end_step": None, "lr": 0.0001},
            ],
        ),
        (
            [*SEED, "--total", "65"],
            [
                {"start_step": 0, "end_step": 29, "lr": 0.1},
                {"start_step": 30, "end_step": 59, "lr": 0.01},
                {"start_step": 60, "end_step": 64, "lr": 0.001},
            ],
        ),
        (
            ["--lr", "0.1", "--milestones", "30,80", "--gamma", "0.5", "--total", "100"],
            [
                {"start_step": 0, "end_step": 29, "lr": 0.1},
                {"start_step": 30, "end_step": 79, "lr": 0.05},
                {"start_step": 80, "end_step": 99, "lr": 0.025},
            ],
        ),
        (
            ["--lr", "0.1", "--step-size", "2", "--mode", "epoch", "--total", "4"],
            [
                {"start_epoch": 0, "end_epoch": 1, "lr": 0.1},
                {"start_epoch": 2, "end_epoch": 3, "lr": 0.01},
            ],
        ),
        (
            ["--lr", "0.1", "--step-size", "2", "--mode", "epoch", "--steps-per-epoch", "10"],
            [
                {"start_step": 0, "end_step": 19, "start_epoch": 0, "end_epoch": 1, "lr": 0.1},
                {"start_step": 20, "end_step": 39, "start_epoch": 2, "end_epoch": 3, "lr": 0.01},
                {"start_step": 40, "end_step": 59, "start_epoch": 4, "end_epoch": 5, "lr": 0.001},
                {
                    "start_step": 60,
                    "end_step": None,
                    "start_epoch": 6,
                    "end_epoch": None,
                    "lr": 0.0001,
                },
            ],
        ),
        (
            [*SEED, "--steps-per-epoch", "20", "--total", "60"],
            [
                {"start_step": 0, "end_step": 29, "start_epoch": 0, "end_epoch": 1, "lr": 0.1},
                {"start_step": 30, "end_step": 59, "start_epoch": 1, "end_epoch": 2, "lr": 0.01},
            ],
        ),
        (
            [*SEED, "--min-lr", "0.005"],
            [
                {"start_step": 0, "end_step": 29, "lr": 0.1},
                {"start_step": 30, "end_step": 59, "lr": 0.01},
                {"start_step": 60, "end_step": None, "lr": 0.005},
            ],
        ),
        (
            [*SEED, "--warmup-steps", "5", "--warmup-start-lr", "0.05", "--total", "40"],
            [
                {"start_step": 0, "end_step": 4, "lr": 0.05, "lr_end": 0.09, "warmup": True},
                {"start_step": 5, "end_step": 29, "lr": 0.1, "lr_end": 0.1, "warmup": False},
                {"start_step": 30, "end_step": 39, "lr": 0.01, "lr_end": 0.01, "warmup": False},
            ],
        ),
        (
            [
                *SEED,
                "--warmup-steps",
                "5",
                "--warmup-start-lr",
                "0.05",
                "--total",
                "40",
                "--warmup-prefix",
            ],
            [
                {"start_step": 0, "end_step": 4, "lr": 0.05, "lr_end": 0.09, "warmup": True},
                {"start_step": 5, "end_step": 34, "lr": 0.1, "lr_end": 0.1, "warmup": False},
                {"start_step": 35, "end_step": 39, "lr": 0.01, "lr_end": 0.01, "warmup": False},
            ],
        ),
        (
            [*SEED, "--every", "25"],
            [
                {"step": 0, "lr": 0.1},
                {"step": 25, "lr": 0.1},
                {"step": 50, "lr": 0.01},
                {"step": 75, "lr": 0.001},
                {"step": 100, "lr": 0.0001},
            ],
        ),
        (
            [*SEED, "--every", "30", "--total", "61", "--steps-per-epoch", "40"],
            [
                {"step": 0, "epoch": 0, "lr": 0.1},
                {"step": 30, "epoch": 0, "lr": 0.01},
                {"step": 60, "epoch": 1, "lr": 0.001},
            ],
        ),
        (
            ["--lr", "0.1", "--step-size", "3", "--mode", "epoch", "--every", "2", "--total", "5"],
            [{"epoch": 0, "lr": 0.1}, {"epoch": 2, "lr": 0.1}, {"epoch": 4, "lr": 0.01}],
        ),
    ],
)
def test_table_json(run: Invoke, args: list[str], expected: list[dict[str, Any]]) -> None:
    assert ok_json(run, "table", *args, "--format", "json") == expected


def test_table_human_reproduces_the_seed_example(run: Invoke) -> None:
    result = run("table", *SEED)
    assert result.exit_code == 0
    assert result.stderr == ""
    lines = [line.strip() for line in result.stdout.splitlines() if line.strip()]
    assert lines[0] == "lr=0.1, step_size=30, gamma=0.1"
    assert lines[1].split() == ["steps", "lr"]
    assert [line.split() for line in lines[3:]] == [
        ["0-29", "0.1"],
        ["30-59", "0.01"],
        ["60-89", "0.001"],
        ["90+", "0.0001"],
    ]


def test_table_csv_has_exact_values(run: Invoke) -> None:
    result = run(
        "table", "--lr", "0.3", "--gamma", "0.3", "--step-size", "1", "--total", "3", "-f", "csv"
    )
    assert result.stdout == ("start_step,end_step,lr\n0,0,0.3\n1,1,0.09\n2,2,0.027\n")


def test_table_csv_open_end_is_empty(run: Invoke) -> None:
    result = run("table", *SEED, "-f", "csv")
    assert result.stdout.splitlines()[-1] == "90,,0.0001"


def test_table_markdown(run: Invoke) -> None:
    result = run("table", *SEED, "--steps-per-epoch", "30", "-f", "markdown")
    assert result.stdout == (
        "| steps | epochs | lr |\n"
        "|---:|---:|---:|\n"
        "| 0-29 | 0 | 0.1 |\n"
        "| 30-59 | 1 | 0.01 |\n"
        "| 60-89 | 2 | 0.001 |\n"
        "| 90+ | 3+ | 0.0001 |\n"
    )


def test_table_json_bypasses_rich_for_long_lines(run: Invoke) -> None:
    result = run("table", "--lr", "0.1", "--step-size", "1000000000000000000000", "-f", "json")
    assert '"end_step": 999999999999999999999,' in result.stdout
    assert max(len(line) for line in result.stdout.splitlines()) > 80


def test_table_huge_total_is_lazy(run: Invoke) -> None:
    args = ["--lr", "0.1", "--total", str(2**64), "--step-size", str(2**62), "-f", "json"]
    records = ok_json(run, "table", *args)
    assert [r["start_step"] for r in records] == [0, 2**62, 2**63, 3 * 2**62]
    assert records[-1]["end_step"] == 2**64 - 1


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["--lr", "0"],
            "Invalid value for '--lr': initial_lr must be a finite number > 0, got 0.0",
        ),
        (["--lr", "nan"], "Invalid value for '--lr': initial_lr must be a finite number, got nan"),
        (["--lr", "0.1", "--gamma", "1"], "Invalid value for '--gamma': gamma must be a number"),
        (["--lr", "0.1", "--step-size", "0"], "Invalid value for '--step-size': step_size must be"),
        (["--lr", "0.1", "--milestones", "a"], "Invalid value for '--milestones': expected comma"),
        (
            ["--lr", "0.1", "--milestones", "30,\u0668\u0660"],
            "Invalid value for '--milestones': expected comma-separated whole numbers such as "
            "30,80 (or 30ep,80ep), got '30,\u0668\u0660'",
        ),
        (
            ["--lr", "0.1", "--milestones", "5,5"],
            "Invalid value for '--milestones': milestones must",
        ),
        (
            ["--lr", "0.1", "--milestones", "5", "--step-size", "3"],
            "Invalid value for '--milestones': give either --step-size or --milestones",
        ),
        (["--lr", "0.1", "--min-lr", "0.2"], "Invalid value for '--min-lr': min_lr must be"),
        (["--lr", "0.1", "--warmup-steps", "-1"], "Invalid value for '--warmup-steps'"),
        (["--lr", "0.1", "--warmup-start-lr", "-1"], "Invalid value for '--warmup-start-lr'"),
        (["--lr", "0.1", "--mode", "batch"], "Invalid value for '--mode'"),
        (["--lr", "0.1", "--steps-per-epoch", "0"], "Invalid value for '--steps-per-epoch'"),
        (["--lr", "0.1", "--total", "0"], "Invalid value for '--total': total must be at least 1"),
        (["--lr", "0.1", "--every", "0"], "Invalid value for '--every'"),
    ],
)
def test_table_bad_values_are_usage_errors(run: Invoke, args: list[str], message: str) -> None:
    result = run("table", *args)
    assert result.exit_code == 2
    assert result.stdout == ""
    assert result.stderr.startswith("stepsched: error: " + message), result.stderr
    assert result.stderr.endswith("(see 'stepsched table --help')\n")


# -- at ----------------------------------------------------------------------


def at_json(step: int | None, epoch: int | None, mode: str, lr: float,
            following: int | None, next_lr: float | None) -> dict[str, Any]:  # fmt: skip
    """``at --json``: the same keys in every mode, null where a unit is not known."""
    return {"step": step, "epoch": epoch, "mode": mode, "lr": lr, "next_boundary": following,
            "next_lr": next_lr}  # fmt: skip


EPOCHS_OF_2 = ["--lr", "0.1", "--step-size", "2", "--mode", "epoch"]


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["0", *SEED], at_json(0, None, "step", 0.1, 30, 0.01)),
        (["29", *SEED], at_json(29, None, "step", 0.1, 30, 0.01)),
        (["30", *SEED], at_json(30, None, "step", 0.01, 60, 0.001)),
        (["60", *SEED], at_json(60, None, "step", 0.001, 90, 0.0001)),
        (["45", *SEED, "--steps-per-epoch", "20"], at_json(45, 2, "step", 0.01, 60, 0.001)),
        (["3", *EPOCHS_OF_2], at_json(None, 3, "epoch", 0.01, 4, 0.001)),
        (["3", *EPOCHS_OF_2, "--steps-per-epoch", "7"], at_json(21, 3, "epoch", 0.01, 4, 0.001)),
        (["3", "--mode", "epochs"], at_json(None, 3, "epoch", 0.1, 30, 0.01)),
        (
            ["100", "--lr", "0.1", "--milestones", "30,80"],
            at_json(100, None, "step", 0.001, None, None),
        ),
        (
            [str(2**63), "--lr", "0.1", "--step-size", str(2**62)],
            at_json(2**63, None, "step", 0.001, 3 * 2**62, 0.0001),
        ),
        # Every schedule option has a default: lr 0.1, step size 30, gamma 0.1, steps.
        (["100"], at_json(100, None, "step", 0.0001, 120, 1e-05)),
    ],
)
def test_at_json(run: Invoke, args: list[str], expected: dict[str, Any]) -> None:
    assert ok_json(run, "at", *args, "--json") == expected


def test_at_human_names_the_schedule(run: Invoke) -> None:
    result = run("at", "45", *SEED, "--steps-per-epoch", "20")
    assert result.stdout == (
        "lr=0.1, step_size=30, gamma=0.1\n"
        "step 45 (epoch 2): lr 0.01\n"
        "next decay at step 60 (in 15): lr 0.001\n"
    )


def test_at_human_after_the_last_decay(run: Invoke) -> None:
    result = run("at", "100", "--lr", "0.1", "--milestones", "30")
    assert result.stdout == (
        "lr=0.1, milestones=30, gamma=0.1\n"
        "step 100: lr 0.01\n"
        "no further decay: the lr stays at this value\n"
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--lr", "0.1"], "Invalid value for 'T': give a position T"),
        (["-1", "--lr", "0.1"], "Invalid value for 'T': position must be at least 0, got -1"),
        (["-5"], "Invalid value for 'T': position must be at least 0, got -5"),
        (["--lrr", "0.1"], "No such option: --lrr"),
        (["1.5"], "Invalid value for 'T': T must be a whole number of positions, got '1.5'"),
        (
            ["x", "--lr", "0.1"],
            "Invalid value for 'T': T must be a whole number, optionally with a unit (30, 30ep "
            "for epochs, 150150st for steps), got 'x'",
        ),
        (
            ["5ep"],
            "Invalid value for 'T': position 5ep counts epochs and the schedule counts steps: "
            "converting needs the steps per epoch; give --steps-per-epoch, or the data pipeline",
        ),
    ],
)
def test_at_errors(run: Invoke, args: list[str], message: str) -> None:
    result = run("at", *args)
    assert result.exit_code == 2
    assert result.stderr.startswith("stepsched: error: " + message), result.stderr


@settings(max_examples=60, deadline=None)
@given(
    position=st.integers(min_value=0, max_value=2**70),
    step_size=st.integers(min_value=1, max_value=2**66),
    gamma=st.sampled_from([0.1, 0.5, 0.9, 0.97, 0.999]),
)
def test_at_agrees_with_lr_at(position: int, step_size: int, gamma: float) -> None:
    runner = CliRunner()
    args = ["at", str(position), "--lr", "0.1", "--step-size", str(step_size)]
    result = runner.invoke(app, [*args, "--gamma", repr(gamma), "--json"])
    schedule = StepSchedule(0.1, step_size=step_size, gamma=gamma)
    assert result.exit_code == 0, result.stderr
    record = json.loads(result.stdout)
    assert record["lr"] == schedule.lr_at(position)
    assert record["next_boundary"] == schedule.next_boundary(position)


# -- boundaries --------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (
            SEED,
            [
                {"step": 30, "lr_before": 0.1, "lr_after": 0.01},
                {"step": 60, "lr_before": 0.01, "lr_after": 0.001},
                {"step": 90, "lr_before": 0.001, "lr_after": 0.0001},
            ],
        ),
        ([*SEED, "--count", "1"], [{"step": 30, "lr_before": 0.1, "lr_after": 0.01}]),
        (
            [*SEED, "--total", "61"],
            [
                {"step": 30, "lr_before": 0.1, "lr_after": 0.01},
                {"step": 60, "lr_before": 0.01, "lr_after": 0.001},
            ],
        ),
        (
            [*SEED, "--total", "61", "--count", "1"],
            [{"step": 30, "lr_before": 0.1, "lr_after": 0.01}],
        ),
        ([*SEED, "--below", "0.001"], [{"step": 90, "lr_before": 0.001, "lr_after": 0.0001}]),
        ([*SEED, "--below", "0.0011"], [{"step": 60, "lr_before": 0.01, "lr_after": 0.001}]),
        ([*SEED, "--min-lr", "0.01", "--below", "0.01"], []),
        (
            ["--lr", "0.1", "--milestones", "30,80", "--count", "10"],
            [
                {"step": 30, "lr_before": 0.1, "lr_after": 0.01},
                {"step": 80, "lr_before": 0.01, "lr_after": 0.001},
            ],
        ),
        (
            [
                "--lr",
                "0.1",
                "--step-size",
                "2",
                "--mode",
                "epoch",
                "--steps-per-epoch",
                "5",
                "--count",
                "1",
            ],
            [{"step": 10, "epoch": 2, "lr_before": 0.1, "lr_after": 0.01}],
        ),
        (
            ["--lr", "0.1", "--step-size", str(2**63), "--count", "2"],
            [
                {"step": 2**63, "lr_before": 0.1, "lr_after": 0.01},
                {"step": 2**64, "lr_before": 0.01, "lr_after": 0.001},
            ],
        ),
    ],
)
def test_boundaries_json(run: Invoke, args: list[str], expected: list[dict[str, Any]]) -> None:
    assert ok_json(run, "boundaries", *args, "-f", "json") == expected


def test_boundaries_human(run: Invoke) -> None:
    result = run("boundaries", *SEED, "--count", "2")
    rows = [line.split() for line in result.stdout.splitlines() if line.strip()]
    assert rows[1:] == [
        ["step", "lr", "before", "lr", "after"],
        ["─" * len(rows[2][0])],
        ["30", "0.1", "0.01"],
        ["60", "0.01", "0.001"],
    ]


@pytest.mark.parametrize(
    ("args", "answer"),
    [
        (
            [*SEED, "--min-lr", "0.01", "--below", "0.01"],
            ["lr=0.1, step_size=30, gamma=0.1, min_lr=0.01",
             "never: the lowest lr is 0.01, reached at step 30"],
        ),
        # The case: a schedule that reaches 1e-4 exactly is never below it.
        (
            ["--milestones", "30,60,80", "--mode", "epoch", "--steps-per-epoch", "5005",
             "--below", "1e-4"],
            ["lr=0.1, milestones=30,60,80, gamma=0.1, mode=epoch",
             "never: the lowest lr is 0.0001, reached at "
             "epoch 80 (step 400400)"],
        ),
    ],
)  # fmt: skip
def test_boundaries_below_never_reached_answers_on_stdout(
    run: Invoke, args: list[str], answer: list[str]
) -> None:
    result = run("boundaries", *args)
    assert result.exit_code == 0
    assert result.stderr == ""
    assert result.stdout.splitlines() == answer


@pytest.mark.parametrize("output_format", ["json", "csv", "markdown"])
def test_boundaries_below_never_reached_lists_nothing_for_machines(
    run: Invoke, output_format: str
) -> None:
    result = run("boundaries", "--milestones", "30,60,80", "--below", "1e-4", "-f", output_format)
    assert result.exit_code == 0
    assert result.stderr == ""
    expected = {
        "json": "[]\n",
        "csv": "step,lr_before,lr_after\n",
        "markdown": "| step | lr before | lr after |\n|---:|---:|---:|\n",
    }
    assert result.stdout == expected[output_format]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--below", "0.1", "--count", "2"], "Invalid value for '--below': cannot be combined"),
        (["--below", "0"], "Invalid value for '--below': must be a finite number > 0"),
        (["--below", "inf"], "Invalid value for '--below': must be a finite number > 0"),
        (["--count", "0"], "Invalid value for '--count'"),
    ],
)
def test_boundaries_errors(run: Invoke, args: list[str], message: str) -> None:
    result = run("boundaries", *SEED, *args)
    assert result.exit_code == 2
    assert result.stderr.startswith("stepsched: error: " + message), result.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["table", "--lr", "0.1", "--warmup-start-lr", "0.05"],
         "Invalid value for '--warmup-start-lr': needs --warmup-steps >= 1: without a warmup "
         "it is never used (see 'stepsched table --help')"),
        (["at", "5", "--lr", "0.1", "--warmup-steps", "0", "--warmup-start-lr", "0.05"],
         "Invalid value for '--warmup-start-lr': needs --warmup-steps >= 1: without a warmup "
         "it is never used (see 'stepsched at --help')"),
        (["table", "--lr", "0.1", "--dataset-size", "10", "--batch-size", "3",
          "--accumulation-rounding", "floor"],
         "Invalid value for '--accumulation-rounding': needs --grad-accum >= 2: without "
         "gradient accumulation there is nothing to round (see 'stepsched table --help')"),
        (["plot", "--lr", "0.1", "--force"],
         "Invalid value for '--force': applies to a file written with -o FILE; give -o as "
         "well (see 'stepsched plot --help')"),
    ],
)  # fmt: skip
def test_options_that_would_be_ignored_are_usage_errors(
    run: Invoke, args: list[str], message: str
) -> None:
    result = run(*args)
    assert (result.exit_code, result.stdout) == (2, "")
    assert result.stderr == f"stepsched: error: {message}\n"


def test_warmup_start_lr_with_a_warmup_is_used(run: Invoke) -> None:
    result = run("at", "0", "--lr", "0.1", "--warmup-steps", "2", "--warmup-start-lr", "0.05",
                 "--json")  # fmt: skip
    assert (result.exit_code, json.loads(result.stdout)["lr"]) == (0, 0.05)


# -- the first five minutes: defaults, named schedules, one vocabulary ---------

SEED_ROWS = [
    {"start_step": 0, "end_step": 29, "lr": 0.1},
    {"start_step": 30, "end_step": 59, "lr": 0.01},
    {"start_step": 60, "end_step": 89, "lr": 0.001},
    {"start_step": 90, "end_step": None, "lr": 0.0001},
]


@pytest.mark.parametrize(
    ("args", "first_line"),
    [
        (["table"], "lr=0.1, step_size=30, gamma=0.1"),
        (["table", "--every", "40"], "lr=0.1, step_size=30, gamma=0.1"),
        (["at", "100"], "lr=0.1, step_size=30, gamma=0.1"),
        (["boundaries"], "lr=0.1, step_size=30, gamma=0.1"),
        (["boundaries", "--below", "0.005"], "lr=0.1, step_size=30, gamma=0.1"),
        (["table", "--gamma", "0.5", "--mode", "epochs"],
         "lr=0.1, step_size=30, gamma=0.5, mode=epoch"),
        (["table", "--milestones", "30,80"], "lr=0.1, milestones=30,80, gamma=0.1"),
    ],
)  # fmt: skip
def test_bare_commands_work_and_name_the_schedule(
    run: Invoke, args: list[str], first_line: str
) -> None:
    result = run(*args)
    assert result.exit_code == 0, result.stderr
    assert result.stdout.splitlines()[0] == first_line


def test_bare_table_is_the_seed_example(run: Invoke) -> None:
    assert ok_json(run, "table", "--json") == SEED_ROWS


@pytest.mark.parametrize("command", [["table"], ["boundaries"], ["diff", "gamma=0.5"]])
def test_json_flag_is_format_json(run: Invoke, command: list[str]) -> None:
    assert run(*command, "--json").stdout == run(*command, "--format", "json").stdout
    both = run(*command, "--json", "--format", "json")
    assert both.exit_code == 0


@pytest.mark.parametrize("command", [["table"], ["boundaries"], ["diff", "gamma=0.5"]])
def test_json_flag_with_another_format_is_a_usage_error(run: Invoke, command: list[str]) -> None:
    result = run(*command, "--json", "--format", "csv")
    assert result.exit_code == 2
    assert result.stdout == ""
    assert result.stderr.startswith(
        "stepsched: error: Invalid value for '--json': is --format json; it cannot be "
        "combined with --format csv"
    )


@pytest.mark.parametrize(
    ("spelling", "mode"), [("step", "step"), ("steps", "step"), ("EPOCHS", "epoch"),
                           ("epoch", "epoch")]
)  # fmt: skip
def test_mode_takes_the_words_of_x(run: Invoke, spelling: str, mode: str) -> None:
    record = ok_json(run, "at", "0", "--mode", spelling, "--json")
    assert record["mode"] == mode


def test_mode_refuses_other_words(run: Invoke) -> None:
    result = run("table", "--mode", "batch")
    assert result.exit_code == 2
    assert result.stderr.startswith(
        "stepsched: error: Invalid value for '--mode': expected step or epoch (or steps, "
        "epochs), got 'batch'"
    )


# -- --epochs: the run's length in epochs ----------------------------------------


@pytest.mark.parametrize(
    ("args", "expected_rows", "summary"),
    [
        # Step mode: 3 epochs of 20 steps = positions 0..59.
        (["--steps-per-epoch", "20", "--epochs", "3"], 2, "3 epochs = 60 steps"),
        (["--mode", "epoch", "--steps-per-epoch", "5005", "--epochs", "90"], 3,
         "90 epochs = 450450 steps"),
        (["--mode", "epoch", "--steps-per-epoch", "5005", "--total", "90"], 3,
         "90 epochs = 450450 steps"),
        (["--steps-per-epoch", "20", "--total", "65"], 3, "65 steps = 3 epochs + 5 steps"),
    ],
)  # fmt: skip
def test_run_length_in_epochs_and_its_summary(
    run: Invoke, args: list[str], expected_rows: int, summary: str
) -> None:
    rows = ok_json(run, "table", *args, "--json")
    assert len(rows) == expected_rows
    human = run("table", *args)
    assert human.stdout.splitlines()[1] == summary


def test_epochs_equal_the_total_they_stand_for(run: Invoke) -> None:
    by_epochs = run("table", "--steps-per-epoch", "20", "--epochs", "3", "--json")
    by_total = run("table", "--steps-per-epoch", "20", "--total", "60", "--json")
    assert by_epochs.stdout == by_total.stdout
    assert json.loads(by_epochs.stdout)[-1] == {
        "start_step": 30, "end_step": 59, "start_epoch": 1, "end_epoch": 2, "lr": 0.01,
    }  # fmt: skip


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--epochs", "3"], "Invalid value for '--epochs': a step-mode schedule needs "
         "--steps-per-epoch (or the data pipeline) to count epochs"),
        (["--epochs", "3", "--total", "5", "--mode", "epoch"],
         "Invalid value for '--epochs': give either --total or --epochs, not both"),
        (["--epochs", "0", "--mode", "epoch"], "Invalid value for '--epochs'"),
    ],
)  # fmt: skip
def test_epochs_errors(run: Invoke, args: list[str], message: str) -> None:
    result = run("table", *args)
    assert result.exit_code == 2
    assert result.stderr.startswith("stepsched: error: " + message), result.stderr


# -- the data pipeline: per-rank batch, global batch -----------------------------

IMAGENET = ["--dataset-size", "1281167"]


@pytest.mark.parametrize(
    ("batch", "pipeline_line"),
    [
        (["--global-batch-size", "256", "--world-size", "8"],
         "5005 steps per epoch: 1281167 samples, batch 32 per rank x 8 ranks"),
        (["--batch-size", "32", "--world-size", "8"],
         "5005 steps per epoch: 1281167 samples, batch 32 per rank x 8 ranks"),
        # The trap: 256 typed as --batch-size is 256 per rank on each of 8 ranks.
        (["--batch-size", "256", "--world-size", "8"],
         "626 steps per epoch: 1281167 samples, batch 256 per rank x 8 ranks"),
        (["--global-batch-size", "512", "--world-size", "8", "--grad-accum", "2"],
         "2503 steps per epoch: 1281167 samples, batch 32 per rank x 8 ranks, 2 batches per "
         "step (ceil)"),
        (["--batch-size", "256", "--drop-last"],
         "5004 steps per epoch: 1281167 samples, batch 256 per rank, last batch dropped"),
    ],
)  # fmt: skip
def test_outputs_show_the_per_rank_batch_they_assumed(
    run: Invoke, batch: list[str], pipeline_line: str
) -> None:
    for command in (["table", "--mode", "epoch"], ["at", "3", "--mode", "epoch"],
                    ["boundaries", "--mode", "epoch"]):  # fmt: skip
        result = run(*command, *IMAGENET, *batch)
        assert result.exit_code == 0, result.stderr
        assert result.stdout.splitlines()[1] == pipeline_line, command


def test_global_batch_gives_the_same_plan_as_its_per_rank_batch(run: Invoke) -> None:
    per_rank = run("table", "--mode", "epoch", *IMAGENET, "--batch-size", "32",
                   "--world-size", "8", "--json")  # fmt: skip
    global_ = run("table", "--mode", "epoch", *IMAGENET, "--global-batch-size", "256",
                  "--world-size", "8", "--json")  # fmt: skip
    assert global_.stdout == per_rank.stdout
    assert json.loads(global_.stdout)[1]["start_step"] == 150150


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--batch-size", "32", "--global-batch-size", "256"],
         "Invalid value for '--global-batch-size': give either --batch-size (per rank) or "
         "--global-batch-size (all ranks), not both"),
        (["--global-batch-size", "100", "--world-size", "8"],
         "Invalid value for '--global-batch-size': global_batch_size must be a multiple of "
         "world_size * grad_accum (8 * 1 = 8), got 100"),
        (["--global-batch-size", "4", "--world-size", "8"],
         "Invalid value for '--global-batch-size': global_batch_size must be a multiple"),
        (["--world-size", "8"], "Invalid value for '--batch-size': --batch-size is needed with "
         "--dataset-size"),
    ],
)  # fmt: skip
def test_global_batch_errors(run: Invoke, args: list[str], message: str) -> None:
    result = run("table", *IMAGENET, *args)
    assert result.exit_code == 2
    assert result.stdout == ""
    assert result.stderr.startswith("stepsched: error: " + message), result.stderr


# -- plausibility warnings where the mistake becomes a run -------------------------

TINY_STEP = ["--step-size", "3", "--steps-per-epoch", "100"]
EPOCHS_MEANT = (
    "stepsched: warning: step_size 3 is under a tenth of an epoch (100 steps): epochs "
    "were probably meant; did you mean --mode epoch?\n"
)


@pytest.mark.parametrize(
    "command",
    [["code", "--framework", "torch"], ["init", "-o", "-"], ["table"], ["at", "0"],
     ["boundaries"]],
)  # fmt: skip
def test_plausibility_warnings_reach_every_planning_command(
    run: Invoke, command: list[str]
) -> None:
    result = run(*command, *TINY_STEP)
    assert result.exit_code == 0
    assert result.stderr == EPOCHS_MEANT


@pytest.mark.parametrize("command", [["code", "--framework", "torch"], ["init", "-o", "-"]])
def test_a_plausible_schedule_gives_no_warning(run: Invoke, command: list[str]) -> None:
    result = run(*command, "--mode", "epoch", "--steps-per-epoch", "100")
    assert result.exit_code == 0
    assert result.stderr == ""


def test_bare_init_and_code_use_the_defaults(run: Invoke, tmp_path: Any) -> None:
    path = tmp_path / "x.json"
    result = run("init", "-o", str(path))
    assert result.exit_code == 0, result.stderr
    assert result.stderr == f"wrote {path}: lr=0.1, step_size=30, gamma=0.1, at step 0\n"
    state = json.loads(path.read_text())
    assert (state["initial_lr"], state["step_size"], state["gamma"], state["mode"]) == (
        0.1, 30, 0.1, "step",
    )  # fmt: skip
    code = run("code", "--framework", "torch")
    assert code.stdout.splitlines()[0] == "# stepsched: lr=0.1, step_size=30, gamma=0.1, as torch"


def test_diff_shows_the_pipeline_and_takes_epochs(run: Invoke) -> None:
    args = ["diff", "gamma=0.5", "--mode", "epoch", *IMAGENET, "--global-batch-size", "256",
            "--world-size", "8"]  # fmt: skip
    result = run(*args, "--epochs", "40")
    assert result.exit_code == 0, result.stderr
    assert result.stdout.splitlines()[:4] == [
        "A: lr=0.1, step_size=30, gamma=0.1, mode=epoch",
        "B: lr=0.1, step_size=30, gamma=0.5, mode=epoch",
        "5005 steps per epoch: 1281167 samples, batch 32 per rank x 8 ranks",
        "40 epochs = 200200 steps",
    ]
    rows = ok_json(run, *args, "--epochs", "40", "--json")
    assert rows == [
        {"start_step": 150150, "end_step": 200199, "start_epoch": 30, "end_epoch": 39,
         "lr_a": 0.01, "lr_b": 0.05, "ratio": 5.0},
    ]  # fmt: skip


@pytest.mark.parametrize(("spelling", "mode"), [("steps", "step"), ("Step", "step")])
def test_convert_mode_takes_the_same_words(
    run: Invoke, tmp_path: Any, spelling: str, mode: str
) -> None:
    source = tmp_path / "epochs.json"
    assert run("init", "--mode", "epochs", "-o", str(source)).exit_code == 0
    result = run("convert", str(source), "--mode", spelling, "--steps-per-epoch", "10", "-o", "-")
    assert result.exit_code == 0, result.stderr
    state = json.loads(result.stdout)
    assert (state["mode"], state["step_size"]) == (mode, 300)


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
