"""Correctly rounded ``scale * gamma ** k``: the arithmetic under every schedule value.

A float parameter stands for its shortest round-tripping decimal
(:func:`intended_value`), so ``0.1 * 0.1 ** 2`` is the float nearest to 1/1000.  The
exact value is a rational with astronomically large terms for large ``k``; it is
approximated from below by a *wide* number ``m * 2**e`` (``m`` an integer of
:data:`WIDE_BITS` bits) whose relative error has a proven bound, and rounded to a
float only when that bound shows the rounding cannot be in doubt.  Otherwise the
value is recomputed exactly (or with many more bits), so the result is always the
float nearest to the exact value.  The proof is in docs/design.md ("Exact powers").

Two ways to reach ``gamma ** k`` share one error bound, at most ``2k - 1`` units of
``2**(1 - WIDE_BITS)`` relative:

* :func:`wide_power`, random access: a product of cached ``gamma ** (d * 256**j)``,
  so a cold value costs at most one wide multiplication per non-zero byte of ``k``;
* :class:`PowerWalk`, consecutive counts: ``gamma ** (k + 1)`` from ``gamma ** k`` by
  one wide multiplication, for ``step()`` and long listings.

Example:
    >>> scaled_power(0.1, 0.1, 2), 0.1 * 0.1 * 0.1
    (0.001, 0.0010000000000000002)
    >>> walk = PowerWalk(0.1)
    >>> [walk.advance() or walk.scaled(0.1) for _ in range(3)]
    [0.01, 0.001, 0.0001]
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from functools import lru_cache
from typing import TYPE_CHECKING, cast

if TYPE_CHECKING:
    from fractions import Fraction

# Significant bits of every wide number.  The error of gamma**k is below
# 2k * 2**(1 - WIDE_BITS) relative; with 192 bits and k < 2**64 that is 2**-126.
WIDE_BITS = 192
# Decay counts below this keep the error bound under 2**-125 (relative).
WIDE_COUNT_LIMIT = 2**64
# Absolute slack, in units of the product's last bit, that covers a relative error of
# 2**-124 for a product of two wide numbers (which is below 2**(2 * WIDE_BITS)).
_PRODUCT_SLACK = 1 << (2 * WIDE_BITS - 124)
_TOP_BIT = 1 << (2 * WIDE_BITS - 1)
# The same for one wide number (below 2**WIDE_BITS): a relative error of 2**-124.
_VALUE_SLACK = 1 << (WIDE_BITS - 124)
_MIN_NORMAL = 2.2250738585072014e-308
# A WIDE_BITS-bit mantissa rounds to 53 bits on its last WIDE_BITS - 53 bits: a
# mantissa up to _VALUE_SLACK below the half-way point (or on it) is not decided.
_DROPPED_MASK = (1 << (WIDE_BITS - 53)) - 1
_HALF_DROPPED = 1 << (WIDE_BITS - 54)
_UNDECIDED_LOW = _HALF_DROPPED - _VALUE_SLACK
# log2 of a value that certainly rounds to 0.0 (the smallest subnormal is 2**-1074).
UNDERFLOW_LOG2 = -1080.0
# Exact rational arithmetic is used for a doubtful rounding while its terms stay
# below this many bits; beyond, the approximation is redone with more bits.
_EXACT_BITS_LIMIT = 1 << 20
_RETRY_BITS = (640, 2560, 10240)

Wide = tuple[int, int]
"""``(m, e)`` standing for ``m * 2**e``."""


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


def _wide_ratio(numerator: int, denominator: int, bits: int) -> Wide:
    """``numerator / denominator`` rounded down to ``bits`` significant bits."""
    shift = bits - numerator.bit_length() + denominator.bit_length()
    mantissa = (
        (numerator << shift) // denominator if shift >= 0 else numerator // (denominator << -shift)
    )
    if mantissa.bit_length() > bits:  # the estimate of the shift was one too large
        return mantissa >> 1, -shift + 1
    return mantissa, -shift


@lru_cache(maxsize=1024)
def wide_value(value: float) -> Wide:
    """The decimal ``value`` stands for, rounded down to :data:`WIDE_BITS` bits (error < 1 unit).

    Example:
        >>> mantissa, exponent = wide_value(0.5)
        >>> mantissa == 2**191 and exponent == -192
        True
    """
    return _wide_ratio(*decimal_ratio(value), WIDE_BITS)


def _trim(mantissa: int, exponent: int, bits: int) -> Wide:
    excess = mantissa.bit_length() - bits
    if excess > 0:
        return mantissa >> excess, exponent + excess
    return mantissa, exponent


class _PowerTable:
    """``gamma ** (d * 256**j)`` for digits ``d`` of ``k`` in base 256, made on demand.

    Each entry is a product tree of ``wide(gamma)`` (one squaring or one multiplication
    from entries already made), so the ``2n - 1`` unit bound holds for every entry, and
    ``gamma ** k`` takes at most one multiplication per non-zero byte of ``k``: at most
    8 below ``2**64``, however large ``k`` is.
    """

    __slots__ = ("bits", "entries")

    def __init__(self, gamma: float, bits: int) -> None:
        self.bits = bits
        self.entries: dict[tuple[int, int], Wide] = {
            (0, 1): _wide_ratio(*decimal_ratio(gamma), bits)
        }

    def entry(self, level: int, digit: int) -> Wide:
        found = self.entries.get((level, digit))
        if found is None:
            if digit == 1:  # gamma ** (256**level) = (gamma ** (128 * 256**(level-1)))**2
                found = self._product(self.entry(level - 1, 128), self.entry(level - 1, 128))
            elif digit % 2 == 0:
                half = self.entry(level, digit // 2)
                found = self._product(half, half)
            else:
                found = self._product(self.entry(level, digit - 1), self.entry(level, 1))
            self.entries[(level, digit)] = found
        return found

    def _product(self, first: Wide, second: Wide) -> Wide:
        return _trim(first[0] * second[0], first[1] + second[1], self.bits)


@lru_cache(maxsize=64)
def _power_table(gamma: float) -> _PowerTable:
    return _PowerTable(gamma, WIDE_BITS)


def wide_power(gamma: float, k: int, bits: int = WIDE_BITS) -> Wide:
    """``gamma ** k`` (gamma read as its decimal) rounded down, ``bits`` bits wide.

    Every wide factor and every truncation loses less than one unit of
    ``2**(1 - bits)``; the count of units lost stays at most ``2k - 1`` (docs/design.md),
    so the relative error is below ``k * 2**(2 - bits)``.  Cost: one multiplication
    per non-zero byte of ``k`` once the table of ``gamma`` (cached per gamma) has the
    entries.
    """
    if not k:
        return 1 << (bits - 1), 1 - bits
    table = _power_table(gamma) if bits == WIDE_BITS else _PowerTable(gamma, bits)
    result: Wide | None = None
    level = 0
    while k:
        digit = k & 255
        if digit:
            mantissa, exponent = table.entry(level, digit)
            if result is None:
                result = (mantissa, exponent)
            else:
                result = _trim(result[0] * mantissa, result[1] + exponent, bits)
        k >>= 8
        level += 1
    return cast(Wide, result)


def round_wide(mantissa: int, exponent: int, slack: int) -> float | None:
    """The float nearest to every number in ``[m, m + slack] * 2**e``, None if they differ.

    Rounding is monotone, so when both ends round to the same float, every number
    between them (the exact value among them) rounds to it.
    """
    if exponent + mantissa.bit_length() > -1021:  # a normal float: ldexp is exact
        low = math.ldexp(float(mantissa), exponent)
        high = math.ldexp(float(mantissa + slack), exponent)
    else:  # int / int true division is correctly rounded, subnormals included
        divisor = 1 << -exponent
        low, high = mantissa / divisor, (mantissa + slack) / divisor
    return low if low == high else None


def certainly_underflows(scale: float, gamma_log2: float, k: int) -> bool:
    """Whether ``scale * gamma ** k`` is certainly below the smallest subnormal."""
    return k.bit_length() > 1000 or math.log2(scale) + k * gamma_log2 < UNDERFLOW_LOG2


def log2_intended(gamma: float) -> float:
    """log2 of the decimal ``gamma`` stands for, accurate even for gamma just below 1."""
    if gamma < 0.5:
        return math.log2(gamma)
    # Near 1, log1p of the exact distance from 1 keeps the digits a plain log2 would lose.
    numerator, denominator = decimal_ratio(gamma)
    return math.log1p((numerator - denominator) / denominator) / math.log(2)


def scaled_power(scale: float, base: float, exponent: int) -> float:
    """Return ``scale * base ** exponent`` rounded to the nearest float.

    The factors are read as the decimals they stand for (:func:`intended_value`).  A
    wide approximation with a proven error bound is rounded when the bound leaves no
    doubt about the result, which is all but about 2**-70 of cases; otherwise the
    exact rational (or a far wider approximation) decides.  Cost: at most one wide
    multiplication per non-zero byte of ``exponent`` (8 below 2**64), and values that
    certainly underflow return 0.0 at once.

    Args:
        scale: A finite float > 0.
        base: A float with 0 < base < 1.
        exponent: An integer >= 0.

    Returns:
        The float nearest to the exact product, or 0.0 when the exact value is at most
        half the smallest subnormal.

    Example:
        >>> scaled_power(0.1, 0.1, 2), 0.1 * 0.1 * 0.1
        (0.001, 0.0010000000000000002)
    """
    if exponent == 0:
        return scale
    # Past 2**1000 decays even the gamma closest to 1 has underflowed (and a float
    # product with the log below would overflow).
    if certainly_underflows(scale, log2_intended(base), exponent):
        return 0.0
    if exponent < WIDE_COUNT_LIMIT:
        power_m, power_e = wide_power(base, exponent)
        scale_m, scale_e = wide_value(scale)
        value = round_wide(scale_m * power_m, scale_e + power_e, _PRODUCT_SLACK)
        if value is not None:
            return value
    return _decided(scale, base, exponent)


def _decided(scale: float, base: float, exponent: int) -> float:
    """The rounding the fast path left in doubt: exactly, or with far more bits."""
    scale_n, scale_d = decimal_ratio(scale)
    base_n, base_d = decimal_ratio(base)
    if exponent * max(base_n.bit_length(), base_d.bit_length()) <= _EXACT_BITS_LIMIT:
        # int / int true division rounds the exact rational correctly.
        return float((scale_n * base_n**exponent) / (scale_d * base_d**exponent))
    for bits in _RETRY_BITS:  # pragma: no cover - needs a value within 2**-124 of a tie
        power_m, power_e = wide_power(base, exponent, bits)
        scale_m, scale_e = _wide_ratio(scale_n, scale_d, bits)
        # 2k + 1 units of 2**(1 - bits), relative to a product below 2**(2 * bits).
        slack = ((2 * exponent + 1) << (bits + 1)) + 1
        value = round_wide(scale_m * power_m, scale_e + power_e, slack)
        if value is not None:
            return value
    # Unreachable for any gamma that is not a power of two times the scale's ratio
    # (docs/design.md); the approximation is then within 2**-10000 of the exact value.
    return round_wide(scale_m * power_m, scale_e + power_e, 0) or 0.0  # pragma: no cover


class PowerWalk:
    """``gamma ** k`` for consecutive ``k``: one wide multiplication per step.

    Starts at any ``k`` (a random-access :func:`wide_power`), then each
    :meth:`advance` multiplies by the wide gamma and truncates: two units of error per
    step, so the walk keeps the bound ``2k - 1`` units of random access and its values
    are the same correctly rounded floats.

    Example:
        >>> walk = PowerWalk(0.5, 3)
        >>> walk.scaled(1.0), walk.advance(), walk.scaled(1.0)
        (0.125, None, 0.0625)
    """

    __slots__ = ("_exponent", "_gamma_e", "_gamma_m", "_mantissa", "gamma", "k")

    def __init__(self, gamma: float, k: int = 0) -> None:
        self.gamma = gamma
        self._gamma_m, self._gamma_e = wide_value(gamma)
        self.seek(k)

    def seek(self, k: int) -> None:
        """Jump to ``gamma ** k`` (random access; cheap when ``k`` is far past underflow)."""
        self.k = k
        if k < WIDE_COUNT_LIMIT:
            self._mantissa, self._exponent = wide_power(self.gamma, k)
        else:
            self._mantissa, self._exponent = 0, 0

    def advance(self) -> None:
        """Move from ``gamma ** k`` to ``gamma ** (k + 1)``."""
        product = self._mantissa * self._gamma_m
        self.k += 1
        # Keep WIDE_BITS bits: the product of two wide numbers has 2B - 1 or 2B bits.
        if product >= _TOP_BIT:
            self._mantissa = product >> WIDE_BITS
            self._exponent += self._gamma_e + WIDE_BITS
        else:
            self._mantissa = product >> (WIDE_BITS - 1)
            self._exponent += self._gamma_e + WIDE_BITS - 1
        if self.k >= WIDE_COUNT_LIMIT:  # pragma: no cover - underflowed long before
            self._mantissa = 0

    def advance_wide(self, count: int) -> tuple[list[int], list[int]]:
        """Move ``count`` steps on; the wide ``gamma ** k`` of each, as mantissas and exponents.

        :meth:`advance` ``count`` times in one loop over local variables.  Each
        mantissa has exactly ``WIDE_BITS`` bits and the error bound of :meth:`advance`
        (``2k - 1`` units of ``2**(1 - WIDE_BITS)``, relative, at count ``k``); a walk
        that has passed ``WIDE_COUNT_LIMIT`` gives mantissa 0.
        """
        mantissas: list[int] = []
        exponents: list[int] = []
        mantissa, exponent, gamma_m, top = self._mantissa, self._exponent, self._gamma_m, _TOP_BIT
        up = self._gamma_e + WIDE_BITS
        for _ in range(count):
            product = mantissa * gamma_m
            if product >= top:
                mantissa = product >> WIDE_BITS
                exponent += up
            else:
                mantissa = product >> (WIDE_BITS - 1)
                exponent += up - 1
            mantissas.append(mantissa)
            exponents.append(exponent)
        self._mantissa, self._exponent = mantissa, exponent
        self.k += count
        if self.k >= WIDE_COUNT_LIMIT:  # pragma: no cover - underflowed long before
            self._mantissa = 0
            past = min(count, self.k - WIDE_COUNT_LIMIT + 1)
            mantissas[count - past :] = [0] * past
        return mantissas, exponents

    def scaled(self, scale: float, wide: Wide | None = None) -> float:
        """``scale * gamma ** k`` correctly rounded; ``wide`` is ``wide_value(scale)``.

        One wide multiplication; the exact fallback of :func:`scaled_power` runs only
        when the error bound leaves the rounding in doubt (or the value is subnormal).
        """
        if not self.k:
            return scale
        scale_m, scale_e = wide_value(scale) if wide is None else wide
        product = scale_m * self._mantissa
        low = float(product)
        if low == float(product + _PRODUCT_SLACK):
            value = math.ldexp(low, scale_e + self._exponent)
            if value >= _MIN_NORMAL:
                return value
        return scaled_power(scale, self.gamma, self.k)


class ScaledWalk:
    """``scale * gamma ** k`` for consecutive ``k``: the hot path of ``step()``.

    The scale is folded into the walked number, so each :meth:`advance` is one wide
    multiplication, one truncation and a rounding check.  Error: the scale's wide
    value (1 unit), ``gamma ** k0`` (at most ``2k0 - 1``), one truncation when they are
    combined, and two units per step: at most ``2k + 1`` units of ``2**(1 - WIDE_BITS)``,
    below ``2**-125`` for ``k < 2**64``.

    Example:
        >>> walk = ScaledWalk(0.1, 0.1, 1)
        >>> walk.value(), walk.advance(), walk.advance()
        (0.01, 0.001, 0.0001)
    """

    __slots__ = ("_exponent", "_gamma_e", "_gamma_m", "_mantissa", "gamma", "k", "scale")

    def __init__(self, scale: float, gamma: float, k: int) -> None:
        self.scale, self.gamma, self.k = scale, gamma, k
        self._gamma_m, self._gamma_e = wide_value(gamma)
        if k < WIDE_COUNT_LIMIT:
            power_m, power_e = wide_power(gamma, k)
            scale_m, scale_e = wide_value(scale)
            self._mantissa, self._exponent = _trim(scale_m * power_m, scale_e + power_e, WIDE_BITS)
        else:  # pragma: no cover - underflowed long before
            self._mantissa, self._exponent = 0, 0

    def value(self) -> float:
        """``scale * gamma ** k`` correctly rounded."""
        if not self.k:
            return self.scale
        mantissa = self._mantissa
        low = float(mantissa)
        if low == float(mantissa + _VALUE_SLACK):
            value = math.ldexp(low, self._exponent)
            if value >= _MIN_NORMAL:
                return value
        return scaled_power(self.scale, self.gamma, self.k)

    def advance(self) -> float:
        """Move to ``k + 1`` and return its value, correctly rounded."""
        product = self._mantissa * self._gamma_m
        self.k += 1
        if product >= _TOP_BIT:
            mantissa = self._mantissa = product >> WIDE_BITS
            exponent = self._exponent = self._exponent + self._gamma_e + WIDE_BITS
        else:
            mantissa = self._mantissa = product >> (WIDE_BITS - 1)
            exponent = self._exponent = self._exponent + self._gamma_e + WIDE_BITS - 1
        low = float(mantissa)
        if low == float(mantissa + _VALUE_SLACK):
            value = math.ldexp(low, exponent)
            if value >= _MIN_NORMAL:
                return value
        if self.k >= WIDE_COUNT_LIMIT:  # pragma: no cover - underflowed long before
            self._mantissa = 0
        return scaled_power(self.scale, self.gamma, self.k)

    def advance_many(self, count: int) -> list[float]:
        """The values of the next ``count`` decays, as ``count`` calls of :meth:`advance`.

        The same walk in one loop over local variables, with the rounding check done
        on the bits: the walked mantissa has exactly ``WIDE_BITS`` bits, so its float
        is decided unless its last ``WIDE_BITS - 53`` bits lie within the slack below
        the half-way point (then the value is computed as :meth:`advance` does).  Once
        a value is 0.0 the walk stops and the rest of the batch is 0.0 (every later
        value is).
        """
        values: list[float] = []
        append = values.append
        mantissa, exponent, k = self._mantissa, self._exponent, self.k
        full = mantissa.bit_length() == self._gamma_m.bit_length() == WIDE_BITS
        if not full:  # pragma: no cover - wide values are full
            for _ in range(count):
                append(self.advance() if not values or values[-1] else 0.0)
            return values
        gamma_m, top, wide, ldexp = self._gamma_m, _TOP_BIT, WIDE_BITS, math.ldexp
        up, down = self._gamma_e + wide, self._gamma_e + wide - 1
        undecided, dropped, half = _UNDECIDED_LOW, _DROPPED_MASK, _HALF_DROPPED
        for index in range(count):
            product = mantissa * gamma_m
            if product >= top:
                mantissa = product >> wide
                exponent += up
            else:
                mantissa = product >> (wide - 1)
                exponent += down
            if not undecided <= mantissa & dropped <= half:
                value = ldexp(mantissa, exponent)
                if value >= _MIN_NORMAL:
                    append(value)
                    continue
            self._mantissa, self._exponent, self.k = mantissa, exponent, k + index + 1
            value = self._settled()
            append(value)
            if not value:
                values.extend([0.0] * (count - len(values)))
                return values
            mantissa = self._mantissa
        self._mantissa, self._exponent, self.k = mantissa, exponent, k + count
        return values

    def _settled(self) -> float:
        """The value at ``k`` where the walked one does not decide it."""
        if self.k >= WIDE_COUNT_LIMIT:  # pragma: no cover - underflowed long before
            self._mantissa = 0
        return scaled_power(self.scale, self.gamma, self.k)


def round_to_bits(mantissa: int, exponent: int, bits: int, min_exponent: int) -> float:
    """``mantissa * 2**exponent`` rounded to ``bits`` significant bits, ties to even.

    ``min_exponent`` is the exponent of the format's smallest subnormal (-149 for
    float32, -1074 for float64): no bit below it is kept.  The result is exact as a
    Python float for both formats (their values are a subset of float64's).
    """
    quantum = max(exponent + mantissa.bit_length() - bits, min_exponent)
    shift = quantum - exponent
    if shift <= 0:
        return math.ldexp(mantissa, exponent)
    kept = mantissa >> shift
    rest = mantissa - (kept << shift)
    half = 1 << (shift - 1)
    if rest > half or (rest == half and kept & 1):
        kept += 1
    return math.ldexp(kept, quantum)


def round_ratio_to_bits(numerator: int, denominator: int, bits: int, min_exponent: int) -> float:
    """The exact ``numerator / denominator`` (both > 0) rounded like :func:`round_to_bits`."""
    top = numerator.bit_length() - denominator.bit_length()
    # 2**top <= n/d < 2**(top + 2); one comparison fixes the leading power of two.
    scaled = numerator >> top if top >= 0 else numerator << -top
    if scaled < denominator:
        top -= 1
    quantum = max(top + 1 - bits, min_exponent)
    if quantum >= 0:
        kept, rest = divmod(numerator, denominator << quantum)
        divisor = denominator << quantum
    else:
        kept, rest = divmod(numerator << -quantum, denominator)
        divisor = denominator
    if 2 * rest > divisor or (2 * rest == divisor and kept & 1):
        kept += 1
    return math.ldexp(kept, quantum)


def scaled_powers_in(scale: float, gamma: float, bits: int, min_exponent: int) -> Iterator[float]:
    """``scale * gamma ** k`` for k = 0, 1, 2, ..., each correctly rounded to a format.

    The format has ``bits`` significant bits and its smallest subnormal is
    ``2**min_exponent`` (24 and -149 for float32; 53 and -1074 give the float64 values
    of :func:`scaled_power`).  Rounding to float32 straight from the wide value avoids
    double rounding, which rounding the float64 result again would risk.  The walk
    carries at most ``2k + 1`` units of error, as :class:`ScaledWalk`; an approximation
    too close to a tie to decide is settled by the exact rational.  Endless: the
    caller stops (k stays far below :data:`WIDE_COUNT_LIMIT` in any table).

    Example:
        >>> from itertools import islice
        >>> list(islice(scaled_powers_in(0.1, 0.1, 24, -149), 3))
        [0.10000000149011612, 0.009999999776482582, 0.0010000000474974513]
    """
    gamma_m, gamma_e = wide_value(gamma)
    mantissa, exponent = wide_value(scale)
    scale_n, scale_d = decimal_ratio(scale)
    gamma_n, gamma_d = decimal_ratio(gamma)
    k = 0
    while True:
        low = round_to_bits(mantissa, exponent, bits, min_exponent)
        if low == round_to_bits(mantissa + _VALUE_SLACK, exponent, bits, min_exponent):
            yield low
        else:  # within 2**-124 of a tie (or exactly on one): the exact rational decides
            yield round_ratio_to_bits(
                scale_n * gamma_n**k, scale_d * gamma_d**k, bits, min_exponent
            )
        product = mantissa * gamma_m
        k += 1
        mantissa, exponent = _trim(product, exponent + gamma_e, WIDE_BITS)
