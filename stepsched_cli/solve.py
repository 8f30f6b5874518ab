"""Solving for a step schedule: the step size and gamma that take an lr to a final lr.

The question "which schedule goes from ``lr`` to ``final_lr`` by step ``total`` with
evenly spaced decays?" has three unknowns tied by two facts, so exactly one of
``decays``, ``step_size`` and ``gamma`` must be given.

``total`` is the run's length, as everywhere in stepsched: the run covers positions
``0..total-1``, and the final lr must be reached inside it, so exactly ``decays``
decays happen at positions ``<= total - 1``.  When the decay count is given (or
follows from gamma), the run is split into ``decays + 1`` stages of equal length,
``step_size = total // (decays + 1)``: the classic 90-epoch recipe with 2 decays is
three stages of 30 epochs, decays at 30 and 60.  When ``total`` is not a multiple of
``decays + 1``, a step size alone would decay once more inside the run, so the
solution gives milestones instead (every ``step_size``, ``decays`` times) and the last
stage takes the remainder.

Example:
    >>> classic = solve(0.1, 0.001, 90, decays=2)
    >>> classic.step_size, classic.gamma, classic.milestones
    (30, 0.1, None)
    >>> [(stage.start, stage.length, stage.lr) for stage in classic.stages]
    [(0, 30, 0.1), (30, 30, 0.01), (60, 30, 0.001)]
    >>> solve(0.1, 0.0001, 90, decays=3).milestones
    (22, 44, 66)
    >>> solve(0.1, 0.0001, 91, step_size=30).gamma
    0.1
"""

from __future__ import annotations

import decimal
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import cast

from stepsched_cli import validate
from stepsched_cli.errors import ScheduleError, StepschedError
from stepsched_cli.schedule import StepSchedule, intended_value

# Relative distance within which gamma**k counts as reaching final_lr exactly.
GAMMA_MATCH_TOLERANCE = 1e-9
# Relative distance from final_lr within which a solution's reached lr is accepted:
# float gamma's rounding compounds over the decays, and past this it is refused.
SOLVE_TOLERANCE = 1e-6
_ROOT_DIGITS = 60
# The most milestones an uneven split lists (a step size gives any number of decays).
MAX_MILESTONES = 10_000


class SolveError(StepschedError, ValueError):
    """The request has no solution, or its arguments are out of range."""


@dataclass(frozen=True)
class Solution:
    """A schedule that reaches ``final_lr`` inside a run of ``total`` positions.

    Attributes:
        step_size: Positions between decays.
        gamma: The decay factor, rounded to the nearest float (the shortest decimal
            that round-trips, so 0.1 comes out as ``0.1``).
        decays: How many decays happen inside the run (at positions ``<= total - 1``).
        final_lr: The solved schedule's lr from ``reached_at`` to the end of the run:
            the requested final lr up to rounding.
        initial_lr: The lr the schedule starts from.
        total: The run's length: positions ``0..total-1``.
        milestones: The decays when ``step_size`` alone would decay once more inside
            the run (``total`` is not a multiple of ``decays + 1``): ``step_size``,
            ``2 * step_size``, ... ``decays * step_size``; None when it would not.
    """

    step_size: int
    gamma: float
    decays: int
    final_lr: float
    initial_lr: float
    total: int
    milestones: tuple[int, ...] | None = None

    @property
    def reached_at(self) -> int:
        """The position where the final lr is first reached: the last decay, inside the run."""
        return self.decays * self.step_size

    @property
    def schedule(self) -> StepSchedule:
        """The solved schedule (with the milestones, when there are any)."""
        if self.milestones is not None:
            return StepSchedule(self.initial_lr, milestones=self.milestones, gamma=self.gamma)
        return StepSchedule(self.initial_lr, step_size=self.step_size, gamma=self.gamma)

    @property
    def stages(self) -> tuple[Stage, ...]:
        """How long the run spends at each lr, in order (``decays + 1`` stages)."""
        return tuple(
            Stage(segment.start, cast(int, segment.end) - segment.start + 1, segment.lr)
            for segment in self.schedule.segments(total=self.total)
        )

    def to_dict(self) -> dict[str, object]:
        """The JSON contract of ``stepsched solve --json``."""
        return {
            "step_size": self.step_size,
            "gamma": self.gamma,
            "decays": self.decays,
            "final_lr": self.final_lr,
            "reached_at": self.reached_at,
            "total": self.total,
            "milestones": None if self.milestones is None else list(self.milestones),
            "stages": [
                {"start": stage.start, "length": stage.length, "lr": stage.lr}
                for stage in self.stages
            ],
        }


@dataclass(frozen=True)
class Stage:
    """A stretch of the run at one lr: positions ``start..start+length-1``."""

    start: int
    length: int
    lr: float


