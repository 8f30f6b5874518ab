"""One shape for a file as read, whatever its format, and the ``inspect`` record built from it.

Every reader in the format table (:mod:`~stepsched_cli.formats.registry`) returns a
:class:`Reading`: the :class:`ScheduleView` (where the run is and its lrs, by the
file's own rules), the stepsched state when one can be derived and the reason when not,
and what the reader found on the way (a checkpoint's key, warnings, notes).  The
command line prints a reading; it never branches on the format.

Three builders make the view: :func:`state_view` from a stepsched state (native files,
and torch or framework schedules that convert exactly), :func:`torch_view` from a
torch state stepsched cannot represent (a repeated milestone: torch's own rules), and
:func:`framework_view` from a timm, Keras or optax schedule stepsched cannot represent
(only the position and the framework's lr: its decays are not computed).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from itertools import islice
from typing import Any, Protocol

from stepsched_cli.errors import StateFileError
from stepsched_cli.formats.torch.state_dict import TorchStepState
from stepsched_cli.schedule import Mode, StepSchedule
from stepsched_cli.scheduler import SchedulerState

UPCOMING_DECAYS = 3
"""How many decays after the next one a view lists (``then`` in ``inspect``)."""


class FrameworkSchedule(Protocol):
    """A timm, Keras or optax schedule as its module parses it (see ``formats/timm.py``)."""

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
        f"{key}={json.dumps(value)}"
        for key, value in arguments.items()
        if key not in ("timm", "optax", "name")
    ]
    return f"{framework_kind(schedule)}({', '.join(parts)})"


@dataclass(frozen=True)
class Decays:
    """A schedule's decays from a position on, with every group's lrs.

    Attributes:
        initial_lrs: Every group's initial lr.
        gamma: The decay factor.
        step_size: The period, None for milestones.
        milestones: The decay positions (each once), None for a period.
        warmup_steps, warmup_start_lr, min_lr: As in :class:`StepSchedule` (0 for torch).
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
        position: The position (torch's ``last_epoch``, timm's ``t``, ...).
        unit: What a position counts.
        position_text: The position for people (``step 45 (epoch 4, step 5 of 10)``).
        lrs: Every parameter group's lr at ``position``.
        decays: The decays ahead, None when they are not computed (a framework
            schedule stepsched cannot represent).
        described: How the file's own framework names the schedule, as
            ``(label, text)`` pairs (``("torch", "StepLR(step_size=30, ...)")``).
        framework_lr: The framework's own lr at ``position`` where it computes one
            (Keras and optax in float32), None otherwise.
        notes: Remarks about the framework's behaviour.
        details: The format's own fields for the ``inspect`` record
            (``torch_scheduler``, ``framework_document``, ...), in order.
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
        records_position: False for documents that hold no position (timm, Keras,
            optax), which were read at a position the caller gave.
        key: Where in a checkpoint the scheduler state was (None for other files).
        warnings: Disagreements found while reading, without the file name (a
            checkpoint's optimizer lrs that do not match its scheduler): ``inspect``
            shows them, ``validate`` fails on them.
        completions: What the caller may give that the file leaves out, by parameter
            name (``("updates_per_epoch", "lr")`` for timm's training files); giving
            anything else is a usage error.
    """

    format: str
    source: str
    view: ScheduleView
    state: SchedulerState | None
    reason: str | None = None
    records_position: bool = True
    key: str | None = None
    warnings: tuple[str, ...] = field(default=())
    completions: tuple[str, ...] = ()

    def require_state(self) -> SchedulerState:
        """The reading as a stepsched state.

        Raises:
            StateFileError: the schedule cannot be represented; the message says why.
        """
        if self.state is None:
            raise StateFileError(f"{self.source}: {self.reason}")
        return self.state


# -- views ---------------------------------------------------------------------


def position_text(state: SchedulerState, position: int) -> str:
    """A position for people, with its epoch and step when steps per epoch are known.

    Example:
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


def torch_details(torch_state: TorchStepState, reason: str | None) -> tuple[tuple[str, Any], ...]:
    """The torch fields of an ``inspect`` record (``milestone_counts`` for MultiStepLR)."""
    details: list[tuple[str, Any]] = [("torch_scheduler", torch_state.kind)]
    if torch_state.milestones is not None:
        details.append(("milestone_counts", [count for _, count in torch_state.milestones]))
    details += [("convertible", reason is None), ("reason", reason)]
    return tuple(details)


def torch_view(torch_state: TorchStepState, reason: str | None) -> ScheduleView:
    """The view of a torch state by torch's own rules (a repeated milestone decays by
    ``gamma ** count``, a milestone 0 at position 0); each milestone is listed once."""
    position = torch_state.last_epoch
    following = torch_state.next_boundary(position)
    later: tuple[tuple[int, float], ...] = ()
    if following is not None:
        ahead = islice(torch_state.boundaries_after(following), UPCOMING_DECAYS)
        later = tuple((t, torch_state.lrs_at(t)[0]) for t in ahead)
    milestones = torch_state.milestones
    decays = Decays(
        initial_lrs=torch_state.base_lrs,
        gamma=torch_state.gamma,
        step_size=torch_state.step_size,
        milestones=None if milestones is None else tuple(m for m, _ in milestones),
        warmup_steps=0,
        warmup_start_lr=0.0,
        min_lr=0.0,
        steps_per_epoch=None,
        next_boundary=following,
        next_lrs=None if following is None else torch_state.lrs_at(following),
        later=later,
    )
    return ScheduleView(
        position=position,
        unit="step",
        position_text=f"step {position}",
        lrs=torch_state.lrs,
        decays=decays,
        described=(("torch", torch_state.describe()),),
        details=torch_details(torch_state, reason),
    )


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


@dataclass(frozen=True)
class Request:
    """What a reader is given (:func:`~stepsched_cli.formats.registry.read_state` builds it).

    Attributes:
        path: The file as the user named it (``-`` for stdin).
        source: Its name for messages (``<stdin>`` for ``-``).
        data: Its bytes; None for formats read from the file itself (checkpoints).
        key: Which of several scheduler states to use (checkpoints).
        position: Where to read a document that records no position.
        updates_per_epoch: For timm schedules stepped per update: the loader's updates
            per epoch, which train.py's args and checkpoints do not record.
        lr: For timm args that hold no lr (``scheduler_kwargs()``): the optimizer's lr.
    """

    path: str
    source: str
    data: bytes | None
    key: str | None = None
    position: int = 0
    updates_per_epoch: int | None = None
    lr: float | None = None


Reader = Callable[[Request], Reading]
Writer = Callable[[SchedulerState], bytes]


def request_data(request: Request) -> bytes:
    """The bytes read for ``request`` (every format read from a stream has them)."""
    if request.data is None:  # pragma: no cover - read_state reads every from_stdin format
        raise StateFileError(f"{request.source}: nothing was read")
    return request.data
