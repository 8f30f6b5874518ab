"""Every file of the bad-input corpus is refused cleanly by the installed command.

The corpus is ``tests/data/bad/manifest.json`` (made by
``tests/fixtures/make_bad_corpus.py``).  For each entry, ``validate``, ``inspect`` and
``convert`` run in a subprocess of the real console script, under a 1 GiB
address-space limit and a time limit, and must: exit with the manifest's code, print
nothing on stdout and exactly one line on stderr that names the file and says what is
wrong, never print a traceback, and leave the input (and an existing output) exactly
as they were.

The message's wording is checked against the manifest once the command line knows the
entry's reader; inputs meant for a reader it does not have yet (torch state dicts and
checkpoints, while that work is in flight) must still be refused under the rest of the
contract.
"""

from __future__ import annotations

import hashlib
import json
import os
import resource
import shutil
import socket
import stat
import struct
import subprocess
import sys
import zlib
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

DATA_DIR = Path(__file__).resolve().parent.parent / "data"
MANIFEST = json.loads((DATA_DIR / "bad" / "manifest.json").read_text())
ENTRIES: list[dict[str, Any]] = MANIFEST["entries"]
ENTRY_BY_NAME = {entry["name"]: entry for entry in ENTRIES}

MEMORY_LIMIT = 1 << 30
TIME_LIMIT = 20.0
BOMB_BYTES = 300 << 20


def console_script() -> list[str]:
    """The installed ``stepsched`` next to this Python, else on PATH, else ``-m``."""
    beside = Path(sys.executable).with_name("stepsched")
    if beside.exists():
        return [str(beside)]
    found = shutil.which("stepsched")
    if found:
        return [found]
    return [sys.executable, "-m", "stepsched_cli"]


STEPSCHED = console_script()


def _limit_memory() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT, MEMORY_LIMIT))


@dataclass(frozen=True)
class Run:
    returncode: int
    stdout: bytes
    stderr: str


def stepsched(*args: str, cwd: Path | None = None) -> Run:
    """Run the console script under the memory and time limits."""
    environment = {**os.environ, "NO_COLOR": "1", "COLUMNS": "200"}
    environment.pop("STEPSCHED_DEBUG", None)
    completed = subprocess.run(
        [*STEPSCHED, *args],
        capture_output=True,
        stdin=subprocess.DEVNULL,
        timeout=TIME_LIMIT,
        preexec_fn=_limit_memory,
        env=environment,
        cwd=cwd,
        check=False,
    )
    return Run(completed.returncode, completed.stdout, completed.stderr.decode("utf-8", "replace"))


# -- inputs made at test time ---------------------------------------------------------


