"""The format registry: reading and writing scheduler states in every known format.

Everything that reads a state (the command line's ``--state``, ``inspect``,
``validate``, ``convert``, or a library user) calls :func:`load_state` (or
:func:`read_state`, which also returns framework states that stepsched cannot
represent), and everything that writes one calls :func:`dump_state`.  A format is
registered once here: a reader in :data:`READERS`, a writer in :data:`WRITERS`, and a
JSON detector in :data:`DETECTORS`; every command picks it up.

Framework schedule documents (timm, Keras, optax: :data:`FRAMEWORKS`) hold a schedule
but no position, so they are read at a position the caller gives (0 by default); a
schedule stepsched cannot represent (Keras's continuous decay, say) is still read,
evaluated with the framework's own ``lr_at``, like a torch state with a repeated
milestone.  They are written without a position.

Detection order: a ``torch.save`` checkpoint (by extension ``.pt``/``.pth``/``.ckpt``
or by its first bytes: a zip archive or a pickle) first, then a JSON document: the
native format (``"format": "stepsched.state"``), then each of :data:`DETECTORS` in
order (torch, timm, Keras, optax); anything else is read as native, whose parser says
what is wrong.  ``--from`` skips detection.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from stepsched_cli.errors import ConversionError, ScheduleError, StateError, StateFileError
from stepsched_cli.fileio import FileReadError, loads_strict, read_bytes_bounded
from stepsched_cli.formats import keras as keras_format
from stepsched_cli.formats import optax as optax_format
from stepsched_cli.formats import timm as timm_format
from stepsched_cli.formats import torch as torch_format
from stepsched_cli.formats import torch_container
from stepsched_cli.schedule import Mode, StepSchedule
from stepsched_cli.scheduler import STATE_FORMAT, SchedulerState
from stepsched_cli.state import MAX_STATE_BYTES, dumps_state, parse_json_bytes, parse_state_bytes

NATIVE_FORMAT = "stepsched"
TORCH_FORMAT = torch_format.FORMAT_NAME
CHECKPOINT_FORMAT = torch_format.CHECKPOINT_FORMAT_NAME

# A reader parses a file's bytes; ``source`` names the file in error messages.
Reader = Callable[[bytes, str], SchedulerState]
Writer = Callable[[SchedulerState], bytes]
Detector = Callable[[object], bool]


def _parse_torch_bytes(data: bytes, source: str) -> SchedulerState:
    state = _parse_torch_json(data, source)
    try:
        return state.to_state()
    except StateError as error:
        raise StateFileError(f"{source}: {error}") from None


def _parse_torch_json(data: bytes, source: str) -> torch_format.TorchStepState:
    document = parse_json_bytes(data, source)
    try:
        return torch_format.parse(document)
    except StateError as error:
        raise StateFileError(f"{source}: {error}") from None


class FrameworkSchedule(Protocol):
    """A timm, Keras or optax schedule as its module parses it (see ``formats/timm.py``)."""

    @property
    def notes(self) -> tuple[str, ...]:
        """Remarks about the framework's behaviour a user should see."""
        ...

    def lr_at(self, t: int, /) -> float:
        """The framework's own lr at position ``t``."""
        ...

    def to_schedule(self) -> StepSchedule:
        """The equivalent schedule, or ConversionError saying why there is none."""
        ...

    def to_document(self) -> dict[str, Any]:
        """The canonical JSON document."""
        ...


@dataclass(frozen=True)
class Framework:
    """A framework's schedule documents: how to read one and how to write one.

    Attributes:
        parse: The module's ``parse`` (StateError, or ConversionError for features
            whose values cannot be reproduced).
        write: A document for a step schedule and its steps per epoch (None when
            unknown), or ConversionError naming what the framework cannot express.
        unit: Whether a parsed schedule's positions count epochs or steps.
    """

    parse: Callable[[object], FrameworkSchedule]
    write: Callable[[StepSchedule, int | None], dict[str, Any]]
    unit: Callable[[FrameworkSchedule], Mode]


def _timm_unit(schedule: FrameworkSchedule) -> Mode:
    counts_epochs = isinstance(schedule, timm_format.TimmSchedule) and schedule.t_in_epochs
    return "epoch" if counts_epochs else "step"


FRAMEWORKS: dict[str, Framework] = {
    timm_format.FORMAT_NAME: Framework(
        timm_format.parse, lambda schedule, _: timm_format.from_schedule(schedule), _timm_unit
    ),
    keras_format.FORMAT_NAME: Framework(
        keras_format.parse, keras_format.from_schedule, lambda _: "step"
    ),
    optax_format.FORMAT_NAME: Framework(
        optax_format.parse, optax_format.from_schedule, lambda _: "step"
    ),
}


