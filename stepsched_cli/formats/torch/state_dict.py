"""torch's ``StepLR`` and ``MultiStepLR`` state dicts: read, evaluate, convert and write.

The module imports only the standard library and stepsched; torch is never needed.
Like the other framework modules (``timm``, ``keras``, ``optax``) it offers:

- ``FORMAT_NAME`` (``"torch"``), ``detect(document)`` and ``parse(document)``: a state
  dict as ``json.dump(scheduler.state_dict(), f)`` writes it (torch 2.0 to current: with
  or without ``verbose``, ``_is_initial``, ``_step_count``,
  ``_get_lr_called_within_step``, ``_last_lr``), or as found in a checkpoint.
- :class:`TorchStepState`: the parsed state, evaluated with torch's own semantics
  (:meth:`~TorchStepState.lrs_at`, :meth:`~TorchStepState.next_boundary`), converted
  to a :class:`~stepsched_cli.scheduler.SchedulerState` where that is exact
  (:meth:`~TorchStepState.to_state`).
- :func:`to_torch_state_dict` / :func:`dumps_torch_state`: the state dict torch itself
  would hold at a :class:`SchedulerState`'s position, to pass to
  ``scheduler.load_state_dict``.

Checkpoints are read by :mod:`~stepsched_cli.formats.torch.container` (the
``torch.save`` file) and :mod:`~stepsched_cli.formats.torch.search` (finding the
states in it), which hand the chosen state dict to :func:`parse` here; this module
imports neither.

Semantics (torch 2.x ``torch/optim/lr_scheduler.py``): ``last_epoch`` counts
``scheduler.step()`` calls since construction (the constructor's own step makes it 0)
and is stepsched's position.  It has no unit: it counts epochs if you step once per
epoch and optimizer steps if you step once per batch, so a state read here is reported
in ``"step"`` mode and a stepsched state in either mode is written with its position
as ``last_epoch``.  StepLR decays at every positive multiple of ``step_size``.
MultiStepLR keeps its milestones in a ``Counter`` and multiplies by
``gamma ** count`` when ``last_epoch`` equals a milestone, so a repeated milestone
decays several times at once and a milestone 0 decays in the constructor already;
stepsched's schedules need strictly increasing milestones >= 1, so such states are
evaluated here but refused by :meth:`TorchStepState.to_state`.  Each parameter group
decays from its own ``base_lrs`` entry; the schedule's ``initial_lr`` is the first.

Two traps of torch worth knowing, both checked with torch 2.13:

- ``scheduler.load_state_dict`` does not touch the optimizer's lrs, and torch computes
  each new lr from the optimizer's current one.  Load the optimizer's state too (build
  the scheduler first, then ``optimizer.load_state_dict``), or the run continues from
  whatever lr the fresh optimizer has.
- JSON object keys are strings, so after ``json.load`` a MultiStepLR's milestones are
  ``{"30": 1}`` and torch, comparing them with an int ``last_epoch``, never decays
  again.  :func:`torch_state_dict_from_json` restores int keys.

Example:
    >>> state = parse({"step_size": 30, "gamma": 0.1, "base_lrs": [0.1],
    ...                "last_epoch": 75, "_last_lr": [0.0010000000000000002]})
    >>> state.kind, state.lrs, state.next_boundary(state.last_epoch)
    ('StepLR', (0.001,), 90)
    >>> repeated = parse({"milestones": {"30": 2, "80": 1}, "gamma": 0.1,
    ...                   "base_lrs": [0.1], "last_epoch": 45})
    >>> repeated.lrs, repeated.next_boundary(45)
    ((0.001,), 80)
    >>> repeated.unrepresentable_reason().split(";")[0]
    'milestone 30 appears 2 times (torch decays by gamma**2 there)'

Size: about 500 lines: one family, torch's two state-dict kinds, parsed and evaluated.
"""

from __future__ import annotations

import sys
from collections import Counter
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal, cast

from stepsched_cli import validate
from stepsched_cli.errors import ConversionError, StateError
from stepsched_cli.formats.hints import HELP
from stepsched_cli.formats.torch.writer import (
    CHAIN_REPLAY_BUDGET,
    check_writable,
    dumps_torch_state,
    to_torch_state_dict,
)
from stepsched_cli.numbers import format_items
from stepsched_cli.schedule import StepSchedule, check_position, scaled_power
from stepsched_cli.scheduler import SchedulerState
from stepsched_cli.validate import INTEGER_LIMIT, MAX_INTEGER_DIGITS

