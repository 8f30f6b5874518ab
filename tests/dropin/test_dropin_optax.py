"""stepsched_cli.optax.step_decay against real jax and optax (skipped where jax is absent).

Run in the scratch environment:
``PYTHONPATH=. /work/scratch/venv-keras/bin/python -m pytest tests/dropin/test_dropin_optax.py``.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from stepsched_cli import decay_tables
from stepsched_cli.errors import ScheduleError
from tests.dropin.exact_values import (
    BOUNDARIES,
    EDGE_CASES,
    NEAR_A_DECAY,
    OTHER_COUNTS,
    assert_refused,
    edge_counts,
    exact,
    nearest,
)

pytestmark = pytest.mark.jax
jax = pytest.importorskip("jax")
jnp = pytest.importorskip("jax.numpy")
step_decay = pytest.importorskip("stepsched_cli.optax").step_decay


COUNTS = [16_999_999, 17_000_000, 2**31 - 1]


def default_float() -> str:
    """What the schedules compute in: float32, or float64 with ``jax_enable_x64``."""
    return str(jnp.dtype(jax.dtypes.canonicalize_dtype(jnp.float64)).name)


def test_under_jit_no_early_decay_where_optaxs_staircase_decays_early() -> None:
    schedule = jax.jit(step_decay(0.1, decay_steps=1_000_000))
    ours = [float(schedule(jnp.int32(count))) for count in COUNTS]
    dtype = default_float()
    assert ours == [nearest(exact(0.1, 0.1, 16), dtype), nearest(exact(0.1, 0.1, 17), dtype), 0.0]
    optax = pytest.importorskip("optax")
    theirs = jax.jit(optax.exponential_decay(0.1, 1_000_000, 0.1, staircase=True))
    assert float(theirs(jnp.int32(16_999_999))) == pytest.approx(1e-18, rel=1e-6)  # 17 decays


def test_under_vmap_and_jit_boundaries_decay_at_the_boundary() -> None:
    schedule = step_decay(1.0, boundaries=[3, 10, 2**40], decay_rate=0.5)
    counts = jnp.asarray([0, 2, 3, 9, 10, 2**31 - 1], jnp.int32)
    values = jax.jit(jax.vmap(schedule))(counts)
    assert values.dtype == default_float()
    assert [float(v) for v in values] == [1.0, 1.0, 0.5, 0.5, 0.25, 0.25]  # 2**40 unreachable
    assert float(schedule(2**40)) == 0.125  # a Python int reaches it


@settings(max_examples=40, deadline=None)
@given(
    count=st.integers(0, 2**31 - 1),
    decay_steps=st.integers(1, 10**7),
    rate=st.sampled_from([0.1, 0.5, 0.9, 0.97, 0.3333]),
    lr=st.sampled_from([0.1, 1.0, 3e-4, 0.05]),
)
def test_every_value_is_the_correctly_rounded_float32(
    count: int, decay_steps: int, rate: float, lr: float
) -> None:
    schedule = step_decay(lr, decay_steps=decay_steps, decay_rate=rate)
    expected = nearest(exact(lr, rate, count // decay_steps), default_float())
    assert float(schedule(jnp.int32(count))) == expected
    assert float(schedule(count)) == expected


def assert_table_values(schedule: Any, spec: Any, counts: list[int], dtype: Any) -> None:
    """Under jit and vmap, each count has the table entry of its decay count, and the
    table's first entries are the correctly rounded float32s (``exact``)."""
    fmt = decay_tables.FORMATS[default_float()]
    got = jax.jit(jax.vmap(schedule))(jnp.asarray(counts, dtype))
    expected = np.asarray([spec.value_at(count, fmt) for count in counts], fmt.name)
    wrong = np.flatnonzero(np.asarray(got) != expected)
    assert not wrong.size, [(counts[i], float(got[i]), float(expected[i])) for i in wrong[:5]]
    single = jax.jit(schedule)
    for count in (counts[0], counts[len(counts) // 2], counts[-1]):  # the scalar graph too
        assert float(single(jnp.asarray(count, dtype))) == spec.value_at(count, fmt)


@pytest.mark.parametrize(("lr", "decay_steps", "rate"), EDGE_CASES)
def test_int32_counts_either_side_of_every_decay(lr: float, decay_steps: int, rate: float) -> None:
    schedule = step_decay(lr, decay_steps=decay_steps, decay_rate=rate)
    spec = decay_tables.decay_spec(lr, decay_steps, None, rate, "init_value")
    length = len(spec.table(decay_tables.FORMATS[default_float()]))
    counts = edge_counts(decay_steps, length, -(2**31), 2**31 - 1)
    assert_table_values(schedule, spec, counts, jnp.int32)


@settings(max_examples=60, deadline=None)
@given(**NEAR_A_DECAY)
def test_counts_near_a_decay_have_its_value(
    decay_steps: int, decays: int, shift: int, rate: float
) -> None:
    count = min(max(decays * decay_steps + shift, 0), 2**31 - 1)
    spec = decay_tables.decay_spec(0.1, decay_steps, None, rate, "init_value")
    schedule = jax.jit(step_decay(0.1, decay_steps=decay_steps, decay_rate=rate))
    fmt = decay_tables.FORMATS[default_float()]
    assert float(schedule(jnp.int32(count))) == spec.value_at(count, fmt)


@pytest.mark.parametrize(
    "arguments",
    [
        {"decay_steps": 30, "decay_rate": 0.1},  # a chain of selects
        {"decay_steps": 30, "decay_rate": 0.5},  # the quotient and a table
        {"boundaries": list(range(30, 30 * 47, 30)), "decay_rate": 0.1},  # a chain
        {"boundaries": list(range(30, 30 * 160, 30)), "decay_rate": 0.5},  # summed
    ],
)
def test_one_count_at_a_time_under_jit_subnormals_included(arguments: dict[str, Any]) -> None:
    """A single count is another graph than a vector of them (the bench's case)."""
    schedule = jax.jit(step_decay(0.1, **arguments))
    spec = decay_tables.decay_spec(
        0.1, arguments.get("decay_steps"), arguments.get("boundaries"), arguments["decay_rate"], "x"
    )
    fmt = decay_tables.FORMATS[default_float()]
    counts = [30 * k + shift for k in range(len(spec.table(fmt)) + 1) for shift in (-1, 0)]
    got = [float(schedule(jnp.int32(count))) for count in counts]
    assert got == [spec.value_at(count, fmt) for count in counts]
    assert fmt.name == "float64" or 0 < min(v for v in got if v) < 2.0**-126  # subnormals met


def test_the_table_entries_are_the_correctly_rounded_float32() -> None:
    schedule = jax.jit(jax.vmap(step_decay(0.1, decay_steps=30)))
    decays = range(47)  # the table ends at k = 45 with 0.0
    values = schedule(jnp.asarray([30 * k for k in decays], jnp.int32))
    dtype = default_float()
    assert [float(v) for v in values] == [nearest(exact(0.1, 0.1, k), dtype) for k in decays]
    if dtype == "float32":
        assert float(values[44]) == 2.0**-149
        assert float(values[45]) == 0.0


@pytest.mark.parametrize(("dtype", "decay_steps"), OTHER_COUNTS)
def test_other_integer_counts(dtype: str, decay_steps: int) -> None:
    schedule = step_decay(0.1, decay_steps=decay_steps, decay_rate=0.5)
    spec = decay_tables.decay_spec(0.1, decay_steps, None, 0.5, "init_value")
    info = np.iinfo(dtype)
    length = len(spec.table(decay_tables.FORMATS[default_float()]))
    counts = edge_counts(decay_steps, length, int(info.min), int(info.max))
    assert_table_values(schedule, spec, counts, dtype)


@pytest.mark.parametrize("boundaries", BOUNDARIES)
@pytest.mark.parametrize("rate", [0.5, 0.1])
def test_boundaries_either_side_of_each(boundaries: list[int], rate: float) -> None:
    schedule = step_decay(0.1, boundaries=boundaries, decay_rate=rate)
    spec = decay_tables.decay_spec(0.1, None, boundaries, rate, "init_value")
    counts = {b + shift for b in boundaries for shift in (-1, 0, 1)}
    counts |= {-(2**31), -1, 0, 2**31 - 1}
    inside = sorted(c for c in counts if -(2**31) <= c < 2**31)
    assert_table_values(schedule, spec, inside, jnp.int32)


@pytest.fixture
def x64() -> Iterator[None]:
    previous = jax.config.jax_enable_x64
    jax.config.update("jax_enable_x64", True)
    try:
        yield
    finally:
        jax.config.update("jax_enable_x64", previous)


@pytest.mark.parametrize(
    ("decay_steps", "rate"),
    [(1, 0.5), (30, 0.1), (7, 0.999), (10**18, 0.1), (2**62 + 1, 0.5), (2**63 - 1, 0.1)],
)
@pytest.mark.usefixtures("x64")
def test_int64_counts_with_x64_either_side_of_every_decay(decay_steps: int, rate: float) -> None:
    schedule = step_decay(0.1, decay_steps=decay_steps, decay_rate=rate)
    spec = decay_tables.decay_spec(0.1, decay_steps, None, rate, "init_value")
    length = len(spec.table(decay_tables.FLOAT64))
    counts = edge_counts(decay_steps, length, -(2**63), 2**63 - 1)
    assert_table_values(schedule, spec, counts, jnp.int64)


def test_float64_with_x64() -> None:
    schedule = step_decay(0.1, decay_steps=30)
    jax.config.update("jax_enable_x64", True)
    try:
        value = jax.jit(schedule)(jnp.int64(60))
        assert value.dtype == jnp.float64
        assert float(value) == 0.001  # not 0.0010000000000000002
        assert float(jax.jit(schedule)(jnp.int64(2**62))) == 0.0
    finally:
        jax.config.update("jax_enable_x64", False)


def test_a_float_count_is_refused() -> None:
    with pytest.raises(ScheduleError, match="count must be an integer"):
        step_decay(0.1, decay_steps=3)(jnp.float32(3.0))


@pytest.mark.parametrize(
    ("arguments", "message", "parameter"),
    [
        (
            {"init_value": -1.0, "decay_steps": 3},
            "init_value must be a finite number > 0",
            "init_value",
        ),
        (
            {"init_value": 0.1, "decay_steps": 3, "boundaries": [5]},
            "give exactly one of",
            "decay_steps",
        ),
        (
            {"init_value": 0.1, "boundaries": [0, 5]},
            "boundaries[0] must be an integer >= 1, got 0",
            "boundaries",
        ),
        (
            {"init_value": 0.1, "boundaries": "30"},
            "boundaries must be a non-empty list",
            "boundaries",
        ),
        (
            {"init_value": 0.1, "decay_steps": 3, "decay_rate": 0.0},
            "decay_rate must be a number with 0 < decay_rate < 1",
            "decay_rate",
        ),
    ],
)
def test_bad_parameters_are_refused_naming_them(
    arguments: dict[str, object], message: str, parameter: str
) -> None:
    assert_refused(lambda: step_decay(**arguments), message, parameter)


def test_the_code_exact_snippet_runs_and_builds_our_schedule() -> None:
    """``stepsched code --framework optax --exact``'s text, run: our step_decay."""
    pytest.importorskip("optax")
    from stepsched_cli.formats.registry import snippets
    from stepsched_cli.schedule import StepSchedule

    snippet = {known.name: known for known in snippets()}["optax"]
    schedule = StepSchedule(0.1, step_size=1_000_000)
    assert snippet.exact is not None
    namespace: dict[str, object] = {}
    text = snippet.write(schedule, None) + snippet.exact(schedule, None)
    exec(compile(text, "<optax --exact snippet>", "exec"), namespace)
    schedule_function = jax.jit(namespace["schedule"])
    expected = nearest(exact(0.1, 0.1, 16), default_float())
    assert float(schedule_function(jnp.int32(16_999_999))) == expected
