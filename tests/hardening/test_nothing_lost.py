"""Nothing lost: every file the command line writes is written atomically, or not at all.

- A failure injected at each point of the write (creating the temporary file, writing,
  fsync, chmod, replace or link) leaves the previous file intact, no temporary file
  behind, and one line on stderr naming the file: for ``init``, ``convert`` and ``plot``.
- ``convert`` into a folder that cannot hold files fails cleanly.
- ``convert X -o X`` refuses without ``--force`` and replaces X atomically with it.
- A ``convert --force`` killed with SIGKILL at random moments never leaves a partial or
  missing file; only the temporary files of killed runs can remain (they cannot clean
  up after a SIGKILL), and those are counted.
- Nothing is overwritten without ``--force``.
- No module of the package writes a file except through ``state.atomic_write``.
"""

from __future__ import annotations

import errno
import os
import random
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner, Result

from stepsched_cli.cli.app import app
from stepsched_cli.schedule import StepSchedule
from stepsched_cli.scheduler import SchedulerState
from stepsched_cli.state import dumps_state, read_state_file

PACKAGE = Path(__file__).resolve().parent.parent.parent / "stepsched_cli"
PREVIOUS = b"the previous content, which must survive\n"
SCHEDULE = ["--lr", "0.1", "--step-size", "30"]
TEMPORARY = re.compile(r"^\..+\.tmp$")


def invoke(*args: str) -> Result:
    return CliRunner().invoke(app, list(args), prog_name="stepsched")


@pytest.fixture
def source(tmp_path: Path) -> Path:
    """A valid state file in a folder of its own (so output folders hold only outputs)."""
    folder = tmp_path / "in"
    folder.mkdir()
    path = folder / "run.json"
    state = SchedulerState(schedule=StepSchedule(0.1, step_size=30, gamma=0.1), position=45)
    path.write_bytes(dumps_state(state))
    return path


@pytest.fixture
def out_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "out"
    folder.mkdir()
    return folder


def command_line(command: str, source: Path, output: Path) -> list[str]:
    if command == "init":
        return ["init", *SCHEDULE, "-o", str(output)]
    if command == "convert":
        return ["convert", str(source), "--steps-per-epoch", "15", "-o", str(output)]
    return ["plot", *SCHEDULE, "--total", "120", "-o", str(output)]


OUTPUT_NAMES = {"init": "run.json", "convert": "run.json", "plot": "lr.svg"}


def assert_one_line_naming(result: Result, path: Path) -> None:
    assert result.exit_code == 1, (result.exit_code, result.stderr)
    assert "Traceback" not in result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("stepsched: error: ")
    assert str(path) in lines[0]


# -- failures injected at each point of the write ---------------------------------------


def _fail(number: int, text: str) -> Callable[..., Any]:
    def failing(*args: object, **kwargs: object) -> Any:
        raise OSError(number, text)

    return failing


