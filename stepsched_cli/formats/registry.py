"""The format table: every format stepsched reads or writes, in one ordered table.

Everything that reads a state (the command line's ``--state``, ``inspect``,
``validate``, ``convert``, or a library user) calls :func:`read_state` (a
:class:`~stepsched_cli.formats.reading.Reading` of any file) or :func:`load_state`
(its stepsched state), and everything that writes one calls :func:`dump_state`.  Each
format is one :class:`Format` in :data:`FORMATS`; detection, the ``--from``/``--to``
names, their help texts and ``code --framework`` are all derived from the table.

Detection: first the formats recognised by the file itself (a ``torch.save``
checkpoint by its extension or first bytes), then the file is parsed as JSON and
offered to each format's ``detect`` in table order (native, torch, timm, Keras,
optax, then any JSON document holding scheduler states).  A file that is not JSON
(empty, not UTF-8, or broken JSON) is read as native, whose parser says what is wrong;
a JSON document no format claims, text such as YAML, or a binary file of a known kind
(HDF5, safetensors, a TensorBoard event file) is refused with what it looks like and
the formats tried (:mod:`~stepsched_cli.formats.unknown`).  ``--from`` skips
detection.

Adding a format (docs/design.md shows it step by step): write its module (a reader
returning a Reading, a writer if it can be written), then add one :class:`Format`.

Size: about 550 lines, over the house's ~500: the table, detection (recognisers, JSON
detection, the refusal of what no format claims) and reading from files and streams
belong together.  The framework readers live in
:mod:`~stepsched_cli.formats.framework_reading`; the torch and native readers here are a
few lines each.
"""

from __future__ import annotations

import dataclasses
import os
import shlex
import stat
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from stepsched_cli.errors import StateError, StateFileError
from stepsched_cli.fileio import (
    FileReadError,
    FileTooLargeError,
    MissingFileError,
    loads_strict,
    read_bytes_bounded,
)
from stepsched_cli.formats import keras as keras_format
from stepsched_cli.formats import optax as optax_format
from stepsched_cli.formats import sniff
from stepsched_cli.formats import timm as timm_format
from stepsched_cli.formats import torch as torch_format
from stepsched_cli.formats.framework_reading import (
    KERAS_MODEL_FORMAT,
    framework_reader,
    framework_writer,
    keras_file,
    load_keras_files,
    load_timm_files,
    read_keras,
    read_keras_model,
    read_timm,
    timm_training_reading,
)
from stepsched_cli.formats.reading import (
    Reader,
    Reading,
    Request,
    Writer,
    request_data,
    state_view,
    torch_details,
    torch_view,
)
from stepsched_cli.scheduler import STATE_FORMAT, SchedulerState
from stepsched_cli.state import MAX_STATE_BYTES, dumps_state, parse_json_bytes, parse_state_bytes
from stepsched_cli.validate import STANDARD_STREAM

if TYPE_CHECKING:  # the search is imported by the readers that use it
    from stepsched_cli.formats.torch_search import CheckpointReading

NATIVE_FORMAT = "stepsched"
TORCH_FORMAT = torch_format.FORMAT_NAME
CHECKPOINT_FORMAT = torch_format.CHECKPOINT_FORMAT_NAME
JSON_CHECKPOINT_FORMAT = "json-checkpoint"
STDIN = STANDARD_STREAM
HEAD_BYTES = 64
"""How much of a file recognisers see: a zip's first member name fits (a renamed
``.keras`` file starts with ``metadata.json``)."""


@dataclass(frozen=True)
class Format:
    """One format: how it is recognised, read and written.

    Attributes:
        name: The ``--from``/``--to`` name.
        help: What it is, for help texts (a noun phrase).
        read: The reader.
        write: The writer, None when stepsched cannot write it.
        detect: Whether a parsed JSON document is in this format (None: not JSON).
        recognise: Whether a file is in this format by its first bytes (``HEAD_BYTES``)
            and its name,
            before it is read (None: recognised by its JSON document only).
        from_stdin: Whether it may be read from standard input (a checkpoint is read
            from its file, never whole into memory).
        records_position: False for schedule documents that hold no position, read
            at ``--position``.
        snippets: The ``code --framework`` names that build its schedule.
    """

    name: str
    help: str
    read: Reader
    write: Writer | None = None
    detect: Callable[[object], bool] | None = None
    recognise: Callable[[bytes, str], bool] | None = None
    from_stdin: bool = True
    records_position: bool = True
    snippets: tuple[str, ...] = ()


