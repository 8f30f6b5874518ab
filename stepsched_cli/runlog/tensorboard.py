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
_SCALARS_PLUGIN = "scalars"
_RECORD_FRAMING = 12  # a TFRecord: u64 length, u32 CRC of it, data, u32 CRC of the data
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
    from stepsched_cli.validate import shown

    named = ", ".join(tag if len(tag) <= 60 else shown(tag) for tag in tags[:MAX_TAGS_SHOWN])
    more = len(tags) - MAX_TAGS_SHOWN
    return named + (f" and {more} more" if more > 0 else "")


def check_event_files(path: str) -> None:
    """Refuse, before TensorBoard reads them, a run of too many event files or a record
    longer than :data:`MAX_RECORD_BYTES`.

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
    for file in files:
        _check_records(file)


def _check_records(file: str) -> None:
    """Walk the record headers of one event file (a seek per record).  A last record
    longer than what is left is a file still being written: TensorBoard stops there."""
    with open(file, "rb") as handle:
        size = os.fstat(handle.fileno()).st_size
        offset = 0
        while size - offset >= _RECORD_FRAMING:
            length = int.from_bytes(handle.read(8), "little")
            if length > MAX_RECORD_BYTES:
                raise RunLogError(
                    f"{file}: its record at byte {offset} claims {length} bytes, more than "
                    f"the limit of {MAX_RECORD_BYTES} for one event"
                )
            offset += 16 + length
            handle.seek(offset)


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
    named = ", ".join(runs[:MAX_RUNS_SHOWN])
    more = f" and {len(runs) - MAX_RUNS_SHOWN} more" if len(runs) > MAX_RUNS_SHOWN else ""
    return f"; {what}: {named}{more}; check one of them"
