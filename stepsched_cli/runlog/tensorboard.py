"""TensorBoard runs as lr logs for ``check``: a run directory or an ``events.out.tfevents.*`` file.

The events are read with TensorBoard's own reader (``EventAccumulator``, from the
optional extra ``stepsched[tensorboard]``), never by parsing protobuf here.  The lr is
one scalar tag: ``--tag`` names it, otherwise the one tag that looks like an lr
(``lr``, ``lr-SGD``, ``train/lr``, ``learning_rate``, ...) is used, and when there are
several or none the message lists them.  TensorBoard stores scalars as float32, so a
logged 0.1 reads back as 0.10000000149011612: well within ``check``'s tolerance.

A directory is read as TensorBoard reads one run: the event files directly in it, in
order (not its subdirectories, which are other runs).  When the lr cannot be found
there, the message names the subdirectories that are runs: ``add_scalars("lr",
{"pg0": ..., "pg1": ...})`` writes no scalar into the run directory itself, only into
the runs ``lr_pg0/`` and ``lr_pg1/`` beside its event file, and a parent folder
(``runs/``, ``lightning_logs/``) holds runs and no event file of its own.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from stepsched_cli.runlog.checking import DEFAULT_TOLERANCE, check_log
from stepsched_cli.runlog.counting import (
    HF_TENSORBOARD,
    HF_TENSORBOARD_TAGS,
    shifted,
    step_counting,
    with_counting,
)
from stepsched_cli.runlog.diagnosis import CheckResult
from stepsched_cli.runlog.log_error import RunLogError
from stepsched_cli.runlog.rows import LogPoint
from stepsched_cli.runlog.sample import LogSample
from stepsched_cli.schedule import StepSchedule

EVENT_RUNS = "TensorBoard runs"
"""What :func:`read_events` reads, for the command line's help and messages."""
EVENT_SOURCE = "a TensorBoard run directory or event file"
"""What a path :func:`read_events` reads is, for the command line's help."""

EVENT_FILE_PREFIX = "events.out.tfevents."
INSTALL_HINT = "pip install 'stepsched[tensorboard]'"
MAX_RUNS_SHOWN = 8
"""How many of a folder's runs the message names."""
MAX_DIRECTORIES_SEARCHED = 1000
"""How many folders are looked at for runs, so that a huge tree answers quickly."""
MAX_TAGS_SHOWN = 8
"""How many scalar tags a message names (each cut by ``describe``)."""
MAX_EVENT_FILES = 256
"""The event files of one run read: TensorBoard's reader lists the folder again for
every file, so 3,000 files took over 30 s (300 take 1 s); a run writes one per process
start."""
MAX_RECORD_BYTES = 64 << 20
"""The largest record (one event) of an event file read: TensorBoard allocates what a
record declares before reading it (2**40 bytes was an internal MemoryError); a scalar
event is about 40 bytes, an image summary a few MB."""
MAX_RECORD_VALUES = 1000
"""The most summary values (tags) one event may hold: TensorBoard builds a series per
tag, so one 6.8 MB record declaring 400,000 tags took 9.5 s and 1.4 GB; a training
loop writes a handful per event."""
MAX_RECORD_FIELDS = 8 * MAX_RECORD_VALUES
"""The most protobuf fields walked in one event while counting its values (a value
has a handful): the walk is Python, so 64 MiB of tiny fields would take a minute."""
MAX_RUN_TAGS = 10_000
"""The most distinct tags a run's events may name, for the same reason spread over
many records."""
_SCALARS_PLUGIN = "scalars"
_RECORD_FRAMING = 12  # a TFRecord: u64 length, u32 CRC of it, data, u32 CRC of the data
# Field numbers of TensorBoard's protobuf messages: Event.summary, Summary.value, Value.tag.
_EVENT_SUMMARY, _SUMMARY_VALUE, _VALUE_TAG = 5, 1, 1
# A scalar event as writers lay it out: wall_time, step, then a summary of one value
# whose first field is its tag, up to the tag's length (the summary's, the value's and
# the tag's lengths each one byte).
_SCALAR_EVENT = re.compile(
    rb"\x09.{8}(?:\x10[\x80-\xff]{0,9}[\x00-\x7f])?\x2a[\x00-\x7f]\x0a[\x00-\x7f]\x0a[\x00-\x7f]",
    re.DOTALL,
)
_LR_TAG = re.compile(r"(^|[^a-z])(lr|learning[_ -]?rate)([^a-z]|$)")