# -- readers -----------------------------------------------------------------------


def _read_native(request: Request) -> Reading:
    state = parse_state_bytes(request_data(request), request.source)
    return Reading(NATIVE_FORMAT, request.source, state_view(state), state)


def _torch_reading(
    torch_state: torch_format.TorchStepState,
    name: str,
    source: str,
    key: str | None = None,
    warnings: tuple[str, ...] = (),
) -> Reading:
    reason = torch_state.unrepresentable_reason()
    if reason is not None:
        reason = f"this torch {torch_state.kind} state cannot be a stepsched state: {reason}"
        view = torch_view(torch_state, reason)
        return Reading(name, source, view, None, reason, key=key, warnings=warnings)
    state = torch_state.to_state()
    view = state_view(
        state,
        described=(("torch", torch_state.describe()),),
        details=torch_details(torch_state, None),
    )
    return Reading(name, source, view, state, key=key, warnings=warnings)


def _read_torch(request: Request) -> Reading:
    document = parse_json_bytes(request_data(request), request.source)
    try:
        torch_state = torch_format.parse(document)
    except StateError as error:
        raise StateFileError(f"{request.source}: {error}", parameter=error.parameter) from None
    return _torch_reading(torch_state, TORCH_FORMAT, request.source)


def _found_reading(found: CheckpointReading, name: str, source: str) -> Reading:
    """The reading of the scheduler state a checkpoint search chose, whatever its kind."""
    if isinstance(found.state, torch_format.TorchStepState):
        return _torch_reading(found.state, name, source, found.key, found.mismatches)
    from stepsched_cli.formats import found_views

    return found_views.found_reading(found, name, source)


def _read_checkpoint(request: Request) -> Reading:
    from stepsched_cli.formats import torch_container, torch_search
    from stepsched_cli.formats.errors import CheckpointError

    checkpoint = torch_container.load_checkpoint(request.path)
    try:
        found = torch_search.select_scheduler(checkpoint, request.path, request.key)
    except torch_search.AmbiguousCheckpointError:
        raise
    except CheckpointError:
        # No torch or stepsched scheduler state: a timm training file, or nothing.
        reading = timm_training_reading(checkpoint, request)
        if reading is None:
            raise
        return reading
    return _found_reading(found, CHECKPOINT_FORMAT, request.path)


def _read_json_checkpoint(request: Request) -> Reading:
    from stepsched_cli.formats import torch_search

    document = parse_json_bytes(request_data(request), request.source)
    found = torch_search.select_scheduler(document, request.source, request.key)
    return _found_reading(found, JSON_CHECKPOINT_FORMAT, request.source)


def _holds_scheduler_states(document: object) -> bool:
    """Whether a JSON object (a checkpoint is one; a bare list is not) holds scheduler states."""
    if not isinstance(document, dict):
        return False
    from stepsched_cli.formats import torch_search

    return bool(torch_search.find_scheduler_states(document))


# -- writers -----------------------------------------------------------------------


def _native_document(document: object) -> bool:
    return isinstance(document, dict) and document.get("format") == STATE_FORMAT


# -- the table -----------------------------------------------------------------------

