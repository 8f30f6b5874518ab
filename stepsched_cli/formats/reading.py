"""One shape for a file as read, whatever its format, and the ``inspect`` record built from it.

Every reader in the format table (:mod:`~stepsched_cli.formats.registry`) returns a
:class:`Reading`: the :class:`ScheduleView` (where the run is and its lrs, by the
file's own rules), the stepsched state when one can be derived and the reason when not,
and what the reader found on the way (a checkpoint's key, warnings, notes).  The
command line prints a reading; it never branches on the format.

:func:`state_view` builds the view of a stepsched state (native files, and every
schedule that converts exactly); a wing whose files can hold a schedule stepsched cannot
represent builds its own view, by its framework's rules, in its own wing.  A reader is
given a :class:`Request`: the file and the hints its format declares
(:mod:`~stepsched_cli.formats.hints`).
"""

from __future__ import annotations

import dataclasses
import math
import struct
from collections.abc import Callable
from dataclasses import dataclass, field
from itertools import islice
from typing import Any, Generic, TypeVar

from stepsched_cli.errors import StateFileError
from stepsched_cli.schedule import Mode
from stepsched_cli.scheduler import SchedulerState

UPCOMING_DECAYS = 3
"""How many decays after the next one a view lists (``then`` in ``inspect``)."""


@dataclass(frozen=True)
class Decays:
    """A schedule's decays from a position on, with every group's lrs.

    Attributes:
        initial_lrs: Every group's initial lr.
        gamma: The decay factor.
        step_size: The period, None for milestones.
        milestones: The decay positions (each once), None for a period.
        warmup_steps, warmup_start_lr, min_lr: As in :class:`StepSchedule` (0 when the
            file's framework has none).
        steps_per_epoch: What the file records, None when unknown.
        next_boundary: The first decay after the position, None when the lr stays.
        next_lrs: Every group's lr from ``next_boundary`` on.
        later: Up to :data:`UPCOMING_DECAYS` decays after ``next_boundary``, with the
            first group's lr from each on.
    """

    initial_lrs: tuple[float, ...]
    gamma: float
    step_size: int | None
    milestones: tuple[int, ...] | None
    warmup_steps: int
    warmup_start_lr: float
    min_lr: float
    steps_per_epoch: int | None
    next_boundary: int | None
    next_lrs: tuple[float, ...] | None
    later: tuple[tuple[int, float], ...]


@dataclass(frozen=True)
class ScheduleView:
    """Where a run is and its lrs, by the rules of the file's own framework.

    Attributes:
        position: The position, as the file's framework counts it.
        unit: What a position counts.
        position_text: The position for people (``step 45 (epoch 4, step 5 of 10)``).
        lrs: Every parameter group's lr at ``position``.
        decays: The decays ahead, None when they are not computed (a framework
            schedule stepsched cannot represent).
        described: How the file's own framework names the schedule, as
            ``(label, text)`` pairs (the framework's name, its constructor call).
        framework_lr: The framework's own lr at ``position`` where it computes one
            (in float32 where the framework computes in float32), None otherwise.
        notes: Remarks about the framework's behaviour.
        details: The format's own fields for the ``inspect`` record
            (the format's own field names), in order.
    """

    position: int
    unit: Mode
    position_text: str
    lrs: tuple[float, ...]
    decays: Decays | None
    described: tuple[tuple[str, str], ...] = ()
    framework_lr: float | None = None
    notes: tuple[str, ...] = ()
    details: tuple[tuple[str, Any], ...] = ()

    @property
    def own_lr_differs(self) -> bool:
        """Whether the framework's own lr is more than the exact lr rounded to float32
        (a float32 count decaying early past 2**24, a float32 power a step off)."""
        own = self.framework_lr
        return own is not None and float32(own) != float32(self.lrs[0])


