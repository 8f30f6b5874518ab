"""Where the command line reads and writes scheduler states: the format registry.

Every command that reads a state (``--state``, ``inspect``, ``validate``,
``convert``) calls :func:`load_state`, and every command that writes one calls
:func:`dump_state`.  For now only the native format is known; the framework interop
work adds its readers and writers to :data:`READERS` and :data:`WRITERS` (and
detection to :func:`detect_format`), and every command picks them up.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass

from stepsched_cli.errors import StateFileError
from stepsched_cli.scheduler import SchedulerState
from stepsched_cli.state import MAX_STATE_BYTES, dumps_state, parse_state_bytes, read_bytes_bounded

NATIVE_FORMAT = "stepsched"

# A reader parses a file's bytes; ``source`` names the file in error messages.
Reader = Callable[[bytes, str], SchedulerState]
Writer = Callable[[SchedulerState], bytes]

READERS: dict[str, Reader] = {NATIVE_FORMAT: parse_state_bytes}
WRITERS: dict[str, Writer] = {NATIVE_FORMAT: dumps_state}

STDIN = "-"


@dataclass(frozen=True)
class LoadedState:
    """A state read from a file, with the format it was read as.

    Attributes:
        state: The validated scheduler state.
        format: The registry name of the file's format (``"stepsched"``).
        source: The file's name as the user gave it (``<stdin>`` for ``-``).
    """

    state: SchedulerState
    format: str
    source: str


def read_input(path: str, limit: int = MAX_STATE_BYTES) -> tuple[bytes, str]:
    """The bytes of ``path`` (stdin for ``-``) and a name for messages.

    Raises:
        StateFileError: the file cannot be read or is larger than ``limit``.
    """
    if path == STDIN:
        data = sys.stdin.buffer.read(limit + 1)
        if len(data) > limit:
            raise StateFileError(
                f"<stdin>: is larger than {limit} bytes, the limit for a state file"
            )
        return data, "<stdin>"
    return read_bytes_bounded(path, limit, "state file"), path


def detect_format(data: bytes, source: str) -> str:
    """The registry name of the format ``data`` is in (only the native one so far)."""
    del data, source
    return NATIVE_FORMAT


def load_state(path: str, *, format: str | None = None) -> LoadedState:
    """Read and validate the scheduler state in ``path`` (``-`` for stdin).

    Args:
        path: The file to read.
        format: A registry name to force; detected from the contents when None.

    Raises:
        StateFileError: unreadable, unknown format, or an invalid state; the message
            names the file and the field.
    """
    data, source = read_input(path)
    name = format or detect_format(data, source)
    reader = READERS.get(name)
    if reader is None:
        raise StateFileError(f"{source}: unknown format {name!r} (known: {', '.join(READERS)})")
    return LoadedState(state=reader(data, source), format=name, source=source)


def dump_state(state: SchedulerState, format: str = NATIVE_FORMAT) -> bytes:
    """The bytes of ``state`` written in ``format`` (a registry name)."""
    writer = WRITERS.get(format)
    if writer is None:
        raise StateFileError(f"unknown output format {format!r} (known: {', '.join(WRITERS)})")
    return writer(state)
