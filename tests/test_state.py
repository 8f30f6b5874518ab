"""Native state files: strict reading and atomic writing."""

from __future__ import annotations

import json
import os
import stat
import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from stepsched_cli import fileio as fileio_module
from stepsched_cli.errors import StateFileError
from stepsched_cli.fileio import FileWriteError, OutputExistsError, atomic_write, loads_strict
from stepsched_cli.schedule import StepSchedule
from stepsched_cli.scheduler import SchedulerState
from stepsched_cli.state import (
    MAX_STATE_BYTES,
    dumps_state,
    parse_state_bytes,
    read_state_file,
    write_state_file,
)

STATE = SchedulerState(StepSchedule(0.1, step_size=30), position=45)
GOOD = dumps_state(STATE)


def test_written_file_reads_back_identically(tmp_path: Path) -> None:
    path = tmp_path / "run.json"
    write_state_file(path, STATE)
    assert read_state_file(path) == STATE
    assert path.read_bytes() == GOOD
    assert json.loads(GOOD)["lr"] == 0.01


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "is empty"),
        (b"  \n\t", "is empty"),
        (b"\xef\xbb\xbf{}", "starts with a UTF-8 byte-order mark"),
        (b'{"a": "\xff"}', "is not UTF-8 text .invalid byte at offset 7"),
        (b'{"a": 1}\x00', "contains a NUL byte at offset 8"),
        (b'{"a": NaN}', "NaN is not allowed"),
        (b'{"a": -Infinity}', "-Infinity is not allowed"),
        (b'{"a": 1e400}', "the number 1e400 is out of range for a float"),
        (b'{"a": ' + b"9" * 5000 + b"}", "an integer of 5000 digits is too long"),
        (b'{"a": 1, "a": 2}', "duplicate key 'a'"),
        (b"[" * 100_000 + b"]" * 100_000, "nesting is deeper than 32 levels"),
        (b'{"a": 1,}', "is not valid JSON: .* at line 1 column 9"),
        (b'{"a":\n tru}', "is not valid JSON: Expecting value at line 2 column 2"),
    ],
)
def test_strict_json_refuses(data: bytes, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        loads_strict(data)


def test_strings_with_brackets_do_not_count_as_nesting() -> None:
    text = json.dumps({"note": "[[[[" * 100 + '\\"{{{{' * 100})
    assert loads_strict(text.encode()) == json.loads(text)


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ("[]", "run.json: a state must be a JSON object, got list"),
        ('{"format": "stepsched.state"}', "run.json: missing required field 'version'"),
        ("{", "run.json: is not valid JSON"),
    ],
)
def test_state_errors_name_the_file(document: str, message: str) -> None:
    with pytest.raises(StateFileError, match=message):
        parse_state_bytes(document.encode(), "run.json")


def test_file_errors(tmp_path: Path) -> None:
    with pytest.raises(StateFileError, match="missing.json: no such file"):
        read_state_file(tmp_path / "missing.json")
    with pytest.raises(StateFileError, match="is a directory"):
        read_state_file(tmp_path)
    big = tmp_path / "big.json"
    big.write_bytes(b" " * (MAX_STATE_BYTES + 1))
    with pytest.raises(
        StateFileError, match=f"is {MAX_STATE_BYTES + 1} bytes; a state file is at most"
    ):
        read_state_file(big)
    loop = tmp_path / "loop.json"
    loop.symlink_to(loop)
    with pytest.raises(StateFileError, match="loop.json: cannot be read"):
        read_state_file(loop)


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads every file")
def test_unreadable_file(tmp_path: Path) -> None:
    path = tmp_path / "secret.json"
    path.write_bytes(GOOD)
    path.chmod(0)
    with pytest.raises(StateFileError, match="permission denied"):
        read_state_file(path)


# -- atomic writing ---------------------------------------------------------------


