"""Logs built to make ``check`` slow or large (issue 20), run under the hardening limits.

Each log is checked by the installed ``stepsched`` in a subprocess under a 1 GiB
address-space limit and a time limit, so a regression to memory or work that grows
with the file fails here instead of exhausting CI:

* lrs that change every row with one 40-character cell per block made the fast
  path's number matrix rows x 40 cells wide (1.17 GB for a 2.4 MB log);
* blank lines after the header (50 MB of them) went to the row reader a line at a
  time (20 MB took 14.6 s).

``capped`` (conftest.py) runs the command under the limits.
"""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

MEGABYTE = 1 << 20

Capped = Callable[..., subprocess.CompletedProcess[str]]  # conftest.py's fixture


def _alternating_with_wide_cells(path: Path) -> None:
    """Short rows whose lr alternates 1, 2 (every row its own run), and a 40-character
    lr every 100,000 rows: one per 2 MiB block."""
    rows = []
    for index in range(600_000):
        rows.append("0," + ("1" if index % 2 else "2"))
        if index % 100_000 == 5:
            rows.append("0," + "1" * 40)
    path.write_text("step,lr\n" + "\n".join(rows) + "\n")


def test_wide_cells_among_changing_lrs_stay_within_a_block(tmp_path: Path, capped: Capped) -> None:
    path = tmp_path / "alternating.csv"
    _alternating_with_wide_cells(path)
    result = capped("check", str(path), "--lr", "2", "--step-size", "30")
    assert (result.returncode, result.stderr) == (1, "")
    assert result.stdout.splitlines()[0] == (
        "mismatch at step 0: expected lr 2, logged 1 (300006 of 600006 points differ)"
    )


def test_steps_of_many_digits_in_few_bytes_are_refused(tmp_path: Path, capped: Capped) -> None:
    """``1e4290`` is ten bytes and a 4,291-digit step: 300,000 of them took 489 s to
    check (the step is an integer of at most 40 digits, as every integer in a file)."""
    path = tmp_path / "exponents.csv"
    path.write_text("step,lr\n" + "".join(f"{i}e4290,0.1\n" for i in range(1, 300_001)))
    result = capped("check", str(path), "--lr", "0.1", "--step-size", "30")
    assert (result.returncode, result.stdout) == (1, "")
    assert result.stderr == (
        f"stepsched: error: {path} line 2: step '1e4290' is not an integer step >= 0\n"
    )


@pytest.mark.parametrize(
    ("blank", "suffix"),
    [(b"\n", "csv"), (b" \t\n", "csv"), (b"\n", "jsonl"), (b"\n\n ,\n", "csv")],
    ids=["newlines", "spaces-and-tabs", "jsonl-newlines", "mixed"],
)
def test_blank_lines_after_the_header_are_skipped_a_block_at_a_time(
    tmp_path: Path, blank: bytes, suffix: str, capped: Capped
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
    result = capped("check", str(path), "--lr", "0.1", "--step-size", "30")
    assert (result.returncode, result.stderr) == (0, "")
    assert result.stdout == "ok: 2 points match lr=0.1, step_size=30, gamma=0.1\n"