__all__ = [
    "CHAIN_REPLAY_BUDGET",
    "CHECKPOINT_FORMAT_NAME",
    "FORMAT_NAME",
    "INTEGER_LIMIT",
    "MAX_MILESTONE_COUNT",
    "TorchStepState",
    "check_writable",
    "detect",
    "dumps_torch_state",
    "guess_scheduler_type",
    "parse",
    "parse_base_lrs",
    "to_torch_state_dict",
    "torch_state_dict_from_json",
]

FORMAT_NAME = "torch"
CHECKPOINT_FORMAT_NAME = "torch-checkpoint"

TorchKind = Literal["StepLR", "MultiStepLR"]


OPTIMIZER_HELP = (
    "An optimizer state saved in a separate file (Accelerate's optimizer.bin, an "
    "optimizer.pt, or JSON): its param groups' lrs are checked against the scheduler."
)


@dataclass(frozen=True)
class TorchHints:
    """What a torch state dict read as JSON takes from the caller.

    Attributes:
        optimizer: A file holding the optimizer's state (Accelerate's ``optimizer.bin``,
            an ``optimizer.pt``, JSON): its param groups are checked against the
            scheduler, each disagreement a warning in the reading.
    """

    applies_to: ClassVar[str] = (
        "torch scheduler states only (torch, torch-checkpoint and json-checkpoint files)"
    )

    optimizer: str | None = field(default=None, metadata={HELP: OPTIMIZER_HELP})


@dataclass(frozen=True)
class CheckpointHints:
    """What a checkpoint takes from the caller.

    Attributes:
        key: Which of several scheduler states to use, by its key path as listed
            (``lr_schedulers[0]``).
        optimizer: As ``TorchHints.optimizer``.
    """

    applies_to: ClassVar[str] = "checkpoints only (torch-checkpoint and json-checkpoint files)"

    key: str | None = field(
        default=None,
        metadata={
            HELP: "For a checkpoint with several scheduler states: the key path of the one "
            "to use, as listed (e.g. lr_schedulers[0])."
        },
    )
    optimizer: str | None = field(default=None, metadata={HELP: OPTIMIZER_HELP})


def _is_tensor_stub(value: object) -> bool:
    """Whether ``value`` is a tensor read from a checkpoint (a ``TensorStub``).

    Only the restricted unpickler makes those, so when it was never imported nothing
    can be one: a JSON state dict is read without importing the pickle machinery.
    """
    reader = sys.modules.get("stepsched_cli.formats.sandbox.unpickler")
    return reader is not None and isinstance(value, reader.TensorStub)


# Every integer field (``last_epoch``, ``step_size``, a milestone) must be below
# INTEGER_LIMIT, the 40 digits the JSON readers accept, so a state dict saved as JSON and
# the same state pickled in a checkpoint (whose integers have no length limit of their
# own) are accepted or refused alike.

MAX_MILESTONE_COUNT = 1_000_000
"""The largest count accepted for one MultiStepLR milestone.

A count is how often the milestone appears in the list given to torch's constructor;
a million repeats is no real schedule, only a crafted ``Counter``.
"""

_PUBLIC_KEYS = frozenset({"step_size", "milestones", "gamma", "base_lrs", "last_epoch", "verbose"})
_BOOLEAN_KEYS = ("_is_initial", "_get_lr_called_within_step")

# Keys that identify torch's other schedulers, for a refusal that names them.
_OTHER_SCHEDULERS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("SequentialLR", ("_schedulers", "_milestones")),
    ("ChainedScheduler", ("_schedulers",)),
    ("ReduceLROnPlateau", ("min_lrs", "patience")),
    ("OneCycleLR", ("total_steps", "max_lrs")),
    ("OneCycleLR", ("total_steps", "_schedule_phases")),
    ("CyclicLR", ("max_lrs", "total_size")),
    ("CosineAnnealingWarmRestarts", ("T_0", "T_mult")),
    ("CosineAnnealingLR", ("T_max", "eta_min")),
    ("LambdaLR or MultiplicativeLR", ("lr_lambdas",)),
    ("LinearLR", ("start_factor", "end_factor")),
    ("ConstantLR", ("factor", "total_iters")),
    ("PolynomialLR", ("power", "total_iters")),
    ("ExponentialLR", ("gamma",)),
)


# -- the state ---------------------------------------------------------------