def _deflate_zip(path: Path, *, lying: bool) -> None:
    """A torch.save-shaped zip whose data.pkl is ``BOMB_BYTES`` of zeros, deflated.

    Built by hand so that the headers can lie: with ``lying``, the local and central
    headers claim 100 bytes for the member.
    """
    compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
    chunk = bytes(1 << 20)
    pieces = [compressor.compress(chunk) for _ in range(BOMB_BYTES // len(chunk))]
    pieces.append(compressor.flush())
    compressed = b"".join(pieces)
    crc = 0
    for _ in range(BOMB_BYTES // len(chunk)):
        crc = zlib.crc32(chunk, crc)
    size = 100 if lying else BOMB_BYTES
    name = b"archive/data.pkl"
    common = struct.pack("<HHHHHIII", 20, 0, 8, 0, 0x21, crc, len(compressed), size)
    local = b"PK\x03\x04" + common + struct.pack("<HH", len(name), 0) + name
    central = (
        b"PK\x01\x02"
        + struct.pack("<H", 20)
        + common
        + struct.pack("<HHHHHII", len(name), 0, 0, 0, 0, 0, 0)
        + name
    )
    offset = len(local) + len(compressed)
    end = b"PK\x05\x06" + struct.pack("<HHHHIIH", 0, 0, 1, 1, len(central), offset, 0)
    path.write_bytes(local + compressed + central + end)


def _many_members_zip(path: Path, count: int) -> None:
    """A ZIP64 archive of a stored data.pkl and ``count - 1`` empty-named members."""
    data = b"\x80\x02}q\x00."
    sizes = struct.pack("<3L", zlib.crc32(data), len(data), len(data))
    name = b"archive/data.pkl"
    local = b"PK\x03\x04" + struct.pack("<5H", 20, 0, 0, 0, 0) + sizes
    local += struct.pack("<2H", len(name), 0) + name + data

    def member(member_name: bytes) -> bytes:
        header = struct.pack("<6H", 20, 20, 0, 0, 0, 0) + sizes
        return b"PK\x01\x02" + header + struct.pack("<5H2L", len(member_name), 0, 0, 0, 0, 0, 0)

    first = member(name) + name
    others = member(b"") * (count - 1)
    size = len(first) + len(others)
    end_position = len(local) + size
    end = b"PK\x06\x06" + struct.pack("<Q2H2L4Q", 44, 45, 45, 0, 0, count, count, size, len(local))
    end += b"PK\x06\x07" + struct.pack("<LQL", 0, end_position, 1)
    end += b"PK\x05\x06" + struct.pack("<4H2LH", 0, 0, 0xFFFF, 0xFFFF, 0xFFFFFFFF, 0xFFFFFFFF, 0)
    with path.open("wb") as handle:
        handle.write(local + first)
        handle.write(others)
        handle.write(end)


def _unreadable(path: Path) -> None:
    if os.geteuid() == 0:
        # Root reads through mode 000; nobody can open() a socket.
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        listener.bind(str(path))
        listener.close()
    else:
        path.write_bytes((DATA_DIR / "checkpoints" / "steplr_state.json").read_bytes())
        path.chmod(0)


def _make(entry: dict[str, Any], folder: Path) -> Path:
    path = folder / entry["name"]
    if entry["name"] == "big_50mb.json":
        with path.open("wb") as handle:
            handle.write(b"[")
            handle.write(b"0," * (25 * 10**6 - 1))
            handle.write(b"0]")
    elif entry["name"] == "unreadable.json":
        _unreadable(path)
    elif entry["name"] == "zip_bomb_deflate.pt":
        _deflate_zip(path, lying=False)
    elif entry["name"] == "zip_bomb_deflate_lying.pt":
        _deflate_zip(path, lying=True)
    elif entry["name"] == "zip_2_million_members.pt":
        _many_members_zip(path, 2_200_000)
    else:
        raise AssertionError(f"no recipe for the test-time entry {entry['name']}")
    return path


@pytest.fixture(scope="module")
def inputs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Path]]:
    """The path of every entry, test-time entries made into a temporary folder."""
    folder = tmp_path_factory.mktemp("bad")
    paths: dict[str, Path] = {}
    for entry in ENTRIES:
        if entry["made"] == "test time":
            paths[entry["name"]] = _make(entry, folder)
        else:
            paths[entry["name"]] = DATA_DIR / entry["path"]
    yield paths
    unreadable = paths.get("unreadable.json")
    if unreadable is not None and unreadable.is_file():
        unreadable.chmod(0o600)


@pytest.fixture(scope="module")
def known_readers() -> set[str]:
    """The readers the installed command has: a good file of each kind must validate."""
    known = {"file", "stepsched"}
    probes = {
        "torch": DATA_DIR / "checkpoints" / "steplr_state.json",
        "torch-checkpoint": DATA_DIR / "checkpoints" / "zip_steplr.pt",
    }
    for reader, good in probes.items():
        if stepsched("validate", str(good)).returncode == 0:
            known.add(reader)
    return known


def fingerprint(path: Path) -> object:
    """What must not change: a file's bytes, a link's target, a folder's listing."""
    try:
        info = path.lstat()
    except FileNotFoundError:
        return None
    except NotADirectoryError:
        return "not a directory"
    if stat.S_ISLNK(info.st_mode):
        return ("link", os.readlink(path))
    if stat.S_ISDIR(info.st_mode):
        return ("folder", sorted(os.listdir(path)))
    if stat.S_ISREG(info.st_mode) and info.st_mode & 0o444:
        digest = hashlib.sha256()
        with path.open("rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
        return ("file", info.st_size, stat.S_IMODE(info.st_mode), digest.hexdigest())
    return ("other", stat.S_IFMT(info.st_mode), info.st_size, info.st_mtime_ns)


def check_refusal(
    entry: dict[str, Any], path: Path, line: str, known: set[str], *, exact_line: bool = True
) -> None:
    """One stderr line names the file and, once its reader is known, the problem."""
    assert "Traceback" not in line
    assert line.startswith("stepsched: error: "), line
    assert str(path) in line, f"the message does not name the file: {line!r}"
    if entry["reader"] in known:
        problem = line.replace(str(path), "<file>")
        assert entry["message"] in problem, f"{entry['name']}: {line!r}"
    if exact_line:
        assert "\n" not in line.rstrip("\n")


def check_run(
    entry: dict[str, Any], path: Path, run: Run, known: set[str], *, stdout_empty: bool = True
) -> None:
    assert "Traceback" not in run.stderr
    assert b"Traceback" not in run.stdout
    assert run.returncode == entry["exit"], (run.returncode, run.stderr)
    if stdout_empty:
        assert run.stdout == b""
    lines = run.stderr.splitlines()
    assert len(lines) == 1, f"{entry['name']}: expected one line, got {run.stderr!r}"
    check_refusal(entry, path, lines[0], known)


# -- the manifest itself --------------------------------------------------------------


def test_manifest_entries_are_complete_and_cover_the_issue() -> None:
    assert len(ENTRIES) >= 50
    assert len(ENTRY_BY_NAME) == len(ENTRIES)
    required = {"name", "path", "what", "why", "commands", "exit", "message", "reader", "made"}
    for entry in ENTRIES:
        assert required <= entry.keys(), entry["name"]
        assert entry["exit"] in (1, 2)
        assert set(entry["commands"]) <= {"validate", "inspect", "convert"}
        assert entry["reader"] in MANIFEST["header"]["readers"]
        assert entry["message"]
        path = DATA_DIR / entry["path"]
        if entry["made"] == "absent":
            assert not path.exists()
        elif entry["made"] in ("committed", "shared"):
            assert path.is_symlink() or path.exists() or not path.parent.is_dir(), entry["name"]
        else:
            assert entry["made"] == "test time"
            assert entry.get("recipe")


def test_every_committed_file_is_in_the_manifest() -> None:
    listed = {entry["path"] for entry in ENTRIES}
    for child in (DATA_DIR / "bad").iterdir():
        if child.name != "manifest.json":
            assert f"bad/{child.name}" in listed, child.name


def test_corpus_regenerates_identically(tmp_path: Path) -> None:
    """The committed corpus is exactly what the script makes (no hand edits)."""
    script = DATA_DIR.parent / "fixtures" / "make_bad_corpus.py"
    subprocess.run(
        [sys.executable, str(script), str(tmp_path / "bad")], check=True, capture_output=True
    )
    for entry in ENTRIES:
        if entry["made"] != "committed" or not entry["path"].startswith("bad/"):
            continue
        ours, theirs = DATA_DIR / entry["path"], tmp_path / entry["path"]
        assert fingerprint(ours) == fingerprint(theirs), entry["name"]
    assert json.loads((tmp_path / "bad" / "manifest.json").read_text()) == MANIFEST


# -- the contract, per command ----------------------------------------------------------


def _batch(entries: list[dict[str, Any]], command: str) -> list[dict[str, Any]]:
    return [entry for entry in entries if command in entry["commands"] and entry["exit"] == 1]


def test_validate_refuses_every_file_in_one_call(
    inputs: dict[str, Path], known_readers: set[str]
) -> None:
    chosen = _batch(ENTRIES, "validate")
    paths = [inputs[entry["name"]] for entry in chosen]
    before = [fingerprint(path) for path in paths]
    run = stepsched("validate", *map(str, paths))
    assert "Traceback" not in run.stderr
    assert run.returncode == 1
    assert run.stdout == b""
    lines = run.stderr.splitlines()
    assert len(lines) == len(chosen), run.stderr
    for entry, path, line in zip(chosen, paths, lines, strict=True):
        check_refusal(entry, path, line, known_readers)
    assert [fingerprint(path) for path in paths] == before


def test_validate_json_reports_every_file_invalid(inputs: dict[str, Path]) -> None:
    chosen = _batch(ENTRIES, "validate")
    paths = [str(inputs[entry["name"]]) for entry in chosen]
    run = stepsched("validate", "--json", *paths)
    assert run.returncode == 1
    report = json.loads(run.stdout)
    assert [item["file"] for item in report] == paths
    assert not any(item["valid"] for item in report)
    assert len(run.stderr.splitlines()) == len(paths)


PER_FILE_COMMANDS = ("inspect", "convert")
JOBS = [
    (entry["name"], command)
    for entry in ENTRIES
    for command in PER_FILE_COMMANDS
    if command in entry["commands"]
]
PREVIOUS_OUTPUT = b"the previous output\n"


@dataclass(frozen=True)
class FileRun:
    run: Run
    before: object
    after: object
    output_folder: Path | None


@pytest.fixture(scope="module")
def per_file_runs(
    inputs: dict[str, Path], tmp_path_factory: pytest.TempPathFactory
) -> dict[tuple[str, str], FileRun]:
    """Run ``inspect FILE`` and ``convert FILE -o OUT --force`` for every entry.

    The runs are independent processes, so they go in parallel (one per core): the
    whole corpus stays well under a minute on two cores.  ``OUT`` exists beforehand, in
    a folder of its own, so the tests can check that a refused convert leaves it alone.
    """

    def one(job: tuple[str, str]) -> tuple[tuple[str, str], Run, Path | None]:
        name, command = job
        path = inputs[name]
        if command == "convert":
            folder = tmp_path_factory.mktemp("convert")
            output = folder / "out.json"
            output.write_bytes(PREVIOUS_OUTPUT)
            return job, stepsched("convert", str(path), "-o", str(output), "--force"), folder
        return job, stepsched(command, str(path)), None

    before = {name: fingerprint(path) for name, path in inputs.items()}
    with ThreadPoolExecutor(max_workers=max(2, os.cpu_count() or 1)) as pool:
        done = list(pool.map(one, JOBS))
    return {
        job: FileRun(run, before[job[0]], fingerprint(inputs[job[0]]), folder)
        for job, run, folder in done
    }


@pytest.mark.parametrize(("name", "command"), JOBS)
def test_each_command_refuses_each_file(
    name: str,
    command: str,
    inputs: dict[str, Path],
    known_readers: set[str],
    per_file_runs: dict[tuple[str, str], FileRun],
) -> None:
    entry, path = ENTRY_BY_NAME[name], inputs[name]
    result = per_file_runs[name, command]
    check_run(entry, path, result.run, known_readers)
    assert result.after == result.before, "the input changed"
    if result.output_folder is not None:
        assert (result.output_folder / "out.json").read_bytes() == PREVIOUS_OUTPUT
        assert [child.name for child in result.output_folder.iterdir()] == ["out.json"]


def test_inspect_json_refuses_with_one_line(
    inputs: dict[str, Path], known_readers: set[str]
) -> None:
    """--json changes nothing for a refusal: stdout stays empty (a sample of entries)."""
    for name in ("nan.json", "a_directory.json", "torch_base_lrs_empty.json", "os_system.pt"):
        check_run(
            ENTRY_BY_NAME[name],
            inputs[name],
            stepsched("inspect", "--json", str(inputs[name])),
            known_readers,
        )


# -- the same refusals in-process, straight from the readers ----------------------------


@pytest.mark.parametrize(
    "name",
    [
        entry["name"]
        for entry in ENTRIES
        if entry["reader"] in ("stepsched", "torch-checkpoint") and entry["made"] != "test time"
    ],
)
def test_reader_refuses_in_process(name: str) -> None:
    """The library raises its documented error with the manifest's message (no CLI):
    through ``read_state``, which detects the format as every command does."""
    from stepsched_cli.errors import StepschedError
    from stepsched_cli.formats.registry import read_state
    from stepsched_cli.formats.torch.checkpoint import read_checkpoint

    entry = ENTRY_BY_NAME[name]
    path = DATA_DIR / entry["path"]
    reader = read_state if entry["reader"] == "stepsched" else read_checkpoint
    with pytest.raises(StepschedError) as caught:
        reader(str(path))
    message = str(caught.value)
    assert str(path) in message
    assert entry["message"] in message.replace(str(path), "<file>")
    assert "\n" not in message