def _framework_writer(name: str) -> Writer:
    def write(state: SchedulerState) -> bytes:
        schedule = state.schedule
        others = [lr for lr in state.group_initial_lrs if lr != schedule.initial_lr]
        if others:
            lrs = ", ".join(repr(lr) for lr in state.group_initial_lrs)
            raise ConversionError(
                f"the state drives {len(state.group_initial_lrs)} parameter groups with "
                f"initial lrs {lrs}; a {name} document holds one schedule, so the other "
                "groups would be lost"
            )
        document = FRAMEWORKS[name].write(schedule, state.steps_per_epoch)
        return (json.dumps(document, indent=2, allow_nan=False) + "\n").encode("utf-8")

    return write


READERS: dict[str, Reader] = {NATIVE_FORMAT: parse_state_bytes, TORCH_FORMAT: _parse_torch_bytes}
WRITERS: dict[str, Writer] = {
    NATIVE_FORMAT: dumps_state,
    TORCH_FORMAT: torch_format.dumps_torch_state,
    **{name: _framework_writer(name) for name in FRAMEWORKS},
}
# JSON formats tried in order after the native one; the first that claims a document wins.
DETECTORS: list[tuple[str, Detector]] = [
    (TORCH_FORMAT, torch_format.detect),
    (timm_format.FORMAT_NAME, timm_format.detect),
    (keras_format.FORMAT_NAME, keras_format.detect),
    (optax_format.FORMAT_NAME, optax_format.detect),
]

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
    key: str | None = None
    warnings: tuple[str, ...] = ()


@dataclass(frozen=True)
class FrameworkReading:
    """A timm, Keras or optax schedule as read, at the position the caller gave it.

    Attributes:
        schedule: The parsed schedule, evaluated with the framework's own rules.
        position: The position it was read at (timm's ``t``, Keras's optimizer
            iterations, optax's update count).
        unit: ``"epoch"`` for a timm schedule stepped per epoch, else ``"step"``.
    """

    schedule: FrameworkSchedule
    position: int
    unit: Mode

    @property
    def lr(self) -> float:
        """The framework's own lr at :attr:`position` (Keras and optax: float32)."""
        return self.schedule.lr_at(self.position)

    @property
    def kind(self) -> str:
        """The framework's name for the schedule: ``ExponentialDecay``, ``exponential_decay``."""
        document = self.schedule.to_document()
        return str(document.get("class_name") or document.get("timm") or document.get("optax"))

    def describe(self) -> str:
        """A one-line description: ``ExponentialDecay(initial_learning_rate=0.1, ...)``."""
        document = self.schedule.to_document()
        # Keras nests the arguments in "config", with a display name beside them.
        arguments = document.get("config", document)
        parts = [
            f"{key}={json.dumps(value)}"
            for key, value in arguments.items()
            if key not in ("timm", "optax", "name")
        ]
        return f"{self.kind}({', '.join(parts)})"


@dataclass(frozen=True)
class Reading:
    """A file as read, before any conversion: the form ``inspect`` and ``validate`` need.

    Attributes:
        format: The registry name the file was read as.
        source: The file's name for messages.
        state: The stepsched state, None when the file's schedule has no exact stepsched
            form (a torch MultiStepLR with a repeated milestone, say).
        torch: The torch scheduler state, for the torch formats.
        framework: The timm, Keras or optax schedule, for those formats.
        key: Where in a checkpoint the scheduler state was (None for other files).
        warnings: Disagreements found while reading, without the file name (a
            checkpoint's optimizer lrs that do not match its scheduler): ``inspect``
            shows them, ``validate`` fails on them.
        reason: Why ``state`` is None.
    """

    format: str
    source: str
    state: SchedulerState | None
    torch: torch_format.TorchStepState | None = None
    key: str | None = None
    warnings: tuple[str, ...] = ()
    reason: str | None = None
    framework: FrameworkReading | None = None

    def loaded(self) -> LoadedState:
        """The reading as a stepsched state.

        Raises:
            StateFileError: the schedule cannot be represented; the message says why.
        """
        if self.state is None:
            raise StateFileError(f"{self.source}: {self.reason}")
        return LoadedState(self.state, self.format, self.source, self.key, self.warnings)


def read_input(path: str, limit: int = MAX_STATE_BYTES) -> tuple[bytes, str]:
    """The bytes of ``path`` (stdin for ``-``) and a name for messages.

    Raises:
        FileReadError: the file cannot be read or is larger than ``limit``.
    """
    if path == STDIN:
        data = sys.stdin.buffer.read(limit + 1)
        if len(data) > limit:
            raise FileReadError(
                f"<stdin>: is larger than {limit} bytes, the limit for a state file"
            )
        return data, "<stdin>"
    return read_bytes_bounded(path, limit, "state file"), path


def input_formats() -> list[str]:
    """Every name ``--from`` accepts."""
    return [*READERS, CHECKPOINT_FORMAT, *FRAMEWORKS]