@dataclass(frozen=True)
class TorchStepState:
    """A torch StepLR or MultiStepLR state, evaluated the way torch evaluates it.

    Attributes:
        kind: ``"StepLR"`` or ``"MultiStepLR"``.
        last_epoch: torch's counter (stepsched's position), >= 0.
        base_lrs: Every parameter group's initial lr, each finite and >= 0.
        gamma: The decay factor, 0 < gamma < 1.
        step_size: StepLR's period, >= 1 (None for MultiStepLR).
        milestones: MultiStepLR's ``Counter`` as sorted ``(milestone, count)`` pairs,
            milestones >= 0 and counts from 1 to :data:`MAX_MILESTONE_COUNT` (None
            for StepLR).
    """

    kind: TorchKind
    last_epoch: int
    base_lrs: tuple[float, ...]
    gamma: float
    step_size: int | None = None
    milestones: tuple[tuple[int, int], ...] | None = None

    def decays_at(self, t: int) -> int:
        """How many times torch has multiplied by gamma once ``last_epoch`` is ``t``."""
        position = check_position(t)
        if self.milestones is None:
            return position // self._step_size
        return sum(count for milestone, count in self.milestones if milestone <= position)

    def lrs_at(self, t: int) -> tuple[float, ...]:
        """Every group's lr at position ``t``: ``base_lr * gamma ** decays``, rounded once.

        torch itself multiplies the previous lr, so its values may differ from these by
        a few ulps after many decays.
        """
        decays = self.decays_at(t)
        return tuple(
            0.0 if base == 0 else scaled_power(base, self.gamma, decays) for base in self.base_lrs
        )

    @property
    def lrs(self) -> tuple[float, ...]:
        """Every group's lr at ``last_epoch``."""
        return self.lrs_at(self.last_epoch)

    def next_boundary(self, t: int) -> int | None:
        """The first position after ``t`` where the lr changes, None if it never does."""
        position = check_position(t)
        if self.milestones is None:
            return (position // self._step_size + 1) * self._step_size
        return next((m for m, _ in self.milestones if m > position), None)

    def boundaries_after(self, t: int) -> Iterator[int]:
        """The positions after ``t`` where the lr changes, in order (endless for StepLR)."""
        following = self.next_boundary(t)
        while following is not None:
            yield following
            following = self.next_boundary(following)

    def milestones_text(self) -> str | None:
        """The milestones for people, a repeat as its count: ``30 (x2), 80``.

        A repeat is never written out: a crafted ``Counter`` may claim a count far too
        large to list.
        """
        if self.milestones is None:
            return None
        return format_items(
            [
                str(milestone) if count == 1 else f"{milestone} (x{count})"
                for milestone, count in self.milestones
            ]
        )

    @property
    def _step_size(self) -> int:
        if self.step_size is None:  # pragma: no cover - parse() sets one of the two
            raise StateError("a StepLR state needs step_size")
        return self.step_size

    def describe(self) -> str:
        """A one-line description: ``StepLR(step_size=30, gamma=0.1), base_lrs 0.1``.

        Example:
            >>> parse({"milestones": {"30": 2, "80": 1}, "gamma": 0.1, "base_lrs": [0.1],
            ...        "last_epoch": 0}).describe()
            'MultiStepLR(milestones=[30 (x2), 80], gamma=0.1), base_lrs 0.1'
        """
        if self.milestones is None:
            decay = f"step_size={self.step_size}"
        else:
            decay = f"milestones=[{self.milestones_text()}]"
        lrs = ", ".join(f"{lr:.6g}" for lr in self.base_lrs)
        return f"{self.kind}({decay}, gamma={self.gamma:.6g}), base_lrs {lrs}"

    def unrepresentable_reason(self) -> str | None:
        """Why no stepsched schedule reproduces this state exactly, or None if one does."""
        if self.base_lrs[0] == 0:
            return "base_lrs[0] is 0, and a stepsched schedule's initial_lr must be > 0"
        for milestone, count in self.milestones or ():
            if count > 1:
                return (
                    f"milestone {milestone} appears {count} times (torch decays by "
                    f"gamma**{count} there); stepsched milestones must be strictly increasing"
                )
            if milestone == 0:
                return (
                    "milestone 0 decays in torch's constructor already; stepsched "
                    "milestones must be >= 1"
                )
        return None

    def to_state(self) -> SchedulerState:
        """The equivalent stepsched state: same position, lrs and future decays.

        Raises:
            ConversionError: the state is not representable (see
                :meth:`unrepresentable_reason`).
        """
        reason = self.unrepresentable_reason()
        if reason is not None:
            raise ConversionError(f"this {self.kind} state cannot be a stepsched state: {reason}")
        schedule = StepSchedule(
            initial_lr=self.base_lrs[0],
            step_size=self.step_size,
            gamma=self.gamma,
            milestones=None if self.milestones is None else tuple(m for m, _ in self.milestones),
        )
        return SchedulerState(
            schedule=schedule, position=self.last_epoch, group_initial_lrs=self.base_lrs
        )


# -- reading -----------------------------------------------------------------


def guess_scheduler_type(state: Mapping[str, object]) -> str:
    """The torch scheduler class a state dict most likely came from, by its keys.

    Example:
        >>> guess_scheduler_type({"T_max": 10, "eta_min": 0, "base_lrs": [0.1]})
        'CosineAnnealingLR'
    """
    if "step_size" in state and "milestones" not in state and "max_lrs" not in state:
        return "StepLR"
    if "milestones" in state:
        return "MultiStepLR"
    for name, keys in _OTHER_SCHEDULERS:
        if all(key in state for key in keys):
            return name
    return "an unknown scheduler"


def detect(document: object) -> bool:
    """Whether a parsed JSON document looks like a torch LR scheduler state dict.

    Any torch scheduler counts (a cosine one is then refused by :func:`parse` with the
    reason), so that it is not mistaken for another format.
    """
    return (
        isinstance(document, Mapping)
        and "last_epoch" in document
        and "base_lrs" in document
        and "format" not in document
    )


def parse(document: object) -> TorchStepState:
    """Validate a torch StepLR or MultiStepLR state dict.

    Accepts the key sets of torch 2.0 to current; other keys starting with ``_`` are
    torch's bookkeeping and ignored.  ``milestones`` may be a dict or ``Counter`` with
    int or decimal-string keys (JSON turns the ints into strings), or a list.  A stored
    ``_last_lr`` must agree with ``base_lrs * gamma ** decays`` to a relative 1e-9
    (torch drifts by a few ulps only).

    Raises:
        StateError: not a dict (or a dict with keys that are not strings, possible in
            a pickle), another kind of scheduler (``not a step-decay
            scheduler: it looks like a CosineAnnealingLR (it has T_max, eta_min)``), a
            field of the wrong type or range, or a ``_last_lr`` that disagrees.
    """
    kind = _step_kind(document)
    fields = cast(Mapping[str, object], document)
    last_epoch = _integer(fields["last_epoch"], "last_epoch", 0)
    base_lrs = parse_base_lrs(fields["base_lrs"])
    gamma = _number(fields["gamma"], "gamma")
    if not 0 < gamma < 1:
        raise StateError(
            f"field 'gamma' must be a number with 0 < gamma < 1, got {_shown(gamma)}",
            parameter="gamma",
        )
    for name in _BOOLEAN_KEYS:
        if name in fields:
            validate.boolean(fields[name], f"field {name!r}", error=StateError, parameter=name)
    if "_step_count" in fields:
        _integer(fields["_step_count"], "_step_count", 0)
    if kind == "StepLR":
        state = TorchStepState(
            kind,
            last_epoch,
            base_lrs,
            gamma,
            step_size=_integer(fields["step_size"], "step_size", 1),
        )
    else:
        state = TorchStepState(
            kind, last_epoch, base_lrs, gamma, milestones=_milestones(fields["milestones"])
        )
    if "_last_lr" in fields:
        _check_last_lrs(state, fields["_last_lr"])
    return state


def _step_kind(document: object) -> TorchKind:
    """Which step-decay scheduler a state dict is, after checking its keys.

    Raises:
        StateError: not a dict of string keys, another scheduler, an unknown public
            key, or a required one missing.
    """
    if not isinstance(document, Mapping):
        raise StateError(f"a torch state dict must be an object, got {type(document).__name__}")
    kind = guess_scheduler_type(document)  # by membership tests: any keys will do
    validate.string_keys(document, "a torch state dict", error=StateError)
    if kind not in ("StepLR", "MultiStepLR"):
        keys = validate.listed(
            key for key in document if not key.startswith("_") and key != "base_lrs"
        )
        why = _NOT_STEP.get(kind, "")
        raise StateError(
            f"not a step-decay scheduler: it looks like {_with_article(kind)}{why} (it has "
            f"{keys or 'no public keys'}); stepsched reads torch StepLR and MultiStepLR"
        )
    unknown = sorted(key for key in document if not key.startswith("_") and key not in _PUBLIC_KEYS)
    if unknown:
        raise StateError(
            f"unknown field {unknown[0]!r} in a torch {kind} state dict", parameter=unknown[0]
        )
    for name in ("last_epoch", "base_lrs", "gamma"):
        if name not in document:
            raise StateError(
                f"missing required field {name!r} of a torch {kind} state dict", parameter=name
            )
    return cast(TorchKind, kind)


_NOT_STEP = {
    "ReduceLROnPlateau": ", whose lr follows a metric, not the position",
    "OneCycleLR": ", a one-cycle schedule",
    "LambdaLR or MultiplicativeLR": ", whose lr is a Python function torch does not save",
}
"""Why a scheduler torch names is no schedule stepsched reads, where its name says too little."""


def _with_article(kind: str) -> str:
    return kind if kind.startswith("an ") else f"a {kind}"


def _number(value: object, name: str) -> float:
    if _is_tensor_stub(value):
        raise StateError(
            f"field {name!r} is a tensor, whose value stepsched never reads", parameter=name
        )
    return validate.finite_number(
        value, f"field {name!r}", expected="a number", error=StateError, parameter=name
    )


_shown = validate.shown


def _integer(value: object, name: str, minimum: int) -> int:
    return validate.integer(
        value, f"field {name!r}", minimum=minimum, error=StateError, parameter=name
    )


def parse_base_lrs(value: object) -> tuple[float, ...]:
    """``base_lrs`` as every group's base lr: a non-empty list of numbers >= 0.

    Raises:
        StateError: another type, an empty list, or a number that is not one or < 0.
    """
    if not isinstance(value, list | tuple) or not value:
        raise StateError(
            f"field 'base_lrs' must be a non-empty list of numbers, got {_shown(value)}"
        )
    lrs = tuple(_number(lr, f"base_lrs[{index}]") for index, lr in enumerate(value))
    for index, lr in enumerate(lrs):
        if lr < 0:
            raise StateError(f"field 'base_lrs[{index}]' must be a number >= 0, got {_shown(lr)}")
    return lrs


def _milestone(key: object) -> int:
    if isinstance(key, str):
        parsed = validate.integer_text(key)
        key = key if parsed is None else parsed
    if isinstance(key, bool) or not isinstance(key, int) or key < 0:
        raise StateError(
            f"field 'milestones' must have integer keys >= 0, got {_shown(key)}",
            parameter="milestones",
        )
    if key >= INTEGER_LIMIT:
        raise StateError(
            f"field 'milestones' must have integer keys below 10**{MAX_INTEGER_DIGITS}, "
            f"got {_shown(key)}",
            parameter="milestones",
        )
    return key


def _milestones(value: object) -> tuple[tuple[int, int], ...]:
    counts: Counter[int] = Counter()
    if isinstance(value, Mapping):
        for key, count in value.items():
            counts[_milestone(key)] += _integer(count, f"milestones[{_shown(key)}]", 1)
    elif isinstance(value, list | tuple):
        for key in value:
            counts[_milestone(key)] += 1
    else:
        raise StateError(
            "field 'milestones' must be an object of milestone: count (or a list), "
            f"got {_shown(value)}"
        )
    for milestone, count in counts.items():
        if count > MAX_MILESTONE_COUNT:
            raise StateError(
                f"field 'milestones' repeats milestone {milestone} {count} times, more than "
                f"the limit of {MAX_MILESTONE_COUNT}"
            )
    return tuple(sorted(counts.items()))


def _check_last_lrs(state: TorchStepState, value: object) -> None:
    if not isinstance(value, list | tuple):
        raise StateError(f"field '_last_lr' must be a list of numbers, got {_shown(value)}")
    if len(value) != len(state.base_lrs):
        raise StateError(
            f"field '_last_lr' has {len(value)} entries but 'base_lrs' has {len(state.base_lrs)}"
        )
    for index, (stored, expected) in enumerate(zip(value, state.lrs, strict=True)):
        if _is_tensor_stub(stored):
            continue  # a tensor lr: its value is in the storage bytes, which are not read
        number = _number(stored, f"_last_lr[{index}]")
        if not _lrs_agree(number, expected):
            raise StateError(
                f"field '_last_lr[{index}]' is {number!r} but {state.describe()} gives "
                f"{expected!r} at last_epoch {state.last_epoch}: the state is inconsistent "
                "(was the lr changed by hand, or by a second scheduler?)"
            )


_lrs_agree = validate.lrs_agree


def torch_state_dict_from_json(document: Mapping[str, Any]) -> dict[str, Any]:
    """A JSON-loaded torch state dict made ready for ``scheduler.load_state_dict``.

    JSON turns MultiStepLR's int milestone keys into strings, and torch, testing
    ``last_epoch in milestones``, would then never decay again; this restores a
    ``Counter`` with int keys.  Other fields are copied unchanged.

    Example:
        >>> torch_state_dict_from_json({"milestones": {"30": 2}, "last_epoch": 3})
        {'milestones': Counter({30: 2}), 'last_epoch': 3}
    """
    result = dict(document)
    if "milestones" in result:
        result["milestones"] = Counter(dict(_milestones(result["milestones"])))
    return result
