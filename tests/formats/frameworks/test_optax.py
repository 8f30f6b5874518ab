"""optax exponential_decay / piecewise_constant_schedule: parity, conversions, refusals.

Contract: :meth:`lr_at` reproduces optax's float32 values (JAX's default) at every count,
including XLA's flush of subnormals to zero; a piecewise scale applies AT its boundary
(``count >= boundary``), and exponential_decay holds ``init_value`` until
``transition_begin``, which stepsched expresses as a warmup from ``initial_lr`` to itself.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest

from stepsched_cli.errors import ConversionError, ScheduleError, StateError
from stepsched_cli.formats.frameworks.optax import schedule as optax
from stepsched_cli.schedule import StepSchedule

FIXTURE = Path(__file__).resolve().parents[2] / "data" / "frameworks" / "optax_parity.json"
PARITY: dict[str, Any] = json.loads(FIXTURE.read_text(encoding="utf-8"))
CASES: list[dict[str, Any]] = PARITY["cases"]


def pairs_of(case: dict[str, Any]) -> list[tuple[int, float]]:
    runs = [(t, lr) for first, last, lr in case["runs"] for t in range(first, last + 1)]
    return runs + [(t, lr) for t, lr in case["samples"]]


def case_id(case: dict[str, Any]) -> str:
    return json.dumps(case["document"], separators=(",", ":"))


def test_fixture_names_the_library_and_float_mode() -> None:
    assert PARITY["header"]["library"].startswith("optax ")
    assert PARITY["header"]["jax_enable_x64"] is False


@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_lr_at_reproduces_optax_in_float32(case: dict[str, Any]) -> None:
    schedule = optax.parse(case["document"])
    pairs = pairs_of(case)
    off = [(t, schedule.lr_at(t), lr) for t, lr in pairs if schedule.lr_at(t) != lr]
    assert all(abs(ours - theirs) <= math.ulp(theirs) * 2.0**29 for _, ours, theirs in off), off
    assert len(off) <= len(pairs) // 200


@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_conversion_keeps_decay_positions_and_float32_values(case: dict[str, Any]) -> None:
    try:
        ours = optax.parse(case["document"]).to_schedule()
    except ConversionError:
        return
    for t, lr in pairs_of(case):
        if t >= 2**24:
            continue  # float32(count) is no longer exact there
        exact = ours.lr_at(t)
        if exact < optax.FLOAT32_SMALLEST_NORMAL:
            assert lr == 0.0, t
            continue
        assert math.isclose(lr, exact, rel_tol=(ours.decays_at(t) + 2) * 2.0**-24), t


def test_piecewise_scale_applies_at_the_boundary() -> None:
    schedule = optax.parse(
        {
            "optax": "piecewise_constant_schedule",
            "init_value": 1.0,
            "boundaries_and_scales": {"60": 0.5, "30": 0.5},
        }
    )
    assert [schedule.lr_at(t) for t in (29, 30, 59, 60)] == [1.0, 0.5, 0.5, 0.25]
    assert schedule.to_schedule() == StepSchedule(1.0, milestones=(30, 60), gamma=0.5, mode="step")


def test_transition_begin_holds_then_decays_and_end_value_floors() -> None:
    schedule = optax.parse(
        {
            "optax": "exponential_decay",
            "init_value": 1.0,
            "transition_steps": 10,
            "decay_rate": 0.5,
            "transition_begin": 5,
            "staircase": True,
            "end_value": 0.2,
        }
    )
    assert [schedule.lr_at(t) for t in (0, 5, 14, 15, 25, 35, 100)] == [
        1.0,
        1.0,
        1.0,
        0.5,
        0.25,
        optax.float32(0.2),
        optax.float32(0.2),
    ]
    assert schedule.to_schedule() == StepSchedule(
        1.0,
        step_size=10,
        gamma=0.5,
        warmup_steps=5,
        warmup_start_lr=1.0,
        min_lr=0.2,
        mode="step",
        warmup_prefix=True,
    )


def test_constant_fallbacks_return_the_python_value() -> None:
    constant = optax.parse(
        {"optax": "exponential_decay", "init_value": 0.1, "transition_steps": 0, "decay_rate": 0.5}
    )
    assert constant.lr_at(10**6) == 0.1
    assert optax.parse({"optax": "piecewise_constant_schedule", "init_value": 0.7}).lr_at(5) == 0.7


@pytest.mark.parametrize(
    ("document", "expected"),
    [
        ({"optax": "exponential_decay"}, True),
        ({"optax": "piecewise_constant_schedule"}, True),
        ({"optax": "cosine_decay_schedule"}, False),
        ({"timm": "StepLRScheduler"}, False),
        ({"boundaries": [1], "values": [1, 0.5]}, False),
        (3, False),
    ],
)
def test_detect(document: object, expected: bool) -> None:
    assert optax.detect(document) is expected


SCHEDULES = [
    StepSchedule(0.1, step_size=30, gamma=0.1, mode="step"),
    StepSchedule(
        3e-4, step_size=7, gamma=0.97, warmup_steps=50, warmup_start_lr=3e-4, warmup_prefix=True
    ),
    StepSchedule(0.05, step_size=100, gamma=0.3333, min_lr=1e-4, mode="step"),
    StepSchedule(0.1, milestones=(30, 60, 90), gamma=0.1, mode="step"),
]


@pytest.mark.parametrize("schedule", SCHEDULES, ids=repr)
def test_round_trip_through_optax_is_identity(schedule: StepSchedule) -> None:
    document = optax.from_schedule(schedule)
    assert optax.detect(document)
    assert optax.parse(json.loads(json.dumps(document))).to_schedule() == schedule


@pytest.mark.parametrize(("warmup_prefix", "boundary"), [(True, "15"), (False, "10")])
def test_held_warmup_on_milestones_shifts_the_boundaries(
    warmup_prefix: bool, boundary: str
) -> None:
    schedule = StepSchedule(
        1.0, milestones=(10,), gamma=0.5, warmup_steps=5, warmup_start_lr=1.0,
        warmup_prefix=warmup_prefix,
    )  # fmt: skip
    document = optax.from_schedule(schedule)
    assert document["boundaries_and_scales"] == {boundary: 0.5}
    written = optax.parse(document)
    assert all(written.lr_at(t) == schedule.lr_at(t) for t in range(40))


def test_a_decay_inside_an_absolute_warmup_is_refused() -> None:
    schedule = StepSchedule(1.0, step_size=3, gamma=0.5, warmup_steps=5, warmup_start_lr=1.0)
    with pytest.raises(ConversionError, match=r"a decay inside the warmup \(warmup_steps=5\)"):
        optax.from_schedule(schedule)


def test_epoch_schedule_needs_steps_per_epoch() -> None:
    schedule = StepSchedule(0.1, step_size=3, mode="epoch")
    assert optax.from_schedule(schedule, steps_per_epoch=10)["transition_steps"] == 30


@pytest.mark.parametrize(
    ("schedule", "message"),
    [
        (
            StepSchedule(0.1, warmup_steps=5, mode="step"),
            "warmup from 0.0 to 0.1 cannot be written for optax exponential_decay or "
            "piecewise_constant_schedule: they hold init_value before the first decay (join a "
            "linear_schedule with optax.join_schedules instead)",
        ),
        (
            StepSchedule(0.1, milestones=(30,), min_lr=0.05, mode="step"),
            "min_lr=0.05 cannot be written for optax piecewise_constant_schedule: it has no floor",
        ),
        (
            StepSchedule(0.1, mode="epoch"),
            "optax schedules count updates; give steps_per_epoch to write an epoch-mode schedule",
        ),
    ],
)
def test_from_schedule_refusals(schedule: StepSchedule, message: str) -> None:
    with pytest.raises(ConversionError) as raised:
        optax.from_schedule(schedule)
    assert str(raised.value) == message


EXP = {
    "optax": "exponential_decay",
    "init_value": 0.1,
    "transition_steps": 30,
    "decay_rate": 0.1,
    "staircase": True,
}
PIECE = {"optax": "piecewise_constant_schedule", "init_value": 0.1}


@pytest.mark.parametrize(
    ("document", "message"),
    [
        (
            {**EXP, "staircase": False},
            "optax exponential_decay with staircase=false decays "
            "continuously; stepsched needs staircase=true",
        ),
        (
            {**EXP, "transition_steps": 0},
            "optax exponential_decay with transition_steps=0 and "
            "decay_rate=0.1 never decays; stepsched needs transition_steps >= 1 and "
            "0 < decay_rate < 1",
        ),
        (
            {**EXP, "decay_rate": 2.0},
            "optax decay_rate=2.0 grows the value; stepsched needs 0 < gamma < 1",
        ),
        (
            {**EXP, "transition_steps": 2.5},
            "optax transition_steps=2.5 is fractional; stepsched needs an integer step_size >= 1",
        ),
        (
            {**EXP, "end_value": 0.2},
            "optax end_value=0.2 is not below init_value=0.1; "
            "stepsched's min_lr must be below initial_lr",
        ),
        (
            PIECE,
            "optax piecewise_constant_schedule without boundaries never decays; stepsched "
            "needs at least one milestone",
        ),
        (
            {**PIECE, "boundaries_and_scales": {"0": 0.5}},
            "optax boundary 0 scales the value from count 0; stepsched milestones must be >= 1",
        ),
        (
            {**PIECE, "boundaries_and_scales": {"10": 0.5, "20": 0.1}},
            "optax scales [0.5, 0.1] "
            "cannot be converted: stepsched needs one factor gamma with 0 < gamma < 1 at every "
            "boundary",
        ),
    ],
)
def test_to_schedule_refusals(document: dict[str, Any], message: str) -> None:
    schedule = optax.parse(document)
    with pytest.raises(ConversionError) as raised:
        schedule.to_schedule()
    assert str(raised.value) == message


def test_negative_end_value_is_no_floor() -> None:
    assert optax.parse({**EXP, "end_value": -1.0}).to_schedule().min_lr == 0.0


@pytest.mark.parametrize(
    ("document", "message"),
    [
        (None, "an optax schedule must be a JSON object, got NoneType"),
        (
            {"optax": "sgdr_schedule"},
            "optax must be 'exponential_decay' or "
            "'piecewise_constant_schedule', got 'sgdr_schedule'",
        ),
        ({**EXP, "cycle": 1}, "unknown key(s) in optax exponential_decay document: cycle"),
        ({"optax": "exponential_decay"}, "optax exponential_decay document needs 'init_value'"),
        ({**EXP, "init_value": 0.0}, "init_value must be a finite number > 0, got 0.0"),
        (
            {"optax": "exponential_decay", "init_value": 0.1, "decay_rate": 0.5},
            "optax exponential_decay document needs 'transition_steps'",
        ),
        ({**EXP, "decay_rate": -0.5}, "decay_rate must be a finite number >= 0, got -0.5"),
        ({**EXP, "transition_begin": "5"}, "transition_begin must be an integer, got '5'"),
        ({**EXP, "staircase": 1}, "staircase must be true or false, got 1"),
        ({**EXP, "end_value": "x"}, "end_value must be a finite number, got 'x'"),
        (
            {**PIECE, "boundaries_and_scales": [[30, 0.1]]},
            "boundaries_and_scales must be a JSON object of step -> scale, got [[30, 0.1]]",
        ),
        (
            {**PIECE, "boundaries_and_scales": {"ten": 0.1}},
            "boundaries_and_scales key 'ten' must be an integer step",
        ),
        (
            {**PIECE, "boundaries_and_scales": {"10": 0.1, "010": 0.1}},
            "boundaries_and_scales repeats step 10 (key '010')",
        ),
        (
            {**PIECE, "boundaries_and_scales": {"10": -0.1}},
            "boundaries_and_scales['10'] must be a finite number >= 0, got -0.1",
        ),
    ],
)
def test_parse_refusals(document: object, message: str) -> None:
    with pytest.raises(StateError) as raised:
        optax.parse(document)
    assert str(raised.value) == message


@pytest.mark.parametrize("schedule", SCHEDULES, ids=repr)
def test_written_documents_run_in_real_optax(schedule: StepSchedule) -> None:
    real_optax = pytest.importorskip("optax")
    jnp = pytest.importorskip("jax.numpy")
    document = optax.from_schedule(schedule)
    kwargs = {key: value for key, value in document.items() if key != "optax"}
    if kwargs.get("boundaries_and_scales") is not None:
        kwargs["boundaries_and_scales"] = {
            int(key): scale for key, scale in kwargs["boundaries_and_scales"].items()
        }
    real = getattr(real_optax, document["optax"])(**kwargs)
    ours = optax.parse(document)
    for count in range(0, 1200, 7):
        theirs = float(real(jnp.asarray(count, dtype=jnp.int32)))
        assert abs(theirs - ours.lr_at(count)) <= math.ulp(theirs) * 2.0**29, count


@pytest.mark.parametrize(
    "document",
    [
        {"optax": "exponential_decay", "init_value": 0.1, "transition_steps": 1,
         "decay_rate": 0.5, "staircase": True},
        {"optax": "piecewise_constant_schedule", "init_value": 0.1,
         "boundaries_and_scales": {"30": 0.5}},
    ],
)  # fmt: skip
def test_counts_beyond_optax_int32_counter_are_refused(document: dict[str, Any]) -> None:
    """optax's count is an int32 that safe_int32_increment stops at 2**31 - 1."""
    schedule = optax.parse(document)
    assert schedule.lr_at(optax.MAX_COUNT) == schedule.lr_at(10**6)
    counter = "optax counts updates in an int32, which stops there"
    for count, shown in ((2**31, "2147483648"), (10**400, "an integer of 1329 bits")):
        with pytest.raises(ScheduleError) as caught:
            schedule.lr_at(count)
        assert str(caught.value) == f"count must be at most 2147483647 ({counter}), got {shown}"
