"""The graph of Keras's and optax's drop-ins (``decay_tables.lr_of_counts``), run by numpy.

jax traces the same array operations (``test_dropin_optax.py`` and
``test_dropin_keras.py`` run them compiled, where XLA's own behaviour matters); numpy
needs no framework, so these run everywhere, CI included.  The expected value of each
count is ``DecaySpec.value_at``: Python integers and the table, whose entries
``tests/test_decay_tables.py`` checks against ``fractions.Fraction``.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings

from stepsched_cli.decay_tables import (
    CHAINED_CHANGES,
    FLOAT32,
    FLOAT64,
    FloatFormat,
    decay_spec,
    lr_of_counts,
)
from tests.dropin.exact_values import (
    BOUNDARIES,
    EDGE_CASES,
    NEAR_A_DECAY,
    OTHER_COUNTS,
    edge_counts,
)

pytestmark = pytest.mark.filterwarnings("error")  # an overflow would warn


def assert_values(spec_arguments: tuple[object, ...], fmt: FloatFormat, dtype: str) -> None:
    lr, decay_steps, boundaries, rate = spec_arguments
    spec = decay_spec(lr, decay_steps, boundaries, rate, "initial_learning_rate")
    info = np.iinfo(dtype)
    if boundaries is None:
        counts = edge_counts(spec.decay_steps, len(spec.table(fmt)), int(info.min), int(info.max))
    else:
        near = {b + shift for b in spec.boundaries or () for shift in (-1, 0, 1)}
        near |= {int(info.min), 0, int(info.max)}
        counts = sorted(c for c in near if info.min <= c <= info.max)
    got = lr_of_counts(spec, fmt, np.asarray(counts, dtype), np)
    assert got.dtype == fmt.name
    expected = np.asarray([spec.value_at(count, fmt) for count in counts], fmt.name)
    wrong = np.flatnonzero(got.view(f"u{got.itemsize}") != expected.view(f"u{got.itemsize}"))
    assert not wrong.size, [(counts[i], float(got[i]), float(expected[i])) for i in wrong[:5]]


@pytest.mark.parametrize(("lr", "decay_steps", "rate"), EDGE_CASES)
@pytest.mark.parametrize("fmt", [FLOAT32, FLOAT64])
def test_int32_counts_either_side_of_every_decay(
    lr: float, decay_steps: int, rate: float, fmt: FloatFormat
) -> None:
    assert_values((lr, decay_steps, None, rate), fmt, "int32")


@pytest.mark.parametrize(
    ("decay_steps", "rate"),
    [(1, 0.5), (30, 0.1), (7, 0.999), (41, 0.5), (10**18, 0.1), (2**62 + 1, 0.5), (2**63 - 1, 0.1)],
)
@pytest.mark.parametrize("fmt", [FLOAT32, FLOAT64])
def test_int64_counts_either_side_of_every_decay(
    decay_steps: int, rate: float, fmt: FloatFormat
) -> None:
    assert_values((0.1, decay_steps, None, rate), fmt, "int64")


@pytest.mark.parametrize(("dtype", "decay_steps"), [*OTHER_COUNTS, ("uint64", 3)])
def test_other_integer_counts(dtype: str, decay_steps: int) -> None:
    assert_values((0.1, decay_steps, None, 0.5), FLOAT32, dtype)


@pytest.mark.parametrize("boundaries", BOUNDARIES)
@pytest.mark.parametrize("rate", [0.5, 0.1])
@pytest.mark.parametrize("dtype", ["int32", "int64"])
def test_boundaries_either_side_of_each(boundaries: list[int], rate: float, dtype: str) -> None:
    assert_values((0.1, None, boundaries, rate), FLOAT32, dtype)


@pytest.mark.parametrize(
    ("decay_steps", "rate", "chained"), [(30, 0.1, True), (30, 0.5, False), (2**30, 0.5, True)]
)
def test_a_chain_up_to_the_limit_of_changes_a_table_beyond(
    decay_steps: int, rate: float, chained: bool
) -> None:
    spec = decay_spec(0.1, decay_steps, None, rate, "x")
    assert (len(spec.change_counts(FLOAT32, 2**31 - 1)) <= CHAINED_CHANGES) is chained
    counts = np.asarray([[0, decay_steps], [2 * decay_steps - 1, 2**31 - 1]], np.int32)
    got = lr_of_counts(spec, FLOAT32, counts, np)
    assert got.shape == (2, 2)  # any shape, elementwise
    assert got.tolist() == [[spec.value_at(int(c), FLOAT32) for c in row] for row in counts]


@settings(max_examples=200, deadline=None)
@given(**NEAR_A_DECAY)
def test_counts_near_a_decay_have_its_value(
    decay_steps: int, decays: int, shift: int, rate: float
) -> None:
    count = min(max(decays * decay_steps + shift, -(2**31)), 2**31 - 1)
    spec = decay_spec(0.1, decay_steps, None, rate, "x")
    got = lr_of_counts(spec, FLOAT32, np.asarray([count], np.int32), np)
    assert float(got[0]) == spec.value_at(count, FLOAT32)
