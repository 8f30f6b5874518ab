"""``solve``, through the command line: stdout and stderr apart, exact values."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest
from typer.testing import Result

Invoke = Callable[..., Result]


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
