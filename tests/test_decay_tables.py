"""The exact tables under the Keras and optax drop-ins, against fractions.Fraction.

No framework needed: these are the values a compiled graph selects from.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from stepsched_cli.decay_tables import (
    FLOAT32,
    FLOAT64,
    MAX_TABLE_VALUES,
    FloatFormat,
    decay_spec,
    decay_table,
    table_length,
)
from stepsched_cli.errors import ScheduleError
from stepsched_cli.powers import (
    intended_value,
    round_ratio_to_bits,
    round_to_bits,
    scaled_power,
    scaled_powers_in,
)
from stepsched_cli.schedule import StepSchedule
from tests.dropin.exact_values import float32_of

LRS = st.sampled_from([0.1, 1.0, 3e-4, 0.05, 2.5e-5, 0.7, 16777217.0, 1e-30])
GAMMAS = st.sampled_from([0.1, 0.5, 0.9, 0.97, 0.3333, 0.999, 0.123456789])


@given(lr=LRS, gamma=GAMMAS, k=st.integers(0, 3000))
def test_float32_values_are_the_nearest_float32_to_the_exact_product(
    lr: float, gamma: float, k: int
) -> None:
    table = decay_table(lr, gamma, FLOAT32, None)
    exact = intended_value(lr) * intended_value(gamma) ** k
    assert table[min(k, len(table) - 1)] == float32_of(exact)


@given(lr=LRS, gamma=GAMMAS, k=st.integers(0, 3000))
def test_float64_values_are_the_schedules_values(lr: float, gamma: float, k: int) -> None:
    table = decay_table(lr, gamma, FLOAT64, None)
    value = table[min(k, len(table) - 1)]
    assert value == scaled_power(lr, gamma, k) == StepSchedule(lr, gamma=gamma).lr_after_decays(k)
    if k < 400:
        assert value == float(intended_value(lr) * intended_value(gamma) ** k)


@pytest.mark.parametrize(
    ("lr", "gamma", "fmt", "length"),
    [
        (1.0, 0.1, FLOAT32, 47),
        (1.0, 0.1, FLOAT64, 325),
        (1.0, 0.5, FLOAT32, 151),
        (1.0, 0.5, FLOAT64, 1076),
        (1.0, 0.9, FLOAT32, 988),
        (1.0, 0.999, FLOAT32, 103_922),
    ],
)
def test_a_table_ends_at_its_first_zero_within_the_bound(
    lr: float, gamma: float, fmt: FloatFormat, length: int
) -> None:
    table = decay_table(lr, gamma, fmt, None)
    assert len(table) == length
    assert table[-1] == 0.0
    assert table[-2] > 0.0
    assert length <= table_length(lr, gamma, fmt) <= length + 2
    assert list(table) == sorted(table, reverse=True)


def test_milestones_bound_the_table() -> None:
    assert decay_table(0.1, 0.1, FLOAT64, 3) == (0.1, 0.01, 0.001, 0.0001)


@pytest.mark.parametrize(("gamma", "fmt"), [(0.9999, FLOAT64), (0.99999, FLOAT32)])
def test_a_gamma_too_close_to_1_is_refused_naming_it(gamma: float, fmt: FloatFormat) -> None:
    with pytest.raises(ScheduleError, match=f"decay_rate={gamma} is too close to 1") as raised:
        decay_table(1.0, gamma, fmt, None, "decay_rate")
    assert raised.value.parameter == "decay_rate"
    assert f"{MAX_TABLE_VALUES:,}" in str(raised.value)


def test_exact_ties_round_to_even_through_the_exact_rational() -> None:
    """2**24 + 1 is halfway between two float32s, and so is every halving of it."""
    walk = scaled_powers_in(16777217.0, 0.5, FLOAT32.bits, FLOAT32.min_exponent)
    assert [next(walk) for _ in range(4)] == [2.0**24, 2.0**23, 2.0**22, 2.0**21]


@pytest.mark.parametrize(
    ("numerator", "denominator", "expected"),
    [
        (2**24 + 1, 1, 2.0**24),  # tie, to even
        (2**24 + 3, 1, 2.0**24 + 4),  # tie, to even (up)
        (1, 2**150, 0.0),  # half the smallest subnormal: to even, 0
        (3, 2**150, 2.0**-148),  # 1.5 subnormals: to even, 2
        (1, 3, float(np.float32(1 / 3))),
    ],
)
def test_rounding_to_float32_bits(numerator: int, denominator: int, expected: float) -> None:
    assert round_ratio_to_bits(numerator, denominator, 24, -149) == expected
    if denominator & (denominator - 1) == 0:  # a power of two: the wide form is exact
        exponent = -(denominator.bit_length() - 1)
        assert round_to_bits(numerator, exponent, 24, -149) == expected


def test_spec_counts_decays_at_the_boundary() -> None:
    spec = decay_spec(0.1, None, [30, 80, 2**40], 0.1, "init_value")
    assert [spec.decays_at(t) for t in (-5, 0, 29, 30, 79, 80, 2**40)] == [0, 0, 0, 1, 1, 2, 3]
    assert spec.reachable_boundaries(2**31 - 1) == (30, 80)
    assert spec.value_at(80, FLOAT64) == 0.001
    every = decay_spec(0.1, 1_000_000, None, 0.1, "init_value")
    assert every.decays_at(16_999_999) == 16
    assert every.value_at(2**63, FLOAT64) == 0.0


def test_spec_refuses_an_initial_lr_beyond_float32() -> None:
    spec = decay_spec(1e39, 10, None, 0.5, "initial_learning_rate")
    assert spec.table(FLOAT64)[0] == 1e39
    with pytest.raises(ScheduleError, match="initial_learning_rate must be at most") as raised:
        spec.table(FLOAT32)
    assert raised.value.parameter == "initial_learning_rate"


@pytest.mark.parametrize(
    ("arguments", "message", "parameter"),
    [
        ((float("nan"), 3, None, 0.1), "init_value must be a finite number, got nan", "init_value"),
        ((0.1, None, None, 0.1), "give exactly one of decay_steps and boundaries", "decay_steps"),
        ((0.1, True, None, 0.1), "decay_steps must be an integer >= 1, got True", "decay_steps"),
        ((0.1, None, [], 0.1), "boundaries must be a non-empty list", "boundaries"),
        ((0.1, None, [3, 2], 0.1), "boundaries must be a non-empty list", "boundaries"),
        (
            (0.1, None, [3, 2.5], 0.1),
            "boundaries[1] must be an integer >= 1, got 2.5",
            "boundaries",
        ),
        (
            (0.1, 3, None, 1),
            "decay_rate must be a number with 0 < decay_rate < 1, got 1",
            "decay_rate",
        ),
    ],
)
def test_spec_refuses_bad_parameters_naming_them(
    arguments: tuple[object, object, object, object], message: str, parameter: str
) -> None:
    with pytest.raises(ScheduleError) as raised:
        decay_spec(*arguments, "init_value")
    assert str(raised.value).startswith(message)
    assert raised.value.parameter == parameter
