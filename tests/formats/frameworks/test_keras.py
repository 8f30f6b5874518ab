"""Keras ExponentialDecay / PiecewiseConstantDecay: parity with real Keras, conversions, refusals.

Contract: :meth:`lr_at` reproduces Keras's float32 values at every step (equal, or one
float32 ulp apart where the float32 power rounds differently), including Keras's rule that
a PiecewiseConstantDecay boundary belongs to the interval on its LEFT: boundary ``b``
decays at step ``b + 1``, stepsched's milestone ``b + 1``.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any

import pytest

from stepsched_cli.errors import ConversionError, ScheduleError, StateError
from stepsched_cli.formats.frameworks.keras import schedule as keras
from stepsched_cli.schedule import StepSchedule

FIXTURE = Path(__file__).resolve().parents[2] / "data" / "frameworks" / "keras_parity.json"
PARITY: dict[str, Any] = json.loads(FIXTURE.read_text(encoding="utf-8"))
CASES: list[dict[str, Any]] = PARITY["cases"]
FLOAT32_SMALLEST_NORMAL = 2.0**-126


def pairs_of(case: dict[str, Any]) -> list[tuple[int, float]]:
    runs = [(t, lr) for first, last, lr in case["runs"] for t in range(first, last + 1)]
    return runs + [(t, lr) for t, lr in case["samples"]]


def float32_ulp(value: float) -> float:
    return math.ulp(keras.float32(value)) * 2.0**29


def case_id(case: dict[str, Any]) -> str:
    return json.dumps(case["document"]["config"], separators=(",", ":"))


def test_fixture_names_the_library_that_recorded_it() -> None:
    assert PARITY["header"]["library"].startswith("keras 3.")
    assert PARITY["header"]["floatx"] == "float32"


@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_lr_at_reproduces_keras_to_float32_precision(case: dict[str, Any]) -> None:
    schedule = keras.parse(case["document"])
    pairs = pairs_of(case)
    off = [(t, schedule.lr_at(t), lr) for t, lr in pairs if schedule.lr_at(t) != lr]
    assert all(abs(ours - theirs) <= float32_ulp(theirs) for _, ours, theirs in off), off
    assert len(off) <= len(pairs) // 200


@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_conversion_keeps_decay_positions_and_float32_values(case: dict[str, Any]) -> None:
    """Same decays; Keras's float32 power drifts by about one float32 rounding per decay."""
    try:
        ours = keras.parse(case["document"]).to_schedule()
    except ConversionError:
        return
    for t, lr in pairs_of(case):
        if t >= 2**24:
            continue  # float32(step) is no longer exact: see the float32 test below
        exact = ours.lr_at(t)
        if exact < FLOAT32_SMALLEST_NORMAL:
            assert lr < FLOAT32_SMALLEST_NORMAL, t
            continue
        tolerance = (ours.decays_at(t) + 2) * 2.0**-24
        assert math.isclose(lr, exact, rel_tol=tolerance), t


def test_piecewise_boundary_belongs_to_the_left_interval() -> None:
    schedule = keras.parse({"boundaries": [30], "values": [1.0, 0.5]})
    assert [schedule.lr_at(t) for t in (29, 30, 31)] == [1.0, 1.0, 0.5]
    assert schedule.to_schedule() == StepSchedule(1.0, milestones=(31,), gamma=0.5)
    assert schedule.notes[0] == (
        "Keras PiecewiseConstantDecay keeps a boundary's step in the interval on its left: "
        "boundaries=[30] decay at steps [31]"
    )


def test_unsorted_boundaries_add_values_as_keras_does() -> None:
    schedule = keras.parse({"boundaries": [60, 30], "values": [0.5, 0.25, 0.125]})
    assert [schedule.lr_at(t) for t in (30, 31, 60, 61)] == [0.5, 0.625, 0.625, 0.125]


def test_float32_step_count_rounds_beyond_two_to_the_24() -> None:
    schedule = keras.parse(
        {"initial_learning_rate": 1.0, "decay_steps": 2, "decay_rate": 0.5, "staircase": True}
    )
    # float32(2**24 + 1) == 2**24, so Keras still sees 2**23 decays at that step.
    assert keras.float32_of_int(2**24 + 1) == 2.0**24
    assert schedule.lr_at(2**24 + 1) == schedule.lr_at(2**24)
    assert keras.float32_of_int(2**24 + 3) == 2.0**24 + 4
    assert keras.float32_of_int(2**60 + 2**36) == 2.0**60
    assert keras.float32_of_int(-(2**60 + 2**36 + 1)) == -(2.0**60 + 2.0**37)


