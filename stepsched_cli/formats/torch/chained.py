"""torch's ``ChainedScheduler`` of step decays and warmups, read as one schedule.

``ChainedScheduler([StepLR(...), MultiStepLR(...)])`` steps every member at once, and
each multiplies the optimizer's current lr by its own factor, so the lr is the base lr
times every member's factor (:mod:`~stepsched_cli.formats.torch.factors`).  Its
``state_dict()`` (torch 2.x) is ``{"_last_lr": [...], "_schedulers": [member state
dicts]}``: no ``last_epoch`` of its own, every member at the same ``last_epoch``, and each
member's ``_last_lr`` the lr after its own step (the chain's lr for the last member
only).  A member alone is not the schedule: reading one as the whole would miss the
other members' decays.

Members read: StepLR, MultiStepLR, ConstantLR and LinearLR.  Any other member (a
cosine, a SequentialLR nested in the chain, ...) is refused naming the chain and the
member.

Example:
    >>> state = parse({"_last_lr": [0.00025], "_schedulers": [
    ...     {"step_size": 10, "gamma": 0.5, "base_lrs": [0.1], "last_epoch": 27},
    ...     {"milestones": {15: 1, 25: 1}, "gamma": 0.1, "base_lrs": [0.1], "last_epoch": 27}]})
    >>> state.lrs, state.next_change(27), state.describe()
    ((0.00025,), 30, 'ChainedScheduler([StepLR(step_size=10, gamma=0.5), \
MultiStepLR(milestones=[15, 25], gamma=0.1)]), base_lrs 0.1')
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any, cast

from stepsched_cli import validate
from stepsched_cli.errors import StateError
from stepsched_cli.formats.torch import state_dict as torch_format
from stepsched_cli.formats.torch.factors import Factor, chain_lrs, parse_warmup
from stepsched_cli.formats.torch.sequential import check_stored_lrs, stored_lrs
from stepsched_cli.numbers import format_items
from stepsched_cli.schedule import check_position

__all__ = ["ChainedState", "is_chained_state", "parse"]

_EXPECTED = "stepsched reads a ChainedScheduler of StepLR, MultiStepLR, ConstantLR and LinearLR"


def is_chained_state(value: object) -> bool:
    """Whether ``value`` has the shape of a ``ChainedScheduler.state_dict()``.

    A SequentialLR's state has ``_milestones`` besides ``_schedulers``; a chain has not.

    Example:
        >>> is_chained_state({"_last_lr": [0.1], "_schedulers": []})
        True
        >>> is_chained_state({"_schedulers": [], "_milestones": [5], "last_epoch": 0})
        False
    """
    return (
        isinstance(value, dict)
        and isinstance(value.get("_schedulers"), list)
        and "_milestones" not in value
    )


@dataclass(frozen=True)
class ChainedState:
    """A ChainedScheduler whose members are step decays and warmups.

    Attributes:
        last_epoch: The members' common ``last_epoch`` (the chain's position).
        base_lrs: Every parameter group's base lr (the members' common ``base_lrs``).
        members: Each member, in the chain's order.
        torch_lrs: The chain's stored ``_last_lr``, None when absent.
    """

    last_epoch: int
    base_lrs: tuple[float, ...]
    members: tuple[Factor, ...]
    torch_lrs: tuple[float, ...] | None = None

    def lrs_at(self, t: int) -> tuple[float, ...]:
        """Every group's lr at position ``t``: the base lr times each member's factor."""
        position = check_position(t)
        return chain_lrs(self.base_lrs, [(member, position) for member in self.members])

    @property
    def lrs(self) -> tuple[float, ...]:
        """Every group's lr at ``last_epoch``."""
        return self.lrs_at(self.last_epoch)

    def next_change(self, t: int) -> int | None:
        """The first position after ``t`` where some member's factor changes."""
        changes = [member.next_change(t) for member in self.members]
        found = [change for change in changes if change is not None]
        return min(found) if found else None

    def changes_after(self, t: int) -> Iterator[int]:
        """The positions after ``t`` where the lr may change, in order (endless with a StepLR)."""
        following = self.next_change(t)
        while following is not None:
            yield following
            following = self.next_change(following)

    @property
    def kinds(self) -> tuple[str, ...]:
        """The members' classes, in order."""
        return tuple(member.kind for member in self.members)

    def unrepresentable_reason(self) -> str:
        """Why a stepsched state does not hold this chain (it is shown by torch's rules)."""
        return (
            f"a chain of {format_items(self.kinds)} multiplies the base lr by each member's "
            "factor; a stepsched schedule is one step decay (with one warmup)"
        )

    def describe(self) -> str:
        """``ChainedScheduler([StepLR(...), MultiStepLR(...)]), base_lrs 0.1``."""
        members = format_items([member.describe() for member in self.members])
        lrs = format_items([f"{lr:.6g}" for lr in self.base_lrs])
        return f"ChainedScheduler([{members}]), base_lrs {lrs}"


