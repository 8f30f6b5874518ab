"""The format table: every format stepsched reads or writes, in one ordered table.

Everything that reads a state (the command line's ``--state``, ``inspect``,
``validate``, ``convert``, or a library user) calls :func:`read_state` (a
:class:`~stepsched_cli.formats.reading.Reading` of any file) or :func:`load_state`
(its stepsched state), and everything that writes one calls :func:`dump_state`.  Each
format is one :class:`Format` in :data:`FORMATS`; detection, the ``--from``/``--to``
names, their help texts (:mod:`~stepsched_cli.formats.help_texts`) and ``code
--framework`` are all derived from the table.

Detection: first the formats recognised by the file itself (a ``torch.save``
checkpoint by its extension or first bytes), then the file is parsed as JSON and
offered to each format's ``detect`` in table order (native, torch, timm, Keras,
optax, then any JSON document holding scheduler states).  A file that is not JSON
(empty, not UTF-8, or broken JSON) is read as native, whose parser says what is wrong;
a JSON document no format claims, text such as YAML, or a binary file of a known kind
(HDF5, safetensors, a TensorBoard event file) is refused with what it looks like and
the formats tried (:mod:`~stepsched_cli.formats.unknown`).  ``--from`` skips
detection.

Hints: each entry declares the hints its reader takes (a record type such as
:class:`~stepsched_cli.formats.hints.PositionHints`); :func:`read_state` takes the
caller's :class:`~stepsched_cli.formats.hints.Hints` and hands a reader only its own,
refusing any other with :class:`~stepsched_cli.formats.hints.HintRefused`.  A loaded
checkpoint is offered to
:data:`~stepsched_cli.formats.checkpoint_contents.CHECKPOINT_CONTENTS` in order
(MMEngine's, Ignite's and Lightning's, torch's scheduler states, then timm's training
state), each with the hints it declares.

Adding a format (docs/design.md shows it step by step): write its wing or framework
folder (a reader returning a Reading, a writer if it can be written), export what the
table needs from the wing's ``__init__``, then add one :class:`Format`.

Size: about 600 lines, over the house's ~500: the table, what is derived from it (the
hints each reader is handed, the help phrases), detection and reading from files and
streams belong together; the readers themselves live in the wings.
"""

from __future__ import annotations

import dataclasses
import os
import stat
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from stepsched_cli.errors import StateFileError
from stepsched_cli.fileio import FileReadError, loads_strict, read_bytes_bounded
from stepsched_cli.formats import folders, frameworks, sniff, torch, unknown
from stepsched_cli.formats.checkpoint_contents import CHECKPOINT_CONTENTS
from stepsched_cli.formats.hints import HintRecord, HintRefused, Hints, NoHints, PositionHints
from stepsched_cli.formats.reading import Reader, Reading, Request, Writer, request_data, state_view
from stepsched_cli.formats.snippet import Snippet
from stepsched_cli.scheduler import STATE_FORMAT, SchedulerState
from stepsched_cli.state import MAX_STATE_BYTES, dumps_state, parse_json_bytes, parse_state_bytes
from stepsched_cli.validate import INT64_MAX, STANDARD_STREAM

NATIVE_FORMAT = "stepsched"
TORCH_FORMAT = torch.FORMAT_NAME
CHECKPOINT_FORMAT = torch.CHECKPOINT_FORMAT_NAME
KERAS_MODEL_FORMAT = frameworks.KERAS_MODEL_FORMAT
JSON_CHECKPOINT_FORMAT = "json-checkpoint"
STDIN = STANDARD_STREAM
MAX_POSITION = INT64_MAX
"""The largest position a format that records none is read at: the largest counter a
format keeps (Keras's int64 optimizer iterations)."""
HEAD_BYTES = 64
"""How much of a file recognisers see: a zip's first member name fits (a renamed
``.keras`` file starts with ``metadata.json``)."""


