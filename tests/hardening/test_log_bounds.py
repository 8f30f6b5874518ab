"""Logs built to make ``check`` slow or large (issue 20), run under the hardening limits.

Each log is checked by the installed ``stepsched`` in a subprocess under a 1 GiB
address-space limit and a time limit, so a regression to memory or work that grows
with the file fails here instead of exhausting CI:

* lrs that change every row with one 40-character cell per block made the fast
  path's number matrix rows x 40 cells wide (1.17 GB for a 2.4 MB log);
* blank lines after the header (50 MB of them) went to the row reader a line at a
  time (20 MB took 14.6 s).
"""

from __future__ import annotations

import os
import resource
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

MEMORY_LIMIT = 1 << 30
TIME_LIMIT = 20.0  # a hang guard for a shared machine; each log takes 1-3 s
MEGABYTE = 1 << 20


def _stepsched() -> list[str]:
    beside = Path(sys.executable).with_name("stepsched")
    if beside.exists():
        return [str(beside)]
    found = shutil.which("stepsched")
    return [found] if found else [sys.executable, "-m", "stepsched_cli"]


def _limit_memory() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT, MEMORY_LIMIT))


def check(path: Path, *options: str) -> subprocess.CompletedProcess[str]:
    environment = {**os.environ, "NO_COLOR": "1", "COLUMNS": "200"}
    environment.pop("STEPSCHED_DEBUG", None)
    return subprocess.run(
        [*_stepsched(), "check", str(path), *options],
        capture_output=True,
        stdin=subprocess.DEVNULL,
        timeout=TIME_LIMIT,
        preexec_fn=_limit_memory,
        env=environment,
        check=False,
        text=True,
    )


def _alternating_with_wide_cells(path: Path) -> None:
    """Short rows whose lr alternates 1, 2 (every row its own run), and a 40-character
    lr every 100,000 rows: one per 2 MiB block."""
    rows = []
    for index in range(600_000):
        rows.append("0," + ("1" if index % 2 else "2"))
        if index % 100_000 == 5:
            rows.append("0," + "1" * 40)
    path.write_text("step,lr\n" + "\n".join(rows) + "\n")


def test_wide_cells_among_changing_lrs_stay_within_a_block(tmp_path: Path) -> None:
    path = tmp_path / "alternating.csv"
    _alternating_with_wide_cells(path)
    result = check(path, "--lr", "2", "--step-size", "30")
    assert (result.returncode, result.stderr) == (1, "")
    assert result.stdout.splitlines()[0] == (
        "mismatch at step 0: expected lr 2, logged 1 (300006 of 600006 points differ)"
    )


@pytest.mark.parametrize(
    ("blank", "suffix"),
    [(b"\n", "csv"), (b" \t\n", "csv"), (b"\n", "jsonl"), (b"\n\n ,\n", "csv")],
    ids=["newlines", "spaces-and-tabs", "jsonl-newlines", "mixed"],
)
def test_blank_lines_after_the_header_are_skipped_a_block_at_a_time(
    tmp_path: Path, blank: bytes, suffix: str
) -> None:
    path = tmp_path / f"blank.{suffix}"
    if suffix == "csv":
        head, tail = b"step,lr\n0,0.1\n", b"5,0.1\n"
    else:
        head, tail = b'{"step": 0, "lr": 0.1}\n', b'{"step": 5, "lr": 0.1}\n'
    repeat = 50 * MEGABYTE // len(blank)
    with path.open("wb") as handle:
        handle.write(head)
        for _ in range(50):
            handle.write(blank * (repeat // 50))
        handle.write(tail)
    result = check(path, "--lr", "0.1", "--step-size", "30")
    assert (result.returncode, result.stderr) == (0, "")
    assert result.stdout == "ok: 2 points match lr=0.1, step_size=30, gamma=0.1\n"
