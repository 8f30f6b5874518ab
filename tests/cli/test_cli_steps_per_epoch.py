"""``steps-per-epoch`` and the data pipeline options, through the command line: stdout and
stderr apart, exact values."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest
from typer.testing import Result

Invoke = Callable[..., Result]

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
