"""What the hardening tests share: the installed command, run as a user's shell runs it,
under a 1 GiB address-space limit and a time limit."""

from __future__ import annotations

import os
import resource
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

MEMORY_LIMIT = 1 << 30
TIME_LIMIT = 30.0  # a hang guard for a shared machine; a bounded run takes 1-3 s

# Runs ``stepsched ARGS`` in a folder: (exit code, stdout, stderr).
CappedRun = Callable[..., tuple[int, str, str]]


def _console_script() -> list[str]:
    """The installed ``stepsched`` next to this Python, else on PATH, else ``-m``."""
    beside = Path(sys.executable).with_name("stepsched")
    if beside.exists():
        return [str(beside)]
    found = shutil.which("stepsched")
    return [found] if found else [sys.executable, "-m", "stepsched_cli"]


def _limit_memory() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT, MEMORY_LIMIT))


@pytest.fixture(scope="session")
def run_capped() -> CappedRun:
    """``run_capped(folder, *args, columns="80", lines="24")``: ``stepsched ARGS`` in
    ``folder`` under the limits, without colour, in a terminal of that size."""
    program = _console_script()

    def run(
        folder: Path, *args: str, columns: str = "80", lines: str = "24"
    ) -> tuple[int, str, str]:
        environment = {**os.environ, "NO_COLOR": "1", "COLUMNS": columns, "LINES": lines}
        environment.pop("STEPSCHED_DEBUG", None)
        completed = subprocess.run(
            [*program, *args],
            cwd=folder,
            capture_output=True,
            stdin=subprocess.DEVNULL,
            timeout=TIME_LIMIT,
            preexec_fn=_limit_memory,
            env=environment,
            check=False,
        )
        return (
            completed.returncode,
            completed.stdout.decode("utf-8", "replace"),
            completed.stderr.decode("utf-8", "replace"),
        )

    return run
