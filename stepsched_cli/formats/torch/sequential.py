"""torch's warmup idiom, ``SequentialLR([warmup, decay], milestones=[W])``, as one schedule.

The usual way to warm up a step schedule in torch is::

    warmup = LinearLR(optimizer, start_factor=0.1, total_iters=5)    # or ConstantLR
    decay = StepLR(optimizer, step_size=10, gamma=0.5)                # or MultiStepLR
    scheduler = SequentialLR(optimizer, [warmup, decay], milestones=[5])

Its ``state_dict()`` holds no ``base_lrs`` of its own: ``{"_milestones": [W],
"last_epoch": t, "_last_lr": [...], "_schedulers": [warmup state, decay state]}``.
:func:`parse` reads it as one schedule at the outer position ``t`` (its ``last_epoch``):
before ``W`` the warmup child's lr at ``t``; from ``W`` on the decay child's lr at
``t - W`` (SequentialLR calls ``decay.step(0)`` at the milestone, so the decay clock is
shifted by ``W`` and the lr at ``W`` is the base lr).  That is stepsched's warmup with
its shifted decay clock exactly when the warmup is a linear ramp that reaches the base
lr at ``W`` (``LinearLR(end_factor=1, total_iters=W)``, a one-position warmup, or a
warmup factor of 1); other forms are evaluated here and refused by
:meth:`SequentialState.to_state` with the reason.

Values follow torch's closed forms (``LinearLR``: ``base * (start + (end - start) *
min(t, T) / T)``, ``ConstantLR``: ``base * factor`` before ``T``); torch itself
multiplies step by step, so its stored ``_last_lr`` may differ by a few ulps, and
:attr:`SequentialState.torch_lrs` keeps it.

Example:
    >>> state = parse({
    ...     "_milestones": [5], "last_epoch": 32, "_last_lr": [0.025],
    ...     "_schedulers": [
    ...         {"start_factor": 0.1, "end_factor": 1.0, "total_iters": 5,
    ...          "base_lrs": [0.1], "last_epoch": 4},
    ...         {"step_size": 10, "gamma": 0.5, "base_lrs": [0.1], "last_epoch": 27}]})
    >>> state.lrs, state.to_state().schedule.warmup_steps
    ((0.025,), 5)
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal, cast

from stepsched_cli import validate
from stepsched_cli.errors import ConversionError, StateError
from stepsched_cli.formats.torch import state_dict as torch_format
from stepsched_cli.schedule import StepSchedule, check_position
from stepsched_cli.scheduler import SchedulerState

__all__ = ["SequentialState", "WarmupKind", "is_sequential_state", "parse"]

WarmupKind = Literal["LinearLR", "ConstantLR"]

_EXPECTED = (
    "stepsched reads SequentialLR([LinearLR or ConstantLR, StepLR or MultiStepLR], milestones=[W])"
)


def is_sequential_state(value: object) -> bool:
    """Whether ``value`` has the shape of a ``SequentialLR.state_dict()``.

    Example:
        >>> is_sequential_state({"_milestones": [5], "last_epoch": 0, "_schedulers": []})
        True
    """
    return (
        isinstance(value, dict)
        and isinstance(value.get("_schedulers"), list)
        and isinstance(value.get("_milestones"), list)
        and isinstance(value.get("last_epoch"), int)
    )


@dataclass(frozen=True)
class SequentialState:
    """A SequentialLR of a LinearLR/ConstantLR warmup and a StepLR/MultiStepLR decay.

    Attributes:
        last_epoch: The outer position (SequentialLR's ``last_epoch``), >= 0.
        milestone: ``W``, where the decay child takes over.
        warmup_kind: ``"LinearLR"`` or ``"ConstantLR"``.
        start_factor: LinearLR's ``start_factor`` or ConstantLR's ``factor``.
        end_factor: LinearLR's ``end_factor`` (1.0 for ConstantLR).
        total_iters: The warmup child's ``total_iters``.
        decay: The decay child (its ``last_epoch`` is unused: the outer one counts).
        torch_lrs: The ``_last_lr`` torch stored, None when absent.
    """

    last_epoch: int
    milestone: int
    warmup_kind: WarmupKind
    start_factor: float
    end_factor: float
    total_iters: int
    decay: torch_format.TorchStepState
    torch_lrs: tuple[float, ...] | None = None

    @property
    def base_lrs(self) -> tuple[float, ...]:
        """Every parameter group's base lr (the decay child's ``base_lrs``)."""
        return self.decay.base_lrs

    def _warmup_factor(self, t: int) -> float:
        if self.warmup_kind == "ConstantLR":
            return self.start_factor if t < self.total_iters else 1.0
        done = min(t, self.total_iters) / self.total_iters
        return self.start_factor + (self.end_factor - self.start_factor) * done

    def lrs_at(self, t: int) -> tuple[float, ...]:
        """Every group's lr at outer position ``t``, by torch's closed forms."""
        position = check_position(t)
        if position >= self.milestone:
            return self.decay.lrs_at(position - self.milestone)
        factor = self._warmup_factor(position)
        return tuple(base * factor for base in self.base_lrs)

    @property
    def lrs(self) -> tuple[float, ...]:
        """Every group's lr at ``last_epoch``."""
        return self.lrs_at(self.last_epoch)

    def describe(self) -> str:
        """``SequentialLR([LinearLR(start_factor=0.1, total_iters=5), StepLR(...)], ...)``."""
        if self.warmup_kind == "LinearLR":
            warmup = (
                f"LinearLR(start_factor={self.start_factor:.6g}, "
                f"end_factor={self.end_factor:.6g}, total_iters={self.total_iters})"
            )
        else:
            warmup = f"ConstantLR(factor={self.start_factor:.6g}, total_iters={self.total_iters})"
        decay = self.decay.describe().split("), base_lrs")[0] + ")"
        lrs = ", ".join(f"{lr:.6g}" for lr in self.base_lrs)
        return f"SequentialLR([{warmup}, {decay}], milestones=[{self.milestone}]), base_lrs {lrs}"

    def _warmup_is_ramp(self) -> bool:
        """Whether the warmup lrs on ``[0, W)`` are a linear ramp reaching the base lr at W."""
        if self.milestone == 1:
            return True  # one warmup position: any start lr is a ramp
        if self._warmup_factor(0) == 1.0:  # flat: ConstantLR's factor is 1 or never applies
            return self.warmup_kind == "ConstantLR" or self.end_factor == 1.0
        return (
            self.warmup_kind == "LinearLR"
            and self.end_factor == 1.0
            and self.total_iters == self.milestone
        )

    def unrepresentable_reason(self) -> str | None:
        """Why no stepsched schedule reproduces this SequentialLR exactly, or None."""
        reason = self.decay.unrepresentable_reason()
        if reason is not None:
            return f"its {self.decay.kind}: {reason}"
        if not self._warmup_is_ramp():
            return (
                f"its {self.warmup_kind} warmup ({self._warmup_text()}) is not a linear ramp "
                f"reaching the base lr at the milestone {self.milestone}; stepsched's warmup "
                "ramps linearly over warmup_steps"
            )
        starts = {base for base in self.base_lrs if base != 0}
        if len(starts) > 1 and self._warmup_factor(0) != 1.0:
            return (
                "its parameter groups warm up from different lrs (start factor times each base "
                "lr); a stepsched warmup starts every group at one warmup_start_lr"
            )
        return None

    def _warmup_text(self) -> str:
        if self.warmup_kind == "ConstantLR":
            return f"factor {self.start_factor!r} for {self.total_iters} positions"
        return (
            f"start_factor {self.start_factor!r} to end_factor {self.end_factor!r} over "
            f"{self.total_iters} positions"
        )

    def to_state(self) -> SchedulerState:
        """The equivalent stepsched state: warmup of ``W`` positions, decay clock from ``W``.

        Raises:
            ConversionError: the warmup or the decay has no exact stepsched form.
        """
        reason = self.unrepresentable_reason()
        if reason is not None:
            raise ConversionError(f"this SequentialLR cannot be a stepsched state: {reason}")
        from decimal import Decimal  # only a conversion needs it

        decay = self.decay.to_state().schedule
        initial_lr = self.base_lrs[0]
        start = float(Decimal(repr(self._warmup_factor(0))) * Decimal(repr(initial_lr)))
        schedule = StepSchedule(
            initial_lr=initial_lr,
            step_size=decay.step_size if decay.milestones is None else None,
            gamma=decay.gamma,
            milestones=decay.milestones,
            warmup_steps=self.milestone,
            warmup_start_lr=start,
            # SequentialLR starts its decay child at the milestone: a shifted clock.
            warmup_prefix=True,
        )
        return SchedulerState(
            schedule=schedule, position=self.last_epoch, group_initial_lrs=self.base_lrs
        )