def _member(child: object, index: int) -> tuple[Factor, int, tuple[float, ...]]:
    """One member's factor, ``last_epoch`` and ``base_lrs``."""
    label = f"_schedulers[{index}]"
    if not isinstance(child, Mapping):
        raise StateError(f"field '{label}' must be a scheduler state dict; {_EXPECTED}")
    kind = _kind(child)
    if kind not in ("StepLR", "MultiStepLR", "ConstantLR", "LinearLR"):
        raise StateError(
            f"a ChainedScheduler whose member {label} is {kind}, not a step decay or a "
            f"warmup; {_EXPECTED}",
            parameter="_schedulers",
        )
    fields = {key: value for key, value in child.items() if key != "_last_lr"}
    try:
        if kind in ("StepLR", "MultiStepLR"):
            step = torch_format.parse(fields)
            factor = Factor(
                step.kind,
                gamma=step.gamma,
                step_size=step.step_size,
                milestones=step.milestones or (),
            )
            return factor, step.last_epoch, step.base_lrs
        warmup = parse_warmup(fields, label)
        last_epoch = validate.integer(
            fields.get("last_epoch"),
            f"field '{label}.last_epoch'",
            error=StateError,
            parameter="last_epoch",
        )
        base_lrs = torch_format.parse_base_lrs(fields.get("base_lrs"))
    except StateError as error:
        raise StateError(f"its member {label}: {error}", parameter=error.parameter) from None
    return cast(Factor, warmup), last_epoch, base_lrs


def _kind(child: Mapping[str, object]) -> str:
    """The member's class, by its keys, with an article for messages."""
    if is_chained_state(child):
        return "a ChainedScheduler (a chain nested in the chain)"
    if "_milestones" in child and "_schedulers" in child:
        return "a SequentialLR (a scheduler nested in the chain)"
    if "start_factor" in child and "end_factor" in child and "total_iters" in child:
        return "LinearLR"
    if "factor" in child and "total_iters" in child and "power" not in child:
        return "ConstantLR"
    if "min_lrs" in child and "patience" in child:
        return "a ReduceLROnPlateau"
    guessed = torch_format.guess_scheduler_type(child)
    if guessed in ("StepLR", "MultiStepLR"):
        return guessed
    return guessed if guessed.startswith("an ") else f"a {guessed}"


def parse(document: object) -> ChainedState:
    """Validate a ChainedScheduler state dict of step decays and warmups.

    Raises:
        StateError: a member of another kind (named), members at different positions
            or with different ``base_lrs``, a field of the wrong type or range, or a
            stored ``_last_lr`` that disagrees with the product of the members' factors
            beyond a relative 1e-9.
    """
    if not is_chained_state(document):
        raise StateError(f"not a ChainedScheduler state dict; {_EXPECTED}")
    fields = cast(dict[str, Any], document)
    children = fields["_schedulers"]
    if not children:
        raise StateError("a ChainedScheduler with no members", parameter="_schedulers")
    members = [_member(child, index) for index, child in enumerate(children)]
    positions = {last_epoch for _, last_epoch, _ in members}
    bases = {base_lrs for _, _, base_lrs in members}
    if len(positions) > 1:
        raise StateError(
            f"the members of a ChainedScheduler disagree on last_epoch "
            f"({format_items([p for _, p, _ in members])}): they were not stepped together",
            parameter="last_epoch",
        )
    if len(bases) > 1:
        raise StateError(
            "the members of a ChainedScheduler disagree on base_lrs: they do not drive "
            "one optimizer",
            parameter="base_lrs",
        )
    state = ChainedState(
        positions.pop(),
        bases.pop(),
        tuple(factor for factor, _, _ in members),
        stored_lrs(fields.get("_last_lr"), len(members[0][2])),
    )
    check_stored_lrs(state.torch_lrs, state.lrs, state.describe(), state.last_epoch)
    return state
