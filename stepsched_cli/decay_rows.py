"""Every parameter group's exact lr at consecutive decay counts, walked ahead in batches.

``DecayRows(bases, gamma, k)`` holds one row: for each base lr, the float nearest to
the exact ``base * gamma ** k``, both read as the decimals they stand for
(docs/design.md, "Exact powers"); :meth:`DecayRows.following` iterates over the rows
at ``k + 1``, ``k + 2``, ...  This is the engine of the torch drop-ins
(:mod:`stepsched_cli.torch`), where a schedule that decays on every step (exponential
decay written as ``StepLR(step_size=1)``) asks for a new row per step: rows are
walked ahead in batches of 2, 4, ... up to a cap, so a decay costs a share of a batch
and taking a row is a step of a C-level iterator.  Groups with one base magnitude
share one column (signs and zeros are applied afterwards, exactly).  Two ways to fill
a batch, both exact:

* **Vector** (while the values are far from the subnormal range): every value of the
  batch at once in numpy, from the wide ``gamma ** k`` at the batch's start and a
  cached table of the wide ``gamma ** j`` for the batch's steps, each cut in two
  floats, multiplied out with Dekker's exact products and a proven error bound
  (:func:`_vector_values`); a value the bound leaves undecided (about one in 10**7) is
  computed exactly.  No Python arithmetic runs per value.
* **Walks** (bases beyond ``2**+-500``, and once the values approach the subnormal
  range, to the end at 0.0): one :class:`~stepsched_cli.powers.ScaledWalk` per
  magnitude, one wide multiplication per value.

Example:
    >>> rows = DecayRows([0.1, 0.05, -0.2, 0.0], 0.1, 0)
    >>> following = rows.following()
    >>> rows.values, next(following), next(following)
    ([0.1, 0.05, -0.2, 0.0], [0.01, 0.005, -0.02, 0.0], [0.001, 0.0005, -0.002, 0.0])
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterable, Iterator, Sequence
from fractions import Fraction
from functools import lru_cache
from typing import TypeVar

import numpy as np
import numpy.typing as npt

from stepsched_cli.powers import (
    PowerWalk,
    ScaledWalk,
    intended_value,
    scaled_power,
    wide_power,
)

__all__ = ["DecayRows"]

Array = npt.NDArray[np.float64]
Mask = npt.NDArray[np.bool_]
Number = TypeVar("Number", float, Array)

# The largest batches: a walk's values are held as Python lists, the vector's numpy
# calls cost about 1 us each whatever the batch, so larger batches pay them off.
_WALK_BATCH = 64
_VECTOR_BATCH = 256
# At most this many values (rows times groups) are walked ahead at once, so the rows
# held stay a few MB however many groups there are (from 257 groups, fewer rows).
_MOST_VALUES = 1 << 16
# The vector way keeps every term of its products normal: magnitudes within 2**+-500
# and gamma**k at least 2**-400 (the smallest product, 2**-955, is far above the
# smallest normal 2**-1022).  Outside, the walks take over.
_MAGNITUDE_RANGE = (2.0**-500, 2.0**500)
_SMALLEST_POWER = 2.0**-400
# Veltkamp's splitter for binary64: x = hi + lo with 26 and 27 significant bits.
_SPLITTER = 134217729.0  # 2**27 + 1
_LOW_MASK = (1 << 53) - 1
# |d| below this share of the gap to the next float down decides the rounding; the
# error bound is below 2**-45 of that gap (see _vector_values).
_DECIDED_SHARE = 0.4999999


class DecayRows:
    """The lrs of every base at decay count ``k``, and an iterator over the next ones.

    Attributes:
        k: The decay count of :attr:`values`.
        values: The row at ``k``: one float per base, in the order given.
    """

    __slots__ = ("_columns", "_engine", "_signs", "k", "values")

    def __init__(self, bases: Sequence[float], gamma: float, k: int) -> None:
        """``bases``: finite floats (any sign, 0.0 kept); ``0 < gamma < 1``; ``k >= 0``."""
        magnitudes = sorted({abs(base) for base in bases if base})
        column = {magnitude: index for index, magnitude in enumerate(magnitudes)}
        self._columns = np.array([column.get(abs(base), 0) for base in bases], dtype=np.intp)
        # +-1.0 carries a sign exactly; a zero base multiplies its (finite) column to
        # its own zero, 0.0 or -0.0.
        self._signs = np.array([math.copysign(1.0, base) if base else base for base in bases])
        self.k = k
        self._engine: _Walks | _Vector | None = None
        if magnitudes:
            low, high = _MAGNITUDE_RANGE
            if low <= magnitudes[0] <= magnitudes[-1] <= high:
                self._engine = _Vector(magnitudes, gamma, k)
            else:
                self._engine = _Walks(magnitudes, gamma, k)
        magnitude_values = [scaled_power(m, gamma, k) for m in magnitudes] or [0.0]
        self.values: list[float] = (
            np.array(magnitude_values)[self._columns] * self._signs
        ).tolist()

    def following(self) -> Iterator[list[float]]:
        """The rows at ``k + 1``, ``k + 2``, ... (without end), walked in batches.

        Once every value is 0.0 the same row repeats.  Take them from one iterator
        only: each batch moves this object on.
        """
        return itertools.chain.from_iterable(self._batches())

    def _batches(self) -> Iterator[Iterable[list[float]]]:
        batch = 1
        most = max(1, _MOST_VALUES // max(1, len(self._columns)))
        engine = self._engine
        while engine is not None:
            batch = min(engine.batch_cap, most, 2 * batch)
            block = engine.values(batch)
            if block is None:  # the vector way has reached small values: walks from here
                engine = self._engine = _Walks(engine.magnitudes, engine.gamma, self.k)
                continue
            self.k += batch
            rows: list[list[float]] = (block[:, self._columns] * self._signs).tolist()
            self.values = rows[-1]
            yield rows
            if not block[-1].any():  # every value is 0.0 from here on
                break
        yield itertools.repeat(self.values)


class _Walks:
    """One :class:`ScaledWalk` per magnitude; a value at 0.0 is not walked further."""

    batch_cap = _WALK_BATCH

    def __init__(self, magnitudes: list[float], gamma: float, k: int) -> None:
        self.magnitudes, self.gamma = magnitudes, gamma
        self._walks = [ScaledWalk(magnitude, gamma, k) for magnitude in magnitudes]
        self._last = [walk.value() for walk in self._walks]

    def values(self, count: int) -> Array:
        """The next ``count`` values of every magnitude, shape ``(count, magnitudes)``."""
        columns = []
        for index, walk in enumerate(self._walks):
            if self._last[index]:
                column = walk.advance_many(count)
                self._last[index] = column[-1]
            else:  # 0.0 stays 0.0: every later value is
                column = [0.0] * count
            columns.append(column)
        block: Array = np.array(columns).T
        return block


class _Vector:
    """Every magnitude's values in numpy: ``base * A * T[j]`` for a batch of counts.

    ``A`` is the wide ``gamma ** k0`` at the batch's start (random access), ``T[j]`` the
    wide ``gamma ** j`` for ``j = 1 .. _VECTOR_BATCH`` (cached per gamma), each cut in
    two floats; :func:`_vector_values` multiplies them out with a proven error bound.
    No Python arithmetic runs per value.
    """

    batch_cap = _VECTOR_BATCH

    def __init__(self, magnitudes: list[float], gamma: float, k: int) -> None:
        self.magnitudes, self.gamma, self.k = magnitudes, gamma, k
        bases = np.array(magnitudes)
        # The decimal each base stands for, as base + tail (tail within half an ulp).
        tails = np.array([float(intended_value(m) - Fraction(m)) for m in magnitudes])
        self._bases = _Parts(bases, tails)
        self._steps = _steps_of(gamma)

    def values(self, count: int) -> Array | None:
        """The next ``count`` values, or None when they get too small for this way."""
        anchor = _two_floats(*wide_power(self.gamma, self.k))
        power, power_tail = _two_float_product(anchor, self._steps, count)
        if power[-1] < _SMALLEST_POWER:  # the powers only decrease
            return None
        values, undecided = _vector_values(self._bases, power[:, None], power_tail[:, None])
        for row, column in np.argwhere(undecided):  # about one value in 10**7
            k = self.k + 1 + int(row)
            values[row, column] = scaled_power(self.magnitudes[column], self.gamma, k)
        self.k += count
        return values


class _Steps:
    """``gamma ** j`` for ``j = 1 .. _VECTOR_BATCH`` as two floats, and the first one's halves."""

    __slots__ = ("head", "low", "tail", "value")

    def __init__(self, gamma: float) -> None:
        mantissas, exponents = PowerWalk(gamma, 0).advance_wide(_VECTOR_BATCH)
        parts = [_two_floats(m, e) for m, e in zip(mantissas, exponents, strict=True)]
        self.value = np.array([value for value, _ in parts])
        self.tail = np.array([tail for _, tail in parts])
        self.head, self.low = _split(self.value)


