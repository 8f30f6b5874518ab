"""Chains of step decays and warmups: the lr is the base lr times every member's factor.

torch's ``ChainedScheduler`` and MMEngine's list of param schedulers drive one
optimizer with several schedulers at once.  Each member multiplies the group's current
lr by its own factor when its clock reaches a change, so for the members read here
(StepLR, MultiStepLR, ConstantLR, LinearLR: torch's and MMEngine's alike) the lr at a
position is the base lr times the product of every member's factor there.  A
:class:`Factor` is one member, on its own clock ``s`` (``-1``: not started yet, as an
MMEngine scheduler before its ``begin``); :func:`chain_lrs` multiplies them.

Values follow the closed forms (``StepLR``: ``gamma ** (s // step_size)``, ``MultiStepLR``:
``gamma ** count`` of milestones ``<= s``, ``ConstantLR``: ``factor`` while ``s <
total_iters``, ``LinearLR``: ``start + (end - start) * min(s, T) / T``); the decays are
one correctly rounded power per gamma.  The frameworks multiply step by step, so their
stored lrs may differ from these by a few ulps.

Example:
    >>> step = Factor("StepLR", gamma=0.5, step_size=10)
    >>> multistep = Factor("MultiStepLR", gamma=0.1, milestones=((15, 1), (25, 1)))
    >>> chain_lrs((0.1,), [(step, 27), (multistep, 27)])
    (0.00025,)
    >>> [step.next_change(12), multistep.next_change(12)]
    [20, 15]
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Literal

from stepsched_cli import validate
from stepsched_cli.errors import StateError
from stepsched_cli.numbers import format_items
from stepsched_cli.powers import scaled_power

__all__ = ["FACTOR_KINDS", "Factor", "FactorKind", "chain_lrs", "parse_warmup"]

FactorKind = Literal["StepLR", "MultiStepLR", "ConstantLR", "LinearLR"]
FACTOR_KINDS: tuple[FactorKind, ...] = ("StepLR", "MultiStepLR", "ConstantLR", "LinearLR")


@dataclass(frozen=True)
class Factor:
    """One member of a chain: its multiplier of the base lr on its own clock ``s``.

    Attributes:
        kind: Which scheduler it is.
        gamma: StepLR's and MultiStepLR's decay factor (1 for the warmups).
        step_size: StepLR's period.
        milestones: MultiStepLR's ``(milestone, count)`` pairs, sorted.
        start: ConstantLR's ``factor`` or LinearLR's ``start_factor``.
        end: LinearLR's ``end_factor`` (1 for ConstantLR).
        total_iters: The warmups' ``total_iters``.
    """

    kind: FactorKind
    gamma: float = 1.0
    step_size: int | None = None
    milestones: tuple[tuple[int, int], ...] = ()
    start: float = 1.0
    end: float = 1.0
    total_iters: int = 0

    def decays(self, s: int) -> int:
        """How many times the member has multiplied by ``gamma`` at ``s``."""
        if s < 0:
            return 0
        if self.kind == "StepLR" and self.step_size is not None:
            return s // self.step_size
        return sum(count for milestone, count in self.milestones if milestone <= s)

    def warmup(self, s: int) -> float:
        """The warmup's factor at ``s`` (1 for the decays and before the clock starts)."""
        if s < 0 or self.kind in ("StepLR", "MultiStepLR"):
            return 1.0
        if self.kind == "ConstantLR":
            return self.start if s < self.total_iters else 1.0
        done = min(s, self.total_iters) / self.total_iters
        return self.start + (self.end - self.start) * done

    def next_change(self, s: int) -> int | None:
        """The first clock value after ``s`` where the factor changes, None if none does.

        ``s`` may be -1 (not started): a warmup then changes at 0, where it starts.
        """
        if self.kind == "StepLR" and self.step_size is not None:
            return (max(s, 0) // self.step_size + 1) * self.step_size
        if self.kind == "MultiStepLR":
            return next((m for m, _ in self.milestones if m > s), None)
        if self.kind == "ConstantLR":
            if self.start == 1.0 or self.total_iters == 0:
                return None
            return 0 if s < 0 else (self.total_iters if s < self.total_iters else None)
        if s < 0 and self.start != 1.0:
            return 0
        if self.start == self.end:
            return None
        following = max(s, 0) + 1
        return following if following <= self.total_iters else None

    def describe(self) -> str:
        """The member as its framework names it: ``StepLR(step_size=10, gamma=0.5)``."""
        if self.kind == "StepLR":
            return f"StepLR(step_size={self.step_size}, gamma={self.gamma:.6g})"
        if self.kind == "MultiStepLR":
            listed = format_items(
                [str(m) if count == 1 else f"{m} (x{count})" for m, count in self.milestones]
            )
            return f"MultiStepLR(milestones=[{listed}], gamma={self.gamma:.6g})"
        if self.kind == "ConstantLR":
            return f"ConstantLR(factor={self.start:.6g}, total_iters={self.total_iters})"
        return (
            f"LinearLR(start_factor={self.start:.6g}, end_factor={self.end:.6g}, "
            f"total_iters={self.total_iters})"
        )


def chain_lrs(
    base_lrs: Iterable[float], members: Iterable[tuple[Factor, int]]
) -> tuple[float, ...]:
    """Every group's lr: its base lr times each member's factor at that member's clock.

    The decays of each gamma are one correctly rounded power; the warmup factors multiply
    after them.
    """
    clocked = list(members)
    powers: dict[float, int] = {}
    warmup = 1.0
    for factor, s in clocked:
        if factor.kind in ("StepLR", "MultiStepLR"):
            powers[factor.gamma] = powers.get(factor.gamma, 0) + factor.decays(s)
        else:
            warmup *= factor.warmup(s)
    lrs = []
    for base in base_lrs:
        lr = base
        for gamma, count in powers.items():
            lr = 0.0 if lr == 0 else scaled_power(lr, gamma, count)
        lrs.append(lr * warmup)
    return tuple(lrs)


def _factor_field(fields: Mapping[str, object], name: str, label: str) -> float:
    value = validate.finite_number(
        fields.get(name), f"field '{label}.{name}'", error=StateError, parameter=name
    )
    if not 0 <= value <= 1:
        raise StateError(
            f"field '{label}.{name}' must be a number from 0 to 1, got {value!r}", parameter=name
        )
    return value


def parse_warmup(fields: Mapping[str, object], label: str) -> Factor | None:
    """A LinearLR or ConstantLR member by its fields, None when it is neither.

    ``label`` names the member in messages (``_schedulers[0]``).

    Raises:
        StateError: a factor outside [0, 1] (LinearLR's start above 0), or a
            ``total_iters`` that is not an integer >= 1 (>= 0 for ConstantLR).
    """
    linear = "start_factor" in fields and "end_factor" in fields
    if not linear and "factor" not in fields:
        return None
    total = validate.integer(
        fields.get("total_iters"),
        f"field '{label}.total_iters'",
        minimum=1 if linear else 0,
        error=StateError,
        parameter="total_iters",
    )
    if not linear:
        return Factor("ConstantLR", start=_factor_field(fields, "factor", label), total_iters=total)
    start = _factor_field(fields, "start_factor", label)
    if start == 0:
        raise StateError(
            f"field '{label}.start_factor' must be > 0, got 0.0", parameter="start_factor"
        )
    end = _factor_field(fields, "end_factor", label)
    return Factor("LinearLR", start=start, end=end, total_iters=total)