@dataclass(frozen=True)
class Reading:
    """A file as read, before any conversion: what ``inspect``, ``validate`` and ``convert`` use.

    Attributes:
        format: The format table name the file was read as.
        source: The file's name for messages (``<stdin>`` for ``-``).
        view: The schedule as the file's framework evaluates it.
        state: The stepsched state, None when the file's schedule has no exact
            stepsched form (then ``reason`` says why).
        reason: Why ``state`` is None.
        records_position: False for documents that hold no position, which were read
            at a position the caller gave.
        key: Where in a checkpoint the scheduler state was (None for other files).
        records_unit: False for files that do not say what a position counts (torch's
            schedulers count ``scheduler.step()`` calls, per step or per epoch alike):
            they are read as steps, and :func:`in_unit` reads them as epochs.
        warnings: Disagreements found while reading, without the file name (a
            checkpoint's optimizer lrs that do not match its scheduler): ``inspect``
            shows them, ``validate`` fails on them.
    """

    format: str
    source: str
    view: ScheduleView
    state: SchedulerState | None
    reason: str | None = None
    records_position: bool = True
    key: str | None = None
    warnings: tuple[str, ...] = field(default=())
    records_unit: bool = True

    def require_state(self) -> SchedulerState:
        """The reading as a stepsched state.

        Raises:
            StateFileError: the schedule cannot be represented; the message says why.
        """
        if self.state is None:
            raise StateFileError(f"{self.source}: {self.reason}")
        return self.state


def in_unit(reading: Reading, mode: Mode) -> Reading:
    """``reading`` with its positions counting ``mode``: a file that records no unit
    (``records_unit`` False), stepped per epoch, read as epochs.

    Nothing is converted: position 45 stays 45, in epochs.

    Raises:
        StateFileError: the file records its own unit (``parameter="mode"``).
    """
    if reading.records_unit:
        raise StateFileError(
            f"{reading.source} records its own unit ({reading.format} format, "
            f"{reading.view.unit}s): the unit it is read in is for files that record none",
            parameter="mode",
        )
    if mode == reading.view.unit:
        return reading
    view = reading.view
    state = reading.state
    if state is None:
        view = dataclasses.replace(view, unit=mode, position_text=f"{mode} {view.position}")
        return dataclasses.replace(reading, view=view)
    state = dataclasses.replace(state, schedule=state.schedule.replace(mode=mode))
    view = state_view(
        state,
        described=view.described,
        framework_lr=view.framework_lr,
        notes=view.notes,
        details=view.details,
    )
    return dataclasses.replace(reading, view=view, state=state)


# -- views ---------------------------------------------------------------------


def position_text(state: SchedulerState, position: int) -> str:
    """A position for people, with its epoch and step when steps per epoch are known.

    Example:
        >>> from stepsched_cli.schedule import StepSchedule
        >>> state = SchedulerState(StepSchedule(0.1, 30), position=45, steps_per_epoch=10)
        >>> position_text(state, 45)
        'step 45 (epoch 4, step 5 of 10)'
    """
    unit = state.schedule.mode
    text = f"{unit} {position}"
    per_epoch = state.steps_per_epoch
    if per_epoch is not None:
        if unit == "step":
            text += f" (epoch {position // per_epoch}, step {position % per_epoch} of {per_epoch})"
        else:
            text += f" (step {position * per_epoch})"
    return text