def solve(
    lr: float,
    final_lr: float,
    total: int,
    *,
    decays: int | None = None,
    step_size: int | None = None,
    gamma: float | None = None,
) -> Solution:
    """Find evenly spaced decays that take ``lr`` to ``final_lr`` within ``total`` positions.

    The run covers positions ``0..total-1`` (its last position is ``last = total - 1``).
    Give exactly one of ``decays``, ``step_size`` and ``gamma``:

    * ``decays=k``: ``k + 1`` equal stages, ``step_size = total // (k + 1)``, and
      ``gamma = (final_lr / lr) ** (1/k)``; milestones when ``total`` is not a multiple
      of ``k + 1`` (the last stage is then longer by the remainder).
    * ``step_size=s``: ``decays = last // s`` and gamma as above.
    * ``gamma=g``: ``decays`` is the whole number with ``lr * g**decays == final_lr``
      (relative :data:`GAMMA_MATCH_TOLERANCE`), then the stages as for ``decays``.

    Args:
        lr: The initial lr, finite and > 0.
        final_lr: The lr at the end of the run, finite, > 0 and < ``lr``.
        total: The run's length in positions, an integer >= 2.
        decays: The number of decays, an integer with ``1 <= decays <= total - 1``.
        step_size: The positions between decays, an integer with
            ``1 <= step_size <= total - 1``.
        gamma: The decay factor, ``0 < gamma < 1``.

    Returns:
        The :class:`Solution`; feeding it back into :class:`StepSchedule` gives
        ``decays_at(total - 1) == decays``, the last decay at ``reached_at`` (inside the
        run), and ``lr_at(total - 1)`` equal to ``final_lr`` up to
        rounding: gamma is a float, and its rounding (half an ulp, 1.1e-16 relative)
        grows about ``decays``-fold in ``gamma ** decays``, so the reported
        ``final_lr`` is the one actually reached (for a million decays, within about
        1e-10 of the request).  A solution whose reached lr is further than
        :data:`SOLVE_TOLERANCE` (relative) from ``final_lr`` is refused (around
        10**10 decays and more, depending on gamma).

    Raises:
        SolveError: an argument out of range, not exactly one of the three given, an
            uneven split needing more than :data:`MAX_MILESTONES` milestones, a
            ``gamma`` that does not reach ``final_lr`` after a whole number of decays, a gamma that
            rounds to 1.0, or a float gamma too coarse for that many decays (the
            reached lr is off by more than :data:`SOLVE_TOLERANCE`).
    """
    lr = _positive("lr", lr)
    final_lr = _positive("final_lr", final_lr)
    if final_lr >= lr:
        raise SolveError(
            f"final_lr must be below lr ({lr!r}) for a decaying schedule, got {final_lr!r}",
            parameter="final_lr",
        )
    total = _integer("total", total, 2)
    given = {
        name: value
        for name, value in (("decays", decays), ("step_size", step_size), ("gamma", gamma))
        if value is not None
    }
    if len(given) != 1:
        shown = ", ".join(f"{name}={value!r}" for name, value in given.items()) or "none"
        raise SolveError(f"give exactly one of decays, step_size, gamma (got {shown})")
    step_size, gamma, decays = _spacing(lr, final_lr, total, decays, step_size, gamma)
    milestones = None
    if given.keys() != {"step_size"} and (decays + 1) * step_size < total:
        milestones = _milestones(step_size, decays, total)
    return _checked(lr, final_lr, total, step_size, gamma, decays, milestones)


def _spacing(
    lr: float,
    final_lr: float,
    total: int,
    decays: int | None,
    step_size: int | None,
    gamma: float | None,
) -> tuple[int, float, int]:
    """``(step_size, gamma, decays)`` from the one of the three that was given."""
    last = total - 1
    if decays is not None:
        decays = _integer("decays", decays, 1)
        if decays > last:
            raise SolveError(
                f"decays must be at most total - 1 ({last}): one decay per position after "
                f"the first at most, got {decays}",
                parameter="decays",
            )
        return total // (decays + 1), _root(_ratio(lr, final_lr), decays), decays
    if step_size is not None:
        step_size = _integer("step_size", step_size, 1)
        if step_size > last:
            raise SolveError(
                f"step_size must be at most total - 1 ({last}) so that a decay happens "
                f"inside the run (positions 0-{last}), got {step_size}",
                parameter="step_size",
            )
        decays = last // step_size
        return step_size, _root(_ratio(lr, final_lr), decays), decays
    gamma = _gamma(gamma)
    decays = _decays_for_gamma(lr, final_lr, gamma)
    if decays > last:
        raise SolveError(
            f"gamma {gamma!r} needs {decays} decays to reach {final_lr!r}, more than a run "
            f"of {total} positions holds ({last})"
        )
    return total // (decays + 1), gamma, decays