@dataclass(frozen=True)
class Format:
    """One format: how it is recognised, read and written.

    Attributes:
        name: The ``--from``/``--to`` name.
        help: What it is, for help texts (a noun phrase).
        read: The reader; it is given a :class:`Request` holding the hints as
            ``hints`` declares them.
        write: The writer, None when stepsched cannot write it.
        detect: Whether a parsed JSON document is in this format (None: not JSON).
        recognise: Whether a file is in this format by its first bytes (``HEAD_BYTES``)
            and its name,
            before it is read (None: recognised by its JSON document only).
        from_stdin: Whether it may be read from standard input (a checkpoint is read
            from its file, never whole into memory).
        hints: The hints it takes, as a record type
            (:class:`~stepsched_cli.formats.hints.PositionHints` for documents that
            hold no position); None when what it takes depends on what the file holds
            (a checkpoint: see
            :mod:`~stepsched_cli.formats.checkpoint_contents`), and the reader is given
            the caller's :class:`~stepsched_cli.formats.hints.Hints`.
        snippets: The ``code --framework`` choices that build its schedule.
        position_help: For a format that records no position: what its position counts,
            in its own terms (``optax's update count, ...``), for ``position``'s help.
        write_help: What its writer writes, beyond ``help``, for ``--to``'s help.
        records_unit: False when its positions have no unit (a counter of scheduler
            steps): read in the caller's ``--mode``.
    """

    name: str
    help: str
    read: Reader
    write: Writer | None = None
    detect: Callable[[object], bool] | None = None
    recognise: Callable[[bytes, str], bool] | None = None
    from_stdin: bool = True
    hints: type[HintRecord] | None = NoHints
    snippets: tuple[Snippet, ...] = ()
    position_help: str = ""
    write_help: str = ""
    records_unit: bool = True

    @property
    def records_position(self) -> bool:
        """False for schedule documents that hold no position (read at ``position``)."""
        return not _takes(self.hints, "position")


def _fields(hints: type[HintRecord] | None) -> list[str]:
    """The hints a record type declares (its dataclass fields; ``applies_to`` is none)."""
    return [] if hints is None else [field.name for field in dataclasses.fields(hints)]


def _takes(hints: type[HintRecord] | None, name: str) -> bool:
    return name in _fields(hints)


# -- readers -----------------------------------------------------------------------


def _read_native(request: Request[NoHints]) -> Reading:
    state = parse_state_bytes(request_data(request), request.source)
    return Reading(NATIVE_FORMAT, request.source, state_view(state), state)


def _read_checkpoint(request: Request[Hints]) -> Reading:
    """Load a checkpoint once, then read it as the first content that finds something."""
    source = request.path
    checkpoint = torch.load_checkpoint(source)
    for content in CHECKPOINT_CONTENTS:
        found = content.find(checkpoint)
        if found is not None:
            hints = _own_hints(request.hints, content.hints, CHECKPOINT_FORMAT, source)
            return content.read(found, CHECKPOINT_FORMAT, source, hints)
    raise torch.no_scheduler_state(checkpoint, source)