def is_event_source(path: str) -> bool:
    """Whether ``check`` should read ``path`` as a TensorBoard run: a directory, or a
    file named ``events.out.tfevents.*``."""
    return path != "-" and (os.path.isdir(path) or Path(path).name.startswith(EVENT_FILE_PREFIX))


def lr_tags(tags: Sequence[str]) -> list[str]:
    """The tags that look like a learning rate, in the order given.

    Example:
        >>> lr_tags(["train/loss", "lr-SGD", "train/lr", "clr_unused", "learning_rate"])
        ['lr-SGD', 'train/lr', 'learning_rate']
    """
    return [tag for tag in tags if _LR_TAG.search(tag.lower())]


def choose_tag(tags: Sequence[str], tag: str | None, source: str) -> str:
    """The scalar tag holding the lr: ``tag`` if given, else the one lr-looking tag.

    Raises:
        RunLogError: ``tag`` is not a scalar tag of the run, or no tag or several look
            like an lr; the message lists the candidates.
    """
    shown = _named(tags) or "none"
    if tag is not None:
        if tag not in tags:
            raise RunLogError(f"{source}: no scalar tag {tag!r} (scalar tags: {shown})")
        return tag
    candidates = lr_tags(tags)
    if len(candidates) == 1:
        return candidates[0]
    if not candidates:
        raise RunLogError(
            f"{source}: no scalar tag looks like an lr (scalar tags: {shown}); pick one with --tag"
        )
    raise RunLogError(
        f"{source}: several scalar tags look like an lr: {_named(candidates)}; pick one with --tag"
    )


def _named(tags: Sequence[str]) -> str:
    """The first :data:`MAX_TAGS_SHOWN` tags, each cut to 60 characters, and a count.

    Example:
        >>> _named([f"t{i}" for i in range(10)])
        't0, t1, t2, t3, t4, t5, t6, t7 and 2 more'
    """
    from stepsched_cli.validate import listed

    return listed(tags, limit=MAX_TAGS_SHOWN)


def check_event_files(path: str) -> None:
    """Refuse, before TensorBoard reads them, a run of too many event files, a record
    longer than :data:`MAX_RECORD_BYTES`, or events declaring too many tags.

    Raises:
        RunLogError: naming the run or the file and the limit.
    """
    if os.path.isdir(path):
        names = sorted(name for name in os.listdir(path) if name.startswith(EVENT_FILE_PREFIX))
        if len(names) > MAX_EVENT_FILES:
            raise RunLogError(
                f"{path}: holds {len(names)} event files, more than the limit of "
                f"{MAX_EVENT_FILES} for one run"
            )
        files = [os.path.join(path, name) for name in names]
    else:
        files = [path]
    tags: set[int] = set()  # hashes of the run's tags: bounded whatever a tag's length
    for file in files:
        _check_records(file, tags)


def _check_records(file: str, tags: set[int]) -> None:
    """Walk the records of one event file: each no longer than the limit, declaring
    at most :data:`MAX_RECORD_VALUES` values, the run at most :data:`MAX_RUN_TAGS`
    tags.  A last record longer than what is left is a file still being written:
    TensorBoard stops there."""
    with open(file, "rb") as handle:
        size = os.fstat(handle.fileno()).st_size
        offset = 0
        while size - offset >= _RECORD_FRAMING:
            header = handle.read(12)
            length = int.from_bytes(header[:8], "little")
            if length > MAX_RECORD_BYTES:
                raise RunLogError(
                    f"{file}: its record at byte {offset} claims {length} bytes, more than "
                    f"the limit of {MAX_RECORD_BYTES} for one event"
                )
            event = handle.read(length)
            tag = _scalar_tag(event)
            if tag is None:
                _check_tags(event, tags, file, offset)
            else:
                tags.add(hash(tag))
            if len(tags) > MAX_RUN_TAGS:
                raise RunLogError(
                    f"{file}: its events name more than {MAX_RUN_TAGS} tags, the limit for one run"
                )
            handle.read(4)
            offset += 16 + length


def _scalar_tag(event: bytes) -> bytes | None:
    """The tag of the usual event (wall_time, step, a summary of one value whose first
    field is its tag) found by one match, or None for any other event.

    Walking every field made the check of 300,000 scalar events take 4.8 s (TensorBoard
    then reads them in 30 s); one match takes about 1 s.
    """
    scalar = _SCALAR_EVENT.match(event)
    if scalar is None:
        return None
    end = scalar.end()
    summary, value, tag = event[end - 5], event[end - 3], event[end - 1]
    if summary != len(event) - end + 4 or value != summary - 2:
        return None
    return event[end : end + tag]


