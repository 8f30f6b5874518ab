"""The Hugging Face Trainer's ``trainer_state.json`` as a run log: its ``log_history``.

``Trainer.save_state()`` (and every ``checkpoint-N/``) writes one indented JSON
document, not JSON lines::

    {
      "global_step": 25,
      "log_history": [
        {"epoch": 0.04, "grad_norm": 0.21, "learning_rate": 0.1, "loss": 0.27, "step": 1},
        ...,
        {"epoch": 1.0, "step": 25, "total_flos": 0.0, "train_loss": 0.05, ...}
      ],
      ...
    }

Each entry with a ``learning_rate`` is a point at its ``step``; the others (evaluation
and the run's summary) are skipped.  The Trainer logs at step s the lr update s used,
so these steps count from 1 (:data:`~stepsched_cli.runlog.counting.HF_TRAINER_STATE`).
The document is read whole, up to :data:`MAX_DOCUMENT_BYTES`.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from pathlib import Path

from stepsched_cli import validate
from stepsched_cli.fileio import FileReadError, loads_strict, read_bytes_bounded
from stepsched_cli.runlog.columns import same_column_error
from stepsched_cli.runlog.log_error import RunLogError
from stepsched_cli.runlog.rows import LogPoint

MAX_DOCUMENT_BYTES = 256 << 20
"""The largest trainer_state.json read: an entry is about 150 bytes, so over a million
logged steps."""


MAX_DOCUMENT_VALUES = 2_000_000
"""The most JSON values a trainer_state.json may hold (counted as its commas and opening
brackets): an entry holds about 6, so over 300,000 logged steps, in about 200 MB of
Python objects at most (a 48 MB file of empty entries took 1.2 GB before)."""


def trainer_state_points(
    path: str | Path, step_column: str | None = None, lr_column: str | None = None
) -> Iterator[LogPoint]:
    """The ``(step, learning_rate)`` points of ``log_history``, in its order.

    A point's ``line`` is its entry's index in ``log_history``, from 1.  ``step_column``
    and ``lr_column`` name other keys of the entries (by default ``step`` and
    ``learning_rate``); an entry without the lr key is skipped.

    Raises:
        ColumnConflictError: ``step_column`` and ``lr_column`` name one key.
        RunLogError: the file is unreadable, too large, not JSON, has no
            ``log_history`` list, or an entry's step or lr is not valid.
    """
    try:
        data = read_bytes_bounded(path, MAX_DOCUMENT_BYTES, "trainer_state.json")
        document = loads_strict(data, max_values=MAX_DOCUMENT_VALUES)
    except FileReadError as error:
        raise RunLogError(str(error)) from None
    except ValueError as error:
        raise RunLogError(
            f"{path}: a JSON document (its first line is '{{') that {error}"
        ) from None
    history = document.get("log_history") if isinstance(document, Mapping) else None
    if not isinstance(history, list):
        raise RunLogError(
            f"{path}: is one JSON document, not JSON lines, and has no log_history list "
            "(the Hugging Face Trainer's trainer_state.json); a log is CSV or JSON lines"
        )
    step_key, lr_key = step_column or "step", lr_column or "learning_rate"
    if step_key == lr_key:  # the CSV and JSON-lines readers' rule: never one key for both
        raise same_column_error(lr_key, step_column, str(path))
    return _points(history, str(path), step_key, lr_key)


def _points(history: list[object], source: str, step_key: str, lr_key: str) -> Iterator[LogPoint]:
    for number, entry in enumerate(history, start=1):
        if not isinstance(entry, Mapping) or entry.get(lr_key) is None:
            continue
        where = f"{source}: log_history[{number - 1}]"
        step = validate.integer(entry.get(step_key), f"{where} {step_key}", error=RunLogError)
        lr = validate.finite_number(entry[lr_key], f"{where} {lr_key}", error=RunLogError)
        if lr < 0:
            raise RunLogError(f"{where} {lr_key} must be >= 0, got {validate.shown(lr)}")
        yield LogPoint(step, lr, number)


__all__ = ["MAX_DOCUMENT_BYTES", "MAX_DOCUMENT_VALUES", "trainer_state_points"]