def test_refuses_to_overwrite_without_permission(tmp_path: Path) -> None:
    path = tmp_path / "run.json"
    path.write_bytes(b"old")
    with pytest.raises(OutputExistsError, match="already exists; refusing to overwrite it"):
        atomic_write(path, b"new")
    assert path.read_bytes() == b"old"
    atomic_write(path, b"new", overwrite=True)
    assert path.read_bytes() == b"new"
    assert os.listdir(tmp_path) == ["run.json"]


def test_keeps_the_mode_of_the_file_it_replaces(tmp_path: Path) -> None:
    path = tmp_path / "run.json"
    path.write_bytes(b"old")
    path.chmod(0o640)
    atomic_write(path, b"new", overwrite=True)
    assert stat.S_IMODE(path.stat().st_mode) == 0o640


def test_new_file_follows_the_umask(tmp_path: Path) -> None:
    previous = os.umask(0o022)
    try:
        atomic_write(tmp_path / "new.json", b"x")
    finally:
        os.umask(previous)
    assert stat.S_IMODE((tmp_path / "new.json").stat().st_mode) == 0o644


def test_writes_through_a_symlink(tmp_path: Path) -> None:
    target = tmp_path / "real.json"
    target.write_bytes(b"old")
    link = tmp_path / "link.json"
    link.symlink_to(target)
    atomic_write(link, b"new", overwrite=True)
    assert link.is_symlink()
    assert target.read_bytes() == b"new"


def test_missing_folder_and_directory_target(tmp_path: Path) -> None:
    with pytest.raises(FileWriteError, match="cannot be written .No such file or directory"):
        atomic_write(tmp_path / "nowhere" / "run.json", b"x")
    with pytest.raises(FileWriteError, match="is a directory"):
        atomic_write(tmp_path, b"x", overwrite=True)


@pytest.mark.parametrize("failing", ["fsync", "replace", "chmod", "write"])
def test_a_failure_at_any_point_keeps_the_old_file_and_leaves_no_temporary(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, failing: str
) -> None:
    path = tmp_path / "run.json"
    path.write_bytes(b"old")

    def fail(*args: object, **kwargs: object) -> None:
        raise OSError(28, "No space left on device")

    if failing == "write":
        monkeypatch.setattr(fileio_module.os, "fdopen", lambda *a, **k: _FailingFile())
    else:
        monkeypatch.setattr(fileio_module.os, failing, fail)
    with pytest.raises(FileWriteError, match="cannot be written .No space left on device"):
        atomic_write(path, b"new", overwrite=True)
    assert path.read_bytes() == b"old"
    assert os.listdir(tmp_path) == ["run.json"]


class _FailingFile:
    def __enter__(self) -> _FailingFile:
        return self

    def __exit__(self, *args: object) -> None:
        return None

    def write(self, data: bytes) -> int:
        raise OSError(28, "No space left on device")


