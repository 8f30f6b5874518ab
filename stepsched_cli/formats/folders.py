"""What a folder given in place of a file is: one stepsched reads, or which kind it is not.

Two kinds of training folder hold a scheduler state stepsched reads:

- a Hugging Face ``Trainer`` checkpoint (``checkpoint-N/``): ``scheduler.pt`` and
  ``optimizer.pt`` (``torch.save`` of the state dicts) and ``trainer_state.json`` (whose
  ``global_step`` the scheduler's position must match);
- an Accelerate ``save_state()`` folder: ``scheduler.bin`` and ``optimizer.bin``.

Others are named, with what stepsched reads instead: a Trainer's output folder (its
``checkpoint-N/`` folders), an MMEngine work_dir (its ``epoch_N.pth``/``iter_N.pth``),
a torch distributed checkpoint, an orbax checkpoint, a TensorFlow checkpoint or
SavedModel.  Only names are looked at (at most :data:`MAX_LISTED_ENTRIES` of them); no
file is opened here.

Example (the folders written by the real libraries, in the repository's tests):
    >>> from pathlib import Path
    >>> real = Path(__file__).parents[2] / "tests" / "data" / "real"
    >>> found = folder_kind(str(real / "transformers" / "steplr" / "checkpoint-20"))
    >>> found.kind, found.scheduler, found.optimizer, found.trainer_state
    ('a Hugging Face Trainer checkpoint', 'scheduler.pt', 'optimizer.pt', 'trainer_state.json')
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, replace

from stepsched_cli.errors import StateFileError
from stepsched_cli.fileio import FileReadError, loads_strict, read_bytes_bounded
from stepsched_cli.formats.hints import NoHints
from stepsched_cli.formats.reading import Reading, Request
from stepsched_cli.validate import shown

__all__ = [
    "FORMAT_NAME",
    "MAX_LISTED_ENTRIES",
    "MAX_TRAINER_STATE_BYTES",
    "ReadableFolder",
    "folder_kind",
    "read_folder",
]

MAX_LISTED_ENTRIES = 10_000
"""How many names of a folder are looked at: a folder is told apart by a few of them."""

_CHECKPOINT_N = re.compile(r"checkpoint-(\d{1,18})")


@dataclass(frozen=True)
class ReadableFolder:
    """A folder whose scheduler state stepsched reads.

    Attributes:
        kind: What it is, for messages (``a Hugging Face Trainer checkpoint``).
        scheduler: The scheduler file's name in it.
        optimizer: The optimizer file to check it against, None when there is none.
        trainer_state: ``trainer_state.json`` for a Trainer checkpoint, else None.
    """

    kind: str
    scheduler: str
    optimizer: str | None = None
    trainer_state: str | None = None


def _names(path: str) -> tuple[set[str], set[str], set[str]]:
    """The regular files', the folders' and the other entries' (FIFOs, sockets, devices)
    names in ``path``, at most MAX_LISTED_ENTRIES in all (symlinks followed)."""
    files: set[str] = set()
    folders: set[str] = set()
    others: set[str] = set()
    try:
        with os.scandir(path) as entries:
            for count, entry in enumerate(entries):
                if count >= MAX_LISTED_ENTRIES:
                    break
                _kind(entry, files, folders, others).add(entry.name)
    except OSError as error:
        raise StateFileError(f"{path}: cannot list the folder ({error.strerror})") from None
    return files, folders, others


def _kind(entry: os.DirEntry[str], *kinds: set[str]) -> set[str]:
    """Which of ``(files, folders, others)`` an entry belongs to; a dangling link is a
    file, so that reading it says what is wrong with it."""
    files, folders, others = kinds
    try:
        if entry.is_dir():
            return folders
        if entry.is_file():
            return files
        entry.stat()
    except OSError:  # a link to nowhere, or a loop of links
        return files
    return others


def _regular(path: str, found: ReadableFolder, others: set[str]) -> ReadableFolder:
    """``found`` when the files it names are regular files: reading a FIFO the user did
    not name would wait for a writer forever.

    Raises:
        StateFileError: one of them is a FIFO, a socket or a device.
    """
    named = (found.scheduler, found.optimizer, found.trainer_state)
    odd = next((name for name in named if name is not None and name in others), None)
    if odd is not None:
        raise StateFileError(
            f"{path}: its {odd} is not a regular file (a FIFO, a socket or a device); "
            "stepsched reads a folder's files only when they are regular files"
        )
    return found


def _has_orbax_step(path: str, folders: set[str]) -> bool:
    """Whether a numbered subfolder holds orbax's ``_CHECKPOINT_METADATA``."""
    steps = sorted(name for name in folders if name.isdigit())[:5]
    return any(os.path.isfile(os.path.join(path, step, "_CHECKPOINT_METADATA")) for step in steps)


