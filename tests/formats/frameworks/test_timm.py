"""timm StepLRScheduler / MultiStepLRScheduler: parity with real timm, conversions, refusals.

Contract: :meth:`TimmSchedule.lr_at` equals timm's own value bit for bit at every
position, including timm's multistep rule that each ``decay_t`` entry ``d`` decays at
``t = d - 1`` (one position before the milestone).  Conversion to stepsched keeps every
decay position and agrees on values to within float64 rounding of the power.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest

from stepsched_cli.errors import ConversionError, ScheduleError, StateError
from stepsched_cli.formats.frameworks.timm import schedule as timm
from stepsched_cli.schedule import StepSchedule

FIXTURE = Path(__file__).resolve().parents[2] / "data" / "frameworks" / "timm_parity.json"
PARITY: dict[str, Any] = json.loads(FIXTURE.read_text(encoding="utf-8"))
CASES: list[dict[str, Any]] = PARITY["cases"]


def expand(runs: list[list[Any]]) -> list[tuple[int, float]]:
    """Every ``(t, lr)`` pair of a fixture's runs."""
    return [(t, lr) for first, last, lr in runs for t in range(first, last + 1)]


def case_id(case: dict[str, Any]) -> str:
    return json.dumps(case["document"], separators=(",", ":"))


def test_fixture_names_the_library_that_recorded_it() -> None:
    assert PARITY["header"]["library"].startswith("timm ")
    assert "make_timm_fixtures.py" in PARITY["header"]["regenerate"]


@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_lr_at_reproduces_timm_bit_for_bit(case: dict[str, Any]) -> None:
    schedule = timm.parse(case["document"])
    pairs = expand(case["runs"]) + [(t, lr) for t, lr in case["samples"]]
    assert pairs[PARITY["header"]["total"]][0] == PARITY["header"]["total"]
    mismatches = [(t, schedule.lr_at(t), lr) for t, lr in pairs if schedule.lr_at(t) != lr]
    assert mismatches == []


@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_conversion_keeps_every_decay_position_or_refuses(case: dict[str, Any]) -> None:
    timm_schedule = timm.parse(case["document"])
    try:
        ours = timm_schedule.to_schedule()
    except ConversionError:
        return
    for t, lr in expand(case["runs"]) + [(t, lr) for t, lr in case["samples"]]:
        assert math.isclose(ours.lr_at(t), lr, rel_tol=1e-12, abs_tol=1e-300), t
        assert ours.decays_at(t) == min(_timm_decays(timm_schedule, t), ours.boundary_count), t