def state_view(state: SchedulerState, **extra: Any) -> ScheduleView:
    """The view of a stepsched state; ``extra`` sets the other :class:`ScheduleView` fields."""
    schedule = state.schedule
    position = state.position
    following = schedule.next_boundary(position)
    next_lrs: tuple[float, ...] | None = None
    later: tuple[tuple[int, float], ...] = ()
    if following is not None:
        groups = state.group_schedules
        if groups:
            next_lrs = tuple(0.0 if group is None else group.lr_at(following) for group in groups)
        else:
            next_lrs = (schedule.lr_at(following),)
        ahead = islice(schedule.boundaries(following + 1), UPCOMING_DECAYS)
        later = tuple((t, schedule.lr_at(t)) for t in ahead)
    decays = Decays(
        initial_lrs=state.group_initial_lrs or (schedule.initial_lr,),
        gamma=schedule.gamma,
        step_size=schedule.step_size if schedule.milestones is None else None,
        milestones=schedule.milestones,
        warmup_steps=schedule.warmup_steps,
        warmup_start_lr=schedule.warmup_start_lr,
        min_lr=schedule.min_lr,
        steps_per_epoch=state.steps_per_epoch,
        next_boundary=following,
        next_lrs=next_lrs,
        later=later,
    )
    return ScheduleView(
        position=position,
        unit=schedule.mode,
        position_text=position_text(state, position),
        lrs=state.group_lrs or (state.lr,),
        decays=decays,
        **extra,
    )


# -- the inspect record ------------------------------------------------------------


def inspect_record(reading: Reading) -> dict[str, Any]:
    """The JSON of ``inspect``: where the run is, its lrs and its next decay.

    ``lrs`` and ``initial_lrs`` list every parameter group; ``lr``, ``initial_lr`` and
    ``next_lr`` are the first group's.  A schedule whose decays are not computed (a
    framework schedule stepsched cannot represent) has only the position and lrs, then
    the format's own fields; a checkpoint adds ``key`` and ``warnings``.
    """
    view = reading.view
    record: dict[str, Any] = {
        "file": reading.source,
        "format": reading.format,
        "step": view.position,
        "mode": view.unit,
        "lr": view.lrs[0],
        "lrs": list(view.lrs),
    }
    decays = view.decays
    if decays is not None:
        decay: dict[str, Any] = (
            {"milestones": list(decays.milestones)}
            if decays.milestones is not None
            else {"step_size": decays.step_size}
        )
        next_lrs = None if decays.next_lrs is None else list(decays.next_lrs)
        record.update(
            {
                "initial_lr": decays.initial_lrs[0],
                "initial_lrs": list(decays.initial_lrs),
                "gamma": decays.gamma,
                **decay,
                "warmup_steps": decays.warmup_steps,
                "warmup_start_lr": decays.warmup_start_lr,
                "min_lr": decays.min_lr,
                "steps_per_epoch": decays.steps_per_epoch,
                "next_boundary": decays.next_boundary,
                "next_lr": None if next_lrs is None else next_lrs[0],
                "next_lrs": next_lrs,
            }
        )
    record.update(view.details)
    if reading.key is not None:
        record["key"] = reading.key
        record["warnings"] = list(reading.warnings)
    return record


# -- what a reader is given --------------------------------------------------------

H = TypeVar("H")


@dataclass(frozen=True)
class Request(Generic[H]):
    """What a reader is given (:func:`~stepsched_cli.formats.registry.read_state` builds it).

    Attributes:
        path: The file as the user named it (``-`` for stdin).
        source: Its name for messages (``<stdin>`` for ``-``).
        data: Its bytes; None for formats read from the file itself (checkpoints).
        hints: The hints the format declares, as its own record
            (:class:`~stepsched_cli.formats.hints.PositionHints`, ...).
    """

    path: str
    source: str
    data: bytes | None
    hints: H


Reader = Callable[[Request[Any]], Reading]
Writer = Callable[[SchedulerState], bytes]


def request_data(request: Request[Any]) -> bytes:
    """The bytes read for ``request`` (every format read from a stream has them)."""
    if request.data is None:  # pragma: no cover - read_state reads every from_stdin format
        raise StateFileError(f"{request.source}: nothing was read")
    return request.data


def float32(value: float) -> float:
    """``value`` rounded to the nearest float32 (ties to even), returned as a float.

    Example:
        >>> float32(0.1)
        0.10000000149011612
    """
    try:
        return float(struct.unpack("<f", struct.pack("<f", value))[0])
    except OverflowError:
        return math.copysign(math.inf, value)
