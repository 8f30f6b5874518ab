"""stepsched_cli.optax.step_decay against real jax and optax (skipped where jax is absent).

Run in the scratch environment:
``PYTHONPATH=. /work/scratch/venv-keras/bin/python -m pytest tests/dropin/test_dropin_optax.py``.
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from stepsched_cli.errors import ScheduleError
from tests.dropin.exact_values import assert_refused, exact, float32_of

pytestmark = pytest.mark.jax
jax = pytest.importorskip("jax")
jnp = pytest.importorskip("jax.numpy")
step_decay = pytest.importorskip("stepsched_cli.optax").step_decay


COUNTS = [16_999_999, 17_000_000, 2**31 - 1]


def test_under_jit_no_early_decay_where_optaxs_staircase_decays_early() -> None:
    schedule = jax.jit(step_decay(0.1, decay_steps=1_000_000))
    ours = [float(schedule(jnp.int32(count))) for count in COUNTS]
    assert ours == [float32_of(exact(0.1, 0.1, 16)), float32_of(exact(0.1, 0.1, 17)), 0.0]
    optax = pytest.importorskip("optax")
    theirs = jax.jit(optax.exponential_decay(0.1, 1_000_000, 0.1, staircase=True))
    assert float(theirs(jnp.int32(16_999_999))) == pytest.approx(1e-18, rel=1e-6)  # 17 decays


def test_under_vmap_and_jit_boundaries_decay_at_the_boundary() -> None:
    schedule = step_decay(1.0, boundaries=[3, 10, 2**40], decay_rate=0.5)
    counts = jnp.asarray([0, 2, 3, 9, 10, 2**31 - 1], jnp.int32)
    values = jax.jit(jax.vmap(schedule))(counts)
    assert values.dtype == jnp.float32
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
    expected = float32_of(exact(lr, rate, count // decay_steps))
    assert float(schedule(jnp.int32(count))) == expected
    assert float(schedule(count)) == expected


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
    assert float(schedule_function(jnp.int32(16_999_999))) == float32_of(exact(0.1, 0.1, 16))