def _timm_decays(schedule: timm.TimmSchedule, t: int) -> int:
    if t < schedule.warmup_t:
        return 0
    clock = t - schedule.warmup_t if schedule.warmup_prefix else t
    if isinstance(schedule.decay_t, tuple):
        return sum(1 for d in schedule.decay_t if d <= clock + 1)
    return int(clock // schedule.decay_t)


def test_multistep_decays_one_position_before_each_milestone() -> None:
    schedule = timm.parse(
        {"timm": "MultiStepLRScheduler", "lr": 1.0, "decay_t": [30, 60], "decay_rate": 0.5}
    )
    assert [schedule.lr_at(t) for t in (28, 29, 30, 58, 59)] == [1.0, 0.5, 0.5, 0.5, 0.25]
    assert schedule.to_schedule().milestones == (29, 59)
    assert schedule.notes == (
        "timm's MultiStepLRScheduler decays one position before each decay_t entry "
        "(bisect on t + 1): decay_t=[30, 60] decays at t=[29, 59]",
    )


def test_step_scheduler_decays_at_the_boundary_and_has_no_notes() -> None:
    schedule = timm.parse({"timm": "StepLRScheduler", "lr": 1.0, "decay_t": 30, "decay_rate": 0.5})
    assert [schedule.lr_at(t) for t in (29, 30)] == [1.0, 0.5]
    assert schedule.notes == ()


def test_warmup_prefix_shifts_the_decay_clock() -> None:
    document = {
        "timm": "StepLRScheduler",
        "lr": 1.0,
        "decay_t": 10,
        "decay_rate": 0.5,
        "warmup_t": 4,
        "warmup_lr_init": 0.0,
    }
    prefixed = timm.parse(document)
    unprefixed = timm.parse({**document, "warmup_prefix": False})
    assert [prefixed.lr_at(t) for t in (0, 2, 4, 13, 14)] == [0.0, 0.5, 1.0, 1.0, 0.5]
    assert [unprefixed.lr_at(t) for t in (0, 2, 4, 9, 10)] == [0.0, 0.5, 1.0, 1.0, 0.5]
    assert prefixed.to_schedule() == StepSchedule(
        1.0, step_size=10, gamma=0.5, warmup_steps=4, mode="epoch", warmup_prefix=True
    )
    assert unprefixed.to_schedule() == StepSchedule(
        1.0, step_size=10, gamma=0.5, warmup_steps=4, mode="epoch"
    )
    assert timm.from_schedule(unprefixed.to_schedule())["warmup_prefix"] is False
    assert timm.from_schedule(prefixed.to_schedule())["warmup_prefix"] is True


def test_t_in_epochs_sets_the_mode() -> None:
    document = {"timm": "StepLRScheduler", "lr": 0.1, "decay_t": 5, "decay_rate": 0.1}
    assert timm.parse(document).to_schedule().mode == "epoch"
    assert timm.parse({**document, "t_in_epochs": False}).to_schedule().mode == "step"


@pytest.mark.parametrize(
    ("document", "expected"),
    [
        ({"timm": "StepLRScheduler"}, True),
        ({"timm": "MultiStepLRScheduler", "decay_t": []}, True),
        ({"timm": "CosineLRScheduler"}, False),
        ({"class_name": "ExponentialDecay"}, False),
        ({"optax": "exponential_decay"}, False),
        ([1, 2], False),
        ("timm", False),
        (None, False),
    ],
)
def test_detect(document: object, expected: bool) -> None:
    assert timm.detect(document) is expected


SCHEDULES = [
    StepSchedule(0.1),
    StepSchedule(0.1, step_size=7, gamma=0.5, mode="step"),
    StepSchedule(0.3, milestones=(1, 30, 80), gamma=0.3333, mode="epoch"),
    StepSchedule(0.1, step_size=30, warmup_steps=5, warmup_start_lr=1e-4),
    StepSchedule(2e-4, milestones=(100,), warmup_steps=10, warmup_start_lr=0.0, mode="step"),
]


@pytest.mark.parametrize("schedule", SCHEDULES, ids=repr)
def test_round_trip_through_timm_is_identity(schedule: StepSchedule) -> None:
    document = timm.from_schedule(schedule)
    assert timm.detect(document)
    assert timm.parse(json.loads(json.dumps(document))).to_schedule() == schedule


@pytest.mark.parametrize("schedule", SCHEDULES, ids=repr)
def test_written_document_gives_the_same_lr_at_every_position(schedule: StepSchedule) -> None:
    timm_schedule = timm.parse(timm.from_schedule(schedule))
    for t in range(400):
        assert math.isclose(timm_schedule.lr_at(t), schedule.lr_at(t), rel_tol=1e-14), t


def test_from_schedule_writes_every_field() -> None:
    assert timm.from_schedule(StepSchedule(0.1, milestones=(30, 60), mode="step")) == {
        "timm": "MultiStepLRScheduler",
        "lr": 0.1,
        "decay_t": [31, 61],
        "decay_rate": 0.1,
        "warmup_t": 0,
        "warmup_lr_init": 0.0,
        "warmup_prefix": True,
        "t_in_epochs": False,
    }


def test_from_schedule_refuses_a_floor() -> None:
    with pytest.raises(
        ConversionError,
        match=r"^min_lr=0\.001 cannot be written for timm: its step schedulers have no floor$",
    ):
        timm.from_schedule(StepSchedule(0.1, min_lr=0.001))


BASE = {"timm": "StepLRScheduler", "lr": 0.1, "decay_t": 30, "decay_rate": 0.1}
MULTI = {"timm": "MultiStepLRScheduler", "lr": 0.1, "decay_rate": 0.1}


@pytest.mark.parametrize(
    ("document", "message"),
    [
        (
            {**BASE, "decay_rate": 1.0},
            "timm decay_rate=1.0 never decays; stepsched needs 0 < gamma < 1",
        ),
        (
            {**BASE, "decay_t": 2.5},
            "timm decay_t=2.5 is fractional; stepsched needs an integer step_size >= 1",
        ),
        (
            {**MULTI, "decay_t": [1, 10]},
            "timm decay_t entry 1 decays at t=0, before the first position can run undecayed; "
            "stepsched milestones must be >= 1 (timm decays one position before each entry)",
        ),
        (
            {**MULTI, "decay_t": [10, 10, 20]},
            "timm decay_t repeats 10, decaying twice at once; stepsched milestones must be "
            "strictly increasing",
        ),
        (
            {**MULTI, "decay_t": []},
            "timm decay_t=[] never decays; stepsched needs at least one milestone",
        ),
    ],
)
def test_to_schedule_refusals(document: dict[str, Any], message: str) -> None:
    schedule = timm.parse(document)
    with pytest.raises(ConversionError) as raised:
        schedule.to_schedule()
    assert str(raised.value) == message


@pytest.mark.parametrize(
    ("document", "error", "message"),
    [
        ([], StateError, "a timm schedule must be a JSON object, got list"),
        (
            {**BASE, "timm": "CosineLRScheduler"},
            StateError,
            "timm must be 'StepLRScheduler' or 'MultiStepLRScheduler', got 'CosineLRScheduler'",
        ),
        (
            {**BASE, "cycle": 3, "eta": 1},
            StateError,
            "unknown key(s) in timm StepLRScheduler document: cycle, eta",
        ),
        (
            {"timm": "StepLRScheduler", "decay_t": 30},
            StateError,
            "timm document needs 'lr', the optimizer's base learning rate",
        ),
        (
            {"timm": "StepLRScheduler", "lr": 0.1},
            StateError,
            "timm StepLRScheduler document needs 'decay_t'",
        ),
        ({**BASE, "lr": 0}, StateError, "lr must be a finite number > 0, got 0"),
        ({**BASE, "lr": "0.1"}, StateError, "lr must be a finite number, got '0.1'"),
        ({**BASE, "lr": True}, StateError, "lr must be a finite number, got True"),
        (
            {**BASE, "decay_rate": 1.5},
            StateError,
            "decay_rate must be a number with 0 < decay_rate <= 1, got 1.5",
        ),
        ({**BASE, "decay_t": 0}, StateError, "decay_t must be a number > 0, got 0"),
        ({**BASE, "warmup_t": -1}, StateError, "warmup_t must be an integer >= 0, got -1"),
        (
            {**BASE, "warmup_lr_init": -0.1},
            StateError,
            "warmup_lr_init must be a finite number >= 0, got -0.1",
        ),
        ({**BASE, "warmup_prefix": 1}, StateError, "warmup_prefix must be true or false, got 1"),
        (
            {**MULTI, "decay_t": 30},
            StateError,
            "decay_t must be a list of sorted integers >= 0, got 30",
        ),
        (
            {**MULTI, "decay_t": [30, "x"]},
            StateError,
            "decay_t[1] must be an integer >= 0, got 'x'",
        ),
        (
            {**MULTI, "decay_t": [60, 30]},
            StateError,
            "decay_t must be sorted (timm bisects it), got 30 after 60 at index 1",
        ),
    ],
)
def test_parse_refusals(document: object, error: type[Exception], message: str) -> None:
    with pytest.raises(error) as raised:
        timm.parse(document)
    assert str(raised.value) == message
    assert "\n" not in message


@pytest.mark.parametrize(
    ("noise", "where"),
    [(10, "from t=10 on"), ([10, 60], "for 10 <= t < 60"), ([2.5], "from t=2.5 on")],
)
def test_noise_is_read_with_a_note_and_not_converted(noise: object, where: str) -> None:
    schedule = timm.parse({**BASE, "noise_range_t": noise})
    assert schedule.notes == (
        f"timm multiplies the lr by random noise {where} (torch.Generator seeded with "
        "noise_seed + t), which stepsched cannot reproduce: the lrs shown are without it",
    )
    assert schedule.to_document()["noise_range_t"] == noise
    with pytest.raises(ConversionError) as raised:
        schedule.to_schedule()
    assert str(raised.value) == (
        f"timm noise_range_t={noise!r} adds random noise drawn from torch's generator, "
        "which cannot be reproduced; set it to null"
    )


def test_noise_options_are_accepted_while_noise_is_off() -> None:
    document = {**BASE, "noise_range_t": None, "noise_pct": 0.67, "noise_seed": 42}
    assert timm.parse(document).lr_at(30) == 0.1 * 0.1


def test_to_document_is_canonical_and_parses_back() -> None:
    schedule = timm.parse({**MULTI, "decay_t": [5.0, 9]})
    assert schedule.decay_t == (5, 9)
    assert timm.parse(schedule.to_document()) == schedule


@pytest.mark.parametrize("decay_t", [1, 2.5])
def test_a_position_timm_itself_cannot_evaluate_is_refused(decay_t: float) -> None:
    """Python's decay_rate ** decays overflows past ~1.8e308 decays; below, it underflows."""
    schedule = timm.parse(
        {"timm": "StepLRScheduler", "lr": 0.1, "decay_t": decay_t, "decay_rate": 0.5}
    )
    assert schedule.lr_at(2**1000) == 0.0
    with pytest.raises(ScheduleError) as caught:
        schedule.lr_at(10**400)
    assert str(caught.value) == (
        "timm cannot evaluate t of 1329 bits: its float arithmetic overflows there "
        "(Python raises OverflowError)"
    )