def _milestones(step_size: int, decays: int, total: int) -> tuple[int, ...]:
    """The decays of an uneven split: every ``step_size``, ``decays`` times."""
    if decays > MAX_MILESTONES:
        stages = decays + 1
        raise SolveError(
            f"a run of {total} positions is not a multiple of {stages} equal stages, and "
            f"{decays} decays are too many to list as milestones (at most {MAX_MILESTONES}): "
            f"give a total that is a multiple of {stages}, such as {stages * step_size}",
            parameter="total",
        )
    return tuple(step_size * index for index in range(1, decays + 1))


def _checked(
    lr: float,
    final_lr: float,
    total: int,
    step_size: int,
    gamma: float,
    decays: int,
    milestones: tuple[int, ...] | None,
) -> Solution:
    """The solution, refused when gamma's rounding misses ``final_lr`` (SOLVE_TOLERANCE)."""
    last = total - 1
    try:
        schedule = StepSchedule(lr, step_size=step_size, gamma=gamma)
        if milestones is not None:
            schedule = StepSchedule(lr, milestones=milestones, gamma=gamma)
    except ScheduleError as error:
        raise SolveError(f"no valid schedule: {error}") from None
    reached = schedule.lr_at(last)
    if not abs(reached - final_lr) <= SOLVE_TOLERANCE * final_lr:
        raise SolveError(
            f"gamma {gamma!r} cannot be represented precisely enough for {decays} decays: "
            f"its rounding compounds to lr {reached!r} at position {last}, not {final_lr!r} "
            f"(relative error {abs(reached - final_lr) / final_lr:.2g}, more than "
            f"{SOLVE_TOLERANCE:g}); ask for fewer decays"
        )
    return Solution(
        step_size=step_size,
        gamma=gamma,
        decays=decays,
        final_lr=reached,
        initial_lr=lr,
        total=total,
        milestones=milestones,
    )


def _positive(name: str, value: object) -> float:
    return _number_in(name, value, "a finite number > 0", lambda number: number > 0)


def _integer(name: str, value: object, minimum: int) -> int:
    return validate.integer(
        value, name, minimum=minimum, limit=None, error=SolveError, parameter=name
    )


def _gamma(value: object) -> float:
    return _number_in("gamma", value, "a number with 0 < gamma < 1", lambda n: 0 < n < 1)


def _number_in(name: str, value: object, expected: str, accepts: Callable[[float], bool]) -> float:
    """``value`` as a finite float that ``accepts``; one message for every refusal."""
    try:
        number = validate.finite_number(value, name, error=SolveError)
    except SolveError:
        number = math.nan
    if not accepts(number):
        raise SolveError(f"{name} must be {expected}, got {validate.shown(value)}", parameter=name)
    return number


def _ratio(lr: float, final_lr: float) -> decimal.Decimal:
    """``final_lr / lr`` as the decimals the user typed (see ``intended_value``)."""
    exact = intended_value(final_lr) / intended_value(lr)
    with decimal.localcontext() as context:
        context.prec = _ROOT_DIGITS
        return decimal.Decimal(exact.numerator) / decimal.Decimal(exact.denominator)


def _root(ratio: decimal.Decimal, decays: int) -> float:
    """The ``decays``-th root of ``ratio`` as the nearest float; refuses 1.0.

    Computed with 60 significant digits, so a ratio that is a short decimal's power
    (0.001 and 3 decays) gives that decimal (0.1) exactly.
    """
    with decimal.localcontext() as context:
        context.prec = _ROOT_DIGITS
        root = ratio ** (decimal.Decimal(1) / decimal.Decimal(decays))
    gamma = float(root)
    if gamma >= 1.0:
        raise SolveError(
            f"{decays} decays from a ratio of {float(ratio)!r} need a gamma so close to 1 "
            "that it rounds to 1.0; ask for fewer decays"
        )
    return gamma


def _decays_for_gamma(lr: float, final_lr: float, gamma: float) -> int:
    """The whole number of decays taking ``lr`` to ``final_lr`` with ``gamma``."""
    estimate = (math.log(final_lr) - math.log(lr)) / math.log(gamma)
    schedule = StepSchedule(lr, gamma=gamma)
    nearest = max(1, round(estimate))
    reached = schedule.lr_after_decays(nearest)
    if abs(reached - final_lr) <= GAMMA_MATCH_TOLERANCE * final_lr:
        return nearest
    below = max(1, math.floor(estimate))
    above = below + 1
    raise SolveError(
        f"gamma {gamma!r} takes {lr!r} to {final_lr!r} after {estimate:.4g} decays, not a "
        f"whole number: {below} decays give {schedule.lr_after_decays(below)!r} and "
        f"{above} give {schedule.lr_after_decays(above)!r}"
    )


__all__ = [
    "GAMMA_MATCH_TOLERANCE",
    "MAX_MILESTONES",
    "SOLVE_TOLERANCE",
    "Solution",
    "SolveError",
    "Stage",
    "solve",
]