def _is_orbax(files: set[str]) -> bool:
    """Whether the names are an orbax step folder or one of its items (``default/``)."""
    return "_CHECKPOINT_METADATA" in files or {"_METADATA", "manifest.ocdbt"} <= files


def _refusal(path: str, what: str, instead: str) -> StateFileError:
    return StateFileError(f"{path}: is {what}, not a state file; {instead}")


def folder_kind(path: str) -> ReadableFolder:
    """What stepsched reads in the folder ``path``.

    Raises:
        StateFileError: a folder of another kind (one line naming it and what stepsched
            reads instead), or one it does not recognise.
    """
    files, folders, others = _names(path)
    present = files | others
    if "trainer_state.json" in present:
        if "scheduler.pt" not in present:
            raise _refusal(
                path,
                "a Hugging Face Trainer checkpoint without scheduler.pt",
                "the Trainer saves scheduler.pt beside optimizer.pt unless save_only_model is set",
            )
        optimizer = "optimizer.pt" if "optimizer.pt" in present else None
        found = ReadableFolder(
            "a Hugging Face Trainer checkpoint", "scheduler.pt", optimizer, "trainer_state.json"
        )
        return _regular(path, found, others)
    if "scheduler.bin" in present:
        extra = sorted(name for name in present if re.fullmatch(r"scheduler_\d+\.bin", name))
        if extra:
            raise _refusal(
                path,
                f"an Accelerate save_state() folder with {len(extra) + 1} schedulers",
                f"read one of scheduler.bin, {', '.join(extra[:3])} as a file",
            )
        optimizer = "optimizer.bin" if "optimizer.bin" in present else None
        found = ReadableFolder("an Accelerate save_state() folder", "scheduler.bin", optimizer)
        return _regular(path, found, others)
    raise _foreign(path, present, folders)


def _foreign(path: str, files: set[str], folders: set[str]) -> StateFileError:
    """The refusal of a folder stepsched does not read, naming what it is."""
    checkpoints = sorted(
        (int(match.group(1)), name)
        for name in folders
        if (match := _CHECKPOINT_N.fullmatch(name)) is not None
    )
    if checkpoints:
        return _refusal(
            path,
            "a Hugging Face Trainer output folder",
            f"read one of its checkpoint-N folders ({checkpoints[-1][1]} is the latest)",
        )
    if "last_checkpoint" in files or any(re.fullmatch(r"(epoch|iter)_\d+\.pth", f) for f in files):
        return _refusal(
            path,
            "an MMEngine work_dir",
            "read one of its Runner checkpoints (epoch_N.pth or iter_N.pth; last_checkpoint "
            "names the latest)",
        )
    if ".metadata" in files and any(name.endswith(".distcp") for name in files):
        return _refusal(
            path,
            "a torch distributed checkpoint (torch.distributed.checkpoint)",
            "stepsched reads torch.save files: convert it with "
            "torch.distributed.checkpoint.format_utils.dcp_to_torch_save",
        )
    if _is_orbax(files) or _has_orbax_step(path, folders):
        return _refusal(
            path,
            "an orbax checkpoint",
            "stepsched reads the optax schedule as JSON, at --position (the state's count)",
        )
    if "saved_model.pb" in files:
        return _refusal(
            path,
            "a TensorFlow SavedModel",
            "stepsched reads a Keras model file (.keras) or its schedule's config as JSON",
        )
    if "checkpoint" in files and any(name.endswith(".index") for name in files):
        return _refusal(
            path,
            "a TensorFlow checkpoint (tf.train.Checkpoint)",
            "stepsched reads a Keras model file (.keras) or its schedule's config as JSON",
        )
    return _refusal(
        path,
        "a directory",
        "stepsched reads files, and of folders a Hugging Face Trainer checkpoint-N/ "
        "or an Accelerate save_state() folder",
    )