@pytest.mark.parametrize(
    ("document", "expected"),
    [
        ({"class_name": "ExponentialDecay", "config": {}}, True),
        (
            {
                "module": "keras.optimizers.schedules",
                "class_name": "PiecewiseConstantDecay",
                "config": {},
                "registered_name": None,
            },
            True,
        ),
        ({"class_name": "CosineDecay", "config": {}}, False),
        ({"class_name": "ExponentialDecay"}, False),
        ({"initial_learning_rate": 0.1, "decay_steps": 3, "decay_rate": 0.5}, True),
        ({"boundaries": [1], "values": [1, 0.5], "name": "x"}, True),
        ({"optax": "piecewise_constant_schedule", "boundaries": [1], "values": [1]}, False),
        ({"timm": "StepLRScheduler"}, False),
        ([], False),
    ],
)
def test_detect(document: object, expected: bool) -> None:
    assert keras.detect(document) is expected


def test_reads_a_bare_config_and_tf_keras_two_serialization() -> None:
    config = {"initial_learning_rate": 0.1, "decay_steps": 30, "decay_rate": 0.1, "staircase": True}
    bare = keras.parse(config)
    assert keras.parse({"class_name": "ExponentialDecay", "config": config}) == bare
    assert bare.to_schedule() == StepSchedule(0.1, step_size=30, gamma=0.1, mode="step")


SCHEDULES = [
    StepSchedule(0.1, step_size=30, gamma=0.1, mode="step"),
    StepSchedule(3e-4, step_size=7, gamma=0.97, mode="step"),
    StepSchedule(0.1, milestones=(30, 60, 90), gamma=0.1, mode="step"),
    StepSchedule(0.3, milestones=(1, 1000), gamma=0.3333, mode="step"),
    StepSchedule(0.1, milestones=(10, 20, 30), gamma=0.1, min_lr=0.0005, mode="step"),
]


@pytest.mark.parametrize("schedule", SCHEDULES, ids=repr)
@pytest.mark.parametrize("style", ["serialize", "config"])
def test_round_trip_through_keras_is_identity(schedule: StepSchedule, style: Any) -> None:
    document = keras.from_schedule(schedule, style=style)
    assert keras.detect(document)
    assert keras.parse(json.loads(json.dumps(document))).to_schedule() == schedule


def test_a_floor_on_a_step_size_schedule_becomes_piecewise_values() -> None:
    schedule = StepSchedule(1.0, step_size=10, gamma=0.5, min_lr=0.2, mode="step")
    document = keras.from_schedule(schedule, style="config")
    assert document == {
        "boundaries": [9, 19, 29],
        "values": [1.0, 0.5, 0.25, 0.2],
        "name": "PiecewiseConstant",
    }
    written = keras.parse(document)
    assert all(written.lr_at(t) == keras.float32(schedule.lr_at(t)) for t in range(60))


def test_epoch_schedule_is_written_in_steps_when_steps_per_epoch_is_given() -> None:
    schedule = StepSchedule(0.1, step_size=3, mode="epoch")
    document = keras.from_schedule(schedule, steps_per_epoch=100)
    assert document["config"]["decay_steps"] == 300
    with pytest.raises(ConversionError, match="give steps_per_epoch"):
        keras.from_schedule(schedule)


@pytest.mark.parametrize(
    ("schedule", "message"),
    [
        (
            StepSchedule(0.1, warmup_steps=5, mode="step"),
            "warmup_steps=5 cannot be written for Keras: ExponentialDecay and "
            "PiecewiseConstantDecay have no warmup",
        ),
        (
            StepSchedule(0.1, mode="epoch"),
            "Keras schedules count optimizer steps; give steps_per_epoch to write an "
            "epoch-mode schedule",
        ),
        (
            StepSchedule(0.1, step_size=1, gamma=0.999, min_lr=1e-9, mode="step"),
            "min_lr=1e-09 is reached after 18412 decays; a Keras PiecewiseConstantDecay of "
            "more than 10000 boundaries is not written",
        ),
    ],
)
def test_from_schedule_refusals(schedule: StepSchedule, message: str) -> None:
    with pytest.raises(ConversionError) as raised:
        keras.from_schedule(schedule)
    assert str(raised.value) == message


EXP = {"initial_learning_rate": 0.1, "decay_steps": 30, "decay_rate": 0.1, "staircase": True}
PIECE = {"boundaries": [30, 60], "values": [0.1, 0.01, 0.001]}


@pytest.mark.parametrize(
    ("document", "message"),
    [
        (
            {**EXP, "staircase": False},
            "Keras ExponentialDecay with staircase=false decays continuously; stepsched needs "
            "staircase=true",
        ),
        (
            {**EXP, "decay_rate": 1.0},
            "Keras decay_rate=1.0 never decays; stepsched needs 0 < gamma < 1",
        ),
        (
            {**EXP, "decay_steps": 2.5},
            "Keras decay_steps=2.5 is fractional; stepsched needs an integer step_size >= 1",
        ),
        (
            {"boundaries": [60, 30], "values": [0.1, 0.01, 0.001]},
            "Keras boundaries=[60, 30] cannot be converted: boundaries not strictly increasing "
            "(boundaries[1]=30); stepsched milestones are strictly increasing positions >= 1",
        ),
        (
            {"boundaries": [-1, 30], "values": [0.1, 0.01, 0.001]},
            "Keras boundaries=[-1, 30] cannot be converted: a negative boundary "
            "(boundaries[0]=-1); stepsched milestones are strictly increasing positions >= 1",
        ),
        (
            {"boundaries": [100, 500], "values": [0.1, 0.2, 0.05]},
            "Keras values=[0.1, 0.2, 0.05] cannot be converted: they are not initial * gamma**k "
            "with 0 < gamma < 1 (optionally floored by the last value)",
        ),
        (
            {"boundaries": [10], "values": [0.1, 0.0]},
            "Keras values=[0.1, 0.0] cannot be converted: stepsched needs values > 0",
        ),
    ],
)
def test_to_schedule_refusals(document: dict[str, Any], message: str) -> None:
    schedule = keras.parse(document)
    with pytest.raises(ConversionError) as raised:
        schedule.to_schedule()
    assert str(raised.value) == message