def _check_tags(event: bytes, tags: set[int], file: str, offset: int) -> None:
    """Count the summary values of one event and add their tags to ``tags``."""
    budget = [MAX_RECORD_FIELDS]
    values = 0
    for start, end in _fields(event, 0, len(event), _EVENT_SUMMARY, budget):
        for value_start, value_end in _fields(event, start, end, _SUMMARY_VALUE, budget):
            values += 1
            if values > MAX_RECORD_VALUES:
                raise RunLogError(
                    f"{file}: its record at byte {offset} holds more than "
                    f"{MAX_RECORD_VALUES} values, the limit for one event"
                )
            for tag_start, tag_end in _fields(event, value_start, value_end, _VALUE_TAG, budget):
                tags.add(hash(event[tag_start:tag_end]))
    if budget[0] < 0:
        raise RunLogError(
            f"{file}: its record at byte {offset} holds more than {MAX_RECORD_FIELDS} "
            "protobuf fields, the limit for one event"
        )


def _fields(
    data: bytes, position: int, end: int, number: int, budget: list[int]
) -> list[tuple[int, int]]:
    """Where the length-delimited fields ``number`` of the message ``data[position:end]``
    are, as ``(start, end)`` pairs.

    Only the wire format is walked (a varint key, then the value by its wire type);
    at anything malformed the walk stops and TensorBoard's reader has its say.  Each
    field walked costs one of ``budget[0]``; the walk stops when it is spent (a record
    of 64 MiB of two-byte fields would otherwise take a minute here).
    """
    found = []
    while position < end and budget[0] >= 0:
        budget[0] -= 1
        key = data[position]
        if key < 0x80:
            position += 1
        else:
            key, position = _varint(data, position)
        wire = key & 7
        if wire == 2:
            length = data[position] if position < end else 0x80
            if length < 0x80:
                position += 1
            else:
                length, position = _varint(data, position)
            if position + length > end:
                break
            if key >> 3 == number:
                found.append((position, position + length))
            position += length
        elif wire == 0:
            _, position = _varint(data, position)
        elif wire in (1, 5):
            position += 8 if wire == 1 else 4
        else:
            break
    return found


def _varint(data: bytes, position: int) -> tuple[int, int]:
    """A protobuf varint at ``position`` and the position after it (a cut one ends the
    data: the caller's walk stops there)."""
    value = shift = 0
    while position < len(data) and shift < 64:
        byte = data[position]
        position += 1
        value |= (byte & 0x7F) << shift
        if byte < 0x80:
            return value, position
        shift += 7
    return 0, len(data) + 1


def read_events(path: str, tag: str | None = None) -> Iterator[LogPoint]:
    """The ``(step, lr)`` points of one scalar tag of a TensorBoard run, by step order
    as logged.

    Args:
        path: A run directory or an ``events.out.tfevents.*`` file.
        tag: The scalar tag holding the lr; by default the one that looks like an lr.

    Raises:
        RunLogError: tensorboard is not installed, the path is missing or holds no
            event file, or the tag cannot be chosen (see :func:`choose_tag`).
    """
    return read_run(path, tag).points


@dataclass(frozen=True)
class Run:
    """One scalar series of a TensorBoard run.

    Attributes:
        tag: The chosen tag.
        tags: Every scalar tag of the run (summaries of the ``scalars`` plugin
            included, as TensorFlow 2 writes them).
        points: The tag's points, read as they are consumed.
    """

    tag: str
    tags: tuple[str, ...]
    points: Iterator[LogPoint]


def read_run(path: str, tag: str | None = None) -> Run:
    """The lr series of a TensorBoard run, with the tags it was chosen from.

    Scalars are read as TensorBoard reads them: ``add_scalar``'s simple values, and
    the tensor summaries of the ``scalars`` plugin that TensorFlow 2 writes
    (``tf.summary.scalar``, the Keras ``TensorBoard`` callback's ``epoch_learning_rate``),
    whose value is the 0-d tensor's.

    Raises:
        RunLogError: as :func:`read_events`.
    """
    if not os.path.exists(path):
        raise RunLogError(f"{path}: no such file or directory")
    if os.path.isdir(path) and not any(
        name.startswith(EVENT_FILE_PREFIX) for name in os.listdir(path)
    ):
        raise RunLogError(
            f"{path}: holds no {EVENT_FILE_PREFIX}* file (a TensorBoard run)"
            + _runs_below(path, "it holds runs")
        )
    try:
        from tensorboard.backend.event_processing import event_accumulator
    except ImportError:
        raise RunLogError(
            f"{path}: reading TensorBoard event files needs tensorboard: {INSTALL_HINT}"
        ) from None
    check_event_files(path)
    accumulator = event_accumulator.EventAccumulator(
        path, size_guidance={event_accumulator.SCALARS: 0, event_accumulator.TENSORS: 0}
    )
    accumulator.Reload()
    simple = accumulator.Tags().get(event_accumulator.SCALARS, [])
    tags = [*simple, *_scalar_tensor_tags(accumulator, set(simple))]
    try:
        chosen = choose_tag(tags, tag, path)
    except RunLogError as error:
        if not os.path.isdir(path):
            raise
        subfolders = "its subfolders are runs of their own (add_scalars writes one per key)"
        raise RunLogError(f"{error}{_runs_below(path, subfolders)}") from None
    values: Iterable[tuple[int, float]]
    if chosen in simple:
        values = ((event.step, event.value) for event in accumulator.Scalars(chosen))
    else:
        values = _tensor_values(accumulator, chosen, path)
    return Run(chosen, tuple(tags), _points(values, chosen, path))


