"""stepsched_cli.keras.StepDecay against real Keras 3 (skipped where Keras is absent).

Run in the scratch environment:
``PYTHONPATH=. /work/scratch/venv-keras/bin/python -m pytest tests/dropin/test_dropin_keras.py``.

In-process tests use whatever backend Keras starts with; the save/load test runs each
installed backend (jax, tensorflow, torch) in its own processes, since a backend is
chosen once per process.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from stepsched_cli.decay_tables import FLOAT32, FORMATS, DecaySpec, decay_spec
from stepsched_cli.errors import ScheduleError
from tests.dropin.exact_values import (
    BOUNDARIES,
    EDGE_CASES,
    assert_refused,
    edge_counts,
    exact,
    float32_of,
)

pytestmark = pytest.mark.keras
keras = pytest.importorskip("keras")
StepDecay = pytest.importorskip("stepsched_cli.keras").StepDecay
ROOT = Path(__file__).resolve().parent.parent.parent


def values(schedule: Any, counts: list[int], dtype: str) -> list[float]:
    tensor = keras.ops.convert_to_tensor(np.asarray(counts, dtype), dtype)
    return [float(v) for v in keras.ops.convert_to_numpy(schedule(tensor))]


@pytest.mark.parametrize("dtype", ["int32", "int64"])
def test_no_early_decay_past_2_24_where_kerass_staircase_decays_early(dtype: str) -> None:
    counts = [16_999_999, 17_000_000, 2**31 - 1]
    ours = values(StepDecay(0.1, decay_steps=1_000_000), counts, dtype)
    assert ours == [
        float32_of(exact(0.1, 0.1, 16)),
        float32_of(exact(0.1, 0.1, 17)),
        0.0,  # 2147 decays: far below float32's smallest subnormal
    ]
    theirs = keras.optimizers.schedules.ExponentialDecay(0.1, 1_000_000, 0.1, staircase=True)
    their_values = values(theirs, counts[:2], dtype)
    assert their_values[0] == pytest.approx(1e-18, rel=1e-6)  # the 17th decay, one step early


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
    schedule = StepDecay(lr, decay_steps=decay_steps, decay_rate=rate)
    expected = float32_of(exact(lr, rate, count // decay_steps))
    assert values(schedule, [count], "int32") == [expected]
    assert float(schedule(count)) == expected  # a Python int is answered in Python


def test_boundaries_decay_at_the_boundary() -> None:
    schedule = StepDecay(0.5, boundaries=[3, 10], decay_rate=0.5)
    assert values(schedule, [0, 2, 3, 9, 10, 2**31 - 1], "int32") == [
        0.5,
        0.5,
        0.25,
        0.25,
        0.125,
        0.125,
    ]


def held(dtype: str) -> bool:
    """Whether the backend holds ``dtype`` (jax without x64 holds no 64-bit types)."""
    tensor = keras.ops.convert_to_tensor(np.zeros((), dtype))
    return bool(keras.backend.standardize_dtype(tensor.dtype) == dtype)


def assert_table_values(schedule: Any, spec: DecaySpec, counts: list[int], dtype: str) -> None:
    """Each count has the table entry of its decay count (``tests/dropin/test_dropin_optax``
    and ``tests/test_decay_tables.py`` check the entries against ``Fraction``), on a
    tensor of counts, and on jax under ``jax.jit`` as a train step calls it."""
    fmt = FORMATS[keras.config.floatx()]
    expected = [spec.value_at(count, fmt) for count in counts]
    assert values(schedule, counts, dtype) == expected
    if keras.backend.backend() == "jax":
        import jax

        jitted = jax.jit(schedule)
        every = max(1, len(counts) // 50)
        tensors = [keras.ops.convert_to_tensor(np.asarray(c, dtype)) for c in counts[::every]]
        assert [float(jitted(tensor)) for tensor in tensors] == expected[::every]


@pytest.mark.parametrize(("lr", "decay_steps", "rate"), EDGE_CASES)
def test_int32_steps_either_side_of_every_decay(lr: float, decay_steps: int, rate: float) -> None:
    spec = decay_spec(lr, decay_steps, None, rate, "initial_learning_rate")
    counts = edge_counts(decay_steps, len(spec.table(FLOAT32)), -(2**31), 2**31 - 1)
    schedule = StepDecay(lr, decay_steps=decay_steps, decay_rate=rate)
    assert_table_values(schedule, spec, counts, "int32")


@pytest.mark.parametrize(
    ("decay_steps", "rate"),
    [(1, 0.5), (30, 0.1), (1_000_000, 0.9), (10**18, 0.1), (2**62 + 1, 0.5), (2**63 - 1, 0.1)],
)
def test_int64_steps_either_side_of_every_decay(decay_steps: int, rate: float) -> None:
    if not held("int64"):
        pytest.skip("this backend holds no int64 here (jax without jax_enable_x64)")
    spec = decay_spec(0.1, decay_steps, None, rate, "initial_learning_rate")
    counts = edge_counts(decay_steps, len(spec.table(FLOAT32)), -(2**63), 2**63 - 1)
    schedule = StepDecay(0.1, decay_steps=decay_steps, decay_rate=rate)
    assert_table_values(schedule, spec, counts, "int64")


@pytest.mark.parametrize("boundaries", BOUNDARIES)
@pytest.mark.parametrize("dtype", ["int32", "int64"])
def test_boundaries_either_side_of_each(boundaries: list[int], dtype: str) -> None:
    if not held(dtype):
        pytest.skip(f"this backend holds no {dtype} here (jax without jax_enable_x64)")
    spec = decay_spec(0.1, None, boundaries, 0.5, "initial_learning_rate")
    info = np.iinfo(dtype)
    counts = {b + shift for b in boundaries for shift in (-1, 0, 1)}
    counts |= {int(info.min), -1, 0, int(info.max)}
    inside = sorted(c for c in counts if info.min <= c <= info.max)
    assert_table_values(StepDecay(0.1, boundaries=boundaries, decay_rate=0.5), spec, inside, dtype)


@pytest.mark.parametrize("form", [{"decay_steps": 30}, {"boundaries": [30, 60, 2**31 - 1]}])
def test_float64_graph_where_floatx_is_float64(form: dict[str, Any]) -> None:
    previous = keras.config.floatx()
    keras.config.set_floatx("float64")
    try:
        if not held("float64"):
            pytest.skip("this backend holds no float64 here (jax without jax_enable_x64)")
        schedule = StepDecay(0.1, decay_rate=0.1, **form)
        spec = decay_spec(0.1, form.get("decay_steps"), form.get("boundaries"), 0.1, "x")
        counts = [-1, 0, 29, 30, 59, 60, 61, 2**31 - 2, 2**31 - 1]
        assert_table_values(schedule, spec, counts, "int32")
        assert values(schedule, [60], "int32") == [0.001]  # not 0.0010000000000000002
    finally:
        keras.config.set_floatx(previous)


def test_float64_where_floatx_is_float64() -> None:
    previous = keras.config.floatx()
    keras.config.set_floatx("float64")
    if keras.backend.standardize_dtype(keras.ops.ones(()).dtype) != "float64":
        keras.config.set_floatx(previous)
        pytest.skip("this backend holds no float64 here (jax without jax_enable_x64)")
    try:
        assert float(StepDecay(0.1, decay_steps=30)(60)) == 0.001  # not 0.0010000000000000002
    finally:
        keras.config.set_floatx(previous)


def test_config_round_trips_through_keras_serialization() -> None:
    schedule = StepDecay(0.1, boundaries=[30, 80], decay_rate=0.5, name="decay")
    config = keras.optimizers.schedules.serialize(schedule)
    assert config["registered_name"] == "stepsched>StepDecay"
    restored = keras.optimizers.schedules.deserialize(json.loads(json.dumps(config)))
    assert isinstance(restored, StepDecay)
    assert restored.get_config() == {
        "initial_learning_rate": 0.1,
        "decay_steps": None,
        "boundaries": [30, 80],
        "decay_rate": 0.5,
        "name": "decay",
    }


@pytest.mark.parametrize(
    ("arguments", "message", "parameter"),
    [
        (
            {"initial_learning_rate": 0.0, "decay_steps": 3},
            "initial_learning_rate must be a finite number > 0",
            "initial_learning_rate",
        ),
        (
            {"initial_learning_rate": 0.1},
            "give exactly one of decay_steps and boundaries",
            "decay_steps",
        ),
        (
            {"initial_learning_rate": 0.1, "decay_steps": 0},
            "decay_steps must be an integer >= 1, got 0",
            "decay_steps",
        ),
        (
            {"initial_learning_rate": 0.1, "boundaries": [5, 5]},
            "boundaries must be a non-empty list of strictly increasing integers >= 1",
            "boundaries",
        ),
        (
            {"initial_learning_rate": 0.1, "decay_steps": 3, "decay_rate": 1.0},
            "decay_rate must be a number with 0 < decay_rate < 1",
            "decay_rate",
        ),
        (
            {"initial_learning_rate": 1.0, "decay_steps": 3, "decay_rate": 0.99999},
            "decay_rate=0.99999 is too close to 1 for an exact table",
            "decay_rate",
        ),
    ],
)
def test_bad_parameters_are_refused_naming_them(
    arguments: dict[str, Any], message: str, parameter: str
) -> None:
    assert_refused(lambda: StepDecay(**arguments), message, parameter)


def test_a_float_step_is_refused() -> None:
    with pytest.raises(ScheduleError, match="step must be an integer count"):
        StepDecay(0.1, decay_steps=3)(keras.ops.convert_to_tensor(3.0))


SAVE = """
import sys, numpy as np, keras
from stepsched_cli.keras import StepDecay
model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
model.compile(optimizer=keras.optimizers.SGD(StepDecay(0.1, decay_steps=3)), loss="mse")
model.fit(np.ones((8, 2), "float32"), np.ones((8, 1), "float32"), batch_size=1, epochs=1, verbose=0)
model.save(sys.argv[1])
"""
LOAD = """
import json, sys, keras
import stepsched_cli.keras
model = keras.models.load_model(sys.argv[1])
optimizer = model.optimizer
print(json.dumps({
    "class": type(optimizer._learning_rate).__name__,
    "config": optimizer._learning_rate.get_config(),
    "iterations": int(keras.ops.convert_to_numpy(optimizer.iterations)),
    "lr": float(keras.ops.convert_to_numpy(optimizer.learning_rate)),
    "backend": keras.backend.backend(),
}))
"""


@pytest.mark.parametrize("backend", ["jax", "tensorflow", "torch"])
def test_a_model_compiled_with_stepdecay_saves_and_loads(backend: str, tmp_path: Path) -> None:
    if importlib.util.find_spec(backend) is None:
        pytest.skip(f"{backend} is not installed")
    environment = {**os.environ, "KERAS_BACKEND": backend, "PYTHONPATH": str(ROOT)}
    path = str(tmp_path / "model.keras")
    for script in (SAVE, LOAD):
        done = subprocess.run(
            [sys.executable, "-c", script, path],
            capture_output=True,
            text=True,
            env=environment,
            check=False,
            timeout=300,
        )
        assert done.returncode == 0, done.stderr[-2000:]
    loaded = json.loads(done.stdout.strip().splitlines()[-1])
    assert loaded == {
        "class": "StepDecay",
        "config": {
            "initial_learning_rate": 0.1,
            "decay_steps": 3,
            "boundaries": None,
            "decay_rate": 0.1,
            "name": "StepDecay",
        },
        "iterations": 8,
        "lr": float32_of(Fraction(1, 1000)),  # 8 // 3 = 2 decays, restored with the model
        "backend": backend,
    }


def test_the_code_exact_snippet_runs_and_builds_our_schedule() -> None:
    """``stepsched code --framework keras --exact``'s text, run: our StepDecay."""
    from stepsched_cli.formats.registry import snippets
    from stepsched_cli.schedule import StepSchedule

    snippet = {known.name: known for known in snippets()}["keras"]
    schedule = StepSchedule(0.1, milestones=(30, 80))
    assert snippet.exact is not None
    namespace: dict[str, Any] = {}
    text = snippet.write(schedule, None) + snippet.exact(schedule, None)
    exec(compile(text, "<keras --exact snippet>", "exec"), namespace)
    assert isinstance(namespace["schedule"], StepDecay)
    assert values(namespace["schedule"], [29, 30, 80], "int32") == [
        float32_of(exact(0.1, 0.1, k)) for k in (0, 1, 2)
    ]
