"""Native state files: strict, safe reading and writing.

A state file is the JSON form of :meth:`SchedulerState.to_dict` (the schema is in
docs/state-format.md and, machine-readable, in ``stepsched_cli/schemas``).  Reading
refuses anything that is not exactly that: a file over 1 MiB, and whatever
:func:`~stepsched_cli.fileio.loads_strict` refuses (bytes that are not UTF-8, a
byte-order mark, NaN or Infinity, numbers that overflow, integers of absurd length,
duplicate keys, nesting deeper than 32 levels).  Writing goes through
:func:`~stepsched_cli.fileio.atomic_write`, so a crash leaves either the old file or
the new one, never a torn or missing file.
"""

from __future__ import annotations

import json
from pathlib import Path

from stepsched_cli.errors import StateError, StateFileError
from stepsched_cli.fileio import FileReadError, atomic_write, read_bytes_bounded
from stepsched_cli.fileio import loads_strict as loads_strict  # runlog's import, until it moves
from stepsched_cli.scheduler import SchedulerState

MAX_STATE_BYTES = 1 << 20


# -- state files ------------------------------------------------------------


def parse_json_bytes(data: bytes, source: str) -> object:
    """Parse a JSON state document strictly (:func:`loads_strict`); errors name ``source``."""
    if len(data) > MAX_STATE_BYTES:
        raise StateFileError(
            f"{source}: is larger than {MAX_STATE_BYTES} bytes, the limit for a state file"
        )
    try:
        return loads_strict(data)
    except ValueError as error:
        raise StateFileError(f"{source}: {error}") from None


def parse_state_bytes(data: bytes, source: str) -> SchedulerState:
    """Parse and validate the bytes of a native state file; errors name ``source``."""
    document = parse_json_bytes(data, source)
    try:
        return SchedulerState.from_dict(document)
    except StateError as error:
        raise StateFileError(f"{source}: {error}") from None


def read_state_file(path: str | Path) -> SchedulerState:
    """Read and validate a native state file.

    Raises:
        StateFileError: the file cannot be read or is not a valid state; the message
            names the file and the field.
    """
    try:
        data = read_bytes_bounded(path, MAX_STATE_BYTES, "state file")
    except FileReadError as error:
        raise StateFileError(str(error)) from None
    return parse_state_bytes(data, str(path))


def dumps_state(state: SchedulerState) -> bytes:
    """The bytes of a native state file for ``state`` (indented JSON, trailing newline)."""
    return (json.dumps(state.to_dict(), indent=2, allow_nan=False) + "\n").encode("utf-8")


def write_state_file(path: str | Path, state: SchedulerState, *, overwrite: bool = False) -> None:
    """Write ``state`` to ``path`` atomically; an existing file is kept unless ``overwrite``.

    Raises:
        OutputExistsError: ``path`` exists and ``overwrite`` is false.
        FileWriteError: the file cannot be written.
    """
    atomic_write(path, dumps_state(state), overwrite=overwrite)
