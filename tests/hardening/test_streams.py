"""Issue 12 item 10: an input that can be read only once (a pipe) is read once.

``stepsched validate <(cat good.json)`` used to sniff the pipe's first bytes for a
checkpoint, then reopen the consumed pipe and call it empty.  Each command runs the
installed ``stepsched`` with the file's bytes behind ``/dev/fd/N``, as a shell's
process substitution passes them.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CHECKPOINTS = ROOT / "tests" / "data" / "checkpoints"
STEPLR = CHECKPOINTS / "steplr_state.json"
TIME_LIMIT = 20.0  # a hang guard only


def _stepsched() -> list[str]:
    beside = Path(sys.executable).with_name("stepsched")
    if beside.exists():
        return [str(beside)]
    found = shutil.which("stepsched")
    return [found] if found else [sys.executable, "-m", "stepsched_cli"]


def _through_a_pipe(data: bytes, *arguments: str) -> subprocess.CompletedProcess[str]:
    """Run ``stepsched`` with ``{}`` in ``arguments`` replaced by a pipe holding ``data``."""
    reader, writer = os.pipe()
    try:
        os.write(writer, data)  # the fixtures fit in a pipe's buffer
        os.close(writer)
        writer = -1
        name = f"/dev/fd/{reader}"
        return subprocess.run(
            [*_stepsched(), *(name if argument == "{}" else argument for argument in arguments)],
            capture_output=True,
            text=True,
            pass_fds=(reader,),
            stdin=subprocess.DEVNULL,
            timeout=TIME_LIMIT,
            env={**os.environ, "NO_COLOR": "1", "COLUMNS": "200"},
            check=False,
        )
    finally:
        os.close(reader)
        if writer >= 0:
            os.close(writer)


@pytest.mark.parametrize(
    ("arguments", "expected"),
    [
        (("validate", "{}"), "ok"),
        (("validate", "--from", "torch", "{}"), "ok"),
        (("inspect", "--json", "{}"), '"step": 45'),
        (("convert", "{}", "--to", "stepsched", "-o", "-"), '"format": "stepsched.state"'),
        (("at", "--state", "{}", "50"), "step 50: lr 0.01"),
    ],
)
def test_a_valid_file_through_a_pipe_is_read_once(
    arguments: tuple[str, ...], expected: str
) -> None:
    completed = _through_a_pipe(STEPLR.read_bytes(), *arguments)
    assert completed.returncode == 0, completed.stderr
    assert completed.stderr == ""
    assert expected in completed.stdout


@pytest.mark.parametrize("forced", [False, True])
def test_a_checkpoint_through_a_pipe_is_refused_in_one_line(forced: bool) -> None:
    extra = ("--from", "torch-checkpoint") if forced else ()
    completed = _through_a_pipe(
        (CHECKPOINTS / "zip_steplr.pt").read_bytes(), "inspect", *extra, "{}"
    )
    assert completed.returncode == 1
    assert completed.stdout == ""
    lines = completed.stderr.splitlines()
    assert len(lines) == 1
    assert lines[0].endswith(": read a checkpoint from its file, not from stdin or a pipe")
    assert "/dev/fd/" in lines[0]
