"""MMEngine (OpenMMLab) param schedulers: their state dicts and the Runner's checkpoints.

An MMEngine param scheduler (``mmengine.optim.StepLR``, ``MultiStepLR``, ``LinearLR``,
``ConstantLR``) saves ``state_dict()`` as its attributes without the optimizer:
``base_values``, ``last_step``, ``_global_step``, ``begin``, ``end``, ``by_epoch``,
``param_name``, ``_last_value`` and its own fields.  Semantics (mmengine 0.10,
``optim/scheduler/param_scheduler.py``):

- ``_global_step`` counts ``step()`` calls since construction (the constructor's own
  step makes it 0): epochs when ``by_epoch``, iterations otherwise.  It is the position.
- The scheduler acts while ``begin <= _global_step < end``; ``last_step`` counts its
  active steps from -1, so its clock is ``min(g, end - 1) - begin`` (-1 before
  ``begin``).  ``end`` defaults to ``10**9`` (no end).
- Schedulers of one parameter chain: each multiplies the current value by its own
  factor, so the lr is the base value times every scheduler's factor at its clock
  (the torch wing's chain arithmetic).  mmdet's 1x schedule is
  ``LinearLR(by_epoch=False, end=500)`` then ``MultiStepLR(by_epoch=True, milestones=[8,
  11])``: a warmup counted in iterations and decays counted in epochs.

A Runner checkpoint (``epoch_N.pth``, ``iter_N.pth``) holds ``meta`` (``epoch`` and
``iter``: the completed counts), ``param_schedulers`` (one state dict per scheduler),
``optimizer`` and ``message_hub``; by-epoch schedulers have stepped at the end of the
saved epoch, so each scheduler's ``_global_step`` equals ``meta.epoch`` or ``meta.iter``.

Example:
    >>> state = parse_scheduler({"step_size": 3, "gamma": 0.5, "param_name": "lr",
    ...     "begin": 2, "end": 12, "by_epoch": False, "base_values": [0.1],
    ...     "last_step": 7, "_global_step": 9, "_last_value": [0.025]})
    >>> state.kind, state.position, state.lrs_at(state.position), state.next_change(9)
    ('StepLR', 9, (0.025,), 11)
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, cast

from stepsched_cli import validate
from stepsched_cli.errors import StateError
from stepsched_cli.formats.torch import FACTOR_KINDS, Factor, chain_lrs, parse_warmup
from stepsched_cli.numbers import format_items

__all__ = [
    "END_UNSET",
    "MMEngineScheduler",
    "RunnerState",
    "check_stored",
    "is_runner_checkpoint",
    "is_scheduler_state",
    "parse_runner",
    "parse_scheduler",
]

END_UNSET = 10**9
"""MMEngine's ``INF``: the ``end`` of a scheduler given none."""

_REQUIRED = ("base_values", "last_step", "begin", "end", "by_epoch", "param_name")

# Keys of MMEngine's other schedulers, for a refusal that names them.
_OTHER_SCHEDULERS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("OneCycleLR", ("total_steps", "max_lrs")),
    ("CosineRestartLR", ("periods", "restart_weights")),
    ("CosineAnnealingLR", ("T_max", "eta_min")),
    ("PolyLR", ("power", "eta_min")),
    ("ReduceOnPlateauLR", ("patience", "factor")),
    ("ExponentialLR", ("gamma",)),
)


def is_scheduler_state(value: object) -> bool:
    """Whether ``value`` has the shape of an MMEngine param scheduler's ``state_dict()``.

    Example:
        >>> is_scheduler_state({"base_values": [0.1], "last_step": 0, "begin": 0,
        ...     "end": 10, "by_epoch": True, "param_name": "lr", "gamma": 0.1})
        True
    """
    return isinstance(value, dict) and all(key in value for key in _REQUIRED)


def _kind(fields: Mapping[str, object]) -> str:
    if "step_size" in fields and "gamma" in fields:
        return "StepLR"
    if "milestones" in fields and "gamma" in fields:
        return "MultiStepLR"
    if "start_factor" in fields and "end_factor" in fields:
        return "LinearLR"
    if "factor" in fields and "total_iters" in fields:
        return "ConstantLR"
    for name, keys in _OTHER_SCHEDULERS:
        if all(key in fields for key in keys):
            return name
    return "an unknown scheduler"


