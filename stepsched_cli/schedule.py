"""Pure step-decay schedule values and the exact arithmetic behind them.

A :class:`StepSchedule` is an immutable value: it knows nothing of counters or
optimizers, and every query is a function of the position ``t`` alone, so it can be
evaluated anywhere, at any position, in any order.

Without the optional parts (warmup, floor) every value is exactly::

    lr(t) = initial_lr * gamma ** (t // step_size)

rounded once to the nearest float.  Positions are integers in the schedule's unit
(optimizer steps in ``"step"`` mode, epochs in ``"epoch"`` mode) and may be as large
as you like: the decay count is an integer floor division, never a float division,
and the power is computed in exact integer arithmetic rather than by repeated
multiplication, so nothing drifts.

Boundary convention: the decay takes effect AT the boundary.  With ``step_size=30``
position 29 is undecayed and position 30 carries the first decay, as in torch's
``StepLR``, timm's ``StepLRScheduler`` and optax's staircase schedules.

Example:
    >>> schedule = StepSchedule(initial_lr=0.1, step_size=30, gamma=0.1)
    >>> [schedule.lr_at(t) for t in (0, 29, 30, 59, 60, 90)]
    [0.1, 0.1, 0.01, 0.01, 0.001, 0.0001]
    >>> schedule.next_boundary(31)
    60

Size: about 590 lines, over the house's ~500.  It is one family: the
``StepSchedule`` value and its queries (values, boundaries, segments, walks), each a
pure function of the position that shares the same decay-count arithmetic; the power
arithmetic itself lives in :mod:`stepsched_cli.powers`.  (A range walked a constant
stretch at a time, for per-step listings, added the last thirty.)
"""

from __future__ import annotations

import bisect
import dataclasses
import math
import operator
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from itertools import count, islice, repeat
from typing import Literal, cast

from stepsched_cli import validate
from stepsched_cli.errors import ScheduleError
from stepsched_cli.powers import (
    UNDERFLOW_LOG2,
    ScaledWalk,
    decimal_ratio,
    intended_value,
    log2_intended,
    scaled_power,
)

__all__ = [
    "MODES",
    "Mode",
    "Segment",
    "StepSchedule",
    "check_position",
    "decimal_ratio",
    "intended_value",
    "scaled_power",
]

Mode = Literal["step", "epoch"]
MODES: tuple[Mode, ...] = ("step", "epoch")

DEFAULT_STEP_SIZE = 30
DEFAULT_GAMMA = 0.1

# Decay counts a walk advances through one by one before it jumps instead.
_WALK_STRIDE = 64


def check_position(t: object, name: str = "t") -> int:
    """Return ``t`` as an int if it is a valid position (an integer >= 0).

    Raises:
        ScheduleError: ``t`` is a bool, not an integer, or negative.
    """
    if isinstance(t, bool):
        raise ScheduleError(f"{name} must be an integer >= 0, got {t!r}", parameter=name)
    try:
        position = operator.index(cast(int, t))
    except TypeError:
        raise ScheduleError(f"{name} must be an integer >= 0, got {t!r}", parameter=name) from None
    if position < 0:
        raise ScheduleError(f"{name} must be an integer >= 0, got {position}", parameter=name)
    return position


def _check_int(name: str, value: object, minimum: int) -> int:
    # Positions and periods may be as large as you like: no digit limit here.
    return validate.integer(value, name, minimum=minimum, limit=None, error=ScheduleError)


def _check_real(name: str, value: object) -> float:
    return validate.finite_number(value, name, error=ScheduleError)


@dataclass(frozen=True)
class Segment:
    """A run of positions ``start..end`` (inclusive) of the schedule.

    ``end`` is None when the segment never ends.  A constant segment has
    ``lr == lr_end``; a warmup segment ramps linearly from ``lr`` at ``start`` to
    ``lr_end`` at ``end``.
    """

    start: int
    end: int | None
    lr: float
    lr_end: float
    warmup: bool = False


