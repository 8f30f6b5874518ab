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
from typing import Any, Protocol

from stepsched_cli.errors import ScheduleError, StateError
from stepsched_cli.powers import PowerWalk, ScaledWalk, Wide, wide_value
from stepsched_cli.schedule import Mode, StepSchedule
from stepsched_cli.scheduler_state import (
    LR_AGREEMENT_TOLERANCE,
    STATE_FORMAT,
    STATE_VERSION,
    STEP_ORDERS,
    SchedulerState,
    StepOrder,
)


class HasParamGroups(Protocol):
    """Anything shaped like a torch optimizer: a list of dicts that each hold an ``"lr"``."""

    @property
    def param_groups(self) -> Sequence[MutableMapping[str, Any]]: ...


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
        warmup_steps: Linear warmup length.
        warmup_start_lr: The lr at position 0 when warming up.
        warmup_prefix: False (default): decays at their absolute positions; True: the
            decay clock starts after the warmup (see :class:`StepSchedule`).
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
    _walk: PowerWalk | None
    _scales: dict[float, Wide]
    _uniform: tuple[float, Wide] | None
    _stride: int
    _scaled_walk: ScaledWalk | None
    _floor: float

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
        warmup_prefix: bool = False,
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
            warmup_prefix=warmup_prefix,
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
            position = self._position = self._position + 1
        else:
            self._started = True
            position = self._position
        if position >= self._next_change:
            if self._stride and position == self._next_change:
                # _next_decay() inlined: a decay at every step is a regime people use.
                value = self._scaled_walk.advance()  # type: ignore[union-attr]
                if value > self._floor:
                    self._next_change = position + self._stride
                else:
                    value = self._floor
                    self._next_change = math.inf
                self._lr = value
                self._group_lrs = [value] * len(self._group_lrs)
            else:
                self._refresh()
        # The writes below are _apply() inlined: this is the per-step hot path.
        optimizer = self._optimizer
        if optimizer is not None:
            groups = optimizer.param_groups
            lrs = self._group_lrs
            if len(groups) != len(lrs):
                self._group_count_changed(len(groups))
            if len(lrs) == 1:  # the common case, measurably cheaper than any loop
                groups[0]["lr"] = lrs[0]
            else:
                index = 0  # an index walk: measurably cheaper than zip() for a few groups
                for group in groups:
                    group["lr"] = lrs[index]
                    index += 1  # noqa: SIM113
        if self._on_lr is not None:
            self._on_lr(self._lr)

    def _refresh(self) -> None:
        schedule = self._state.schedule
        position = self._position
        self._stride = 0
        if position < schedule.warmup_steps:
            self._lr = schedule.lr_at(position)
            self._group_lrs = [
                0.0 if group is None else group.lr_at(position) for group in self._group_schedules
            ]
            self._next_change = position + 1
            return
        decays = schedule.scheduled_decays(position)
        settled = self._uniform_lrs(decays) if self._uniform else self._group_lrs_at(decays)
        following = schedule.decay_position(decays + 1)
        # Once every lr sits on the floor (min_lr, or 0.0 by underflow) nothing changes.
        self._next_change = math.inf if following is None or settled else following
        if self._uniform and schedule.step_size is not None:
            self._stride = schedule.step_size  # later decays: _next_decay

    def _uniform_lrs(self, decays: int) -> bool:
        """Every group follows the schedule's own lr: one walked value; True once floored."""
        schedule = self._state.schedule
        walk = self._scaled_walk
        if walk is not None and walk.k + 1 == decays:
            value = walk.advance()
        else:
            if walk is None or walk.k != decays:
                walk = self._scaled_walk = ScaledWalk(schedule.initial_lr, schedule.gamma, decays)
            value = walk.value()
        value = max(self._floor, value)
        self._lr = value
        self._group_lrs = [value] * len(self._group_initial_lrs)
        return value == self._floor

    def _group_lrs_at(self, decays: int) -> bool:
        """Groups at several lrs share gamma**k: one multiplication each; True once floored."""
        schedule = self._state.schedule
        walk = self._walk
        if walk is None:
            walk = self._walk = PowerWalk(schedule.gamma, decays)
        elif walk.k + 1 == decays:
            walk.advance()
        elif walk.k != decays:
            walk.seek(decays)
        floor = self._floor
        values = {lr: max(floor, walk.scaled(lr, wide)) for lr, wide in self._scales.items()}
        self._lr = values[schedule.initial_lr]
        self._group_lrs = [values.get(lr, 0.0) for lr in self._group_initial_lrs]
        return all(value == floor for value in values.values())

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
        lrs = {state.schedule.initial_lr, *(lr for lr in state.group_initial_lrs if lr)}
        self._scales = {lr: wide_value(lr) for lr in lrs}
        self._uniform = (
            (state.schedule.initial_lr, self._scales[state.schedule.initial_lr])
            if len(lrs) == 1 and all(state.group_initial_lrs)
            else None
        )
        self._walk = None
        self._scaled_walk = None
        self._floor = state.schedule.min_lr
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


__all__ = [
    "LR_AGREEMENT_TOLERANCE",
    "STATE_FORMAT",
    "STATE_VERSION",
    "STEP_ORDERS",
    "HasParamGroups",
    "SchedulerState",
    "StepOrder",
    "StepScheduler",
]
