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
    """``capped(*arguments)``: ``stepsched ARGUMENTS`` under ``RLIMIT_AS`` = 1 GiB and a
    20 s timeout, stdin empty, output decoded (undecodable bytes replaced)."""
    environment = {**os.environ, "NO_COLOR": "1", "COLUMNS": "200"}
    environment.pop("STEPSCHED_DEBUG", None)

    def run(*arguments: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*_stepsched(), *arguments],
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