FORMATS: tuple[Format, ...] = (
    Format(
        NATIVE_FORMAT,
        "a state file",
        _read_native,
        dumps_state,
        detect=_native_document,
    ),
    Format(
        TORCH_FORMAT,
        "a StepLR or MultiStepLR state_dict as JSON",
        _read_torch,
        torch_format.dumps_torch_state,
        detect=torch_format.detect,
        snippets=("torch", "lightning"),
    ),
    Format(
        CHECKPOINT_FORMAT,
        "a torch.save file: .pt, .pth, .ckpt",
        _read_checkpoint,
        recognise=lambda head, name: (
            sniff.looks_like_checkpoint(head, name) and not keras_file(head, name)
        ),
        from_stdin=False,
    ),
    Format(
        timm_format.FORMAT_NAME,
        "a timm StepLRScheduler/MultiStepLRScheduler state_dict() or document, or "
        "train.py's args (args.yaml, JSON, scheduler_kwargs())",
        read_timm,
        framework_writer(
            timm_format.FORMAT_NAME, lambda schedule, _: timm_format.from_schedule(schedule)
        ),
        detect=lambda document: load_timm_files().detect(document),
        recognise=lambda _, name: name.lower().endswith((".yaml", ".yml")),
        records_position=False,
        snippets=("timm",),
    ),
    Format(
        keras_format.FORMAT_NAME,
        "a Keras learning-rate schedule, optimizer config or model config.json (JSON)",
        read_keras,
        framework_writer(keras_format.FORMAT_NAME, keras_format.from_schedule),
        detect=lambda document: load_keras_files().detect(document),
        records_position=False,
        snippets=("keras",),
    ),
    Format(
        KERAS_MODEL_FORMAT,
        "a Keras .keras model file (model.save()): its optimizer's schedule, at its "
        "iterations (read with h5py: stepsched[keras])",
        read_keras_model,
        recognise=keras_file,
        from_stdin=False,
        records_position=False,
    ),
    Format(
        optax_format.FORMAT_NAME,
        "an optax schedule as JSON",
        framework_reader(optax_format.FORMAT_NAME, optax_format.parse, lambda _: "step"),
        framework_writer(optax_format.FORMAT_NAME, optax_format.from_schedule),
        detect=optax_format.detect,
        records_position=False,
        snippets=("optax",),
    ),
    Format(
        JSON_CHECKPOINT_FORMAT,
        "a JSON document holding scheduler states anywhere (a training checkpoint saved as "
        "JSON: torch StepLR/MultiStepLR/SequentialLR or stepsched states)",
        _read_json_checkpoint,
        detect=_holds_scheduler_states,
    ),
)
"""Every format, in the order they are listed and tried."""

FORMATS_BY_NAME: dict[str, Format] = {entry.name: entry for entry in FORMATS}


def input_formats() -> list[str]:
    """Every name ``--from`` accepts."""
    return [entry.name for entry in FORMATS]


def output_formats() -> list[str]:
    """Every name ``--to`` accepts."""
    return [entry.name for entry in FORMATS if entry.write is not None]


def unpositioned_formats() -> list[str]:
    """The formats that record no position (read at ``--position``)."""
    return [entry.name for entry in FORMATS if not entry.records_position]


def describe_formats(names: list[str]) -> str:
    """Formats for a help text: ``stepsched (a stepsched state file), torch (...)``."""
    return ", ".join(f"{name} ({FORMATS_BY_NAME[name].help})" for name in names)


def snippet_frameworks() -> list[str]:
    """Every ``code --framework`` name, in table order."""
    return [name for entry in FORMATS for name in entry.snippets]


# -- reading -----------------------------------------------------------------------


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
    try:
        return read_bytes_bounded(path, limit, "state file"), path
    except MissingFileError:
        raise MissingFileError(
            f"{path}: no such file; a scheduler state is read from a stepsched state file "
            f"(stepsched init -o {shlex.quote(path)} writes one) or from a file a framework "
            "wrote (torch, Lightning, Accelerate, timm, Keras, optax)"
        ) from None
    except FileTooLargeError as error:
        # Too large for a state: say what it is when its first lines show it is no
        # state at all (a CSV log's header); a large JSON document keeps the size error.
        from stepsched_cli.formats import unknown

        head = unknown.first_lines(path)
        if _native_reports(head):
            raise
        raise unknown.unrecognised(head, None, path, input_formats(), size=error.size) from None


