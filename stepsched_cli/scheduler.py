"""StepScheduler: a position counter over a :class:`StepSchedule`, with state and optimizer driving.

The scheduler keeps an integer position and derives every learning rate from the
schedule's closed form at that position, so a resumed run gets the same values as an
uninterrupted one, bit for bit.

Example:
    >>> scheduler = StepScheduler(0.1, step_size=2, gamma=0.5)
    >>> lrs = []
    >>> for _ in range(5):
    ...     lrs.append(scheduler.get_lr())  # the lr this iteration trains with
    ...     scheduler.step()
    >>> lrs
    [0.1, 0.1, 0.05, 0.05, 0.025]
    >>> resumed = StepScheduler(0.1, step_size=2, gamma=0.5)
    >>> resumed.load_state_dict(scheduler.state_dict())
    >>> resumed.position, resumed.get_lr()
    (5, 0.025)
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, MutableMapping, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any, Literal, Protocol, cast

from stepsched_cli import validate
from stepsched_cli.errors import ScheduleError, StateError
from stepsched_cli.schedule import MODES, Mode, StepSchedule, check_position

StepOrder = Literal["optimizer_first", "scheduler_first"]
STEP_ORDERS: tuple[StepOrder, ...] = ("optimizer_first", "scheduler_first")

STATE_FORMAT = "stepsched.state"
STATE_VERSION = 1
# A stored current lr may differ from the closed form by rounding (or by the drift of a
# framework that multiplies repeatedly), never by more than this relative amount.
LR_AGREEMENT_TOLERANCE = validate.LR_AGREEMENT_TOLERANCE


class HasParamGroups(Protocol):
    """Anything shaped like a torch optimizer: a list of dicts that each hold an ``"lr"``."""

    @property
    def param_groups(self) -> Sequence[MutableMapping[str, Any]]: ...


@dataclass(frozen=True)
class SchedulerState:
    """Everything needed to resume a scheduler: the schedule, the position and the groups.

    Attributes:
        schedule: The schedule being followed.
        position: The position whose lr is current (torch's ``last_epoch``).
        order: ``"optimizer_first"`` for the loop ``optimizer.step(); scheduler.step()``,
            ``"scheduler_first"`` for ``scheduler.step(); optimizer.step()``.
        started: With ``scheduler_first``: whether ``step()`` has been called yet.
        group_initial_lrs: The initial lr of every optimizer parameter group driven,
            empty when no optimizer is attached.
        steps_per_epoch: Optimizer steps in one epoch, when known.
    """

    schedule: StepSchedule
    position: int = 0
    order: StepOrder = "optimizer_first"
    started: bool = True
    group_initial_lrs: tuple[float, ...] = ()
    steps_per_epoch: int | None = None

    def __post_init__(self) -> None:
        check_position(self.position, "step")
        if self.order not in STEP_ORDERS:
            raise StateError(
                f"order must be 'optimizer_first' or 'scheduler_first', got {self.order!r}"
            )
        if self.steps_per_epoch is not None and (
            isinstance(self.steps_per_epoch, bool)
            or not isinstance(self.steps_per_epoch, int)
            or self.steps_per_epoch < 1
        ):
            raise StateError(
                f"steps_per_epoch must be an integer >= 1 or null, got {self.steps_per_epoch!r}"
            )
        # Validates every group against the schedule (a floor above a group's lr, say).
        _ = self.group_schedules

    @cached_property
    def group_schedules(self) -> tuple[StepSchedule | None, ...]:
        """The schedule of every driven group (None for a group held at lr 0)."""
        return tuple(
            _group_schedule(self.schedule, initial_lr, index)
            for index, initial_lr in enumerate(self.group_initial_lrs)
        )

    @property
    def lr(self) -> float:
        """The schedule's lr at the current position."""
        return self.schedule.lr_at(self.position)

    @property
    def group_lrs(self) -> tuple[float, ...]:
        """The current lr of every driven parameter group."""
        return tuple(
            0.0 if group is None else group.lr_at(self.position) for group in self.group_schedules
        )

    def to_dict(self) -> dict[str, Any]:
        """The state as plain JSON types (see docs/state-format.md)."""
        schedule = self.schedule
        decay: dict[str, Any] = (
            {"milestones": list(schedule.milestones)}
            if schedule.milestones is not None
            else {"step_size": schedule.step_size}
        )
        return {
            "format": STATE_FORMAT,
            "version": STATE_VERSION,
            "mode": schedule.mode,
            "step": self.position,
            "initial_lr": schedule.initial_lr,
            "lr": self.lr,
            "gamma": schedule.gamma,
            **decay,
            "warmup_steps": schedule.warmup_steps,
            "warmup_start_lr": schedule.warmup_start_lr,
            "min_lr": schedule.min_lr,
            "order": self.order,
            "started": self.started,
            "steps_per_epoch": self.steps_per_epoch,
            "param_groups": [
                {"initial_lr": initial_lr, "lr": lr}
                for initial_lr, lr in zip(self.group_initial_lrs, self.group_lrs, strict=True)
            ],
        }

    @classmethod
    def from_dict(cls, data: object) -> SchedulerState:
        """Validate a state dict completely and return the state it describes.

        Types are exact (a bool is not an integer), unknown fields are refused, and the
        stored current lrs must agree with the schedule at the stored position.

        Raises:
            StateError: (a ``ValueError``) with a message naming the field, the value
                and what was expected.
        """
        return _parse_state(data)


class StepScheduler:
    """Step-decay learning-rate scheduler with torch-style counter semantics.

    A fresh scheduler is at position 0 and :meth:`get_lr` returns ``initial_lr``; after
    ``n`` calls of :meth:`step` it is at position ``n``.  The lr is always derived from
    the integer position and the initial lr by the schedule's closed form, never
    accumulated.

    The documented training loop is::

        for batch in loader:
            loss = model(batch); loss.backward()
            optimizer.step()      # trains with the lr of the current position
            scheduler.step()      # moves to the next position, sets its lr

    so iteration ``i`` (counting from 0) trains with ``lr_at(i)``.  If your loop calls
    ``scheduler.step()`` *before* ``optimizer.step()``, pass
    ``order="scheduler_first"``: the first ``step()`` then keeps position 0 and each
    later one advances, so iteration ``i`` still trains with ``lr_at(i)``.

    Args:
        initial_lr: The lr before any decay (finite, > 0).
        step_size: Positions between decays; 30 when neither it nor ``milestones``
            is given.
        gamma: Decay factor, 0 < gamma < 1.
        mode: ``"step"`` or ``"epoch"``: what one call of :meth:`step` and
            ``step_size`` count.
        milestones: Decay positions instead of a ``step_size`` (as ``MultiStepLR``).
        warmup_steps: Linear warmup length; the decay clock starts after it.
        warmup_start_lr: The lr at position 0 when warming up.
        min_lr: Floor of the decayed lr.
        optimizer: An object with torch-style ``param_groups``.  Every group's lr is set
            on construction and on each :meth:`step`, scaled from the group's own
            initial lr (its ``"initial_lr"`` key if present, otherwise its lr when
            attached; the key is then added, as torch does).  A group whose initial lr
            is 0 stays at 0.
        on_lr: Called with the new lr on construction and after every :meth:`step`,
            for frameworks without param_groups.
        order: ``"optimizer_first"`` (default) or ``"scheduler_first"``, see above.
        steps_per_epoch: Optimizer steps per epoch, recorded in the state when known.

    Raises:
        ScheduleError: an invalid parameter (a ``ValueError``).
    """

    _state: SchedulerState
    _position: int
    _started: bool
    _group_initial_lrs: tuple[float, ...]
    _group_schedules: tuple[StepSchedule | None, ...]
    _lr: float
    _group_lrs: list[float]
    _next_change: float

    def __init__(
        self,
        initial_lr: float,
        step_size: int | None = None,
        gamma: float = 0.1,
        mode: Mode = "step",
        *,
        milestones: Sequence[int] | None = None,
        warmup_steps: int = 0,
        warmup_start_lr: float = 0.0,
        min_lr: float = 0.0,
        optimizer: HasParamGroups | None = None,
        on_lr: Callable[[float], object] | None = None,
        order: StepOrder = "optimizer_first",
        steps_per_epoch: int | None = None,
    ) -> None:
        schedule = StepSchedule(
            initial_lr=initial_lr,
            step_size=step_size,
            gamma=gamma,
            milestones=tuple(milestones) if milestones is not None else None,
            warmup_steps=warmup_steps,
            warmup_start_lr=warmup_start_lr,
            min_lr=min_lr,
            mode=mode,
        )
        self._init(schedule, optimizer, on_lr, order, steps_per_epoch)

    @classmethod
    def from_schedule(
        cls,
        schedule: StepSchedule,
        *,
        optimizer: HasParamGroups | None = None,
        on_lr: Callable[[float], object] | None = None,
        order: StepOrder = "optimizer_first",
        steps_per_epoch: int | None = None,
    ) -> StepScheduler:
        """Build a scheduler at position 0 that follows an existing schedule value."""
        scheduler = cls.__new__(cls)
        scheduler._init(schedule, optimizer, on_lr, order, steps_per_epoch)
        return scheduler

    def _init(
        self,
        schedule: StepSchedule,
        optimizer: HasParamGroups | None,
        on_lr: Callable[[float], object] | None,
        order: StepOrder,
        steps_per_epoch: int | None,
    ) -> None:
        self._optimizer = optimizer
        self._on_lr = on_lr
        group_initial_lrs = _attach(optimizer)
        state = SchedulerState(
            schedule=schedule,
            position=0,
            order=order,
            started=order == "optimizer_first",
            group_initial_lrs=group_initial_lrs,
            steps_per_epoch=steps_per_epoch,
        )
        self._set_state(state)
        if optimizer is not None:
            for group, initial_lr in zip(optimizer.param_groups, group_initial_lrs, strict=True):
                group.setdefault("initial_lr", initial_lr)

    # -- queries ------------------------------------------------------------

    @property
    def schedule(self) -> StepSchedule:
        """The schedule being followed."""
        return self._state.schedule

    @property
    def position(self) -> int:
        """The position whose lr is current (torch's ``last_epoch``)."""
        return self._position

    @property
    def last_epoch(self) -> int:
        """Alias of :attr:`position`, named as in torch."""
        return self._position

    def get_lr(self) -> float:
        """The lr at the current position."""
        return self._lr

    def get_last_lr(self) -> list[float]:
        """The current lr of every driven parameter group (``[get_lr()]`` without an optimizer)."""
        return list(self._group_lrs) if self._group_initial_lrs else [self._lr]

    def lr_at(self, t: int) -> float:
        """The lr at any position ``t``; the scheduler's own position is not changed."""
        return self._state.schedule.lr_at(t)

    # -- stepping -----------------------------------------------------------

    def step(self) -> None:
        """Advance one position and apply its lr to the optimizer and callback.

        With ``order="scheduler_first"`` the first call stays at position 0.  The
        powers are recomputed only when a boundary (or a warmup position) is crossed.
        """
        if self._started:
            self._position += 1
        else:
            self._started = True
        if self._position >= self._next_change:
            self._refresh()
        # The writes below are _apply() inlined: this is the per-step hot path.
        optimizer = self._optimizer
        if optimizer is not None:
            groups = optimizer.param_groups
            lrs = self._group_lrs
            if len(groups) != len(lrs):
                self._group_count_changed(len(groups))
            index = 0  # an index walk: measurably cheaper than zip() for one or two groups
            for group in groups:
                group["lr"] = lrs[index]
                index += 1  # noqa: SIM113
        if self._on_lr is not None:
            self._on_lr(self._lr)

    def _refresh(self) -> None:
        schedule = self._state.schedule
        position = self._position
        self._lr = schedule.lr_at(position)
        self._group_lrs = [
            0.0 if group is None else group.lr_at(position) for group in self._group_schedules
        ]
        if position < schedule.warmup_steps:
            self._next_change = position + 1
            return
        # A group with a larger initial lr reaches the floor later than the schedule
        # itself: the next change is the first boundary at which any lr still changes.
        changes = [
            following
            for each in (schedule, *self._group_schedules)
            if each is not None and (following := each.next_boundary(position)) is not None
        ]
        self._next_change = min(changes, default=math.inf)

    def _apply(self) -> None:
        if self._optimizer is not None:
            groups = self._optimizer.param_groups
            if len(groups) != len(self._group_lrs):
                self._group_count_changed(len(groups))
            for group, lr in zip(groups, self._group_lrs, strict=True):
                group["lr"] = lr
        if self._on_lr is not None:
            self._on_lr(self._lr)

    def _group_count_changed(self, now: int) -> None:
        raise ScheduleError(
            f"the optimizer now has {now} param_groups but had {len(self._group_lrs)} when "
            "the scheduler was attached; create the scheduler after the last add_param_group()"
        )

    # -- state --------------------------------------------------------------

    def snapshot(self) -> SchedulerState:
        """The current state as an immutable value."""
        return SchedulerState(
            schedule=self._state.schedule,
            position=self._position,
            order=self._state.order,
            started=self._started,
            group_initial_lrs=self._group_initial_lrs,
            steps_per_epoch=self._state.steps_per_epoch,
        )

    def state_dict(self) -> dict[str, Any]:
        """The state as plain JSON types, safe for ``torch.load(weights_only=True)``."""
        return self.snapshot().to_dict()

    def load_state_dict(self, state_dict: Mapping[str, Any]) -> None:
        """Resume from a dict made by :meth:`state_dict`.

        The stored schedule, position and order replace this scheduler's (as torch's
        ``load_state_dict`` does), and the lr is applied to the optimizer at once.
        Everything is validated first: on any error nothing changes.

        Raises:
            StateError: the dict is malformed, its lrs disagree with its schedule, or its
                parameter groups do not match the attached optimizer's.
        """
        state = SchedulerState.from_dict(state_dict)
        if self._optimizer is not None:
            groups = len(self._optimizer.param_groups)
            if state.group_initial_lrs and len(state.group_initial_lrs) != groups:
                raise StateError(
                    f"param_groups: the state has {len(state.group_initial_lrs)} parameter "
                    f"groups but the optimizer has {groups}"
                )
            if not state.group_initial_lrs:
                try:
                    state = _with_groups(state, self._group_initial_lrs)
                except ScheduleError as error:
                    raise StateError(f"param_groups: {error}") from None
        self._set_state(state)

    def _set_state(self, state: SchedulerState) -> None:
        self._state = state
        self._position = state.position
        self._started = state.started
        self._group_initial_lrs = state.group_initial_lrs
        self._group_schedules = state.group_schedules
        self._refresh()
        self._apply()

    def __repr__(self) -> str:
        return f"StepScheduler(schedule={self._state.schedule!r}, position={self._position})"


def _with_groups(state: SchedulerState, group_initial_lrs: tuple[float, ...]) -> SchedulerState:
    return SchedulerState(
        schedule=state.schedule,
        position=state.position,
        order=state.order,
        started=state.started,
        group_initial_lrs=group_initial_lrs,
        steps_per_epoch=state.steps_per_epoch,
    )


def _attach(optimizer: HasParamGroups | None) -> tuple[float, ...]:
    """Read every group's initial lr, validating the optimizer's shape."""
    if optimizer is None:
        return ()
    groups = getattr(optimizer, "param_groups", None)
    if not isinstance(groups, Sequence) or isinstance(groups, (str, bytes)) or not groups:
        raise ScheduleError(
            "optimizer must have param_groups: a non-empty list of dicts with an 'lr' key, "
            f"got {type(optimizer).__name__}"
        )
    initial_lrs = []
    for index, group in enumerate(groups):
        if not isinstance(group, MutableMapping) or "lr" not in group:
            raise ScheduleError(f"optimizer.param_groups[{index}] must be a dict with an 'lr' key")
        initial_lr = group.get("initial_lr", group["lr"])
        initial_lrs.append(_group_initial_lr(initial_lr, f"optimizer.param_groups[{index}]"))
    return tuple(initial_lrs)


def _group_initial_lr(value: object, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ScheduleError(f"{where} initial lr must be a finite number >= 0, got {value!r}")
    number = float(value)
    if not math.isfinite(number) or number < 0:
        raise ScheduleError(f"{where} initial lr must be a finite number >= 0, got {value!r}")
    return number


def _group_schedule(schedule: StepSchedule, initial_lr: float, index: int) -> StepSchedule | None:
    """The schedule of one parameter group: the same decay from the group's initial lr."""
    if initial_lr == 0:
        return None
    if initial_lr == schedule.initial_lr:
        return schedule
    if not initial_lr > schedule.min_lr:
        raise ScheduleError(
            f"param_groups[{index}] initial lr {initial_lr!r} must be > min_lr {schedule.min_lr!r}"
        )
    return schedule.replace(initial_lr=initial_lr)


def _group_lr(schedule: StepSchedule, initial_lr: float, position: int) -> float:
    group_schedule = _group_schedule(schedule, initial_lr, 0)
    return 0.0 if group_schedule is None else group_schedule.lr_at(position)


# -- parsing state dicts ----------------------------------------------------

_REQUIRED = ("format", "version", "mode", "step", "initial_lr", "lr", "gamma")
_OPTIONAL = (
    "step_size",
    "milestones",
    "warmup_steps",
    "warmup_start_lr",
    "min_lr",
    "order",
    "started",
    "steps_per_epoch",
    "param_groups",
)


def _field_int(data: Mapping[str, Any], name: str, minimum: int) -> int:
    return validate.integer(
        data[name], f"field '{name}'", minimum=minimum, limit=None, error=StateError, parameter=name
    )


def _field_number(data: Mapping[str, Any], name: str) -> float:
    return validate.finite_number(
        data[name], f"field '{name}'", expected="a number", error=StateError, parameter=name
    )


_lrs_agree = validate.lrs_agree
_shown = validate.shown


def _parse_state(data: object) -> SchedulerState:  # noqa: C901  (to be split: issue 9)
    if not isinstance(data, Mapping):
        raise StateError(f"a state must be a JSON object, got {type(data).__name__}")
    if data.get("format") != STATE_FORMAT:
        raise StateError(
            f"field 'format' must be {STATE_FORMAT!r}, got {_shown(data.get('format'))}"
        )
    version = data.get("version", STATE_VERSION)
    if isinstance(version, bool) or not isinstance(version, int) or version != STATE_VERSION:
        if isinstance(version, int) and not isinstance(version, bool) and version > STATE_VERSION:
            raise StateError(
                f"field 'version' is {version}, newer than this stepsched understands "
                f"(up to {STATE_VERSION}); upgrade stepsched"
            )
        raise StateError(f"field 'version' must be {STATE_VERSION}, got {_shown(version)}")
    unknown = sorted(set(data) - set(_REQUIRED) - set(_OPTIONAL))
    if unknown:
        raise StateError(
            f"unknown field {_shown(unknown[0])} (known fields: see docs/state-format.md)"
        )
    missing = [name for name in _REQUIRED if name not in data]
    if missing:
        raise StateError(f"missing required field {missing[0]!r}")
    if ("step_size" in data) == ("milestones" in data):
        raise StateError("exactly one of the fields 'step_size' and 'milestones' must be present")

    mode = data["mode"]
    if mode not in MODES:
        raise StateError(f"field 'mode' must be 'step' or 'epoch', got {_shown(mode)}")
    order = data.get("order", "optimizer_first")
    if order not in STEP_ORDERS:
        raise StateError(
            f"field 'order' must be 'optimizer_first' or 'scheduler_first', got {_shown(order)}"
        )
    started = data.get("started", True)
    if not isinstance(started, bool):
        raise StateError(f"field 'started' must be true or false, got {_shown(started)}")
    steps_per_epoch = data.get("steps_per_epoch")
    if steps_per_epoch is not None:
        steps_per_epoch = _field_int(data, "steps_per_epoch", 1)
    position = _field_int(data, "step", 0)

    milestones: tuple[int, ...] | None = None
    step_size: int | None = None
    if "milestones" in data:
        raw = data["milestones"]
        if not isinstance(raw, list):
            raise StateError(f"field 'milestones' must be a list of integers, got {_shown(raw)}")
        milestones = tuple(raw)
    else:
        step_size = _field_int(data, "step_size", 1)

    try:
        schedule = StepSchedule(
            initial_lr=_field_number(data, "initial_lr"),
            step_size=step_size,
            gamma=_field_number(data, "gamma"),
            milestones=milestones,
            warmup_steps=_field_int(data, "warmup_steps", 0) if "warmup_steps" in data else 0,
            warmup_start_lr=(
                _field_number(data, "warmup_start_lr") if "warmup_start_lr" in data else 0.0
            ),
            min_lr=_field_number(data, "min_lr") if "min_lr" in data else 0.0,
            mode=cast(Mode, mode),
        )
    except ScheduleError as error:
        raise StateError(f"invalid schedule: {error}") from None

    expected_lr = schedule.lr_at(position)
    stored_lr = _field_number(data, "lr")
    if not _lrs_agree(stored_lr, expected_lr):
        raise StateError(
            f"field 'lr' is {stored_lr!r} but the schedule gives {expected_lr!r} at step "
            f"{position}: the state is inconsistent"
        )

    # Every field is checked above, groups against the floor included, so this cannot fail.
    return SchedulerState(
        schedule=schedule,
        position=position,
        order=cast(StepOrder, order),
        started=started,
        group_initial_lrs=_parse_groups(data.get("param_groups", []), schedule, position),
        steps_per_epoch=steps_per_epoch,
    )


def _parse_groups(raw: object, schedule: StepSchedule, position: int) -> tuple[float, ...]:
    if not isinstance(raw, list):
        raise StateError(f"field 'param_groups' must be a list, got {_shown(raw)}")
    initial_lrs = []
    for index, group in enumerate(raw):
        where = f"param_groups[{index}]"
        if not isinstance(group, dict) or set(group) != {"initial_lr", "lr"}:
            raise StateError(f"field '{where}' must be an object with 'initial_lr' and 'lr'")
        initial_lr = _field_number(group, "initial_lr")
        if initial_lr < 0:
            raise StateError(f"field '{where}.initial_lr' must be >= 0, got {initial_lr!r}")
        try:
            expected = _group_lr(schedule, initial_lr, position)
        except ScheduleError as error:
            raise StateError(f"field '{where}': {error}") from None
        stored = _field_number(group, "lr")
        if not _lrs_agree(stored, expected):
            raise StateError(
                f"field '{where}.lr' is {stored!r} but the schedule gives {expected!r} at "
                f"step {position}: the state is inconsistent"
            )
        initial_lrs.append(initial_lr)
    return tuple(initial_lrs)
