"""Shared fixtures of the command-line tests: a runner with stdout and stderr apart."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from typer.testing import CliRunner, Result

from stepsched_cli.cli.app import app

Invoke = Callable[..., Result]


@pytest.fixture
def run(monkeypatch: pytest.MonkeyPatch) -> Invoke:
    """Run ``stepsched ARGS...`` in-process; the result has ``stdout`` and ``stderr`` apart."""
    monkeypatch.setenv("NO_COLOR", "1")
    monkeypatch.setenv("COLUMNS", "100")
    # The terminal the suite runs in must not shape what is drawn (plot uses its height).
    monkeypatch.setenv("LINES", "24")
    monkeypatch.delenv("STEPSCHED_DEBUG", raising=False)
    runner = CliRunner()

    def invoke(*args: str, input: str | bytes | None = None) -> Result:
        return runner.invoke(app, list(args), input=input, prog_name="stepsched")

    return invoke


# Run lengths --total/--epochs cannot count, for a step-mode schedule without the steps
# per epoch: the same usage errors on every command that takes them (code, init).
RUN_LENGTH_USAGE_ERRORS = [
    (
        ["--epochs", "3"],
        "Invalid value for '--epochs': a step-mode schedule needs --steps-per-epoch (or "
        "the data pipeline) to count epochs; or give the length in steps with --total",
    ),
    (
        ["--total", "3", "--epochs", "3"],
        "Invalid value for '--epochs': give either --total or --epochs, not both",
    ),
    (["--total", "0"], "Invalid value for '--total': total must be at least 1, got 0"),
    (["--total", "-1"], "Invalid value for '--total': total must be at least 1, got -1"),
    (
        ["--total", "3ep"],
        "Invalid value for '--total': total 3ep counts epochs and the schedule counts "
        "steps: converting needs the steps per epoch; give --steps-per-epoch, or the data "
        "pipeline (--dataset-size with --batch-size or --global-batch-size)",
    ),
]