@dataclass(frozen=True)
class MMEngineScheduler:
    """One MMEngine param scheduler of the lr, as saved.

    Attributes:
        factor: Its multiplier on its own clock.
        begin: The first global step it acts at.
        end: The global step it stops before (:data:`END_UNSET` for none).
        by_epoch: Whether it counts epochs (else iterations).
        base_values: Every parameter group's initial lr.
        position: Its ``_global_step``.
        stored: Its ``_last_value`` (the groups' lrs after its last step), None if absent.
    """

    factor: Factor
    begin: int
    end: int
    by_epoch: bool
    base_values: tuple[float, ...]
    position: int
    stored: tuple[float, ...] | None = None

    @property
    def kind(self) -> str:
        """Its class name (``StepLR``, ...)."""
        return self.factor.kind

    @property
    def unit(self) -> str:
        """What its position counts: ``epoch`` or ``iteration``."""
        return "epoch" if self.by_epoch else "iteration"

    def clock(self, g: int) -> int:
        """Its own clock (``last_step``) at global step ``g``: -1 before ``begin``."""
        return -1 if g < self.begin else min(g, self.end - 1) - self.begin

    def lrs_at(self, g: int) -> tuple[float, ...]:
        """Every group's lr at global step ``g`` were it the only scheduler."""
        return chain_lrs(self.base_values, [(self.factor, self.clock(g))])

    def next_change(self, g: int) -> int | None:
        """The first global step after ``g`` where its factor changes, None if none does."""
        s = self.factor.next_change(self.clock(g))
        if s is None or self.begin + s >= self.end:
            return None
        return self.begin + s

    def describe(self) -> str:
        """``StepLR(step_size=3, gamma=0.5, begin=2, end=12, by_epoch=False)``."""
        text = self.factor.describe()[:-1]
        end = "" if self.end >= END_UNSET else f", end={self.end}"
        return f"{text}, begin={self.begin}{end}, by_epoch={self.by_epoch})"

    def unrepresentable_reason(self) -> str | None:
        """Why no stepsched schedule is this scheduler exactly, or None when one is."""
        if self.kind not in ("StepLR", "MultiStepLR"):
            return f"a {self.kind} alone is a warmup, not a step decay"
        if self.begin != 0:
            return f"it starts at begin={self.begin}; a stepsched schedule decays from 0"
        last_decay = self.factor.milestones[-1][0] if self.factor.milestones else None
        if self.end < END_UNSET and (last_decay is None or last_decay >= self.end):
            return f"it stops decaying at end={self.end}; a stepsched schedule never stops"
        if any(count > 1 or milestone == 0 for milestone, count in self.factor.milestones):
            return "a milestone is repeated or 0; stepsched milestones are increasing, from 1"
        return None


def check_stored(scheduler: MMEngineScheduler) -> None:
    """Refuse a lone scheduler state whose stored ``_last_value`` its schedule does not give.

    Only a scheduler read alone is checked: in a Runner, each ``_last_value`` is the lr
    after that scheduler's own last step, which other schedulers changed since.

    Raises:
        StateError: a stored value disagrees beyond a relative 1e-9.
    """
    if scheduler.stored is None:
        return
    expected = scheduler.lrs_at(scheduler.position)
    for index, (stored, lr) in enumerate(zip(scheduler.stored, expected, strict=False)):
        if not validate.lrs_agree(stored, lr):
            raise StateError(
                f"field '_last_value[{index}]' is {stored!r} but {scheduler.describe()} gives "
                f"{lr!r} at {scheduler.unit} {scheduler.position}: the state is inconsistent "
                "(was it one of several schedulers of the lr? read the Runner checkpoint)",
                parameter="_last_value",
            )


def _label_error(label: str, error: StateError) -> StateError:
    return StateError(f"{label}: {error}" if label else str(error), parameter=error.parameter)


