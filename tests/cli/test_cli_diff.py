"""``diff``, through the command line: stdout and stderr apart, exact values."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest
from typer.testing import Result

Invoke = Callable[..., Result]


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
