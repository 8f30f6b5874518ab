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
        (["--step-size", "30"], "Invalid value for '--lr': give the initial learning rate"),
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
            "Invalid value for '--milestones': expected comma-separated integers such as 30,80, "
            "got '30,\u0668\u0660'",
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
        (["--lr", "0.1", "--total", "0"], "Invalid value for '--total': 0 is not in the range"),
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


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["0", *SEED], {"step": 0, "lr": 0.1, "next_boundary": 30, "next_lr": 0.01}),
        (["29", *SEED], {"step": 29, "lr": 0.1, "next_boundary": 30, "next_lr": 0.01}),
        (["30", *SEED], {"step": 30, "lr": 0.01, "next_boundary": 60, "next_lr": 0.001}),
        (["60", *SEED], {"step": 60, "lr": 0.001, "next_boundary": 90, "next_lr": 0.0001}),
        (
            ["45", *SEED, "--steps-per-epoch", "20"],
            {"step": 45, "epoch": 2, "lr": 0.01, "next_boundary": 60, "next_lr": 0.001},
        ),
        (
            ["3", "--lr", "0.1", "--step-size", "2", "--mode", "epoch"],
            {"epoch": 3, "lr": 0.01, "next_boundary": 4, "next_lr": 0.001},
        ),
        (
            ["3", "--lr", "0.1", "--step-size", "2", "--mode", "epoch", "--steps-per-epoch", "7"],
            {"epoch": 3, "step": 21, "lr": 0.01, "next_boundary": 4, "next_lr": 0.001},
        ),
        (
            ["100", "--lr", "0.1", "--milestones", "30,80"],
            {"step": 100, "lr": 0.001, "next_boundary": None, "next_lr": None},
        ),
        (
            [str(2**63), "--lr", "0.1", "--step-size", str(2**62)],
            {"step": 2**63, "lr": 0.001, "next_boundary": 3 * 2**62, "next_lr": 0.0001},
        ),
    ],
)
def test_at_json(run: Invoke, args: list[str], expected: dict[str, Any]) -> None:
    assert ok_json(run, "at", *args, "--json") == expected


def test_at_human(run: Invoke) -> None:
    result = run("at", "45", *SEED, "--steps-per-epoch", "20")
    assert result.stdout == "step 45 (epoch 2): lr 0.01\nnext decay at step 60 (in 15): lr 0.001\n"


def test_at_human_after_the_last_decay(run: Invoke) -> None:
    result = run("at", "100", "--lr", "0.1", "--milestones", "30")
    assert result.stdout == "step 100: lr 0.01\nno further decay: the lr stays at this value\n"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--lr", "0.1"], "Invalid value for 'T': give a position T"),
        (["-1", "--lr", "0.1"], "No such option: -1"),
        (["x", "--lr", "0.1"], "Invalid value for 'T': 'x' is not a valid int range"),
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


def test_boundaries_below_never_reached_says_so(run: Invoke) -> None:
    result = run("boundaries", *SEED, "--min-lr", "0.01", "--below", "0.01")
    assert result.exit_code == 0
    assert result.stderr == "the lr never falls below 0.01\n"


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
