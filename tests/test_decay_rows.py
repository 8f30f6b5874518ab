"""DecayRows: every row equals the exact rational rounded once, however it was computed.

The reference is independent of the package's arithmetic: ``fractions.Fraction`` of
the decimals as typed, rounded by Python's correctly rounded ``int / int``.
"""

from __future__ import annotations

import itertools
import math
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import stepsched_cli.decay_rows as decay_rows
from stepsched_cli.decay_rows import DecayRows
from stepsched_cli.powers import intended_value


def exact(base: float, gamma: float, k: int) -> float:
    """The float nearest to ``base * gamma ** k`` (decimals as typed); the base's own zero."""
    if not base:
        return base
    value = abs(intended_value(base)) * intended_value(gamma) ** k
    return math.copysign(value.numerator / value.denominator, base)


def same(a: list[float], b: list[float]) -> bool:
    """Equal values with equal signs (0.0 and -0.0 told apart)."""
    return a == b and [math.copysign(1, x) for x in a] == [math.copysign(1, x) for x in b]


def rows_from(bases: list[float], gamma: float, k: int, count: int) -> list[list[float]]:
    rows = DecayRows(bases, gamma, k)
    following = rows.following()
    return [rows.values, *itertools.islice(following, count)]


def engine(rows: DecayRows) -> str:
    return type(rows._engine).__name__


@pytest.mark.parametrize(
    ("bases", "gamma", "k", "count"),
    [
        # one base, decaying for several full batches (2 + 4 + ... + 256 + 256)
        ([0.1], 0.999999, 0, 800),
        # layer-wise lrs, one shared magnitude, signs and zeros
        ([0.1 * 0.75**i for i in range(10)], 0.97, 5, 600),
        ([0.1, 0.02, 0.1, -0.1, 0.0, -0.0], 0.9, 0, 300),
        # a gamma read as its decimal, far from a power of two; a late start
        ([3e-4, 0.7, 12.5], 0.3333, 2000, 40),
        ([0.05], 1 - 1e-12, 3000, 300),
    ],
)
def test_rows_are_the_exact_values_rounded_once(
    bases: list[float], gamma: float, k: int, count: int
) -> None:
    seen = rows_from(bases, gamma, k, count)
    for offset, row in enumerate(seen):
        assert same(row, [exact(base, gamma, k + offset) for base in bases])


def test_values_walk_into_the_subnormals_and_stay_at_zero() -> None:
    bases = [0.1, 3e-5, -2.5]
    rows = DecayRows(bases, 0.1, 0)
    assert engine(rows) == "_Vector"
    seen = [rows.values, *itertools.islice(rows.following(), 400)]
    assert engine(rows) == "_Walks"  # taken over near the subnormal range
    for k, row in enumerate(seen):
        assert same(row, [exact(base, 0.1, k) for base in bases])
    assert 0 < seen[310][0] < 2.2250738585072014e-308
    assert same(seen[330], [0.0, 0.0, -0.0])


def test_a_row_at_zero_repeats_without_more_work() -> None:
    rows = DecayRows([1e-300], 0.5, 0)
    following = rows.following()
    for _ in itertools.islice(following, 200):
        pass
    k = rows.k
    assert list(itertools.islice(following, 10**5))[-1] == [0.0]
    assert rows.k == k  # nothing walked past the all-zero batch


@pytest.mark.parametrize(
    ("bases", "name"),
    [([2.0**600, 0.1], "_Walks"), ([2.0**-600], "_Walks"), ([0.0, -0.0], "NoneType")],
)
def test_bases_beyond_the_vector_range_are_walked(bases: list[float], name: str) -> None:
    rows = DecayRows(bases, 0.5, 3)
    assert engine(rows) == name
    for k, row in enumerate(rows_from(bases, 0.5, 3, 70), start=3):
        assert same(row, [exact(base, 0.5, k) for base in bases])


def test_every_undecided_value_is_computed_exactly(monkeypatch: pytest.MonkeyPatch) -> None:
    """With no rounding counted as decided, every value takes the exact fallback."""
    monkeypatch.setattr(decay_rows, "_DECIDED_SHARE", 0.0)
    bases = [0.1, 0.3, 7e-5]
    for k, row in enumerate(rows_from(bases, 0.9, 0, 40)):
        assert same(row, [exact(base, 0.9, k) for base in bases])


def one(value: float) -> decay_rows.Array:
    return np.array([[value]])


@pytest.mark.parametrize(
    ("base", "tail", "expected", "undecided"),
    [
        # the exact product lies between two floats, far from the midpoint
        (1.0, 2.0**-55, 1.0, False),
        (1.0 + 2.0**-52, -(2.0**-55), 1.0 + 2.0**-52, False),
        # on a midpoint: either float could be the nearest, so it is left to the exact path
        (1.0, 2.0**-53, 1.0, True),
        (1.0 + 2.0**-52, 2.0**-53, 1.0 + 2.0**-51, True),
        # just below a power of two, where the gap below is half the gap above
        (1.0, -(2.0**-54), 1.0, True),
        (1.0, -(2.0**-56), 1.0, False),
    ],
)
def test_the_rounding_is_decided_only_clear_of_a_midpoint(
    base: float, tail: float, expected: float, undecided: bool
) -> None:
    """``B = base + tail`` times ``G = 1.0``: the decision rule of _vector_values."""
    parts = decay_rows._Parts(np.array([base]), np.array([tail]))
    values, doubtful = decay_rows._vector_values(parts, one(1.0), one(0.0))
    assert values[0, 0] == expected
    assert bool(doubtful[0, 0]) is undecided


DECIMALS = st.sampled_from([0.1, 0.5, 0.9, 0.97, 0.999, 0.3333, 0.123456789, 0.999999])
BASES = st.lists(
    st.one_of(
        st.floats(min_value=1e-12, max_value=10.0),
        st.floats(min_value=-10.0, max_value=-1e-12),
        st.sampled_from([0.0, -0.0, 0.1, 1e-3, 3e-4]),
    ),
    min_size=1,
    max_size=6,
)


@settings(max_examples=60, deadline=None)
@given(
    bases=BASES,
    gamma=DECIMALS,
    k=st.integers(min_value=0, max_value=10**4),
    count=st.integers(0, 300),
)
def test_any_bases_and_start_give_the_exact_rows(
    bases: list[float], gamma: float, k: int, count: int
) -> None:
    seen = rows_from(bases, gamma, k, count)
    for offset in sorted({0, count // 2, max(count - 1, 0), count}):
        assert same(seen[offset], [exact(base, gamma, k + offset) for base in bases])


def test_the_exact_reference_is_rounded_once() -> None:
    """The test's own reference: 0.1 * 0.1 is 0.01, where floats give 0.010000000000000002."""
    assert exact(0.1, 0.1, 1) == 0.01 == float(Fraction(1, 100))
