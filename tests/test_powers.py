"""The arithmetic under every value: correctly rounded scale * gamma**k, walked or random."""

from __future__ import annotations

import math
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from stepsched_cli.powers import (
    WIDE_BITS,
    PowerWalk,
    ScaledWalk,
    intended_value,
    round_wide,
    scaled_power,
    wide_power,
    wide_value,
)

LRS = st.sampled_from([0.1, 1.0, 3e-4, 7.0, 1e-8, 5e-324, 1e300]) | st.floats(
    1e-8, 10.0, allow_nan=False
)
GAMMAS = st.sampled_from([0.1, 0.5, 0.9, 0.97, 0.3333, 0.999999, 0.9999999999999999]) | st.floats(
    1e-6, 1.0, exclude_max=True, allow_nan=False
).filter(lambda g: g > 0)


def nearest(exact: Fraction) -> float:
    """The float nearest to ``exact`` (Fraction.__float__ rounds correctly, ties to even)."""
    return float(exact)


@given(lr=LRS, gamma=GAMMAS, k=st.integers(0, 3000))
def test_scaled_power_is_the_nearest_float(lr: float, gamma: float, k: int) -> None:
    """Not merely within 1 ulp: exactly the float nearest to the exact rational."""
    exact = intended_value(lr) * intended_value(gamma) ** k
    assert scaled_power(lr, gamma, k) == nearest(exact)


@settings(max_examples=30)
@given(lr=LRS, gamma=GAMMAS, start=st.integers(0, 10**6), steps=st.integers(1, 60))
def test_a_walk_gives_the_random_access_values(
    lr: float, gamma: float, start: int, steps: int
) -> None:
    walk = PowerWalk(gamma, start)
    values = []
    for _ in range(steps):
        walk.advance()
        values.append(walk.scaled(lr))
    assert values == [scaled_power(lr, gamma, start + i) for i in range(1, steps + 1)]


@settings(max_examples=60)
@given(lr=LRS, gamma=GAMMAS, start=st.integers(0, 10**6), steps=st.integers(1, 200))
def test_a_batch_walk_gives_the_random_access_values_and_walks_on(
    lr: float, gamma: float, start: int, steps: int
) -> None:
    """advance_many(n) is n calls of advance(); the walk goes on from where it ended."""
    batch = ScaledWalk(lr, gamma, start)
    values = batch.advance_many(steps)
    assert values == [scaled_power(lr, gamma, start + i) for i in range(1, steps + 1)]
    single = ScaledWalk(lr, gamma, start)
    assert values == [single.advance() for _ in range(steps)]
    if values[-1]:  # a batch that reached 0.0 stops walking
        assert batch.advance() == scaled_power(lr, gamma, start + steps + 1)


@pytest.mark.parametrize(
    ("lr", "gamma", "start", "expected"),
    [
        # 0.1 * 0.1**k is 1e-323 at k 322, then 0.0 (the smallest subnormal is 5e-324)
        (0.1, 0.1, 318, [1e-320, 1e-321, 1e-322, 1e-323, 0.0, 0.0, 0.0, 0.0]),
        # halving 1.0: the smallest subnormal at 1074, a tie at 1075 rounding to 0.0
        (1.0, 0.5, 1072, [1e-323, 5e-324, 0.0, 0.0, 0.0]),
        (0.5, 0.5, 0, [0.25, 0.125, 0.0625]),
    ],
)
def test_a_batch_walk_into_the_subnormals_ends_in_zeros(
    lr: float, gamma: float, start: int, expected: list[float]
) -> None:
    assert ScaledWalk(lr, gamma, start).advance_many(len(expected)) == expected
    exact = [
        nearest(intended_value(lr) * intended_value(gamma) ** (start + i))
        for i in range(1, len(expected) + 1)
    ]
    assert exact == expected