@lru_cache(maxsize=16)
def _steps_of(gamma: float) -> _Steps:
    return _Steps(gamma)


def _two_floats(mantissa: int, exponent: int) -> tuple[float, float]:
    """A wide number's top 53 bits and next 53 bits, as two floats (both truncated).

    What is left is below ``2**-105`` of the number (its mantissa has at least 106
    bits); 0.0 for both when the walk has passed its limit (mantissa 0).
    """
    size = mantissa.bit_length()
    if size < 106:  # pragma: no cover - wide numbers have WIDE_BITS bits
        return math.ldexp(mantissa, exponent), 0.0
    top = math.ldexp(mantissa >> (size - 53), exponent + size - 53)
    rest = math.ldexp((mantissa >> (size - 106)) & _LOW_MASK, exponent + size - 106)
    return top, rest


def _two_float_product(
    anchor: tuple[float, float], steps: _Steps, count: int
) -> tuple[Array, Array]:
    """``A * T[j]`` for the first ``count`` steps as ``P + Q`` (two floats each).

    ``P = fl(a T)`` and ``Q = fl(fl(e + fl(a t)) + fl(a' T))`` where ``A = a + a'`` and
    ``T = T + t`` are the two-float cuts and ``e`` the exact error of ``a T`` (Dekker).
    The cuts leave out below ``2**-105`` each and ``a' t`` is below ``2**-104`` of the
    product, the roundings below ``2**-103``: ``|A T[j] - P - Q| < 2**-101 A T[j]``, and
    ``|Q| < 2**-50 P``.
    """
    high, low = anchor
    high_head, high_low = _split(high)
    value, head, tail, low_part = (
        steps.value[:count],
        steps.head[:count],
        steps.tail[:count],
        steps.low[:count],
    )
    product = high * value
    error = _product_error(high_head, high_low, head, low_part, product)
    return product, (error + high * tail) + low * value