def detect_format(data: bytes, source: str) -> str:
    """The table name of the format ``data`` is in (see the module docstring).

    Raises:
        StateFileError: no format recognises it; the message says what it looks like.
    """
    head = data[:HEAD_BYTES]
    for entry in FORMATS:
        if entry.recognise is not None and entry.recognise(head, source):
            return entry.name
    from stepsched_cli.formats import unknown

    json_error = "is not JSON"
    try:
        document = loads_strict(data)
    except ValueError as error:
        if _native_reports(data) and unknown.binary_kind(data, source) is None:
            return NATIVE_FORMAT
        document, json_error = None, str(error)
    else:
        for entry in FORMATS:
            if entry.detect is not None and entry.detect(document):
                return entry.name
        if isinstance(document, dict) and "format" in document:
            # An object that claims a format: the native reader says what is wrong.
            return NATIVE_FORMAT
    raise unknown.unrecognised(data, document, source, input_formats(), json_error)


def _native_reports(data: bytes) -> bool:
    """Whether the native parser's complaint describes an unparsed file best: empty, or
    meant as JSON (it starts with a brace or bracket: a bad byte or comma in a state
    file is best reported where it is).  Binary files and other text are described by
    :mod:`~stepsched_cli.formats.unknown`."""
    text = data.lstrip()
    return not text or text.startswith((b"{", b"[", b"\xef\xbb\xbf"))


def _read_head(path: str) -> bytes:
    try:
        with open(path, "rb") as handle:
            return handle.read(HEAD_BYTES)
    except OSError:
        return b""  # the real read reports the error


def _is_stream(path: str) -> bool:
    """Whether ``path`` is stdin, a pipe or a device: what can be read only once.

    ``<(cat good.json)`` is a pipe: sniffing its first bytes would consume them.
    """
    if path == STDIN:
        return True
    try:
        mode = os.stat(path).st_mode
    except OSError:
        return False  # the real read reports the error
    return not (stat.S_ISREG(mode) or stat.S_ISDIR(mode))


def _recognised(path: str) -> Format | None:
    """The format a file is recognised as before it is read, if any."""
    if _is_stream(path):
        return None  # read once, then recognised by its bytes (detect_format)
    head = _read_head(path)
    for entry in FORMATS:
        if entry.recognise is not None and entry.recognise(head, os.fspath(path)):
            return entry
    return None


def _not_from_a_stream(entry: Format, source: str, data: bytes = b"") -> StateFileError:
    """Why ``entry`` cannot be read from a pipe, in its own terms.

    A zip on stdin is recognised as a checkpoint by its signature; its first member
    tells a ``.keras`` file apart.
    """
    if entry.name == KERAS_MODEL_FORMAT or sniff.looks_like_keras_model(data):
        what = "a .keras model (a zip, read member by member)"
    else:
        what = "a torch checkpoint (only its pickle is read, never the whole file)"
    return StateFileError(
        f"{source}: {what} is read from its file, not from stdin or a pipe; save it and "
        "name the file"
    )


def _stream_name(path: str) -> str:
    return "<stdin>" if path == STDIN else path


def read_state(
    path: str,
    *,
    format: str | None = None,
    key: str | None = None,
    position: int = 0,
    optimizer: str | None = None,
    updates_per_epoch: int | None = None,
    lr: float | None = None,
) -> Reading:
    """Read and validate the scheduler state in ``path`` (``-`` for stdin), any format.

    Checkpoints are read from the file itself, never through stdin, and only their
    pickle stream is read, whatever the file's size.

    Args:
        path: The file to read.
        format: A table name to force (see :func:`input_formats`); detected when None.
        key: For checkpoints: the key path of the scheduler state to use.
        position: For documents that record no position (timm, Keras, optax): the
            position to read them at.  Other formats record their own.
        optimizer: A file holding the optimizer's state (Accelerate's ``optimizer.bin``,
            an ``optimizer.pt``): its param groups are checked against the scheduler,
            and each disagreement is a warning in the reading.
        updates_per_epoch: For timm schedules stepped per update (``sched_on_updates``):
            the loader's updates per epoch, which train.py's args and its checkpoints do
            not record.  Must agree with the file when it records one.
        lr: For timm's ``scheduler_kwargs()``, which holds no lr: the optimizer's lr.
            Must agree with the file when it holds one.

    Raises:
        StateFileError: unknown format, or an invalid state; the message names the
            file and the field.
        FileReadError: the file cannot be read.
        CheckpointError: an unreadable or unsafe checkpoint (``AmbiguousCheckpointError``
            when it holds several scheduler states and ``key`` chose none).
    """
    hints = Request(path, path, None, key, position, updates_per_epoch, lr)
    reading = _read_state(hints, format)
    if optimizer is None:
        return reading
    from stepsched_cli.formats import optimizer_file

    return optimizer_file.with_optimizer_check(reading, optimizer)


