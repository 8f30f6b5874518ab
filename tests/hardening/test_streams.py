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
    assert lines[0].endswith(
        ": a torch checkpoint (only its pickle is read, never the whole file) is read from "
        "its file, not from stdin or a pipe; save it and name the file"
    )
    assert "/dev/fd/" in lines[0]


def _stepsched_run(*arguments: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*_stepsched(), *arguments],
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        timeout=TIME_LIMIT,
        env={**os.environ, "NO_COLOR": "1", "COLUMNS": "200"},
        check=False,
    )


def test_force_onto_a_fifo_writes_into_it(tmp_path: Path) -> None:
    """Issue 12 item 11: ``init -o FIFO --force`` wrote a regular file in its place."""
    import threading

    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    received: list[bytes] = []
    reader = threading.Thread(target=lambda: received.append(fifo.read_bytes()))
    reader.start()
    completed = _stepsched_run("init", "-o", str(fifo), "--force")
    reader.join(timeout=TIME_LIMIT)
    assert completed.returncode == 0, completed.stderr
    import stat

    assert stat.S_ISFIFO(os.lstat(fifo).st_mode)
    assert b'"format": "stepsched.state"' in received[0]
    assert os.listdir(tmp_path) == ["pipe"]


def test_force_onto_a_link_to_a_device_keeps_both(tmp_path: Path) -> None:
    link = tmp_path / "out.json"
    link.symlink_to(os.devnull)
    completed = _stepsched_run("init", "-o", str(link), "--force")
    assert completed.returncode == 0, completed.stderr
    assert link.is_symlink()
    assert os.path.realpath(link) == os.devnull
    assert os.listdir(tmp_path) == ["out.json"]


def test_force_keeps_look_alike_temporaries(tmp_path: Path) -> None:
    """Issue 12 item 12: ``.victim.json.my_notes.tmp``, a month old, was deleted."""
    victim = tmp_path / "victim.json"
    assert _stepsched_run("init", "-o", str(victim)).returncode == 0
    notes = tmp_path / ".victim.json.my_notes.tmp"
    notes.write_text("mine")
    os.utime(notes, (0, 0))
    completed = _stepsched_run(
        "convert", str(victim), "--to", "torch", "-o", str(victim), "--force"
    )
    assert completed.returncode == 0, completed.stderr
    assert notes.read_text() == "mine"
    assert sorted(os.listdir(tmp_path)) == [".victim.json.my_notes.tmp", "victim.json"]


@pytest.mark.parametrize("length", [242, 255])
def test_an_output_name_of_up_to_255_bytes_is_written(tmp_path: Path, length: int) -> None:
    """Issue 12 item 13: the temporary name was 14 bytes longer than the output's."""
    output = tmp_path / ("s" * (length - len(".json")) + ".json")
    completed = _stepsched_run("init", "-o", str(output))
    assert completed.returncode == 0, completed.stderr
    assert os.listdir(tmp_path) == [output.name]
