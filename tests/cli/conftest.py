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