def _factor(fields: Mapping[str, object], name: str, low: float) -> float:
    value = validate.finite_number(
        fields.get(name), f"field '_schedulers[0].{name}'", error=StateError, parameter=name
    )
    if not low <= value <= 1:
        raise StateError(
            f"field '_schedulers[0].{name}' must be a number from {low:g} to 1, got {value!r}",
            parameter=name,
        )
    return value


def _total_iters(child: Mapping[str, object], minimum: int) -> int:
    return validate.integer(
        child.get("total_iters"),
        "field '_schedulers[0].total_iters'",
        minimum=minimum,
        error=StateError,
        parameter="total_iters",
    )


def _warmup(child: object) -> tuple[WarmupKind, float, float, int]:
    """The warmup child's kind, start factor, end factor and total_iters."""
    if not isinstance(child, Mapping):
        raise StateError(f"field '_schedulers[0]' must be a scheduler state dict; {_EXPECTED}")
    if "start_factor" in child and "end_factor" in child:
        start, end = _factor(child, "start_factor", 0.0), _factor(child, "end_factor", 0.0)
        if start == 0:
            raise StateError(
                "field '_schedulers[0].start_factor' must be > 0 (as torch requires), got 0.0",
                parameter="start_factor",
            )
        total = _total_iters(child, minimum=1)
        return "LinearLR", start, end, total
    if "factor" in child:
        factor = _factor(child, "factor", 0.0)
        total = _total_iters(child, minimum=0)
        return "ConstantLR", factor, 1.0, total
    kind = torch_format.guess_scheduler_type(child)
    raise StateError(f"its first scheduler looks like {kind}, not a warmup; {_EXPECTED}")