def _read_state(request: Request, format: str | None) -> Reading:
    """Read ``request.path`` as ``format`` or as detected; the other fields are passed on."""
    path = request.path
    entry = FORMATS_BY_NAME.get(format) if format is not None else _recognised(path)
    if format is not None and entry is None:
        raise StateFileError(
            f"{path}: unknown format {format!r} (known: {', '.join(input_formats())})"
        )
    if entry is not None and not entry.from_stdin:
        if _is_stream(path):
            raise _not_from_a_stream(entry, _stream_name(path))
        return entry.read(request)
    data, source = read_input(path)
    if format is not None and entry is not None:
        _refuse_binary(entry, data, source)
    if entry is None:
        entry = FORMATS_BY_NAME[detect_format(data, source)]
        if not entry.from_stdin:
            raise _not_from_a_stream(entry, source, data)
    return entry.read(dataclasses.replace(request, source=source, data=data))


def _refuse_binary(entry: Format, data: bytes, source: str) -> None:
    """Refuse a binary file forced as a JSON format, saying what it is in that format's
    terms (not the JSON parser's "is not UTF-8 text"); Keras's reader names a zip
    itself, pointing to keras-model."""
    from stepsched_cli.formats import unknown

    kind = unknown.binary_kind(data, source)
    if kind is not None and not (entry.name == keras_format.FORMAT_NAME and data[:2] == b"PK"):
        raise StateFileError(
            f"{source}: --from {entry.name} reads {entry.help}; this file is {kind}"
        )


@dataclass(frozen=True)
class LoadedState:
    """A state read from a file, with the format it was read as.

    Attributes:
        state: The validated scheduler state.
        format: The table name of the file's format (``"stepsched"``).
        source: The file's name as the user gave it (``<stdin>`` for ``-``).
        key: Where in a checkpoint the state was.
        warnings: As :attr:`Reading.warnings`.
    """

    state: SchedulerState
    format: str
    source: str
    key: str | None = None
    warnings: tuple[str, ...] = ()


def load_state(path: str, *, format: str | None = None, key: str | None = None) -> LoadedState:
    """Read and validate the scheduler state in ``path`` (``-`` for stdin) as a stepsched state.

    A framework document (timm, Keras, optax) is read at position 0.

    Raises:
        StateFileError: unknown format, an invalid state, or a framework state
            stepsched cannot represent; the message names the file and the field.
        FileReadError, CheckpointError: as :func:`read_state`.
    """
    reading = read_state(path, format=format, key=key)
    return LoadedState(
        reading.require_state(), reading.format, reading.source, reading.key, reading.warnings
    )


def dump_state(state: SchedulerState, format: str = NATIVE_FORMAT) -> bytes:
    """The bytes of ``state`` written in ``format`` (a table name).

    Raises:
        StateFileError: ``format`` is not a format stepsched writes.
        ConversionError: the format cannot express the state; the message says why.
    """
    entry = FORMATS_BY_NAME.get(format)
    if entry is None or entry.write is None:
        known = ", ".join(output_formats())
        raise StateFileError(f"unknown output format {format!r} (known: {known})")
    return entry.write(state)
