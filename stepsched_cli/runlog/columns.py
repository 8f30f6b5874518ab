"""Columns of a run log: which one holds the step and the lr, and reading their cells.

Column recognition is shared by CSV headers and JSON-lines keys; cell conversion is
strict (ASCII digits only, a step an integer >= 0, an lr a finite number >= 0), and
every refusal names the source, the line, the column and the value.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence
from decimal import Decimal

from stepsched_cli.runlog.log_error import ColumnConflictError, RunLogError
from stepsched_cli.validate import MAX_INTEGER_DIGITS, listed, whole_number
from stepsched_cli.validate import shown as _shown

# Step columns, most specific first: a W&B export has ``_step`` (its own log-call
# counter) next to ``train/global_step`` (the optimizer step), and the latter wins.
STEP_COLUMN_NAMES: tuple[str, ...] = (
    "step",
    "global_step",
    "global step",
    "trainer/global_step",
    "train/global_step",
    "optimizer_step",
    "iteration",
    "iter",
    "_step",
)
# Learning-rate columns matched by name, most specific first.
LR_COLUMN_NAMES: tuple[str, ...] = (
    "lr",
    "learning_rate",
    "learning-rate",
    "learning rate",
    "train/lr",
    "train/learning_rate",
)
# The last part of a column name (after "/" or " - ") that marks a learning rate.
_LR_NAME_ENDINGS = ("lr", "learning_rate", "learning-rate")
# TensorBoard's scalar export names the value column just "Value".
_FALLBACK_LR_COLUMN = "value"

# Numbers in a text log are ASCII: int() and float() also take other scripts' digits
# and underscores ("1_000"), which no logger writes.
INTEGER_TEXT = re.compile(r"[+-]?[0-9]+", re.ASCII)
NUMBER_TEXT = re.compile(r"[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?", re.ASCII)


def find_key(
    names: Sequence[str],
    explicit: str | None,
    what: str,
    recognise: Callable[[Sequence[str], str], int | None],
    source: str,
    line: int,
) -> str | None:
    where = f"{source} line {line}"
    if explicit is None:
        index = recognise(names, where)
        return None if index is None else names[index]
    # An explicit key missing from one object: a sparse lr is skipped, a missing step
    # is reported by the caller.
    index = _match_explicit(names, explicit, what, where)
    return None if index is None else names[index]


def json_keys(
    names: Sequence[str],
    step_column: str | None,
    lr_column: str | None,
    source: str,
    line: int,
) -> tuple[str | None, str | None]:
    """The lr key and the step key of a JSON object's keys (None where absent).

    The step is looked for only when there is an lr (a sparse object is skipped).

    Raises:
        RunLogError: two keys of one rank, or one key chosen for both (a
            :class:`ColumnConflictError`).
    """
    lr_key = find_key(names, lr_column, "lr", recognise_lr, source, line)
    if lr_key is None:
        return None, None
    step_key = find_key(names, step_column, "step", recognise_step, source, line)
    if step_key == lr_key:
        raise same_column_error(lr_key, step_column, f"{source} line {line}")
    return lr_key, step_key


def choose_column(
    header: Sequence[str],
    explicit: str | None,
    what: str,
    recognise: Callable[[Sequence[str], str], int | None],
    source: str,
) -> int:
    if explicit is not None:
        index = _match_explicit(header, explicit, what, source)
        if index is None:
            raise RunLogError(
                f"{source}: has no column {explicit!r} for the {what}; "
                f"columns are {listed(header, quoted=True)}"
            )
        return index
    index = recognise(header, source)
    if index is None:
        known = STEP_COLUMN_NAMES if what == "step" else LR_COLUMN_NAMES
        raise RunLogError(
            f"{source}: no {what} column recognised among {listed(header, quoted=True)} "
            f"(known names: {', '.join(known)})",
            parameter=f"{what}_column",
        )
    return index


def same_column_error(name: str, step_column: str | None, source: str) -> ColumnConflictError:
    """The error for one column (or key) chosen for both the step and the lr."""
    return ColumnConflictError(
        f"{source}: {_shown(name)} cannot be both the step and the lr column",
        parameter="step_column" if step_column is not None else "lr_column",
    )


def refuse_keras_csv_without_lr(header: Sequence[str], source: str) -> None:
    """Refuse, saying why, a Keras ``CSVLogger`` log with no lr column.

    ``CSVLogger`` writes ``epoch`` first and then the epoch logs, which hold the
    metrics only, unless a callback adds ``learning_rate`` to them.

    Raises:
        RunLogError: the header starts with ``epoch`` and no column looks like an lr.
    """
    if not header or header[0].strip().lower() != "epoch":
        return
    if recognise_lr(header, source) is not None:
        return
    raise RunLogError(
        f"{source}: looks like a Keras CSVLogger log (columns {listed(header, quoted=True)}) "
        "and holds no lr: Keras writes the lr only when a callback adds learning_rate to the "
        "epoch logs (LearningRateScheduler, ReduceLROnPlateau)",
        parameter="lr_column",
    )


def _match_explicit(names: Sequence[str], wanted: str, what: str, source: str) -> int | None:
    exact = [i for i, name in enumerate(names) if name == wanted]
    if len(exact) > 1:
        raise RunLogError(
            f"{source}: {len(exact)} columns are named {_shown(wanted)}: which one holds the "
            f"{what} is not established"
        )
    if exact:
        return exact[0]
    folded = _fold(wanted)
    matches = [i for i, name in enumerate(names) if _fold(name) == folded]
    return _one_of(names, matches, what, source)


def _fold(name: str) -> str:
    return name.strip().lower()


def _one_of(names: Sequence[str], indices: list[int], what: str, source: str) -> int | None:
    """The one candidate of a rank; None without one; two or more are an error."""
    if len(indices) > 1:
        raise RunLogError(
            f"{source}: several candidates for the {what} "
            f"({listed((names[i] for i in indices), quoted=True)})",
            parameter=f"{what}_column",
        )
    return indices[0] if indices else None


def _by_rank(names: Sequence[str], ranked: Sequence[str], what: str, source: str) -> int | None:
    """The column of the first name of ``ranked`` present (error when two are)."""
    folded = [_fold(name) for name in names]
    present = set(folded)
    for candidate in ranked:
        if candidate in present:
            hits = [i for i, name in enumerate(folded) if name == candidate]
            return _one_of(names, hits, what, source)
    return None


def recognise_step(names: Sequence[str], source: str) -> int | None:
    return _by_rank(names, STEP_COLUMN_NAMES, "step", source)


def recognise_lr(names: Sequence[str], source: str) -> int | None:
    named = _by_rank(names, LR_COLUMN_NAMES, "lr", source)
    if named is not None:
        return named
    patterned = [i for i, name in enumerate(names) if _looks_like_lr(_fold(name))]
    if len(patterned) > 1:
        raise RunLogError(
            f"{source}: several columns look like a learning rate "
            f"({listed((names[i] for i in patterned), quoted=True)})",
            parameter="lr_column",
        )
    if patterned:
        return patterned[0]
    return _by_rank(names, (_FALLBACK_LR_COLUMN,), "lr", source)


def _looks_like_lr(name: str) -> bool:
    if "momentum" in name or name.endswith(("__min", "__max")):
        return False
    if name.startswith("lr-"):
        return True
    last = name.rsplit(" - ", 1)[-1].rsplit("/", 1)[-1]
    return last in _LR_NAME_ENDINGS


def step_from_text(text: str, column: str, source: str, line: int) -> int:
    """A step cell: integer text, or number text whose exact decimal value is whole,
    of at most :data:`~stepsched_cli.validate.MAX_INTEGER_DIGITS` digits."""
    if len(text) <= MAX_INTEGER_DIGITS and INTEGER_TEXT.fullmatch(text):
        return _check_step(int(text), text, column, source, line)
    step = whole_number(text)
    if step is None:
        raise RunLogError(
            f"{source} line {line}: {column} {_shown(text)} is not an integer step >= 0"
        )
    return _check_step(step, text, column, source, line)


def _check_step(step: int, shown: object, column: str, source: str, line: int) -> int:
    if step < 0:
        raise RunLogError(
            f"{source} line {line}: {column} {_shown(shown)} is not an integer step >= 0"
        )
    return step


def lr_from_text(text: str, column: str, source: str, line: int) -> float:
    value = float(text) if NUMBER_TEXT.fullmatch(text) else math.nan
    if not math.isfinite(value) or value < 0:
        raise RunLogError(
            f"{source} line {line}: {column} {_shown(text)} is not a learning rate (a finite "
            "number >= 0)"
        )
    return value


def step_from_json(value: object, key: str, source: str, line: int) -> int:
    """A step value: a JSON integer, or a number (read exactly) whose value is whole."""
    if isinstance(value, int) and not isinstance(value, bool):
        return _check_step(value, value, key, source, line)
    step = whole_number(value) if isinstance(value, Decimal) else None
    if step is None:
        raise RunLogError(
            f"{source} line {line}: {key} {_shown(value)} is not an integer step >= 0"
        )
    return _check_step(step, value, key, source, line)


def lr_from_json(value: object, key: str, source: str, line: int) -> float:
    if isinstance(value, (int, float, Decimal)) and not isinstance(value, bool):
        number = float(value)
        if math.isfinite(number) and number >= 0:
            return number
    raise RunLogError(
        f"{source} line {line}: {key} {_shown(value)} is not a learning rate (a finite number >= 0)"
    )


__all__ = [
    "INTEGER_TEXT",
    "LR_COLUMN_NAMES",
    "NUMBER_TEXT",
    "STEP_COLUMN_NAMES",
    "choose_column",
    "find_key",
    "json_keys",
    "lr_from_json",
    "lr_from_text",
    "recognise_lr",
    "recognise_step",
    "refuse_keras_csv_without_lr",
    "same_column_error",
    "step_from_json",
    "step_from_text",
]
