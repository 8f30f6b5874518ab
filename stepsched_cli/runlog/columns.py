"""Columns of a run log: which one holds the step and the lr, and reading their cells.

Column recognition is shared by CSV headers and JSON-lines keys; cell conversion is
strict (ASCII digits only, a step an integer >= 0, an lr a finite number >= 0), and
every refusal names the source, the line, the column and the value.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence

from stepsched_cli.runlog.log_error import RunLogError
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
    if explicit is None:
        index = recognise(names, f"{source} line {line}")
        return None if index is None else names[index]
    # An explicit key missing from one object: a sparse lr is skipped, a missing step
    # is reported by the caller.
    index = _match_explicit(names, explicit)
    return None if index is None else names[index]


def choose_column(
    header: Sequence[str],
    explicit: str | None,
    what: str,
    recognise: Callable[[Sequence[str], str], int | None],
    source: str,
) -> int:
    if explicit is not None:
        index = _match_explicit(header, explicit)
        if index is None:
            raise RunLogError(
                f"{source}: has no column {explicit!r} for the {what}; "
                f"columns are {', '.join(map(repr, header))}"
            )
        return index
    index = recognise(header, source)
    if index is None:
        known = STEP_COLUMN_NAMES if what == "step" else LR_COLUMN_NAMES
        raise RunLogError(
            f"{source}: no {what} column recognised among {', '.join(map(repr, header))} "
            f"(known names: {', '.join(known)})",
            parameter=f"{what}_column",
        )
    return index


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
        f"{source}: looks like a Keras CSVLogger log (columns {', '.join(map(repr, header))}) "
        "and holds no lr: Keras writes the lr only when a callback adds learning_rate to the "
        "epoch logs (LearningRateScheduler, ReduceLROnPlateau)",
        parameter="lr_column",
    )


def _match_explicit(names: Sequence[str], wanted: str) -> int | None:
    if wanted in names:
        return list(names).index(wanted)
    folded = [name.strip().lower() for name in names]
    matches = [i for i, name in enumerate(folded) if name == wanted.strip().lower()]
    return matches[0] if matches else None


def recognise_step(names: Sequence[str], source: str) -> int | None:
    folded = [name.strip().lower() for name in names]
    for candidate in STEP_COLUMN_NAMES:
        if candidate in folded:
            return folded.index(candidate)
    return None


def recognise_lr(names: Sequence[str], source: str) -> int | None:
    folded = [name.strip().lower() for name in names]
    for candidate in LR_COLUMN_NAMES:
        if candidate in folded:
            return folded.index(candidate)
    patterned = [i for i, name in enumerate(folded) if _looks_like_lr(name)]
    if len(patterned) > 1:
        listed = ", ".join(repr(names[i]) for i in patterned)
        raise RunLogError(
            f"{source}: several columns look like a learning rate ({listed})",
            parameter="lr_column",
        )
    if patterned:
        return patterned[0]
    if _FALLBACK_LR_COLUMN in folded:
        return folded.index(_FALLBACK_LR_COLUMN)
    return None


def _looks_like_lr(name: str) -> bool:
    if "momentum" in name or name.endswith(("__min", "__max")):
        return False
    if name.startswith("lr-"):
        return True
    last = name.rsplit(" - ", 1)[-1].rsplit("/", 1)[-1]
    return last in _LR_NAME_ENDINGS


def step_from_text(text: str, column: str, source: str, line: int) -> int:
    if INTEGER_TEXT.fullmatch(text):
        try:
            return _check_step(int(text), text, column, source, line)
        except ValueError:  # more digits than int() converts
            pass
    number = float(text) if NUMBER_TEXT.fullmatch(text) else math.nan
    if not math.isfinite(number) or not number.is_integer():
        raise RunLogError(
            f"{source} line {line}: {column} {_shown(text)} is not an integer step >= 0"
        ) from None
    return _check_step(int(number), text, column, source, line)


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
    if isinstance(value, int) and not isinstance(value, bool):
        return _check_step(value, value, key, source, line)
    if isinstance(value, float) and value.is_integer():
        return _check_step(int(value), value, key, source, line)
    raise RunLogError(f"{source} line {line}: {key} {_shown(value)} is not an integer step >= 0")


def lr_from_json(value: object, key: str, source: str, line: int) -> float:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
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
    "lr_from_json",
    "lr_from_text",
    "recognise_lr",
    "recognise_step",
    "refuse_keras_csv_without_lr",
    "step_from_json",
    "step_from_text",
]