# -- reading -------------------------------------------------------------------------

FORMAT_NAME = "training-folder"

MAX_TRAINER_STATE_BYTES = 64 * 1024 * 1024
"""The largest ``trainer_state.json`` read (its ``log_history`` grows with the run)."""


MAX_TRAINER_STATE_VALUES = 2_000_000
"""The most JSON values read from it (its commas and opening brackets): about 200 MB of
Python objects at most, as :data:`stepsched_cli.runlog.trainer_state.MAX_DOCUMENT_VALUES`."""


def read_folder(request: Request[NoHints]) -> Reading:
    """The scheduler state of a training folder, checked against what it saved beside it.

    The scheduler file is read as a torch checkpoint, with the optimizer file as the
    optimizer cross-check; a Trainer checkpoint's ``trainer_state.json`` gives the
    ``global_step`` its position must equal (a warning when it does not).

    Raises:
        StateFileError: a folder of another kind, or one stepsched does not recognise.
        CheckpointError, StateError: as reading the scheduler file as a checkpoint.
    """
    from stepsched_cli.formats import torch

    folder = request.path
    found = folder_kind(folder)
    scheduler = os.path.join(folder, found.scheduler)
    checkpoint = torch.load_checkpoint(scheduler)
    states = torch.find_schedulers(checkpoint)
    if states is None:
        raise torch.no_scheduler_state(checkpoint, scheduler)
    optimizer = None if found.optimizer is None else os.path.join(folder, found.optimizer)
    hints = torch.CheckpointHints(optimizer=optimizer)
    reading = torch.read_found(states, FORMAT_NAME, scheduler, hints)
    if found.trainer_state is None:
        return reading
    return _with_trainer_state(reading, os.path.join(folder, found.trainer_state))


def _with_trainer_state(reading: Reading, path: str) -> Reading:
    """The reading with the Trainer's ``global_step`` beside its position, and a warning
    when the two disagree (or the file does not say)."""
    step, epoch, problem = _trainer_counts(path)
    view = reading.view
    if problem is not None:
        return replace(reading, warnings=(*reading.warnings, f"{path}: {problem}"))
    shown_epoch = "" if epoch is None else f", epoch {epoch}"
    text = f"{view.position_text} (Trainer global_step {step}{shown_epoch})"
    warnings = reading.warnings
    if step != view.position:
        warnings = (
            *warnings,
            f"trainer_state.json's global_step is {step} but the scheduler's position is "
            f"{view.position}: they were not saved together",
        )
    details = (*view.details, ("trainer_global_step", step), ("trainer_epoch", epoch))
    view = replace(view, position_text=text, details=details)
    return replace(reading, view=view, warnings=warnings)


def _trainer_counts(path: str) -> tuple[int, object, str | None]:
    """``global_step`` and ``epoch`` from ``trainer_state.json``, or why they are not there."""
    try:
        data = read_bytes_bounded(path, MAX_TRAINER_STATE_BYTES, "trainer state")
        document = loads_strict(data, max_values=MAX_TRAINER_STATE_VALUES)
    except (FileReadError, ValueError) as error:
        return 0, None, f"not read ({error})"
    step = document.get("global_step") if isinstance(document, dict) else None
    if isinstance(step, bool) or not isinstance(step, int) or step < 0:
        return 0, None, f"global_step must be an integer >= 0, got {shown(step)}"
    epoch = document.get("epoch") if isinstance(document, dict) else None
    number = isinstance(epoch, int | float) and not isinstance(epoch, bool)
    return step, epoch if number else None, None