def _read_json_checkpoint(request: Request[torch.CheckpointHints]) -> Reading:
    document = parse_json_bytes(request_data(request), request.source)
    found = torch.find_schedulers(document)
    if found is None:  # pragma: no cover - detected or forced: refused by the search
        raise torch.no_scheduler_state(document, request.source)
    return torch.read_found(found, JSON_CHECKPOINT_FORMAT, request.source, request.hints)


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
        torch.read_torch,
        torch.dumps_torch_state,
        detect=torch.detect,
        hints=torch.TorchHints,
        snippets=torch.SNIPPETS,
        write_help="torch writes the JSON of a StepLR/MultiStepLR state_dict(); its "
        "last_epoch is the position in whatever unit the state counts.",
        records_unit=False,
    ),
    Format(
        CHECKPOINT_FORMAT,
        "a torch.save file: .pt, .pth, .ckpt",
        _read_checkpoint,
        recognise=lambda head, name: (
            sniff.looks_like_checkpoint(head, name) and not frameworks.keras_file(head, name)
        ),
        from_stdin=False,
        hints=None,
        records_unit=False,
    ),
    Format(
        frameworks.TIMM_FORMAT,
        "a timm StepLRScheduler/MultiStepLRScheduler state_dict() or document, or "
        "train.py's args (args.yaml, JSON, scheduler_kwargs())",
        frameworks.read_timm,
        frameworks.write_timm,
        detect=frameworks.timm_detect,
        recognise=lambda _, name: name.lower().endswith((".yaml", ".yml")),
        hints=frameworks.TimmHints,
        snippets=(frameworks.TIMM_SNIPPET,),
        position_help="timm's t",
    ),
    Format(
        frameworks.KERAS_FORMAT,
        "a Keras learning-rate schedule, optimizer config or model config.json (JSON)",
        frameworks.read_keras,
        frameworks.write_keras,
        detect=frameworks.keras_detect,
        hints=PositionHints,
        snippets=(frameworks.KERAS_SNIPPET,),
        position_help="Keras's optimizer iterations, an int64 step counter",
    ),
    Format(
        KERAS_MODEL_FORMAT,
        "a Keras .keras model file (model.save()): its optimizer's schedule, at its "
        "iterations (read with h5py: stepsched[keras])",
        frameworks.read_keras_model,
        recognise=frameworks.keras_file,
        from_stdin=False,
        hints=PositionHints,
    ),
    Format(
        frameworks.KERAS_H5_FORMAT,
        "a legacy Keras .h5 model (model.save('x.h5')): its schedule, at its iterations (h5py)",
        frameworks.read_keras_h5,
        recognise=frameworks.keras_h5_file,
        from_stdin=False,
        hints=PositionHints,
    ),
    Format(
        frameworks.FLAX_MSGPACK_FORMAT,
        "a flax msgpack file (to_bytes): refused, naming optax's count and injected lr",
        frameworks.read_flax_msgpack,
        recognise=frameworks.flax_file,
        from_stdin=False,
    ),
    Format(
        frameworks.OPTAX_FORMAT,
        "an optax schedule as JSON",
        frameworks.read_optax,
        frameworks.write_optax,
        detect=frameworks.optax_detect,
        hints=PositionHints,
        snippets=(frameworks.OPTAX_SNIPPET,),
        position_help="optax's update count, an int32 that stops at 2**31 - 1",
    ),
    Format(
        frameworks.MMENGINE_FORMAT,
        "an MMEngine param scheduler's state_dict() as JSON",
        frameworks.read_mmengine_json,
        detect=frameworks.mmengine_detect,
    ),
    Format(
        folders.FORMAT_NAME,
        "a training folder: a Hugging Face Trainer checkpoint-N/ or an Accelerate "
        "save_state() folder (other folders are named, and refused)",
        folders.read_folder,
        recognise=lambda _, name: os.path.isdir(name),
        from_stdin=False,
        records_unit=False,
    ),
    Format(
        JSON_CHECKPOINT_FORMAT,
        "a JSON document holding scheduler states anywhere (a training checkpoint saved as "
        "JSON: torch StepLR/MultiStepLR/SequentialLR or stepsched states)",
        _read_json_checkpoint,
        detect=torch.holds_scheduler_states,
        hints=torch.CheckpointHints,
        records_unit=False,
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
    return [snippet.name for snippet in snippets()]


def snippets() -> list[Snippet]:
    """Every ``code --framework`` choice, in table order."""
    return [snippet for entry in FORMATS for snippet in entry.snippets]


def hint_names() -> list[str]:
    """Every hint some format takes (``key``, ``optimizer``, ``position``, ...), once each."""
    names = [name for kind in hint_kinds() for name in _fields(kind)]
    return list(dict.fromkeys(names))


def hint_kinds() -> list[type[HintRecord] | None]:
    """Every hints record in table order (the formats', then a checkpoint's contents')."""
    return [entry.hints for entry in FORMATS] + [content.hints for content in CHECKPOINT_CONTENTS]


def _applies_to(name: str) -> str:
    """Which files take the hint ``name``, for a refusal: the first record in table order
    that declares it says."""
    return next(
        (kind.applies_to for kind in hint_kinds() if kind is not None and _takes(kind, name)),
        "no format",
    )


def _refused(name: str, source: str, format: str) -> HintRefused:
    if name == "position":
        return HintRefused(name, source, format, ", ".join(unpositioned_formats()), recorded=True)
    applies_to = PositionHints.applies_to if name == "steps_per_epoch" else _applies_to(name)
    return HintRefused(name, source, format, applies_to)


def _own_hints(hints: Hints, kind: type[HintRecord], format: str, source: str) -> HintRecord:
    """``hints`` as ``kind`` declares them; any hint it does not take is refused.

    A position is the exception: whether the file records its own is known once it is
    read, so it is left out here (with the steps per epoch that would convert it) and
    :func:`read_state` refuses it after the read; a file its reader refuses anyway gets
    that refusal, not a claim about its position.
    """
    if "position" in hints.given and not _takes(kind, "position"):
        deferred = {"position"} | ({"steps_per_epoch"} - set(_fields(kind)))
        hints = Hints(
            **{name: value for name, value in hints.given.items() if name not in deferred}
        )
    refused = hints.refused_by(kind)
    if refused is not None:
        raise _refused(refused, source, format)
    return hints.record(kind)


# -- reading -----------------------------------------------------------------------


def read_input(path: str, limit: int = MAX_STATE_BYTES) -> tuple[bytes, str]:
    """The bytes of ``path`` (stdin for ``-``) and a name for messages (or FileReadError)."""
    if path == STDIN:
        data = sys.stdin.buffer.read(limit + 1)
        if len(data) > limit:
            raise FileReadError(
                f"<stdin>: is larger than {limit} bytes, the limit for a state file"
            )
        return data, "<stdin>"
    try:
        return read_bytes_bounded(path, limit, "state file"), path
    except FileReadError as error:
        raise unknown.unreadable_state(path, error, input_formats(), _native_reports) from None


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


def read_state(path: str, format: str | None = None, hints: Hints | None = None) -> Reading:
    """Read and validate the scheduler state in ``path`` (``-`` for stdin), any format.

    Checkpoints are read from the file itself, never through stdin, and only their
    pickle stream is read, whatever the file's size.

    Args:
        path: The file to read.
        format: A table name to force (see :func:`input_formats`); detected when None.
        hints: What the caller knows that the file may leave out, by name: ``key``
            (which scheduler state of a checkpoint), ``optimizer`` (an optimizer saved
            apart, checked against a torch scheduler), ``position`` (where to read a
            document that records none), timm's ``updates_per_epoch`` and ``lr``.  The
            format's table entry declares which it takes; the reader gets only those.

    Raises:
        HintRefused: a hint the file's format does not take (or a position given for
            a file that records its own); a usage error naming the hint and the format.
        StateFileError: unknown format, or an invalid state; the message names the
            file and the field.
        FileReadError: the file cannot be read.
        CheckpointError: an unreadable or unsafe checkpoint (``AmbiguousCheckpointError``
            when it holds several scheduler states and ``key`` chose none).
    """
    hints = Hints() if hints is None else hints
    reading = _read_state(path, format, hints)
    if "position" in hints.given and reading.records_position:
        raise _refused("position", reading.source, reading.format)
    return reading


def _read_state(path: str, format: str | None, hints: Hints) -> Reading:
    """Read ``path`` as ``format`` or as detected, handing the reader its own hints."""
    entry = FORMATS_BY_NAME.get(format) if format is not None else _recognised(path)
    if format is not None and entry is None:
        raise StateFileError(
            f"{path}: unknown format {format!r} (known: {', '.join(input_formats())})"
        )
    if entry is not None and not entry.from_stdin:
        if _is_stream(path):
            raise _not_from_a_stream(entry, _stream_name(path))
        return entry.read(_request(entry, path, path, None, hints))
    data, source = read_input(path)
    if format is not None and entry is not None:
        _refuse_binary(entry, data, source)
    if entry is None:
        entry = FORMATS_BY_NAME[detect_format(data, source)]
        if not entry.from_stdin:
            raise _not_from_a_stream(entry, source, data)
    return entry.read(_request(entry, path, source, data, hints))


def _request(
    entry: Format, path: str, source: str, data: bytes | None, hints: Hints
) -> Request[Any]:
    """What ``entry``'s reader is given: its own hints, or all of them for a reader that
    checks them by what the file holds."""
    if entry.hints is None:
        return Request(path, source, data, hints)
    return Request(path, source, data, _own_hints(hints, entry.hints, entry.name, source))


def _refuse_binary(entry: Format, data: bytes, source: str) -> None:
    """Refuse a binary file forced as a JSON format, saying what it is in that format's
    terms (not the JSON parser's "is not UTF-8 text"); Keras's reader names a zip
    itself, pointing to keras-model."""
    from stepsched_cli.formats import unknown

    kind = unknown.binary_kind(data, source)
    if kind is not None and not (entry.name == frameworks.KERAS_FORMAT and data[:2] == b"PK"):
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


def load_state(path: str, format: str | None = None, hints: Hints | None = None) -> LoadedState:
    """Read and validate the scheduler state in ``path`` (``-`` for stdin) as a stepsched state.

    A framework document (timm, Keras, optax) is read at position 0 unless the hints
    say otherwise.

    Raises:
        StateFileError: unknown format, an invalid state, or a framework state
            stepsched cannot represent; the message names the file and the field.
        HintRefused, FileReadError, CheckpointError: as :func:`read_state`.
    """
    reading = read_state(path, format, hints)
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
