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
"""

from __future__ import annotations

import bisect
import dataclasses
import math
import operator
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from functools import cached_property, lru_cache
from itertools import count, islice
from typing import TYPE_CHECKING, Literal, cast

from stepsched_cli import validate
from stepsched_cli.errors import ScheduleError

if TYPE_CHECKING:
    from fractions import Fraction

Mode = Literal["step", "epoch"]
MODES: tuple[Mode, ...] = ("step", "epoch")

DEFAULT_STEP_SIZE = 30
DEFAULT_GAMMA = 0.1

# Bits kept of the running power while exponentiating; truncation error stays
# below 2**-120 relative even for exponents near 2**64, far under half an ulp.
_POWER_BITS = 128
# log2 of a value that certainly rounds to 0.0 (the smallest subnormal is 2**-1074).
_UNDERFLOW_LOG2 = -1080.0


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


def intended_value(value: float) -> Fraction:
    """The exact number a float parameter stands for: its shortest round-tripping decimal.

    A learning rate typed as ``0.1`` is stored as the binary float nearest to 1/10;
    stepsched takes it to mean 1/10, so that ``0.1 * 0.1 ** 2`` comes out as the float
    nearest to 1/1000 (``0.001``) rather than inheriting the representation error of
    each factor.  For a float that was computed rather than typed, the 17-digit decimal
    is within half an ulp of the binary value, so nothing is lost either way.

    Example:
        >>> intended_value(0.1)
        Fraction(1, 10)
    """
    from fractions import Fraction  # imported here: it costs start-up time to every command

    numerator, denominator = decimal_ratio(value)
    return Fraction(numerator, denominator)


@lru_cache(maxsize=256)
def decimal_ratio(value: float) -> tuple[int, int]:
    """:func:`intended_value` as an unreduced ``(numerator, denominator)`` pair of ints.

    Example:
        >>> decimal_ratio(0.1), decimal_ratio(2.5e-07), decimal_ratio(3e20)
        ((1, 10), (25, 100000000), (300000000000000000000, 1))
    """
    mantissa, _, exponent = repr(float(value)).partition("e")
    whole, _, fraction = mantissa.partition(".")
    digits = int(whole + fraction)
    power = int(exponent or 0) - len(fraction)
    if power >= 0:
        return digits * 10**power, 1
    return digits, 10**-power


def _trimmed_power(base: int, exponent: int) -> tuple[int, int]:
    """Return ``(m, e)`` with ``m * 2**e`` within ``2**-120`` (relative) of ``base**exponent``.

    Square-and-multiply keeping the top 128 bits; every truncation rounds down, and at
    most 2 * 64 of them happen, so the error stays far below half an ulp of a float.
    """
    result_m, result_e = 1, 0
    base_m, base_e = base, 0
    remaining = exponent
    while True:
        if remaining & 1:
            result_m, result_e = _trim(result_m * base_m, result_e + base_e)
        remaining >>= 1
        if not remaining:
            return result_m, result_e
        base_m, base_e = _trim(base_m * base_m, 2 * base_e)


def _trim(mantissa: int, exponent: int) -> tuple[int, int]:
    excess = mantissa.bit_length() - _POWER_BITS
    if excess > 0:
        return mantissa >> excess, exponent + excess
    return mantissa, exponent


def scaled_power(scale: float, base: float, exponent: int) -> float:
    """Return ``scale * base ** exponent`` rounded to a float, within 1 ulp of exact.

    The factors are read as the decimals they stand for (:func:`intended_value`), the
    exact rational product is approximated in integer arithmetic with 128 significant
    bits, and the result is rounded to a float once.  Cost grows with
    ``log2(exponent)`` only while the result is representable: values that certainly
    underflow return 0.0 at once.

    Args:
        scale: A finite float > 0.
        base: A float with 0 < base < 1.
        exponent: An integer >= 0.

    Returns:
        The float nearest to the exact product (at most 1 ulp away), or 0.0 when the
        exact value is below the smallest subnormal.

    Example:
        >>> scaled_power(0.1, 0.1, 2), 0.1 * 0.1 * 0.1
        (0.001, 0.0010000000000000002)
    """
    if exponent == 0:
        return scale
    # Certain underflow, decided on the decimal gamma stands for (for a gamma just below
    # 1 the binary float's log is off by as much as 11%).  Past 2**1000 decays even the
    # gamma closest to 1 has underflowed, and the product below would overflow a float.
    if exponent.bit_length() > 1000 or (
        math.log2(scale) + exponent * _log2_intended(base) < _UNDERFLOW_LOG2
    ):
        return 0.0
    scale_numerator, scale_denominator = decimal_ratio(scale)
    base_numerator, base_denominator = decimal_ratio(base)
    power_m, power_e = _trimmed_power(base_numerator, exponent)
    root_m, root_e = _trimmed_power(base_denominator, exponent)
    numerator = power_m * scale_numerator
    denominator = root_m * scale_denominator
    shift = power_e - root_e
    # int / int true division is correctly rounded, subnormals and underflow included.
    if shift >= 0:
        return (numerator << shift) / denominator
    return numerator / (denominator << -shift)


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
        warmup_steps: Positions of linear warmup before the decay clock starts (the
            decay positions are shifted by this amount, like timm's
            ``warmup_prefix=True``).  0 turns warmup off.
        warmup_start_lr: The lr at position 0 when warming up; >= 0.
        min_lr: A floor the decayed lr never goes below; 0 <= min_lr < initial_lr.
        mode: What a position counts: ``"step"`` (optimizer steps) or ``"epoch"``.

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
            ``max(min_lr, initial_lr * gamma ** k)`` with ``k`` decays, within 1 ulp of
            the exact value.

        Raises:
            ScheduleError: ``t`` is not an integer >= 0.
        """
        position = check_position(t)
        if position < self.warmup_steps:
            return self._warmup_lr(position)
        return self.lr_after_decays(self._raw_decays(position))

    def lr_after_decays(self, decays: int) -> float:
        """The decayed lr after ``decays`` decays (floor applied), within 1 ulp of exact."""
        k = min(_check_int("decays", decays, 0), self._decay_limit)
        cached = self._boundary_cache.get(k)
        if cached is None:
            cached = max(self.min_lr, scaled_power(self.initial_lr, self.gamma, k))
            if len(self._boundary_cache) < 4096:
                self._boundary_cache[k] = cached
        return cached

    def _warmup_lr(self, position: int) -> float:
        # start + (initial - start) * position / warmup_steps, over one common denominator,
        # rounded once by the correctly rounded int / int division.
        start_n, start_d = decimal_ratio(self.warmup_start_lr)
        end_n, end_d = decimal_ratio(self.initial_lr)
        steps = self.warmup_steps
        numerator = start_n * end_d * steps + (end_n * start_d - start_n * end_d) * position
        return numerator / (start_d * end_d * steps)

    def _raw_decays(self, position: int) -> int:
        decay_clock = position - self.warmup_steps
        if decay_clock < 0:
            return 0
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
        floor_log2 = math.log2(self.min_lr) if self.min_lr > 0 else _UNDERFLOW_LOG2 + 5
        estimate = (floor_log2 - math.log2(self.initial_lr)) / _log2_intended(self.gamma)
        return _first_true(
            lambda k: scaled_power(self.initial_lr, self.gamma, k) <= self.min_lr,
            max(1, math.ceil(estimate)),
        )

    # -- boundaries ---------------------------------------------------------

    @property
    def boundary_count(self) -> int:
        """How many decay boundaries the schedule has: after the last, the lr is constant."""
        return self._decay_limit

    def boundary(self, index: int) -> int | None:
        """The position of the ``index``-th decay boundary (1-based), None past the last."""
        index = _check_int("index", index, 1)
        if index > self._decay_limit:
            return None
        if self.milestones is not None:
            return self.warmup_steps + self.milestones[index - 1]
        return self.warmup_steps + index * cast(int, self.step_size)

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
        first = self._raw_decays(start - 1) + 1 if start > 0 else 1
        for index in count(first):
            position = self.boundary(index)
            if position is None or (stop is not None and position >= stop):
                return
            yield position

    def first_boundary_below(self, threshold: float) -> int | None:
        """The first decay boundary after which the lr is strictly below ``threshold``.

        Returns None when the lr never falls below it (``threshold <= min_lr``, or the
        schedule's boundaries end first).
        """
        threshold = _check_real("threshold", threshold)
        if threshold <= self.min_lr:
            return None
        if self.milestones is not None:
            return next(
                (
                    self.warmup_steps + milestone
                    for k, milestone in enumerate(self.milestones, start=1)
                    if self.lr_after_decays(k) < threshold
                ),
                None,
            )
        estimate = (math.log2(threshold) - math.log2(self.initial_lr)) / _log2_intended(self.gamma)
        limit = self._decay_limit
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
        decay_index = 0
        for position in found:
            lr = self.lr_after_decays(decay_index)
            yield Segment(start, position - 1, lr, lr)
            start, decay_index = position, decay_index + 1
        lr = self.lr_after_decays(decay_index)
        end = None if total is None else total - 1
        yield Segment(start, end, lr, lr)


def _log2_intended(gamma: float) -> float:
    """log2 of the decimal ``gamma`` stands for, accurate even for gamma just below 1."""
    if gamma < 0.5:
        return math.log2(gamma)
    # Near 1, log1p of the exact distance from 1 keeps the digits a plain log2 would lose.
    numerator, denominator = decimal_ratio(gamma)
    return math.log1p((numerator - denominator) / denominator) / math.log(2)


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