def test_values_within_one_ulp_of_geometric_convert_to_the_short_gamma() -> None:
    schedule = keras.parse(
        {"boundaries": [29, 59], "values": [0.1, 0.010000000000000002, 0.0010000000000000002]}
    )
    assert schedule.to_schedule() == StepSchedule(0.1, milestones=(30, 60), mode="step")


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ("x", "a Keras schedule must be a JSON object, got str"),
        (
            {"class_name": "CosineDecay", "config": {}},
            "class_name must be 'ExponentialDecay' or 'PiecewiseConstantDecay', got 'CosineDecay'",
        ),
        ({"class_name": "ExponentialDecay", "config": 3}, "config must be a JSON object, got 3"),
        ({**EXP, "alpha": 0}, "unknown key(s) in Keras ExponentialDecay config: alpha"),
        (
            {"decay_steps": 3, "initial_learning_rate": 0.1},
            "Keras ExponentialDecay config needs 'decay_rate'",
        ),
        (
            {**EXP, "initial_learning_rate": -1},
            "initial_learning_rate must be a finite number > 0, got -1",
        ),
        ({**EXP, "decay_steps": 0}, "decay_steps must be a number > 0, got 0"),
        ({**EXP, "decay_rate": 2}, "decay_rate must be a number with 0 < decay_rate <= 1, got 2"),
        ({**EXP, "decay_rate": None}, "decay_rate must be a finite number, got None"),
        ({**EXP, "staircase": "yes"}, "staircase must be true or false, got 'yes'"),
        ({**EXP, "name": 3}, "name must be a string, got 3"),
        ({**PIECE, "boundaries": []}, "boundaries must be a non-empty list of integers, got []"),
        ({**PIECE, "boundaries": [30, 60.5]}, "boundaries[1] must be an integer, got 60.5"),
        ({**PIECE, "values": [0.1]}, "values must have one more entry than boundaries (2), got 1"),
        ({**PIECE, "values": 0.1}, "values must be a list of numbers, got 0.1"),
        (
            {**PIECE, "values": [0.1, -0.01, 0.001]},
            "values[1] must be a finite number >= 0, got -0.01",
        ),
        ({"values": [0.1]}, "Keras PiecewiseConstantDecay config needs 'boundaries'"),
    ],
)
def test_parse_refusals(document: object, message: str) -> None:
    with pytest.raises(StateError) as raised:
        keras.parse(document)
    assert str(raised.value) == message


@pytest.mark.parametrize("schedule", SCHEDULES, ids=repr)
def test_written_documents_load_in_real_keras(schedule: StepSchedule) -> None:
    # Keras 3 picks its backend at import; torch is the one this project's machines have.
    os.environ.setdefault("KERAS_BACKEND", "torch")
    pytest.importorskip("torch")
    real_keras = pytest.importorskip("keras")
    document = keras.from_schedule(schedule)
    loaded = real_keras.optimizers.schedules.deserialize(document)
    assert real_keras.optimizers.schedules.serialize(loaded) == document
    ours = keras.parse(document)
    for step in range(0, 1200, 7):
        assert abs(float(loaded(step)) - ours.lr_at(step)) <= float32_ulp(ours.lr_at(step)), step


@pytest.mark.parametrize(
    "document",
    [
        {"class_name": "ExponentialDecay", "config": {"initial_learning_rate": 0.1,
         "decay_steps": 1, "decay_rate": 0.5, "staircase": True}},
        {"class_name": "PiecewiseConstantDecay", "config": {"boundaries": [30],
         "values": [0.1, 0.01]}},
    ],
)  # fmt: skip
def test_steps_beyond_keras_int64_iterations_are_refused(document: dict[str, Any]) -> None:
    """Keras's optimizer.iterations is an int64: no step lies beyond 2**63 - 1."""
    schedule = keras.parse(document)
    assert schedule.lr_at(keras.MAX_STEP) == schedule.lr_at(10**6)
    counter = "Keras counts optimizer steps in an int64"
    for step, shown in ((2**63, "9223372036854775808"), (10**400, "an integer of 1329 bits")):
        with pytest.raises(ScheduleError) as caught:
            schedule.lr_at(step)
        assert str(caught.value) == (
            f"step must be at most 9223372036854775807 ({counter}), got {shown}"
        )
