"""Logs built to make ``check`` slow or loud: blank lines before the header, long values.

Blank lines before the header were read one at a time, twice (4 MB of newlines took
6 s); a bad value was echoed whole (a 900,000-character lr gave a 900 KB message).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from stepsched_cli.runlog import RunLogError, read_log
from stepsched_cli.runlog.chunks import _BLANK_BLOCK


@pytest.mark.parametrize(
    "blank",
    [b"\n", b"\n" * 3, b"\n" * (3 * _BLANK_BLOCK), b" \t\n" * _BLANK_BLOCK, b"\n" * _BLANK_BLOCK],
    ids=["one", "three", "three-blocks", "spaces-and-tabs", "one-block"],
)
@pytest.mark.parametrize(
    ("log", "suffix"),
    [
        (b"step,lr\n0,0.1\n5,0.05\n", "csv"),
        (b'{"step": 0, "lr": 0.1}\n{"step": 5, "lr": 0.05}\n', "jsonl"),
    ],
)
def test_blank_lines_before_the_header_are_skipped_and_counted(
    tmp_path: Path, blank: bytes, log: bytes, suffix: str
) -> None:
    path = tmp_path / f"log.{suffix}"
    path.write_bytes(blank + log)
    lines = blank.count(b"\n")
    first = lines + (2 if suffix == "csv" else 1)
    assert [(p.step, p.lr, p.line) for p in read_log(path)] == [
        (0, 0.1, first),
        (5, 0.05, first + 1),
    ]


@pytest.mark.parametrize("blank", [b"\n", b"\n" * (3 * _BLANK_BLOCK), b" \n\t\n"])
def test_a_log_of_blank_lines_is_empty(tmp_path: Path, blank: bytes) -> None:
    path = tmp_path / "log.csv"
    path.write_bytes(blank)
    with pytest.raises(RunLogError) as raised:
        list(read_log(path))
    assert str(raised.value) == f"{path}: is empty; expected a header line or JSON lines"


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (
            b"step,lr\n" + b"9" * 5_000 + b",0.1\n",
            "line 2: step '99999999999999999999999999999999999999999999999999999999999... "
            "(str of 5000 characters) is not an integer step >= 0",
        ),
        (
            b"step,lr\n0," + b"x" * 100_000 + b"\n",
            "line 2: lr 'xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx... "
            "(str of 100000 characters) is not a learning rate (a finite number >= 0)",
        ),
        (
            b'{"step": 0, "lr": "' + b"x" * 900_000 + b'"}\n',
            "line 1: lr 'xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx... "
            "(str of 900000 characters) is not a learning rate (a finite number >= 0)",
        ),
        (
            b'{"step": "' + b"1" * 900_000 + b'", "lr": 0.1}\n',
            "line 1: step '11111111111111111111111111111111111111111111111111111111111... "
            "(str of 900000 characters) is not an integer step >= 0",
        ),
    ],
    ids=["5,000-digit-step", "100-KB-lr", "900-KB-json-lr", "900-KB-json-step"],
)
def test_a_long_bad_value_is_shown_by_its_start_and_size(
    tmp_path: Path, content: bytes, message: str
) -> None:
    path = tmp_path / ("log.jsonl" if content.startswith(b"{") else "log.csv")
    path.write_bytes(content)
    with pytest.raises(RunLogError) as raised:
        list(read_log(path))
    assert str(raised.value) == f"{path} {message}"
