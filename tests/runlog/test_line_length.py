"""A log line longer than MAX_LINE_LENGTH is refused at once, in bounded memory.

Each input runs the command line in a subprocess capped at 1 GiB of address space and
a time bound, so a regression to reading a whole line into memory fails instead of
hanging or swapping.
"""

from __future__ import annotations

import os
import resource
import subprocess
import sys
from pathlib import Path

import pytest

from stepsched_cli.runlog import MAX_LINE_LENGTH, RunLogError, read_log

ADDRESS_SPACE = 1 << 30
SECONDS = 60
SCHEDULE = ["--lr", "0.1", "--step-size", "20", "--gamma", "0.5"]


def capped() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (ADDRESS_SPACE, ADDRESS_SPACE))


def check(log: str, stdin: Path | None = None) -> subprocess.CompletedProcess[str]:
    environment = {**os.environ, "OPENBLAS_NUM_THREADS": "1", "NO_COLOR": "1"}
    with open(stdin or os.devnull, "rb") as source:
        return subprocess.run(
            [sys.executable, "-m", "stepsched_cli", "check", log, *SCHEDULE],
            stdin=source,
            capture_output=True,
            text=True,
            timeout=SECONDS,
            preexec_fn=capped,
            env=environment,
            check=False,
        )


def refused(source: str, line: int) -> str:
    return (
        f"stepsched: error: {source} line {line}: is longer than {MAX_LINE_LENGTH} characters "
        "(MAX_LINE_LENGTH); a log line is a row of numbers: is this a log file?\n"
    )


def write(path: Path, *pieces: bytes) -> Path:
    with path.open("wb") as handle:
        for piece in pieces:
            handle.write(piece)
    return path


GIANT = b"7" * (8 * MAX_LINE_LENGTH)


@pytest.mark.parametrize(
    ("name", "pieces", "line"),
    [
        ("one_line.csv", [GIANT], 1),
        ("after_header.csv", [b"step,lr\n", GIANT], 2),
        ("after_rows.csv", [b"step,lr\n0,0.1\n1,0.1\n", GIANT, b"\n2,0.1\n"], 4),
        ("long_but_short.csv", [b"step,lr\n0,0.1\n", b"9" * (MAX_LINE_LENGTH + 10), b"\n"], 3),
        ("non_ascii.csv", [b"step,lr\n0,0.1\n", "\u00e9".encode() * MAX_LINE_LENGTH, b"\n"], 3),
        ("giant.jsonl", [b'{"step": 0, "lr": 0.1}\n' * 3, b'{"step": 3, "lr": ', GIANT], 4),
        ("blank_then_giant.jsonl", [b"\n\n", b" " * (2 * MAX_LINE_LENGTH)], 3),
    ],
)
def test_a_long_line_is_refused(tmp_path: Path, name: str, pieces: list[bytes], line: int) -> None:
    path = write(tmp_path / name, *pieces)
    result = check(str(path))
    assert (result.returncode, result.stdout) == (1, "")
    assert result.stderr == refused(str(path), line)


def test_dev_zero_is_refused() -> None:
    result = check("/dev/zero")
    assert (result.returncode, result.stdout) == (1, "")
    assert result.stderr == refused("/dev/zero", 1)


def test_standard_input_with_a_long_line(tmp_path: Path) -> None:
    path = write(tmp_path / "stdin.csv", b"step,lr\n0,0.1\n", GIANT)
    result = check("-", stdin=path)
    assert (result.returncode, result.stdout) == (1, "")
    assert result.stderr == refused("<stdin>", 3)


def test_a_line_of_exactly_the_bound_is_read(tmp_path: Path) -> None:
    """The bound counts the line break: MAX_LINE_LENGTH characters in all are a line."""
    padding = MAX_LINE_LENGTH - len("0,0.1\n")
    path = write(tmp_path / "wide.csv", b"step,lr\n", b"0,0.1" + b"," * padding + b"\n")
    assert [point.lr for point in read_log(path)] == [0.1]
    over = write(tmp_path / "wider.csv", b"step,lr\n", b"0,0.1" + b"," * (padding + 1) + b"\n")
    with pytest.raises(RunLogError, match=" line 2: is longer than "):
        list(read_log(over))