def parse_scheduler(document: object, label: str = "") -> MMEngineScheduler:
    """Validate one MMEngine param scheduler state dict of the lr.

    ``label`` names it in messages (``param_schedulers[1]``).

    Raises:
        StateError: not a scheduler of the lr, a kind stepsched does not read (named),
            a field of the wrong type or range, ``last_step`` inconsistent with
            ``_global_step``, ``begin`` and ``end``.
    """
    if not is_scheduler_state(document):
        raise StateError(f"{label or 'it'} is not an MMEngine param scheduler state dict")
    fields = cast(dict[str, Any], document)
    try:
        return _parse_fields(fields)
    except StateError as error:
        raise _label_error(label, error) from None


def _parse_fields(fields: dict[str, Any]) -> MMEngineScheduler:
    if fields["param_name"] != "lr":
        raise StateError(
            f"an MMEngine scheduler of {validate.shown(fields['param_name'])}, not of the lr",
            parameter="param_name",
        )
    kind = _kind(fields)
    if kind not in FACTOR_KINDS:
        raise StateError(
            f"an MMEngine {kind} is not a step decay; stepsched reads MMEngine StepLR and "
            "MultiStepLR (after LinearLR or ConstantLR warmups)",
            parameter="param_name",
        )
    factor = _factor(fields, kind)
    begin = _integer(fields, "begin", 0)
    end = _integer(fields, "end", begin + 1)
    by_epoch = validate.boolean(fields["by_epoch"], "field 'by_epoch'", error=StateError)
    bases = fields["base_values"]
    if not isinstance(bases, list) or not bases:
        raise StateError(
            f"field 'base_values' must be a non-empty list, got {validate.shown(bases)}",
            parameter="base_values",
        )
    base_values = tuple(_lr(value, f"base_values[{i}]") for i, value in enumerate(bases))
    last_step = _integer(fields, "last_step", -1)
    position = _integer(fields, "_global_step", 0) if "_global_step" in fields else None
    if position is None:
        raise StateError(
            "field '_global_step' is missing (mmengine before 0.7 did not save it): its "
            "position is not established",
            parameter="_global_step",
        )
    stored = fields.get("_last_value")
    scheduler = MMEngineScheduler(
        factor,
        begin,
        end,
        by_epoch,
        base_values,
        position,
        None if stored is None else tuple(_lr(v, "_last_value") for v in _list(stored)),
    )
    if scheduler.clock(position) != last_step:
        raise StateError(
            f"field 'last_step' is {last_step} but _global_step {position} with begin "
            f"{begin} and end {end} gives {scheduler.clock(position)}: the state is "
            "inconsistent",
            parameter="last_step",
        )
    return scheduler


def _factor(fields: dict[str, Any], kind: str) -> Factor:
    if kind in ("LinearLR", "ConstantLR"):
        return cast(Factor, parse_warmup(fields, kind))
    gamma = _lr(fields["gamma"], "gamma")
    if not 0 < gamma < 1:
        raise StateError(f"field 'gamma' must be between 0 and 1, got {gamma!r}", parameter="gamma")
    if kind == "StepLR":
        return Factor("StepLR", gamma=gamma, step_size=_integer(fields, "step_size", 1))
    counts: dict[int, int] = {}
    milestones = fields["milestones"]
    items = milestones.items() if isinstance(milestones, Mapping) else None
    if items is None:
        raise StateError(
            f"field 'milestones' must be a Counter, got {validate.shown(milestones)}",
            parameter="milestones",
        )
    for milestone, count in items:
        key = validate.integer(milestone, "field 'milestones'", error=StateError)
        counts[key] = validate.integer(
            count, f"field 'milestones[{key}]'", minimum=1, error=StateError
        )
    return Factor("MultiStepLR", gamma=gamma, milestones=tuple(sorted(counts.items())))


def _integer(fields: Mapping[str, object], name: str, minimum: int) -> int:
    return validate.integer(
        fields.get(name), f"field {name!r}", minimum=minimum, error=StateError, parameter=name
    )


def _lr(value: object, name: str) -> float:
    number = validate.finite_number(value, f"field {name!r}", error=StateError, parameter=name)
    if number < 0:
        raise StateError(f"field {name!r} must be >= 0, got {number!r}", parameter=name)
    return number