def detect_format(data: bytes, source: str) -> str:
    """The registry name of the format ``data`` is in (see the module docstring)."""
    if torch_container.looks_like_checkpoint(data[:8], source):
        return CHECKPOINT_FORMAT
    try:
        document = loads_strict(data)
    except ValueError:
        return NATIVE_FORMAT
    if isinstance(document, dict) and document.get("format") == STATE_FORMAT:
        return NATIVE_FORMAT
    for name, detect in DETECTORS:
        if detect(document):
            return name
    return NATIVE_FORMAT


def _read_head(path: str) -> bytes:
    try:
        with open(path, "rb") as handle:
            return handle.read(8)
    except OSError:
        return b""  # the real read reports the error


def read_state(
    path: str, *, format: str | None = None, key: str | None = None, position: int = 0
) -> Reading:
    """Read and validate the scheduler state in ``path`` (``-`` for stdin), any format.

    Checkpoints are read from the file itself, never through stdin, and only their
    pickle stream is read, whatever the file's size.

    Args:
        path: The file to read.
        format: A registry name to force (see :func:`input_formats`); detected when None.
        key: For checkpoints: the key path of the scheduler state to use.
        position: For framework documents (:data:`FRAMEWORKS`), which hold none: the
            position to read them at.  Other formats record their own.

    Raises:
        StateFileError: unreadable, unknown format, or an invalid state; the message
            names the file and the field.
        CheckpointError: an unreadable or unsafe checkpoint (``AmbiguousCheckpointError``
            when it holds several scheduler states and ``key`` chose none).
    """
    is_checkpoint = format == CHECKPOINT_FORMAT or (
        format is None
        and path != STDIN
        and torch_container.looks_like_checkpoint(_read_head(path), os.fspath(path))
    )
    if is_checkpoint:
        if path == STDIN:
            raise StateFileError("<stdin>: read a checkpoint from its file, not from stdin")
        return _read_checkpoint(path, key)
    data, source = read_input(path)
    name = format or detect_format(data, source)
    if name == CHECKPOINT_FORMAT:
        raise StateFileError(f"{source}: read a checkpoint from its file, not from stdin")
    if name == TORCH_FORMAT:
        return _torch_reading(_parse_torch_json(data, source), TORCH_FORMAT, source)
    if name in FRAMEWORKS:
        return _framework_reading(data, name, source, position)
    reader = READERS.get(name)
    if reader is None:
        known = ", ".join(input_formats())
        raise StateFileError(f"{source}: unknown format {name!r} (known: {known})")
    return Reading(name, source, reader(data, source))


def _torch_reading(
    state: torch_format.TorchStepState,
    format: str,
    source: str,
    key: str | None = None,
    warnings: tuple[str, ...] = (),
) -> Reading:
    reason = state.unrepresentable_reason()
    converted = None if reason is not None else state.to_state()
    if reason is not None:
        reason = f"this torch {state.kind} state cannot be a stepsched state: {reason}"
    return Reading(format, source, converted, state, key, warnings, reason)


def _framework_reading(data: bytes, name: str, source: str, position: int) -> Reading:
    framework = FRAMEWORKS[name]
    document = parse_json_bytes(data, source)
    try:
        schedule = framework.parse(document)
    except (StateError, ConversionError) as error:
        raise StateFileError(f"{source}: {error}") from None
    read = FrameworkReading(schedule, position, framework.unit(schedule))
    try:
        schedule.lr_at(position)  # a position beyond the framework's own counter
    except ScheduleError as error:
        raise StateFileError(f"{source}: {error}") from None
    try:
        state = SchedulerState(schedule=schedule.to_schedule(), position=position)
    except ConversionError as error:
        return Reading(name, source, None, reason=str(error), framework=read)
    return Reading(name, source, state, framework=read)


def _read_checkpoint(path: str, key: str | None) -> Reading:
    reading = torch_container.read_checkpoint(path, key)
    return _torch_reading(reading.state, CHECKPOINT_FORMAT, path, reading.key, reading.mismatches)


def load_state(path: str, *, format: str | None = None, key: str | None = None) -> LoadedState:
    """Read and validate the scheduler state in ``path`` (``-`` for stdin) as a stepsched state.

    A framework document (timm, Keras, optax) is read at position 0.

    Args:
        path: The file to read.
        format: A registry name to force; detected from the contents when None.
        key: For checkpoints: the key path of the scheduler state to use.

    Raises:
        StateFileError: unreadable, unknown format, an invalid state, or a framework
            state stepsched cannot represent; the message names the file and the field.
        CheckpointError: as :func:`read_state`.
    """
    return read_state(path, format=format, key=key).loaded()


def dump_state(state: SchedulerState, format: str = NATIVE_FORMAT) -> bytes:
    """The bytes of ``state`` written in ``format`` (a registry name)."""
    writer = WRITERS.get(format)
    if writer is None:
        raise StateFileError(f"unknown output format {format!r} (known: {', '.join(WRITERS)})")
    return writer(state)