def test_no_clobber_race_is_caught_by_the_link(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A file that appears between the existence check and the publish is not overwritten."""
    path = tmp_path / "run.json"
    real_link = os.link

    def link_after_rival(source: str, target: os.PathLike[str]) -> None:
        Path(target).write_bytes(b"rival")
        real_link(source, target)

    monkeypatch.setattr(fileio_module.os, "link", link_after_rival)
    with pytest.raises(OutputExistsError):
        atomic_write(path, b"mine")
    assert path.read_bytes() == b"rival"
    assert os.listdir(tmp_path) == ["run.json"]


@settings(max_examples=200, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.binary(max_size=300) | st.text(max_size=300).map(str.encode))
def test_reader_never_fails_with_anything_but_a_state_file_error(data: bytes) -> None:
    try:
        parse_state_bytes(data, "fuzz.json")
    except StateFileError as error:
        assert str(error).startswith("fuzz.json: ")
        assert "\n" not in str(error)


@given(
    mutation=st.dictionaries(
        st.sampled_from(["step", "lr", "gamma", "step_size", "initial_lr", "version", "extra"]),
        st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), st.text(max_size=3)),
        max_size=3,
    )
)
def test_mutated_state_files_are_valid_or_refused_cleanly(mutation: dict[str, object]) -> None:
    document = {**json.loads(GOOD), **mutation}
    try:
        data = json.dumps(document).encode()
    except ValueError:
        return
    try:
        state = parse_state_bytes(data, "m.json")
    except StateFileError as error:
        assert str(error).startswith("m.json: ")
    else:
        assert state.lr == state.schedule.lr_at(state.position)


def test_overlong_float_text_is_refused() -> None:
    with pytest.raises(ValueError, match="a number of 402 characters is too long"):
        loads_strict(b"[0." + b"1" * 400 + b"]")


def test_device_files_are_bounded(tmp_path: Path) -> None:
    with pytest.raises(StateFileError, match="/dev/zero: is larger than 1048576 bytes"):
        read_state_file("/dev/zero")


def test_oversized_bytes_are_refused_before_parsing() -> None:
    with pytest.raises(StateFileError, match="big: is larger than 1048576 bytes"):
        parse_state_bytes(b" " * (MAX_STATE_BYTES + 1), "big")


def test_folder_path_through_a_file(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_bytes(b"")
    with pytest.raises(FileWriteError, match="cannot be written .Not a directory"):
        atomic_write(blocker / "run.json", b"x")


def test_filesystems_without_hard_links_fall_back_to_replace(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_links(source: str, target: object) -> None:
        raise OSError(1, "Operation not permitted")

    monkeypatch.setattr(fileio_module.os, "link", no_links)
    path = tmp_path / "run.json"
    atomic_write(path, b"new")
    assert path.read_bytes() == b"new"
    assert os.listdir(tmp_path) == ["run.json"]


def test_other_link_failures_are_reported(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(source: str, target: object) -> None:
        raise OSError(5, "Input/output error")

    monkeypatch.setattr(fileio_module.os, "link", broken)
    with pytest.raises(FileWriteError, match="cannot be written .Input/output error"):
        atomic_write(tmp_path / "run.json", b"new")
    assert os.listdir(tmp_path) == []


def test_folder_fsync_failures_are_harmless(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_open, real_fsync = os.open, os.fsync

    def fsync_files_only(descriptor: int) -> None:
        if stat.S_ISDIR(os.fstat(descriptor).st_mode):
            raise OSError(22, "Invalid argument")
        real_fsync(descriptor)

    monkeypatch.setattr(fileio_module.os, "fsync", fsync_files_only)
    atomic_write(tmp_path / "a.json", b"a")
    monkeypatch.setattr(
        fileio_module.os,
        "open",
        lambda path, flags, *a: (
            (_ for _ in ()).throw(OSError(13, "denied"))
            if Path(path).is_dir()
            else real_open(path, flags, *a)
        ),
    )
    atomic_write(tmp_path / "b.json", b"b")
    assert sorted(os.listdir(tmp_path)) == ["a.json", "b.json"]


def test_a_dangling_link_is_not_written_through(tmp_path: Path) -> None:
    link = tmp_path / "run.json"
    link.symlink_to(tmp_path / "elsewhere.json")
    with pytest.raises(FileWriteError, match="run.json: is a symbolic link to a missing file"):
        atomic_write(link, b"x", overwrite=True)
    assert sorted(os.listdir(tmp_path)) == ["run.json"]


def test_no_file_this_process_did_not_create_is_ever_deleted(tmp_path: Path) -> None:
    """Issue 12 item 12: leftovers of killed writers and look-alike user files all stay."""
    path = tmp_path / "victim.json"
    path.write_bytes(b"old")
    look_alikes = [
        ".victim.json.abcd1234.tmp",  # exactly the shape of a killed writer's leftover
        ".victim.json.my_notes.tmp",
        ".victim.json.notours.tmp",
    ]
    old = time.time() - 30 * 24 * 3600
    for name in look_alikes:
        (tmp_path / name).write_bytes(b"user data")
        os.utime(tmp_path / name, (old, old))
    atomic_write(path, b"new", overwrite=True)
    assert sorted(os.listdir(tmp_path)) == sorted([*look_alikes, "victim.json"])
    assert all((tmp_path / name).read_bytes() == b"user data" for name in look_alikes)


@pytest.mark.parametrize("length", [6, 200, 241, 242, 250, 255])
def test_output_names_up_to_255_bytes_are_written(tmp_path: Path, length: int) -> None:
    """Issue 12 item 13: the temporary name is shortened, never the output's."""
    path = tmp_path / ("r" * (length - len(".json")) + ".json")
    atomic_write(path, b"new")
    assert os.listdir(tmp_path) == [path.name]
    assert path.read_bytes() == b"new"


@pytest.mark.parametrize("character", ["é", "字", "😀"])
def test_long_multibyte_names_are_cut_at_a_character_boundary(
    tmp_path: Path, character: str
) -> None:
    width = len(character.encode())
    path = tmp_path / (character * (255 // width))
    atomic_write(path, b"new")
    assert os.listdir(tmp_path) == [path.name]
    prefix = fileio_module._temporary_prefix(path.name)
    assert prefix.startswith("." + character * 3)
    assert len(prefix.encode()) == len("..") + (255 - 14) // width * width


def test_a_fifo_is_written_through_not_replaced(tmp_path: Path) -> None:
    """Issue 12 item 11: ``--force`` onto a named pipe writes into it, as ``>`` would."""
    import threading

    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    received: list[bytes] = []
    reader = threading.Thread(target=lambda: received.append(fifo.read_bytes()))
    reader.start()
    atomic_write(fifo, b"through the pipe", overwrite=True)
    reader.join(timeout=10)
    assert received == [b"through the pipe"]
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode)
    assert os.listdir(tmp_path) == ["pipe"]


@pytest.mark.parametrize("via_link", [False, True])
def test_a_character_device_is_written_through_not_replaced(tmp_path: Path, via_link: bool) -> None:
    device = Path(os.devnull)
    path = device
    if via_link:
        path = tmp_path / "out.json"
        path.symlink_to(device)
    before = os.lstat(device)
    atomic_write(path, b"discarded", overwrite=True)
    after = os.lstat(device)
    assert stat.S_ISCHR(after.st_mode)
    assert (after.st_ino, after.st_rdev) == (before.st_ino, before.st_rdev)
    if via_link:
        assert path.is_symlink()
        assert os.listdir(tmp_path) == ["out.json"]


def test_a_device_is_not_written_without_overwrite() -> None:
    with pytest.raises(OutputExistsError, match="already exists; refusing to overwrite it"):
        atomic_write(os.devnull, b"x")


def test_a_socket_is_refused(tmp_path: Path) -> None:
    import socket

    path = tmp_path / "sock"
    with socket.socket(socket.AF_UNIX) as server:
        server.bind(str(path))
        with pytest.raises(FileWriteError, match="sock: is a socket, not a regular file"):
            atomic_write(path, b"x", overwrite=True)
    assert stat.S_ISSOCK(os.lstat(path).st_mode)


@pytest.mark.parametrize(
    ("what", "named"), [("optimizer file", "an optimizer file"), ("state file", "a state file")]
)
def test_size_limits_name_the_kind_of_file_with_its_article(
    tmp_path: Path, what: str, named: str
) -> None:
    from stepsched_cli.fileio import FileReadError, read_bytes_bounded

    path = tmp_path / "big.bin"
    path.write_bytes(bytes(11))
    with pytest.raises(FileReadError) as raised:
        read_bytes_bounded(str(path), 10, what)
    assert str(raised.value) == f"{path}: is 11 bytes; {named} is at most 10 bytes"
