"""A ``code --framework`` choice: a short runnable snippet building a schedule elsewhere.

Each format names the snippets that build its schedule (the format table's
``snippets``); each snippet is written by the wing that knows the framework, from the
same rules as its writer, so a snippet says exactly what ``convert --to`` would write.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from stepsched_cli.schedule import StepSchedule

__all__ = ["Snippet"]


@dataclass(frozen=True)
class Snippet:
    """One ``code --framework`` choice.

    Attributes:
        name: The ``--framework`` name (``"lightning"``).
        title: The framework as it spells itself (``"Lightning"``), for the header line.
        write: The snippet's code for a schedule and its steps per epoch (None when
            unknown), after the header line; raises ``ConversionError`` saying why when
            the framework cannot express the schedule exactly.
    """

    name: str
    title: str
    write: Callable[[StepSchedule, int | None], str]