@dataclass(frozen=True)
class StepSchedule:
    """An immutable step-decay learning-rate schedule.

    Args:
        initial_lr: The learning rate before any decay; finite and > 0.
        step_size: Positions between decays, an integer >= 1.  Defaults to 30 when
            ``milestones`` is not given; must be left out when it is.
        gamma: Multiplicative decay factor, 0 < gamma < 1.
        milestones: Instead of ``step_size``: strictly increasing positive integers;
            the lr is multiplied by ``gamma`` at each (as torch's ``MultiStepLR``).
        warmup_steps: Positions of linear warmup, ramping from ``warmup_start_lr``
            at 0 towards ``initial_lr``.  0 turns warmup off.
        warmup_start_lr: The lr at position 0 when warming up; >= 0.
        min_lr: A floor the decayed lr never goes below; 0 <= min_lr < initial_lr.
        mode: What a position counts: ``"step"`` (optimizer steps) or ``"epoch"``.
        warmup_prefix: False (the default): decays stay at their absolute positions
            (``step_size``, ``2 * step_size``, ... or the milestones), as timm's
            ``warmup_prefix=False``; a decay inside the warmup takes effect when it
            ends.  True: the decay clock starts after the warmup, so every decay
            position is shifted by ``warmup_steps`` (timm's ``warmup_prefix=True``).

    Raises:
        ScheduleError: (a ``ValueError``) any parameter outside its range; the message
            names the parameter, the value and the accepted range.
    """

    initial_lr: float
    step_size: int | None = None
    gamma: float = DEFAULT_GAMMA
    milestones: tuple[int, ...] | None = None
    warmup_steps: int = 0
    warmup_start_lr: float = 0.0
    min_lr: float = 0.0
    mode: Mode = "step"
    warmup_prefix: bool = False
    _boundary_cache: dict[int, float] = field(
        default_factory=dict, init=False, repr=False, compare=False, hash=False
    )

    def __post_init__(self) -> None:
        set_field = object.__setattr__
        initial_lr = _check_real("initial_lr", self.initial_lr)
        if initial_lr <= 0:
            raise ScheduleError(
                f"initial_lr must be a finite number > 0, got {self.initial_lr!r}",
                parameter="initial_lr",
            )
        set_field(self, "initial_lr", initial_lr)

        gamma = _check_real("gamma", self.gamma)
        if not 0 < gamma < 1:
            raise ScheduleError(
                f"gamma must be a number with 0 < gamma < 1, got {self.gamma!r}", parameter="gamma"
            )
        set_field(self, "gamma", gamma)

        if self.milestones is None:
            step_size = DEFAULT_STEP_SIZE if self.step_size is None else self.step_size
            set_field(self, "step_size", _check_int("step_size", step_size, 1))
        else:
            if self.step_size is not None:
                raise ScheduleError(
                    "give either step_size or milestones, not both "
                    f"(got step_size={self.step_size!r} and milestones={self.milestones!r})"
                )
            set_field(self, "milestones", _check_milestones(self.milestones))

        set_field(self, "warmup_steps", _check_int("warmup_steps", self.warmup_steps, 0))
        warmup_start_lr = _check_real("warmup_start_lr", self.warmup_start_lr)
        if warmup_start_lr < 0:
            raise ScheduleError(
                f"warmup_start_lr must be a finite number >= 0, got {self.warmup_start_lr!r}",
                parameter="warmup_start_lr",
            )
        set_field(self, "warmup_start_lr", warmup_start_lr)

        min_lr = _check_real("min_lr", self.min_lr)
        if not 0 <= min_lr < initial_lr:
            raise ScheduleError(
                f"min_lr must be a number with 0 <= min_lr < initial_lr ({initial_lr!r}), "
                f"got {self.min_lr!r}",
                parameter="min_lr",
            )
        set_field(self, "min_lr", min_lr)

        if self.mode not in MODES:
            raise ScheduleError(
                f"mode must be 'step' or 'epoch', got {self.mode!r}", parameter="mode"
            )
        if not isinstance(self.warmup_prefix, bool):
            raise ScheduleError(
                f"warmup_prefix must be True or False, got {self.warmup_prefix!r}",
                parameter="warmup_prefix",
            )
        if not self.warmup_steps:  # meaningless without a warmup: one value, one form
            set_field(self, "warmup_prefix", False)

    # -- values -------------------------------------------------------------

    def replace(self, **changes: object) -> StepSchedule:
        """Return a copy with some parameters changed, validated like a new one.

        Giving ``milestones`` clears ``step_size`` and vice versa.
        """
        if "milestones" in changes and "step_size" not in changes:
            changes["step_size"] = None
        if "step_size" in changes and "milestones" not in changes:
            changes["milestones"] = None
        return dataclasses.replace(self, **changes)  # type: ignore[arg-type]

    def decays_at(self, t: int) -> int:
        """The number of decays applied at position ``t`` (0 during warmup).

        Once the lr has reached its floor (``min_lr``, or 0.0 by underflow) the count
        stops growing.
        """
        return min(self._raw_decays(check_position(t)), self._decay_limit)

    def lr_at(self, t: int) -> float:
        """The learning rate at position ``t``.

        Args:
            t: A position (integer >= 0) in the schedule's unit; any size works.

        Returns:
            During warmup, ``warmup_start_lr + (initial_lr - warmup_start_lr) * t /
            warmup_steps`` rounded once; afterwards
            ``max(min_lr, initial_lr * gamma ** k)`` with ``k`` decays, the float
            nearest to the exact value.  A cold call costs at most one wide
            multiplication per non-zero byte of ``k`` (docs/design.md).

        Raises:
            ScheduleError: ``t`` is not an integer >= 0.
        """
        position = check_position(t)
        if position < self.warmup_steps:
            return self._warmup_lr(position)
        return self.lr_after_decays(self._raw_decays(position))

    def lr_after_decays(self, decays: int) -> float:
        """The decayed lr after ``decays`` decays (floor applied), correctly rounded."""
        k = _check_int("decays", decays, 0)
        if self.milestones is not None:
            k = min(k, len(self.milestones))
        cached = self._boundary_cache.get(k)
        if cached is None:
            # Past the floor every value is at most min_lr, so max() gives the floor
            # without knowing where the floor is reached.
            cached = max(self.min_lr, scaled_power(self.initial_lr, self.gamma, k))
            if len(self._boundary_cache) < 4096:
                self._boundary_cache[k] = cached
        return cached

    def lrs_at(self, positions: Iterable[int]) -> Iterator[float]:
        """The lr at each of ``positions``, lazily; cheapest for non-decreasing positions.

        Consecutive decay counts are walked incrementally (one wide multiplication per
        decay, see :class:`~stepsched_cli.powers.PowerWalk`), so a listing costs about
        one multiplication per row, not a fresh power.  Values equal :meth:`lr_at`'s.

        Example:
            >>> list(StepSchedule(0.1, step_size=2).lrs_at(range(0, 7, 2)))
            [0.1, 0.01, 0.001, 0.0001]
        """
        if type(positions) is range and positions.step > 0 and positions.start >= 0:
            yield from self._lrs_over_range(positions)
            return
        warmup = self.warmup_steps
        walker = _DecayedLrs(self)
        for t in positions:
            position = t if type(t) is int and t >= 0 else check_position(t)
            if position < warmup:
                yield self._warmup_lr(position)
            else:
                yield walker.after(self._raw_decays(position))

    def _lrs_over_range(self, positions: range) -> Iterator[float]:
        """:meth:`lrs_at` of an increasing range: one value per constant stretch, repeated.

        After the warmup the lr changes only at the boundaries, so each stretch between
        two costs one lr and one boundary query however many positions it holds (a
        per-step listing of a long run is then as cheap as printing it).
        """
        warmup, stride, index, length = self.warmup_steps, positions.step, 0, len(positions)
        walker = _DecayedLrs(self)
        while index < length:
            position = positions[index]
            if position < warmup:
                yield self._warmup_lr(position)
                index += 1
                continue
            decays = self._raw_decays(position)
            following = self.boundary(decays + 1)
            stretch = length - index
            if following is not None:
                stretch = min(stretch, -(-(following - position) // stride))
            yield from repeat(walker.after(decays), stretch)
            index += stretch

    def lrs_after_decays(self, start: int = 0) -> Iterator[float]:
        """The decayed lr after ``start``, ``start + 1``, ... decays, endlessly and lazily.

        Example:
            >>> from itertools import islice
            >>> list(islice(StepSchedule(0.1).lrs_after_decays(1), 3))
            [0.01, 0.001, 0.0001]
        """
        walker = _DecayedLrs(self)
        for k in count(_check_int("start", start, 0)):
            yield walker.after(k)

    def _warmup_lr(self, position: int) -> float:
        # start + (initial - start) * position / warmup_steps, over one common denominator,
        # rounded once by the correctly rounded int / int division.
        start_n, start_d = decimal_ratio(self.warmup_start_lr)
        end_n, end_d = decimal_ratio(self.initial_lr)
        steps = self.warmup_steps
        numerator = start_n * end_d * steps + (end_n * start_d - start_n * end_d) * position
        return numerator / (start_d * end_d * steps)

    def _raw_decays(self, position: int) -> int:
        warmup = self.warmup_steps
        if position < warmup:
            return 0
        decay_clock = position - warmup if self.warmup_prefix else position
        if self.milestones is not None:
            return bisect.bisect_right(self.milestones, decay_clock)
        return decay_clock // cast(int, self.step_size)

    @cached_property
    def _decay_limit(self) -> int:
        """The decay count after which the lr no longer changes (may be astronomically large).

        The first k whose decayed value has reached the floor (``min_lr``, or 0.0 where
        the value underflows), and for milestones at most their count.
        """
        if self.milestones is not None:
            count = len(self.milestones)
            return _first_true(
                lambda k: k >= count or scaled_power(self.initial_lr, self.gamma, k) <= self.min_lr,
                1,
            )
        floor_log2 = math.log2(self.min_lr) if self.min_lr > 0 else UNDERFLOW_LOG2 + 5
        estimate = (floor_log2 - math.log2(self.initial_lr)) / log2_intended(self.gamma)
        return _first_true(
            lambda k: scaled_power(self.initial_lr, self.gamma, k) <= self.min_lr,
            max(1, math.ceil(estimate)),
        )

    # -- boundaries ---------------------------------------------------------

    @property
    def boundary_count(self) -> int:
        """How many decays the schedule has: after the last, the lr is constant.

        Decays that fall inside the warmup (absolute positions) all take effect at its
        end, so they share one boundary position.
        """
        return self._decay_limit

    def boundary(self, index: int) -> int | None:
        """The position where the ``index``-th decay (1-based) takes effect, None past the last.

        Without ``warmup_prefix`` that is the decay's absolute position, or the end of
        the warmup for a decay that falls inside it.
        """
        index = _check_int("index", index, 1)
        if index > self._decay_limit:
            return None
        return self.decay_position(index)

    def decay_position(self, index: int) -> int | None:
        """Where the ``index``-th decay takes effect, floor or not (None past the milestones).

        :meth:`boundary` without the floor: cheap, for counters that stop on their own.
        """
        if self.milestones is not None:
            if index > len(self.milestones):
                return None
            position = self.milestones[index - 1]
        else:
            position = index * cast(int, self.step_size)
        if self.warmup_prefix:
            return self.warmup_steps + position
        return max(self.warmup_steps, position)

    def scheduled_decays(self, t: int) -> int:
        """The decays whose positions are ``<= t``, ignoring the floor (0 during warmup)."""
        return self._raw_decays(check_position(t))

    def next_boundary(self, t: int) -> int | None:
        """The first decay boundary strictly after position ``t``, or None if there is none."""
        return self.boundary(self._raw_decays(check_position(t)) + 1)

    def boundaries(self, start: int = 0, stop: int | None = None) -> Iterator[int]:
        """Yield the decay boundaries in ``[start, stop)`` lazily, in increasing order.

        With ``stop=None`` the iteration runs to the last boundary (forever for a
        ``step_size`` schedule whose lr never reaches its floor within float range:
        use ``itertools.islice``).  Cost is proportional to the number yielded.
        """
        start = check_position(start, "start")
        index = self._raw_decays(start - 1) + 1 if start > 0 else 1
        while True:
            position = self.boundary(index)
            if position is None or (stop is not None and position >= stop):
                return
            yield position
            # Decays inside the warmup share its end: continue after all of them.
            index = self._raw_decays(position) + 1 if position == self.warmup_steps else index + 1

    def first_boundary_below(self, threshold: float) -> int | None:
        """The first decay boundary after which the lr is strictly below ``threshold``.

        Returns None when the lr never falls below it (``threshold <= min_lr``, or the
        schedule's boundaries end first).  A binary search on the decay count (the lr
        is monotone in it): a logarithmic number of values, milestones or not.
        """
        threshold = _check_real("threshold", threshold)
        if threshold <= self.min_lr:
            return None
        limit = self._decay_limit
        estimate = (math.log2(threshold) - math.log2(self.initial_lr)) / log2_intended(self.gamma)
        k = _first_true(
            lambda k: k >= limit or self.lr_after_decays(k) < threshold,
            min(max(1, math.floor(estimate)), limit),
        )
        return self.boundary(k) if self.lr_after_decays(k) < threshold else None

    def segments(self, total: int | None = None, decays: int | None = None) -> Iterator[Segment]:
        """Yield the schedule as consecutive segments, lazily.

        The warmup, if any, is one segment (``warmup=True``); after it each segment is
        a run of positions with one constant lr.

        Args:
            total: Cover positions ``0..total-1``; the last segment ends at
                ``total - 1``.
            decays: Without ``total``: stop once this many decays have happened; the
                last segment is open-ended (``end=None``).  With neither, run to the
                last boundary (forever if the schedule has no last boundary).

        Raises:
            ScheduleError: ``total`` < 1 or ``decays`` < 0.
        """
        if total is not None:
            total = _check_int("total", total, 1)
        if decays is not None:
            decays = _check_int("decays", decays, 0)
        if self.warmup_steps:
            if total is not None and total <= self.warmup_steps:
                yield Segment(0, total - 1, self.lr_at(0), self.lr_at(total - 1), warmup=True)
                return
            last = self.warmup_steps - 1
            yield Segment(0, last, self.lr_at(0), self.lr_at(last), warmup=True)
        start = self.warmup_steps
        found = self.boundaries(start + 1, total)
        if decays is not None and total is None:
            found = islice(found, decays)
        walker = _DecayedLrs(self)
        for position in found:
            lr = walker.after(self._raw_decays(start))
            yield Segment(start, position - 1, lr, lr)
            start = position
        lr = walker.after(self._raw_decays(start))
        end = None if total is None else total - 1
        yield Segment(start, end, lr, lr)


class _DecayedLrs:
    """``schedule.lr_after_decays(k)`` for non-decreasing ``k``, walked incrementally.

    A step to a nearby count costs one wide multiplication per decay
    (:class:`~stepsched_cli.powers.ScaledWalk`); a jump (or a step back) starts a new
    walk, which costs one random-access power.  The same count again costs nothing,
    and once the floor is reached no arithmetic is done at all.
    """

    __slots__ = ("_floor_from", "_k", "_schedule", "_value", "_walk")

    def __init__(self, schedule: StepSchedule) -> None:
        self._schedule = schedule
        self._walk: ScaledWalk | None = None
        self._floor_from: int | None = None
        self._k = -1
        self._value = 0.0

    def after(self, k: int) -> float:
        if k == self._k:
            return self._value
        schedule = self._schedule
        if schedule.milestones is not None:
            k = min(k, len(schedule.milestones))
        if self._floor_from is not None and k >= self._floor_from:
            return schedule.min_lr
        walk = self._walk
        if walk is None or k < walk.k or k - walk.k > _WALK_STRIDE:
            walk = self._walk = ScaledWalk(schedule.initial_lr, schedule.gamma, k)
            value = walk.value()
        elif k == walk.k:
            value = walk.value()
        else:
            while walk.k < k - 1:
                walk.advance()
            value = walk.advance()
        if value <= schedule.min_lr:
            self._floor_from = k
            value = schedule.min_lr
        self._k, self._value = k, value
        return value


def _first_true(predicate: Callable[[int], bool], guess: int) -> int:
    """The least k >= 1 with ``predicate(k)`` true, for a monotone predicate.

    Gallops outwards from ``guess`` to bracket the answer, then bisects, so a guess that
    is off by d costs about ``2 * log2(d)`` evaluations.
    """
    if predicate(guess):
        low, high, stride = guess, guess, 1
        while low > 1:
            low = max(1, high - stride)
            if not predicate(low):
                break
            high, stride = low, stride * 2
        else:
            return 1
    else:
        low, stride = guess, 1
        while True:
            high = low + stride
            if predicate(high):
                break
            low, stride = high, stride * 2
    # predicate(low) is false and predicate(high) is true.
    while high - low > 1:
        middle = (low + high) // 2
        if predicate(middle):
            high = middle
        else:
            low = middle
    return high


def _check_milestones(milestones: object) -> tuple[int, ...]:
    if isinstance(milestones, (str, bytes)) or not isinstance(milestones, Sequence):
        raise ScheduleError(
            f"milestones must be a list of strictly increasing integers >= 1, got {milestones!r}",
            parameter="milestones",
        )
    values = tuple(milestones)
    if not values:
        raise ScheduleError("milestones must not be empty", parameter="milestones")
    previous = 0
    for index, value in enumerate(values):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ScheduleError(
                f"milestones[{index}] must be an integer >= 1, got {value!r}",
                parameter="milestones",
            )
        if value <= previous:
            raise ScheduleError(
                "milestones must be strictly increasing, got "
                f"{value} after {previous} at index {index}",
                parameter="milestones",
            )
        previous = value
    return tuple(int(v) for v in values)
