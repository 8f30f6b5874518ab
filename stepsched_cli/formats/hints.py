"""Hints: what a caller knows that a file leaves out, and which format takes which.

A caller gives one :class:`Hints` record (``Hints(key="lr_schedulers[0]")``,
``Hints(position=1200)``) without knowing the file's format.  Each format declares the
hints it takes as a small typed record (:class:`PositionHints` for documents that
record no position; the torch and timm wings declare their own), and the format table
hands a reader only that record.  A hint given for a file whose format does not take it
is refused with :class:`HintRefused`, which names the hint and the format: a usage
error, never silently ignored.

A hint may also declare its help phrase, for the command line's option that sets it:
``field(default=None, metadata={HELP: "..."})`` (:func:`declared_help`).  The phrase
names the files that take the hint in their own terms, so the command line, which
names no format, shows it as it is; the format table picks the first record, in table
order, that declares one (and derives ``position``'s from the formats that take it).

Example:
    >>> Hints(position=30).record(PositionHints)
    PositionHints(position=30)
    >>> Hints(key="sched").refused_by(PositionHints)
    'key'
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, Protocol, TypeVar

from stepsched_cli.errors import StepschedError

__all__ = [
    "HELP",
    "HintRecord",
    "HintRefused",
    "Hints",
    "NoHints",
    "PositionHints",
    "declared_help",
]

HELP = "help"
"""The field metadata key under which a hint declares its help phrase."""


class HintRecord(Protocol):
    """A format's own hints: a frozen dataclass whose fields are the hints it takes.

    ``applies_to`` says, for a refusal, which files take its fields (a phrase that
    follows "applies to").
    """

    applies_to: ClassVar[str]
    __dataclass_fields__: ClassVar[dict[str, Any]]


R = TypeVar("R", bound=HintRecord)


@dataclass(frozen=True)
class NoHints:
    """The hints of a format that takes none (it records everything it needs)."""

    applies_to: ClassVar[str] = "no file"


@dataclass(frozen=True)
class PositionHints:
    """The hints of a schedule document that records no position.

    Attributes:
        position: Where to read the schedule (the framework's own counter).
    """

    applies_to: ClassVar[str] = "documents that record no position"

    position: int = 0


class HintRefused(StepschedError, ValueError):
    """A hint was given for a file whose format does not take it: a usage error.

    Attributes:
        parameter: The hint (``"updates_per_epoch"``).
        source: The file's name for messages.
        format: The format the file was read as.
        applies_to: Which files take the hint (``"checkpoints only"``).
        recorded: True when the file records the value itself (its position).
    """

    def __init__(
        self, parameter: str, source: str, format: str, applies_to: str, recorded: bool = False
    ) -> None:
        self.parameter: str | None = parameter
        self.source = source
        self.format = format
        self.applies_to = applies_to
        self.recorded = recorded
        message = self.naming(parameter)
        if not recorded:
            message = f"{parameter} {message}"
        super().__init__(message, parameter=parameter)

    def naming(self, name: str) -> str:
        """The message with the hint called ``name`` (the command line's ``--position``);
        a refusal that only says what takes the hint leaves the name to the caller, which
        shows it beside the message (``Invalid value for '--lr': applies to ...``)."""
        if self.recorded:
            return (
                f"{self.source} records its own {self.parameter} ({self.format} format); "
                f"{name} is for {self.applies_to} documents"
            )
        article = "an" if self.format[:1] in ("a", "e", "i", "o", "u") else "a"
        return f"applies to {self.applies_to}; {self.source} is {article} {self.format} file"


class Hints:
    """One record of hints, by name; None (or leaving one out) means not given.

    Example:
        >>> Hints(key=None, position=3).given
        {'position': 3}
    """

    __slots__ = ("given",)

    def __init__(self, **values: object) -> None:
        self.given: Mapping[str, object] = {
            name: value for name, value in values.items() if value is not None
        }

    def __repr__(self) -> str:
        inside = ", ".join(f"{name}={value!r}" for name, value in self.given.items())
        return f"Hints({inside})"

    def refused_by(self, kind: type[HintRecord]) -> str | None:
        """The first hint given that ``kind`` (a format's record) has no field for."""
        taken = {field.name for field in dataclasses.fields(kind)}
        return next((name for name in self.given if name not in taken), None)

    def record(self, kind: type[R]) -> R:
        """The hints as ``kind``; check :meth:`refused_by` first."""
        return kind(**self.given)


def declared_help(kind: type[HintRecord] | None, name: str) -> str | None:
    """The help phrase ``kind`` declares for its hint ``name``, None when it declares none
    (or has no such hint).

    Example:
        >>> from dataclasses import field
        >>> @dataclass(frozen=True)
        ... class DemoHints:
        ...     applies_to: ClassVar[str] = "demo files"
        ...     depth: int | None = field(default=None, metadata={HELP: "How deep to read."})
        >>> declared_help(DemoHints, "depth"), declared_help(DemoHints, "key")
        ('How deep to read.', None)
    """
    if kind is None:
        return None
    for field in dataclasses.fields(kind):
        if field.name == name:
            phrase = field.metadata.get(HELP)
            return phrase if isinstance(phrase, str) else None
    return None