class _HalfWriter:
    """A file that writes half of the data it is given, then reports a full disk."""

    def __init__(self, handle: Any) -> None:
        self._handle = handle

    def write(self, data: bytes) -> int:
        self._handle.write(data[: len(data) // 2])
        self._handle.flush()
        raise OSError(errno.ENOSPC, "No space left on device")

    def __getattr__(self, name: str) -> Any:
        return getattr(self._handle, name)

    def __enter__(self) -> _HalfWriter:
        return self

    def __exit__(self, *exception: object) -> None:
        self._handle.close()


def _inject(monkeypatch: pytest.MonkeyPatch, point: str) -> None:
    import tempfile

    if point == "open":
        monkeypatch.setattr(tempfile, "mkstemp", _fail(errno.EMFILE, "Too many open files"))
    elif point == "write":
        real_fdopen = os.fdopen
        monkeypatch.setattr(
            os, "fdopen", lambda *args, **kwargs: _HalfWriter(real_fdopen(*args, **kwargs))
        )
    elif point == "fsync":
        monkeypatch.setattr(os, "fsync", _fail(errno.EIO, "Input/output error"))
    elif point == "chmod":
        monkeypatch.setattr(os, "chmod", _fail(errno.EPERM, "Operation not permitted"))
    elif point == "replace":
        monkeypatch.setattr(os, "replace", _fail(errno.EIO, "Input/output error"))
    elif point == "link":
        monkeypatch.setattr(os, "link", _fail(errno.EIO, "Input/output error"))
    else:
        raise AssertionError(point)


COMMANDS = ("init", "convert", "plot")
OVERWRITE_POINTS = ("open", "write", "fsync", "chmod", "replace")
NEW_FILE_POINTS = ("open", "write", "fsync", "chmod", "link")


@pytest.mark.parametrize("point", OVERWRITE_POINTS)
@pytest.mark.parametrize("command", COMMANDS)
def test_failure_while_overwriting_keeps_the_previous_file(
    command: str, point: str, source: Path, out_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = out_dir / OUTPUT_NAMES[command]
    target.write_bytes(PREVIOUS)
    if command == "plot":
        import stepsched_cli.plot  # noqa: F401  # import matplotlib before os is patched
    _inject(monkeypatch, point)
    result = invoke(*command_line(command, source, target), "--force")
    monkeypatch.undo()
    assert_one_line_naming(result, target)
    assert target.read_bytes() == PREVIOUS
    assert sorted(os.listdir(out_dir)) == [target.name], "a temporary file was left behind"


@pytest.mark.parametrize("point", NEW_FILE_POINTS)
@pytest.mark.parametrize("command", COMMANDS)
def test_failure_while_creating_leaves_no_file(
    command: str, point: str, source: Path, out_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = out_dir / OUTPUT_NAMES[command]
    if command == "plot":
        import stepsched_cli.plot  # noqa: F401

        # An image always replaces: a new one, too, is moved into place by os.replace.
        point = "replace" if point == "link" else point
    _inject(monkeypatch, point)
    result = invoke(*command_line(command, source, target))
    monkeypatch.undo()
    assert_one_line_naming(result, target)
    assert os.listdir(out_dir) == []


@pytest.mark.parametrize("command", COMMANDS)
def test_without_faults_the_write_succeeds(command: str, source: Path, out_dir: Path) -> None:
    """The control case: the same commands, unpatched, write their file and nothing else."""
    target = out_dir / OUTPUT_NAMES[command]
    target.write_bytes(PREVIOUS)
    result = invoke(*command_line(command, source, target), "--force")
    assert result.exit_code == 0, result.stderr
    assert target.read_bytes() != PREVIOUS
    assert os.listdir(out_dir) == [target.name]


# -- folders that cannot hold the output ------------------------------------------------


def _unwritable_outputs(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    # As root, permission bits do not stop a write, so these use paths where creating a
    # file fails for everyone: below a regular file (ENOTDIR), in a missing folder
    # (ENOENT) and in /proc, where no regular file can be created.
    regular = tmp_path / "regular_file"
    regular.write_bytes(b"")
    yield "below a regular file", regular / "out.json"
    yield "in a missing folder", tmp_path / "missing" / "out.json"
    if Path("/proc/self").is_dir():
        yield "in /proc", Path("/proc/stepsched-out.json")
    if os.geteuid() != 0:
        locked = tmp_path / "locked"
        locked.mkdir()
        locked.chmod(0o500)
        yield "in a read-only folder", locked / "out.json"


def test_convert_into_an_unwritable_folder_fails_cleanly(source: Path, tmp_path: Path) -> None:
    before = source.read_bytes()
    for label, output in _unwritable_outputs(tmp_path):
        result = invoke("convert", str(source), "-o", str(output), "--force")
        assert_one_line_naming(result, output)
        assert "cannot be written" in result.stderr, label
        assert not output.exists(), label
    assert source.read_bytes() == before
    (tmp_path / "locked").exists() and (tmp_path / "locked").chmod(0o700)


# -- convert X -o X -----------------------------------------------------------------------


def test_convert_onto_itself_refuses_without_force(source: Path) -> None:
    before = source.read_bytes()
    result = invoke("convert", str(source), "--steps-per-epoch", "15", "-o", str(source))
    assert_one_line_naming(result, source)
    assert "already exists" in result.stderr
    assert "--force" in result.stderr
    assert source.read_bytes() == before


def test_convert_onto_itself_with_force_replaces_it_atomically(
    source: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    inode = source.stat().st_ino
    replaced: list[tuple[str, str]] = []
    real_replace = os.replace

    def recording_replace(src: Any, dst: Any) -> None:
        replaced.append((os.fspath(src), os.fspath(dst)))
        real_replace(src, dst)

    monkeypatch.setattr(os, "replace", recording_replace)
    result = invoke(
        "convert", str(source), "--mode", "epoch", "--steps-per-epoch", "15",
        "-o", str(source), "--force",
    )  # fmt: skip
    monkeypatch.undo()
    assert result.exit_code == 0, result.stderr
    # A new file moved over the old name in one rename, not the old file rewritten.
    assert len(replaced) == 1
    assert replaced[0][1] == str(source)
    assert TEMPORARY.match(Path(replaced[0][0]).name)
    assert source.stat().st_ino != inode
    state = read_state_file(source)
    assert (state.schedule.mode, state.position, state.steps_per_epoch) == ("epoch", 3, 15)
    assert os.listdir(source.parent) == [source.name]


def test_convert_through_a_link_onto_its_target(source: Path) -> None:
    link = source.parent / "link.json"
    link.symlink_to(source.name)
    result = invoke("convert", str(link), "--steps-per-epoch", "15", "-o", str(link), "--force")
    assert result.exit_code == 0, result.stderr
    assert link.is_symlink()
    assert read_state_file(source).steps_per_epoch == 15


# -- refusing to overwrite ------------------------------------------------------------------


@pytest.mark.parametrize("command", COMMANDS)
@pytest.mark.parametrize("existing", ["file", "link to a file", "dangling link"])
def test_nothing_is_overwritten_without_force(
    command: str, existing: str, source: Path, out_dir: Path
) -> None:
    target = out_dir / OUTPUT_NAMES[command]
    kept = out_dir / "kept"
    if existing == "file":
        target.write_bytes(PREVIOUS)
    elif existing == "link to a file":
        kept.write_bytes(PREVIOUS)
        target.symlink_to(kept.name)
    else:
        target.symlink_to("nowhere")
    before = sorted(os.listdir(out_dir))
    result = invoke(*command_line(command, source, target))
    if existing == "dangling link":
        # Writing through would create a file wherever the link points: refused.
        assert_one_line_naming(result, target)
        assert "is a symbolic link to a missing file" in result.stderr
        assert sorted(os.listdir(out_dir)) == before
        assert not (out_dir / "nowhere").exists()
        return
    if command == "plot":
        # An image is regenerable output: replaced (through a link, its target), no --force.
        assert result.exit_code == 0, result.stderr
        assert sorted(os.listdir(out_dir)) == before
        assert (kept if existing == "link to a file" else target).read_bytes().startswith(b"<?xml")
        assert target.is_symlink() is (existing == "link to a file")
        return
    assert_one_line_naming(result, target)
    assert "already exists; refusing to overwrite it (use --force to replace it)" in result.stderr
    assert sorted(os.listdir(out_dir)) == before
    assert target.read_bytes() == PREVIOUS


# -- every write goes through atomic_write --------------------------------------------------

WRITE_CALLS = re.compile(
    r"\.write_(bytes|text)\(|\bopen\([^)]*['\"][wax]b?\+?['\"]|os\.open\([^)]*O_(WRONLY|RDWR|CREAT)"
    r"|shutil\.(copy|move)|os\.(replace|rename|link)\(|mkstemp|NamedTemporaryFile|\.savefig\((?!buffer)"
)


def test_only_atomic_write_writes_files() -> None:
    """A new way of writing a file must go through fileio.atomic_write (or be listed here)."""
    allowed = {
        ("cli/app.py", "os.open(os.devnull, os.O_WRONLY)"),  # silences stdout after EPIPE
    }
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        relative = path.relative_to(PACKAGE).as_posix()
        if relative == "fileio.py":
            continue
        for number, line in enumerate(path.read_text().splitlines(), 1):
            if WRITE_CALLS.search(line) and not any(
                relative == file and snippet in line for file, snippet in allowed
            ):
                found.append(f"{relative}:{number}: {line.strip()}")
    assert found == []


# -- SIGKILL at random moments --------------------------------------------------------------

KILL_ROUNDS = 50


def _console_script() -> list[str]:
    beside = Path(sys.executable).with_name("stepsched")
    return [str(beside)] if beside.exists() else [sys.executable, "-m", "stepsched_cli"]


def _large_state(position: int) -> bytes:
    """A valid state file of about 400 KB: 3,000 parameter groups."""
    schedule = StepSchedule(0.1, step_size=7, gamma=0.5)
    lrs = [0.1 * (index % 7 + 1) for index in range(3000)]
    state = SchedulerState(
        schedule=schedule,
        position=position,
        group_initial_lrs=tuple(lrs),
    )
    return dumps_state(state)


def test_sigkill_while_converting_never_leaves_a_partial_file(tmp_path: Path) -> None:
    """Each round kills ``convert A|B -o OUT --force`` after a random delay.

    OUT must always hold exactly one complete version (A's or B's bytes: converting a
    file stepsched wrote, with no option, writes the same bytes).  Temporary files of
    killed runs may remain, since a killed process cannot remove them; they must be
    recognisable by name and are counted in the test's output.
    """
    inputs = tmp_path / "in"
    inputs.mkdir()
    versions = [_large_state(10), _large_state(20)]
    assert len(versions[0]) > 200_000
    sources = []
    for index, content in enumerate(versions):
        path = inputs / f"v{index}.json"
        path.write_bytes(content)
        sources.append(path)
    folder = tmp_path / "out"
    folder.mkdir()
    target = folder / "run.json"
    target.write_bytes(versions[0])
    # Aim the kills at the end of a run, where the write happens: time one whole run.
    started = time.monotonic()
    subprocess.run(
        [*_console_script(), "convert", str(sources[1]), "-o", str(target), "--force"],
        capture_output=True,
        check=True,
    )
    whole_run = time.monotonic() - started
    generator = random.Random(6)
    killed = finished = 0
    for round_number in range(KILL_ROUNDS):
        process = subprocess.Popen(
            [*_console_script(), "convert", str(sources[round_number % 2]), "-o", str(target),
             "--force"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )  # fmt: skip
        time.sleep(generator.uniform(0.3, 1.1) * whole_run)
        if process.poll() is None:
            process.send_signal(signal.SIGKILL)
            killed += 1
        else:
            finished += 1
        process.wait(timeout=20)
        assert target.read_bytes() in versions, f"round {round_number}: a partial file"
        for name in os.listdir(folder):
            assert name == target.name or TEMPORARY.match(name), name
    leftovers = [name for name in os.listdir(folder) if name != target.name]
    print(
        f"{KILL_ROUNDS} rounds in {time.monotonic() - started:.1f} s (a whole run "
        f"{whole_run:.2f} s): {killed} killed, "
        f"{finished} finished, {len(leftovers)} temporary files left by killed runs"
    )
    assert len(leftovers) <= killed
    read_state_file(target)


KILL_AT = """
import os, signal, sys
from stepsched_cli.cli.app import main
point = sys.argv.pop(1)
real = getattr(os, point)
def killed(*args, **kwargs):
    os.kill(os.getpid(), signal.SIGKILL)
setattr(os, point, killed)
sys.argv[0] = "stepsched"
main()
"""


@pytest.mark.parametrize("point", ["fsync", "chmod", "replace"])
def test_sigkill_inside_the_write_keeps_the_old_file_and_leaves_a_named_temporary(
    point: str, source: Path, out_dir: Path
) -> None:
    """Killed at a chosen point of the write: the old file is whole; the temporary stays.

    A killed process cannot remove its temporary file: it remains, as ``.<name>.*.tmp``
    next to the output, the only trace.  Nothing removes it but the user: stepsched
    deletes no file it did not create in the same run (docs/security.md).
    """
    target = out_dir / "run.json"
    target.write_bytes(PREVIOUS)
    completed = subprocess.run(
        [sys.executable, "-c", KILL_AT, point, "convert", str(source), "-o", str(target),
         "--force"],
        capture_output=True,
        check=False,
    )  # fmt: skip
    assert completed.returncode == -signal.SIGKILL, completed.stderr
    assert target.read_bytes() == PREVIOUS
    leftovers = [name for name in os.listdir(out_dir) if name != target.name]
    assert len(leftovers) == 1
    assert TEMPORARY.match(leftovers[0])
    assert leftovers[0].startswith(".run.json.")