def parse(document: object) -> SequentialState:
    """Validate a SequentialLR state dict of a warmup child and a step-decay child.

    Raises:
        StateError: not that shape (other children, several milestones), a field of the
            wrong type or range, or a stored ``_last_lr`` that disagrees with torch's
            closed forms beyond a relative 1e-9.
    """
    if not is_sequential_state(document):
        raise StateError(f"not a SequentialLR state dict; {_EXPECTED}")
    fields = cast(dict[str, Any], document)
    children, milestones = fields["_schedulers"], fields["_milestones"]
    if len(children) != 2 or len(milestones) != 1:
        raise StateError(
            f"a SequentialLR of {len(children)} schedulers and {len(milestones)} milestones; "
            f"{_EXPECTED}",
            parameter="_schedulers",
        )
    last_epoch = validate.integer(
        fields["last_epoch"], "field 'last_epoch'", minimum=0, error=StateError
    )
    milestone = validate.integer(
        milestones[0],
        "field '_milestones[0]'",
        minimum=1,
        error=StateError,
        parameter="_milestones",
    )
    kind, start, end, total = _warmup(children[0])
    decay_child = children[1]
    if not isinstance(decay_child, Mapping):
        raise StateError(f"field '_schedulers[1]' must be a scheduler state dict; {_EXPECTED}")
    try:
        # The child's own clock is the outer one shifted by W (-1 before W): use the outer.
        decay_fields = {key: value for key, value in decay_child.items() if key != "_last_lr"}
        decay = torch_format.parse({**decay_fields, "last_epoch": max(0, last_epoch - milestone)})
    except StateError as error:
        raise StateError(f"its second scheduler: {error}", parameter=error.parameter) from None
    stored = _stored_lrs(fields.get("_last_lr"), len(decay.base_lrs))
    state = SequentialState(last_epoch, milestone, kind, start, end, total, decay, stored)
    _check_stored(state)
    return state


def _stored_lrs(value: object, count: int) -> tuple[float, ...] | None:
    if value is None:
        return None
    if not isinstance(value, list | tuple) or len(value) != count:
        raise StateError(
            f"field '_last_lr' must be a list of {count} numbers, got {validate.shown(value)}",
            parameter="_last_lr",
        )
    return tuple(
        validate.finite_number(
            lr, f"field '_last_lr[{index}]'", error=StateError, parameter="_last_lr"
        )
        for index, lr in enumerate(value)
    )


def _check_stored(state: SequentialState) -> None:
    if state.torch_lrs is None:
        return
    for index, (stored, expected) in enumerate(zip(state.torch_lrs, state.lrs, strict=True)):
        if not validate.lrs_agree(stored, expected):
            raise StateError(
                f"field '_last_lr[{index}]' is {stored!r} but {state.describe()} gives "
                f"{expected!r} at last_epoch {state.last_epoch}: the state is inconsistent",
                parameter="_last_lr",
            )
