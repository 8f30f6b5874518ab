"""The installed ``stepsched`` run in a subprocess under the hardening limits."""

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
TIME_LIMIT = 20.0  # a hang guard for a shared machine; a bounded input takes 1-3 s

Capped = Callable[..., subprocess.CompletedProcess[str]]


def _stepsched() -> list[str]:
    beside = Path(sys.executable).with_name("stepsched")
    if beside.exists():
        return [str(beside)]
    found = shutil.which("stepsched")
    return [found] if found else [sys.executable, "-m", "stepsched_cli"]


def _limit_memory() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT, MEMORY_LIMIT))


@pytest.fixture(scope="session")
def capped() -> Capped:
    """``capped(*arguments, cwd=None, columns="200", lines=None)``: ``stepsched
    ARGUMENTS`` under ``RLIMIT_AS`` = 1 GiB and a 20 s timeout, stdin empty, output
    decoded (undecodable bytes replaced), in ``cwd`` (a file named from its folder, as
    a user names it, gives messages that do not depend on where the clone lives) and
    a terminal of ``columns`` (and ``lines``, when given)."""

    def run(
        *arguments: str, cwd: Path | None = None, columns: str = "200", lines: str | None = None
    ) -> subprocess.CompletedProcess[str]:
        environment = {**os.environ, "NO_COLOR": "1", "COLUMNS": columns}
        environment.pop("STEPSCHED_DEBUG", None)
        environment.pop("LINES", None)
        if lines is not None:
            environment["LINES"] = lines
        return subprocess.run(
            [*_stepsched(), *arguments],
            cwd=cwd,
            capture_output=True,
            stdin=subprocess.DEVNULL,
            timeout=TIME_LIMIT,
            preexec_fn=_limit_memory,
            env=environment,
            check=False,
            text=True,
            errors="replace",
        )

    return run
