"""What every framework's schedule document shares: its view, reader and writer.

A framework module parses its documents into a schedule model (:class:`FrameworkSchedule`:
the framework's own ``lr_at``, its notes, and the exact stepsched schedule when there is
one).  :func:`framework_reader` makes the reader of such documents, which hold no
position (read at the caller's :class:`~stepsched_cli.formats.hints.PositionHints`),
:func:`framework_writer` the writer of one, and :func:`framework_view` the view of a
schedule stepsched cannot represent (its position and the framework's lr only).
"""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Callable
from typing import Any, Protocol

from stepsched_cli.errors import ConversionError, ScheduleError, StateError, StateFileError
from stepsched_cli.formats.hints import PositionHints, position_in
from stepsched_cli.formats.reading import (
    Reader,
    Reading,
    Request,
    ScheduleView,
    Writer,
    request_data,
    state_view,
)
from stepsched_cli.numbers import format_items
from stepsched_cli.schedule import Mode, StepSchedule
from stepsched_cli.scheduler import SchedulerState
from stepsched_cli.state import parse_json_bytes
from stepsched_cli.validate import listed

__all__ = [
    "FrameworkSchedule",
    "framework_description",
    "framework_details",
    "framework_kind",
    "framework_reader",
    "framework_view",
    "framework_writer",
    "noted",
]


class FrameworkSchedule(Protocol):
    """A framework's schedule as its module parses it (``frameworks/timm/schedule.py``)."""

    @property
    def notes(self) -> tuple[str, ...]:
        """Remarks about the framework's behaviour a user should see."""
        ...

    def lr_at(self, t: int, /) -> float:
        """The framework's own lr at position ``t``."""
        ...

    def to_schedule(self) -> StepSchedule:
        """The equivalent schedule, or ConversionError saying why there is none."""
        ...

    def to_document(self) -> dict[str, Any]:
        """The canonical JSON document."""
        ...


def framework_kind(schedule: FrameworkSchedule) -> str:
    """The framework's name for a schedule: ``ExponentialDecay``, ``exponential_decay``."""
    document = schedule.to_document()
    return str(document.get("class_name") or document.get("timm") or document.get("optax"))


def framework_description(schedule: FrameworkSchedule) -> str:
    """A one-line description: ``ExponentialDecay(initial_learning_rate=0.1, ...)``."""
    document = schedule.to_document()
    # Keras nests the arguments in "config", with a display name beside them.
    arguments = document.get("config", document)
    parts = [
        f"{key}={_shown_argument(value)}"
        for key, value in arguments.items()
        if key not in ("timm", "optax", "name")
    ]
    return f"{framework_kind(schedule)}({', '.join(parts)})"


def _shown_argument(value: object) -> str:
    """An argument's JSON, a long list or mapping summarised (20,000 boundaries are a
    line, not 150 KB)."""
    if isinstance(value, list):
        return f"[{format_items([json.dumps(item) for item in value])}]"
    if isinstance(value, dict):
        entries = [f"{json.dumps(key)}: {json.dumps(item)}" for key, item in value.items()]
        return f"{{{format_items(entries)}}}"
    return json.dumps(value)


def framework_details(
    schedule: FrameworkSchedule, lr: float, reason: str | None
) -> tuple[tuple[str, Any], ...]:
    """The framework fields of an ``inspect`` record."""
    return (
        ("framework_schedule", framework_kind(schedule)),
        ("framework_document", schedule.to_document()),
        ("framework_lr", lr),
        ("notes", list(schedule.notes)),
        ("convertible", reason is None),
        ("reason", reason),
    )


def framework_view(
    name: str, schedule: FrameworkSchedule, position: int, unit: Mode, reason: str
) -> ScheduleView:
    """The view of a framework schedule stepsched cannot represent: its position and lr."""
    lr = schedule.lr_at(position)
    return ScheduleView(
        position=position,
        unit=unit,
        position_text=f"{unit} {position}",
        lrs=(lr,),
        decays=None,
        described=((name, framework_description(schedule)),),
        framework_lr=lr,
        notes=schedule.notes,
        details=framework_details(schedule, lr, reason),
    )


def framework_reader(
    name: str,
    parse: Callable[[object], FrameworkSchedule],
    unit: Callable[[object], Mode],
    load: Callable[[bytes, str], object] = parse_json_bytes,
) -> Reader:
    """A reader of a framework's schedule documents, which hold no position; ``load``
    parses the bytes (JSON, or JSON and YAML for timm).

    The hints' position is converted into the unit the document counts once it is
    parsed; one that cannot be (:func:`~stepsched_cli.formats.hints.position_in`) raises
    ``ScheduleError`` with ``parameter="position"``, a usage error.
    """

    def read(request: Request[PositionHints]) -> Reading:
        source, per_epoch = request.source, request.hints.steps_per_epoch
        document = load(request_data(request), source)
        try:
            schedule = parse(document)
        except (StateError, ConversionError) as error:
            raise StateFileError(f"{source}: {error}", parameter=error.parameter) from None
        position = position_in(request.hints.position, unit(schedule), per_epoch)
        try:
            framework_lr = schedule.lr_at(position)  # beyond the framework's own counter?
        except ScheduleError as error:
            raise StateFileError(f"{source}: {error}", parameter=error.parameter) from None
        if not math.isfinite(framework_lr):  # scales above 1 can overflow float32
            raise StateFileError(
                f"{source}: the {name} lr at position {position} is {framework_lr} in "
                "float32; a schedule must stay finite"
            )
        try:
            state = SchedulerState(
                schedule=schedule.to_schedule(), position=position, steps_per_epoch=per_epoch
            )
        except ConversionError as error:
            view = framework_view(name, schedule, position, unit(schedule), str(error))
            return Reading(name, source, view, None, str(error), records_position=False)
        lr = schedule.lr_at(position)
        view = state_view(
            state,
            described=((name, framework_description(schedule)),),
            framework_lr=lr,
            notes=schedule.notes,
            details=framework_details(schedule, lr, None),
        )
        return Reading(name, source, view, state, records_position=False)

    return read


def noted(reading: Reading, note: str) -> Reading:
    """``reading`` with one more note (in the view and in the record's ``notes``)."""
    view = reading.view
    details = tuple(
        (name, [*value, note] if name == "notes" else value) for name, value in view.details
    )
    view = dataclasses.replace(view, notes=(*view.notes, note), details=details)
    return dataclasses.replace(reading, view=view)


def framework_writer(
    name: str, write: Callable[[StepSchedule, int | None], dict[str, object]]
) -> Writer:
    """A writer of a framework's schedule document (one schedule, no position)."""

    def dump(state: SchedulerState) -> bytes:
        schedule = state.schedule
        others = [lr for lr in state.group_initial_lrs if lr != schedule.initial_lr]
        if others:
            lrs = listed(repr(lr) for lr in state.group_initial_lrs)
            raise ConversionError(
                f"the state drives {len(state.group_initial_lrs)} parameter groups with "
                f"initial lrs {lrs}; a {name} document holds one schedule, so the other "
                "groups would be lost"
            )
        document = write(schedule, state.steps_per_epoch)
        return (json.dumps(document, indent=2, allow_nan=False) + "\n").encode("utf-8")

    return dump