def _scalar_tensor_tags(accumulator: Any, simple: set[str]) -> list[str]:
    """The tensor tags that TensorBoard shows as scalars (the ``scalars`` plugin)."""
    found = []
    for name in accumulator.Tags().get("tensors", []):
        metadata = accumulator.SummaryMetadata(name)
        if metadata.plugin_data.plugin_name == _SCALARS_PLUGIN and name not in simple:
            found.append(name)
    return found


def _tensor_values(accumulator: Any, tag: str, path: str) -> Iterator[tuple[int, float]]:
    """The steps and values of a scalar tensor summary, as TensorBoard reads them."""
    from tensorboard.util import tensor_util

    for number, event in enumerate(accumulator.Tensors(tag), start=1):
        value = tensor_util.make_ndarray(event.tensor_proto)
        if value.shape != () or value.dtype.kind not in "fiu":
            raise RunLogError(
                f"{path}: {tag} event {number} is a tensor of shape {value.shape} and type "
                f"{value.dtype}, not a scalar number"
            )
        yield event.step, float(value.item())


def _points(values: Iterable[tuple[int, float]], tag: str, path: str) -> Iterator[LogPoint]:
    for number, (step, value) in enumerate(values, start=1):
        if step < 0:
            raise RunLogError(f"{path}: {tag} event {number} has step {step} < 0")
        if not math.isfinite(value) or value < 0:
            raise RunLogError(f"{path}: {tag} event {number} has lr {value!r}")
        yield LogPoint(step=int(step), lr=float(value), line=number)


def check_run(
    path: str,
    schedule: StepSchedule,
    *,
    tag: str | None = None,
    tolerance: float = DEFAULT_TOLERANCE,
    steps_per_epoch: int | None = None,
    steps_from: int | None = None,
    sample: LogSample | None = None,
) -> CheckResult:
    """``check_log`` of a run's lr series, with the counting of a known writer.

    The Hugging Face Trainer's run (its tags ``train/learning_rate`` and
    ``train/epoch``) logs at step s the lr of position s - 1: checked so unless
    ``steps_from`` is given (:mod:`~stepsched_cli.runlog.counting`).

    Raises:
        RunLogError: as :func:`read_run` and :func:`check_log`.
    """
    run = read_run(path, tag)
    known = None
    if run.tag == "train/learning_rate" and set(run.tags) >= HF_TENSORBOARD_TAGS:
        known = HF_TENSORBOARD
    counting = step_counting(steps_from, known)
    points = shifted(run.points, counting.steps_from, f"{path} {run.tag} event")
    result = check_log(
        points, schedule, tolerance=tolerance, steps_per_epoch=steps_per_epoch, sample=sample
    )
    return with_counting(result, counting)


def runs_below(path: str) -> list[str]:
    """The folders under ``path`` that are TensorBoard runs (they hold an event file),
    relative to it and sorted; at most :data:`MAX_DIRECTORIES_SEARCHED` folders are
    looked at."""
    found: list[str] = []
    for searched, (folder, folders, files) in enumerate(os.walk(path)):
        if searched >= MAX_DIRECTORIES_SEARCHED:
            break
        folders.sort()
        if folder != path and any(name.startswith(EVENT_FILE_PREFIX) for name in files):
            found.append(os.path.relpath(folder, path))
    return sorted(found)


def _runs_below(path: str, what: str) -> str:
    """The end of a message about ``path``: the runs in its subfolders, if any."""
    runs = runs_below(path)
    if not runs:
        return ""
    from stepsched_cli.validate import listed

    return f"; {what}: {listed(runs, limit=MAX_RUNS_SHOWN)}; check one of them"