class _Parts:
    """A base as ``value + tail`` (the decimal it stands for), and value's Veltkamp halves."""

    __slots__ = ("head", "tail", "value", "value_low")

    def __init__(self, value: Array, tail: Array) -> None:
        self.value, self.tail = value, tail
        self.head, self.value_low = _split(value)


def _split(x: Number) -> tuple[Number, Number]:
    """Veltkamp: ``x == hi + lo`` exactly, each with at most 26 significant bits."""
    scaled = _SPLITTER * x
    high = scaled - (scaled - x)
    return high, x - high


def _product_error(
    a_head: Number, a_low: Number, b_head: Array, b_low: Array, product: Array
) -> Array:
    """Dekker: the exact ``a * b - product`` for ``product = fl(a * b)``, from the
    Veltkamp halves of ``a`` and ``b`` (no underflow: the ranges above)."""
    return ((a_head * b_head - product) + a_head * b_low + a_low * b_head) + a_low * b_low


def _vector_values(bases: _Parts, high: Array, low: Array) -> tuple[Array, Mask]:
    """``round(B * G)`` for every base ``B`` and power ``G``, and where it is undecided.

    ``B = b + bt`` (the base's float and its tail, ``|bt| <= ulp(b)/2``, error below
    ``2**-53 |bt|``) and ``G = H + L + rest`` (:func:`_two_float_product`:
    ``|L| < 2**-50 H``, ``|rest| < 2**-101 G``; the wide numbers' own errors are below
    ``2**-124 G``).  In units ``u = 2**-53 ulp(p)``, where ``p = fl(b H)``: Dekker's
    product gives ``e`` with ``p + e = b H`` exactly (no underflow or overflow: the
    ranges above), ``|e| <= ulp(p)/2``; ``|b L| < 8 ulp(p)``, ``|bt H| < ulp(p)``, so
    ``t = fl(fl(e + fl(b L)) + fl(bt H))`` has ``|t| < 10 ulp(p)`` and its three
    roundings add at most ``30 u``; the terms left out (``B rest``, ``bt L``, the
    tail's and the wide numbers' errors) are below ``70 u``.  So
    ``|B G - (p + t)| < 100 u < 2**-46 ulp(p)``.  ``r = fl(p + t)`` and
    ``d = t - (r - p)`` is exact (Fast2Sum, ``|p| >= |t|``): ``p + t = r + d``.  As
    ``r > p - 10 ulp(p)``, the gap below ``r`` is at least ``ulp(p)/2``, and it is
    never more than the gap above it, so ``|d| < 0.4999999 gap`` puts ``B G`` strictly
    inside ``r``'s rounding interval (the margin, ``1e-7 gap``, is far above the
    error, below ``2**-45 gap``): ``round(B G) = r``.
    """
    product = bases.value * high
    high_head, high_low = _split(high)
    error = _product_error(bases.head, bases.value_low, high_head, high_low, product)
    tail = (error + bases.value * low) + bases.tail * high
    rounded = product + tail
    rest = tail - (rounded - product)
    gap = rounded - np.nextafter(rounded, 0.0)
    undecided: Mask = np.abs(rest) >= _DECIDED_SHARE * gap
    return rounded, undecided
