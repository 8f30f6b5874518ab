"""Where a log's steps start, and the logs known to count them from 1.

A schedule's position t is the number of updates already done: update t trains with
``lr(t)``.  A generic log is taken to log at step t the lr of position t (steps from
0).  Some trainers log after the update, at the number of updates done, the lr that
update used: at step s, the lr of position ``s - 1`` (steps from 1).  Known such logs
are recognised by their shape and checked with their convention:

* the Hugging Face Trainer's ``trainer_state.json`` (one JSON document whose
  ``log_history`` holds ``{"step": s, "learning_rate": ...}``) and its TensorBoard
  tag ``train/learning_rate``;
* MMEngine's ``vis_data/scalars.json``: JSON lines with ``lr``, ``data_time``,
  ``time`` and ``step`` (the iteration from 1).

A log is checked by shifting its steps: step s of a log counting from 1 is compared
with ``lr(s - 1)``, and a step 0 there is an error.  A result reports logged steps,
never shifted ones.

Example:
    >>> counting = step_counting(None, MMENGINE_SCALARS)
    >>> counting.steps_from
    1
    >>> counting.note.endswith("scalars.json logs at step s the lr of position s - 1")
    True
    >>> [point.step for point in shifted([LogPoint(1, 0.1, 1), LogPoint(2, 0.1, 2)], 1, "<log>")]
    [0, 1]
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from stepsched_cli.runlog.decays import DecayRow
from stepsched_cli.runlog.diagnosis import CheckResult
from stepsched_cli.runlog.log_error import RunLogError
from stepsched_cli.runlog.rows import MAX_LINE_LENGTH, LogPoint

STEPS_FROM_CHOICES = (0, 1)


@dataclass(frozen=True)
class KnownLog:
    """A log format recognised by its shape, and where its steps start.

    Attributes:
        name: The format in the user's words.
        steps_from: 0 or 1 (see the module docstring).
    """

    name: str
    steps_from: int


HF_TRAINER_STATE = KnownLog("the Hugging Face Trainer's trainer_state.json (log_history)", 1)
HF_TENSORBOARD = KnownLog("the Hugging Face Trainer's TensorBoard tag train/learning_rate", 1)
MMENGINE_SCALARS = KnownLog("MMEngine's vis_data/scalars.json", 1)
COUNTING_FROM_ONE = "the Hugging Face Trainer's and MMEngine's logs"
"""The logs recognised by their shape as counting from 1, for help texts."""

# MMEngine's LoggerHook writes these with every training iteration's lr.
_MMENGINE_KEYS = frozenset({"lr", "data_time", "time", "step"})
# The Hugging Face Trainer's TensorBoardCallback writes "train/" + each logged key.
HF_TENSORBOARD_TAGS = frozenset({"train/learning_rate", "train/epoch"})
# Blank lines looked past for the first line (a flood of them is the reader's business).
_MAX_BLANK_LINES = 1024


@dataclass(frozen=True)
class StepCounting:
    """How a log's steps are read, and what to tell the user about it.

    Attributes:
        steps_from: 0 (step t holds ``lr(t)``) or 1 (step s holds ``lr(s - 1)``).
        note: Why, when a recognised format set it (None when it was given, or 0 by
            default).
    """

    steps_from: int
    note: str | None = None


def step_counting(steps_from: int | None, known: KnownLog | None) -> StepCounting:
    """The counting to check with: the one given, else the known format's, else 0.

    Raises:
        RunLogError: ``steps_from`` is neither 0 nor 1.
    """
    if steps_from is not None:
        if isinstance(steps_from, bool) or steps_from not in STEPS_FROM_CHOICES:
            raise RunLogError(f"steps_from must be 0 or 1, got {steps_from!r}")
        return StepCounting(steps_from)
    if known is None:
        return StepCounting(0)
    note = (
        f"logged steps count from {known.steps_from}: {known.name} logs at step s the lr "
        f"of position s - {known.steps_from}"
    )
    return StepCounting(known.steps_from, note)


def recognise_first_line(line: str) -> KnownLog | None:
    """The known format a log's first non-blank line shows, if any.

    A line that is just ``{`` opens one indented JSON document (JSON lines never
    break an object): the Trainer's ``trainer_state.json``, which
    :mod:`~stepsched_cli.runlog.trainer_state` reads whole.

    Example:
        >>> recognise_first_line('{"lr": 0.1, "data_time": 0.01, "time": 0.02, "step": 1}')
        KnownLog(name="MMEngine's vis_data/scalars.json", steps_from=1)
        >>> recognise_first_line("step,lr") is None
        True
    """
    text = line.strip()
    if text == "{":
        return HF_TRAINER_STATE
    if not (text.startswith("{") and text.endswith("}")):
        return None
    try:
        record = json.loads(text)
    except ValueError:
        return None  # the reader reports it with its line
    if isinstance(record, dict) and set(record) >= _MMENGINE_KEYS:
        return MMENGINE_SCALARS
    return None


def recognise_file(path: str | Path) -> KnownLog | None:
    """The known format of a regular file by its first non-blank line (see
    :func:`recognise_first_line`); None for anything else, which the reader reports."""
    try:
        with open(path, encoding="utf-8-sig", errors="replace", newline="") as handle:
            for _ in range(_MAX_BLANK_LINES):
                line = handle.readline(MAX_LINE_LENGTH + 1)
                if not line:
                    return None
                if line.strip():
                    return recognise_first_line(line)
    except OSError:
        return None
    return None


def shifted(points: Iterable[LogPoint], steps_from: int, source: str) -> Iterator[LogPoint]:
    """The points with each step moved to the position it logs (``step - steps_from``).

    Raises:
        RunLogError: a step below ``steps_from``, naming its line.
    """
    if steps_from == 0:
        yield from points
        return
    for point in points:
        if point.step < steps_from:
            raise RunLogError(
                f"{source} line {point.line}: step {point.step} in a log whose steps count "
                f"from {steps_from}",
                parameter="steps_from",
            )
        yield LogPoint(point.step - steps_from, point.lr, point.line)


def with_counting(result: CheckResult, counting: StepCounting) -> CheckResult:
    """A result checked on shifted steps, told in logged steps, with its counting.

    A decay planned at position p shows in such a log from step ``p + steps_from`` on,
    so every step of the decay rows moves by ``steps_from`` and their differences stay.
    """
    offset = counting.steps_from
    step = result.first_mismatch_step
    return dataclasses.replace(
        result,
        first_mismatch_step=None if step is None else step + offset,
        decays=tuple(_logged_steps(row, offset) for row in result.decays),
        steps_from=offset,
        counting_note=counting.note,
    )


def _logged_steps(row: DecayRow, offset: int) -> DecayRow:
    def moved(step: int | None) -> int | None:
        return None if step is None else step + offset

    return dataclasses.replace(
        row,
        planned_at=moved(row.planned_at),
        observed_at=moved(row.observed_at),
        last_before=moved(row.last_before),
    )


__all__ = [
    "COUNTING_FROM_ONE",
    "HF_TENSORBOARD",
    "HF_TENSORBOARD_TAGS",
    "HF_TRAINER_STATE",
    "MMENGINE_SCALARS",
    "STEPS_FROM_CHOICES",
    "KnownLog",
    "StepCounting",
    "recognise_file",
    "recognise_first_line",
    "shifted",
    "step_counting",
    "with_counting",
]