@pytest.mark.parametrize(
    ("lr", "gamma", "k", "expected"),
    [
        (1.0, 0.5, 1074, 5e-324),  # exactly the smallest subnormal
        (1.0, 0.5, 1075, 0.0),  # exactly half of it: a tie, rounds to even (0.0)
        (3.0, 0.5, 1076, 5e-324),  # three quarters of it: rounds up
        (1.5, 0.5, 1075, 5e-324),  # three quarters again, reached from another scale
        (0.1, 0.1, 3, 0.0001),
        (0.1, 0.1, 322, 1e-323),
    ],
)
def test_ties_and_subnormals_round_like_the_exact_value(
    lr: float, gamma: float, k: int, expected: float
) -> None:
    exact = intended_value(lr) * intended_value(gamma) ** k
    assert nearest(exact) == expected
    assert scaled_power(lr, gamma, k) == expected
    walk = PowerWalk(gamma, k - 1)
    walk.advance()
    assert walk.scaled(lr) == expected


# Exact values just below the smallest normal 2**-1022, by less than 3/4 of the
# subnormal spacing but more than half: they round down to 2.225073858507201e-308.
# The walked 53-bit float is 2**-1022 - 2**-1075, which ldexp rounds again (a tie,
# to even) up to 2**-1022: a double rounding the walks once took for the value.
JUST_BELOW_SMALLEST_NORMAL = [
    (0.06249999999999999, 0.5, 1018),
    (1.7976931348623157e308, 0.5, 2046),
    (1.1992286097500243e-05, 0.9, 6616),
    (6.692701324700773, 0.99, 70674),
]


@pytest.mark.parametrize(("lr", "gamma", "k"), JUST_BELOW_SMALLEST_NORMAL)
def test_walks_round_once_just_below_the_smallest_normal(lr: float, gamma: float, k: int) -> None:
    expected = 2.225073858507201e-308  # the largest subnormal
    assert nearest(intended_value(lr) * intended_value(gamma) ** k) == expected
    assert scaled_power(lr, gamma, k) == expected
    assert ScaledWalk(lr, gamma, k - 1).advance() == expected
    assert ScaledWalk(lr, gamma, k - 2).advance_many(2)[-1] == expected
    assert ScaledWalk(lr, gamma, k).value() == expected
    assert PowerWalk(gamma, k).scaled(lr) == expected


@pytest.mark.parametrize("k", [1, 2, 3, 63, 64, 1000, 4095])
@pytest.mark.parametrize("gamma", [0.1, 0.999999, 0.3333])
def test_wide_power_error_stays_within_its_bound(gamma: float, k: int) -> None:
    """gamma**k rounded down, at most 2k - 1 units of 2**(1 - WIDE_BITS) below exact."""
    mantissa, exponent = wide_power(gamma, k)
    assert mantissa.bit_length() == WIDE_BITS
    approximation = Fraction(mantissa) * Fraction(2) ** exponent
    exact = intended_value(gamma) ** k
    assert approximation <= exact
    assert (exact - approximation) / exact < (2 * k) * Fraction(2) ** (1 - WIDE_BITS)


def test_round_wide_reports_doubt_across_a_tie() -> None:
    # 2**53 + 1 is the midpoint between 2**53 and 2**53 + 2.
    assert round_wide(2**53 + 1, 0, 0) == 2.0**53  # ties to even
    assert round_wide(2**53, 0, 1) == 2.0**53  # every number up to the tie rounds down
    assert round_wide(2**53 + 1, 0, 1) is None  # the tie rounds down, 2**53 + 2 is itself
    assert round_wide(2**53 + 4, 0, 1) == 2.0**53 + 4  # its tie (+5) rounds to even (+4)
    assert round_wide(3, -1076, 0) == 5e-324  # subnormal path


def test_wide_value_is_the_decimal_rounded_down() -> None:
    mantissa, exponent = wide_value(0.1)
    approximation = Fraction(mantissa) * Fraction(2) ** exponent
    assert approximation < Fraction(1, 10) < approximation * (1 + Fraction(2) ** (1 - WIDE_BITS))


def test_gamma_closest_to_one_reaches_far_positions_exactly_enough() -> None:
    gamma = 0.9999999999999999  # stands for 1 - 1e-16
    value = scaled_power(1.0, gamma, 7 * 10**18)
    assert math.isclose(math.log(value), 7 * 10**18 * math.log1p(-1e-16), rel_tol=1e-12)
