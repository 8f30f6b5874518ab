"""SchedulerState: what a scheduler's ``state_dict`` holds, and its strict parser.

A :class:`SchedulerState` is a value: the schedule, the integer position, the loop
order and the driven parameter groups' initial lrs.  :meth:`SchedulerState.from_dict`
validates a state dict completely (exact types, no unknown fields, stored lrs agreeing
with the schedule) before anything uses it; :class:`~stepsched_cli.scheduler.StepScheduler`
and every reader of state files build on it.  docs/state-format.md is the contract.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import cached_property
from typing import Any, Literal, cast

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
            "warmup_prefix": schedule.warmup_prefix,
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
    "warmup_prefix",
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


def _parse_state(data: object) -> SchedulerState:
    mapping = _checked_envelope(data)
    mode, order, started, steps_per_epoch = _parse_settings(mapping)
    position = _field_int(mapping, "step", 0)
    schedule = _parse_schedule(mapping, mode)
    expected_lr = schedule.lr_at(position)
    stored_lr = _field_number(mapping, "lr")
    if not _lrs_agree(stored_lr, expected_lr):
        raise StateError(
            f"field 'lr' is {stored_lr!r} but the schedule gives {expected_lr!r} at step "
            f"{position}: the state is inconsistent"
        )
    # Every field is checked above, groups against the floor included, so this cannot fail.
    return SchedulerState(
        schedule=schedule,
        position=position,
        order=order,
        started=started,
        group_initial_lrs=_parse_groups(mapping.get("param_groups", []), schedule, position),
        steps_per_epoch=steps_per_epoch,
    )


def _checked_envelope(data: object) -> Mapping[str, Any]:
    """The state as a mapping once its format, version and set of fields are right."""
    if not isinstance(data, Mapping):
        raise StateError(f"a state must be a JSON object, got {type(data).__name__}")
    validate.string_keys(data, "a state", error=StateError)  # a pickled one may hold any
    if data.get("format") != STATE_FORMAT:
        raise StateError(
            f"field 'format' must be {STATE_FORMAT!r}, got {validate.shown(data.get('format'))}"
        )
    _check_version(data.get("version", STATE_VERSION))
    unknown = sorted(set(data) - set(_REQUIRED) - set(_OPTIONAL))
    if unknown:
        raise StateError(
            f"unknown field {validate.shown(unknown[0])} (known fields: see docs/state-format.md)"
        )
    missing = [name for name in _REQUIRED if name not in data]
    if missing:
        raise StateError(f"missing required field {missing[0]!r}")
    if ("step_size" in data) == ("milestones" in data):
        raise StateError("exactly one of the fields 'step_size' and 'milestones' must be present")
    return data


def _check_version(version: object) -> None:
    # An integer only: 1.0 equals 1 in Python, but a state file's version is no float.
    if isinstance(version, bool) or not isinstance(version, int) or version != STATE_VERSION:
        if isinstance(version, int) and not isinstance(version, bool) and version > STATE_VERSION:
            raise StateError(
                f"field 'version' is {version}, newer than this stepsched understands "
                f"(up to {STATE_VERSION}); upgrade stepsched"
            )
        raise StateError(f"field 'version' must be {STATE_VERSION}, got {validate.shown(version)}")


def _parse_settings(data: Mapping[str, Any]) -> tuple[Mode, StepOrder, bool, int | None]:
    """The fields around the schedule: mode, order, started and steps_per_epoch."""
    mode = data["mode"]
    if mode not in MODES:
        raise StateError(f"field 'mode' must be 'step' or 'epoch', got {validate.shown(mode)}")
    order = data.get("order", "optimizer_first")
    if order not in STEP_ORDERS:
        raise StateError(
            "field 'order' must be 'optimizer_first' or 'scheduler_first', "
            f"got {validate.shown(order)}"
        )
    started = data.get("started", True)
    if not isinstance(started, bool):
        raise StateError(f"field 'started' must be true or false, got {validate.shown(started)}")
    steps_per_epoch = data.get("steps_per_epoch")
    if steps_per_epoch is not None:
        steps_per_epoch = _field_int(data, "steps_per_epoch", 1)
    return cast(Mode, mode), cast(StepOrder, order), started, steps_per_epoch


def _parse_schedule(data: Mapping[str, Any], mode: Mode) -> StepSchedule:
    milestones: tuple[int, ...] | None = None
    step_size: int | None = None
    if "milestones" in data:
        raw = data["milestones"]
        if not isinstance(raw, list):
            raise StateError(
                f"field 'milestones' must be a list of integers, got {validate.shown(raw)}"
            )
        milestones = tuple(raw)
    else:
        step_size = _field_int(data, "step_size", 1)
    # A file written before the field existed meant the shifted decay clock.
    warmup_prefix = data.get("warmup_prefix", True)
    if not isinstance(warmup_prefix, bool):
        raise StateError(
            f"field 'warmup_prefix' must be true or false, got {validate.shown(warmup_prefix)}"
        )
    try:
        return StepSchedule(
            initial_lr=_field_number(data, "initial_lr"),
            step_size=step_size,
            gamma=_field_number(data, "gamma"),
            milestones=milestones,
            warmup_steps=_field_int(data, "warmup_steps", 0) if "warmup_steps" in data else 0,
            warmup_start_lr=(
                _field_number(data, "warmup_start_lr") if "warmup_start_lr" in data else 0.0
            ),
            min_lr=_field_number(data, "min_lr") if "min_lr" in data else 0.0,
            mode=mode,
            warmup_prefix=warmup_prefix,
        )
    except ScheduleError as error:
        raise StateError(f"invalid schedule: {error}") from None


def _parse_groups(raw: object, schedule: StepSchedule, position: int) -> tuple[float, ...]:
    if not isinstance(raw, list):
        raise StateError(f"field 'param_groups' must be a list, got {validate.shown(raw)}")
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


__all__ = [
    "LR_AGREEMENT_TOLERANCE",
    "STATE_FORMAT",
    "STATE_VERSION",
    "STEP_ORDERS",
    "SchedulerState",
    "StepOrder",
]