def _list(value: object) -> list[object]:
    if not isinstance(value, list | tuple):
        raise StateError(f"field '_last_value' must be a list, got {validate.shown(value)}")
    return list(value)


# -- Runner checkpoints ------------------------------------------------------------


def is_runner_checkpoint(value: object) -> bool:
    """Whether a loaded checkpoint is an MMEngine Runner's: ``meta`` and ``param_schedulers``.

    Example:
        >>> is_runner_checkpoint({"meta": {"epoch": 1, "iter": 4}, "param_schedulers": []})
        True
    """
    if not isinstance(value, dict):
        return False
    meta = value.get("meta")
    return isinstance(meta, dict) and "iter" in meta and "param_schedulers" in value


@dataclass(frozen=True)
class RunnerState:
    """The lr schedulers of a Runner checkpoint, at its saved position.

    Attributes:
        epoch: ``meta.epoch``: the epochs completed.
        iteration: ``meta.iter``: the iterations completed.
        schedulers: Each param scheduler, in the Runner's order.
    """

    epoch: int
    iteration: int
    schedulers: tuple[MMEngineScheduler, ...]

    @property
    def lrs(self) -> tuple[float, ...]:
        """Every group's lr now: the base values times each scheduler's factor."""
        members = [(s.factor, s.clock(s.position)) for s in self.schedulers]
        return chain_lrs(self.schedulers[0].base_values, members)

    @property
    def by_epoch(self) -> bool:
        """Whether the run counts epochs: a scheduler counts epochs, or ``meta.epoch`` > 0."""
        return self.epoch > 0 or any(s.by_epoch for s in self.schedulers)

    def describe(self) -> str:
        """The schedulers, as the config lists them."""
        return "[" + format_items([s.describe() for s in self.schedulers]) + "]"

    def next_changes(self) -> list[tuple[str, int, str]]:
        """Each scheduler's next change: ``(unit, global step, kind)``, sooner first."""
        found = []
        for scheduler in self.schedulers:
            following = scheduler.next_change(scheduler.position)
            if following is not None:
                found.append((scheduler.unit, following, scheduler.kind))
        return sorted(found, key=lambda change: (change[0], change[1]))


def parse_runner(checkpoint: Mapping[str, object]) -> RunnerState:
    """The lr schedulers of a Runner checkpoint (:func:`is_runner_checkpoint` accepted it).

    Raises:
        StateError: no lr scheduler, the schedulers of several optimizers (a dict),
            a scheduler stepsched does not read (named), schedulers of different
            parameter groups, or a scheduler whose position is not ``meta.epoch`` (by
            epoch) or ``meta.iter``.
    """
    meta = cast(dict[str, Any], checkpoint["meta"])
    epoch = _integer(meta, "epoch", 0) if "epoch" in meta else 0
    iteration = _integer(meta, "iter", 0)
    listed = checkpoint["param_schedulers"]
    if isinstance(listed, Mapping):
        raise StateError(
            "param_schedulers holds the schedulers of several optimizers "
            f"({validate.listed(listed)}); stepsched reads a Runner with one optimizer",
            parameter="param_schedulers",
        )
    if not isinstance(listed, list) or not listed:
        raise StateError("param_schedulers holds no scheduler", parameter="param_schedulers")
    schedulers = tuple(
        parse_scheduler(state, f"param_schedulers[{index}]") for index, state in enumerate(listed)
    )
    for index, scheduler in enumerate(schedulers):
        expected = epoch if scheduler.by_epoch else iteration
        if scheduler.position != expected:
            raise StateError(
                f"param_schedulers[{index}] ({scheduler.kind}, by_epoch={scheduler.by_epoch}) "
                f"is at {scheduler.unit} {scheduler.position} but meta says {scheduler.unit} "
                f"{expected}: its position is not established",
                parameter="_global_step",
            )
    if len({scheduler.base_values for scheduler in schedulers}) > 1:
        raise StateError(
            "the param schedulers disagree on base_values: they do not drive one optimizer",
            parameter="base_values",
        )
    return RunnerState(epoch, iteration, schedulers)
