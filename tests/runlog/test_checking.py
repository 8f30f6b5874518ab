"""Checking logged lr series and diagnosing them: recorded torch runs, hypotheses."""

from __future__ import annotations

import dataclasses
import json
import tracemalloc
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from stepsched_cli.runlog import (
    CheckResult,
    Diagnosis,
    LogPoint,
    RunLogError,
    check_log,
    read_log,
)
from stepsched_cli.schedule import StepSchedule

LOGS = Path(__file__).resolve().parent.parent / "data" / "logs"
MANIFEST = json.loads((LOGS / "manifest.json").read_text())
STEP20 = StepSchedule(0.1, step_size=20, gamma=0.5)


def schedule_from(entry: dict[str, Any]) -> StepSchedule:
    parameters = dict(entry["schedule"])
    if "milestones" in parameters:
        parameters["milestones"] = tuple(parameters["milestones"])
    return StepSchedule(**parameters)


def points(values: dict[int, float]) -> list[LogPoint]:
    return [LogPoint(step, lr) for step, lr in values.items()]


def series(function: Any, count: int) -> list[LogPoint]:
    return [LogPoint(step, function(step)) for step in range(count)]


# -- the recorded torch runs -------------------------------------------------


@pytest.mark.parametrize("entry", MANIFEST["logs"], ids=lambda entry: entry["file"])
def test_recorded_torch_run_is_diagnosed_as_recorded(entry: dict[str, Any]) -> None:
    """Each real run, right or wrong, gets exactly the diagnosis its mistake implies."""
    expected = entry["expected"]
    result = check_log(
        read_log(LOGS / entry["file"]),
        schedule_from(entry),
        steps_per_epoch=entry["steps_per_epoch"],
    )
    assert result.ok is expected["ok"]
    assert result.first_mismatch_step == expected["first_mismatch_step"]
    assert result.points_checked == expected["points_checked"]
    assert result.mismatches == expected["mismatches"]
    if expected["ok"]:
        assert result.diagnosis is None
        return
    assert result.diagnosis is not None
    assert result.diagnosis.kind == expected["kind"]
    assert result.diagnosis.factor == expected["factor"]
    assert result.diagnosis.resume_at == expected["resume_at"]


@pytest.mark.parametrize(
    ("file", "also_consistent"),
    [
        ("never_stepped.jsonl", ("late",)),
        ("one_based_steps.jsonl", ("shifted", "reset")),
        ("grad_accum_4.jsonl", ()),
        ("resume_reset.csv", ()),
    ],
)
def test_recorded_runs_name_the_equally_good_explanations(
    file: str, also_consistent: tuple[str, ...]
) -> None:
    entry = next(entry for entry in MANIFEST["logs"] if entry["file"] == file)
    result = check_log(read_log(LOGS / file), schedule_from(entry), steps_per_epoch=8)
    assert result.diagnosis is not None
    assert result.diagnosis.also_consistent == also_consistent


def test_per_micro_batch_message_names_the_factor_and_steps_per_epoch() -> None:
    result = check_log(read_log(LOGS / "grad_accum_4.jsonl"), STEP20, steps_per_epoch=8)
    assert result.diagnosis == Diagnosis(
        "early",
        "the lr decays 4 times too early: at step t the log holds the schedule's lr at 4*t "
        "(first mismatch at step 5: expected 0.1, logged 0.05); the scheduler is stepped 4 "
        "times per optimizer step: per micro-batch under gradient accumulation, or per "
        "batch while step_size counts epochs; the factor is not steps_per_epoch (8), so "
        "gradient accumulation over 4 micro-batches is likelier",
        factor=4,
        factor_range=(4, 4),
    )


def test_per_batch_stepping_of_an_epoch_schedule_names_steps_per_epoch() -> None:
    epochs = StepSchedule(0.1, step_size=3, gamma=0.5, mode="epoch")
    result = check_log(read_log(LOGS / "per_batch_epoch_schedule.csv"), epochs, steps_per_epoch=8)
    assert result.diagnosis is not None
    assert result.diagnosis.message.endswith(
        "the factor equals steps_per_epoch (8): scheduler.step() runs every batch but the "
        "schedule counts epochs"
    )


def test_json_contract() -> None:
    result = check_log(read_log(LOGS / "resume_reset.csv"), STEP20)
    document = result.to_dict()
    assert list(document) == [
        "ok",
        "first_mismatch_step",
        "expected_lr",
        "logged_lr",
        "diagnosis",
        "points_checked",
        "decays",
        "steps_from",
        "counting_note",
    ]
    assert document["ok"] is False
    assert document["first_mismatch_step"] == 50
    assert (document["expected_lr"], document["logged_lr"]) == (0.025, 0.1)
    diagnosis = document["diagnosis"]
    assert isinstance(diagnosis, dict)
    assert diagnosis["kind"] == "reset"
    assert diagnosis["resume_at"] == 50
    assert diagnosis["resume_range"] == [50, 50]
    json.dumps(document)
    assert check_log(read_log(LOGS / "correct.csv"), STEP20).to_dict() == {
        "ok": True,
        "first_mismatch_step": None,
        "expected_lr": None,
        "logged_lr": None,
        "diagnosis": None,
        "points_checked": 100,
        "decays": [
            {
                "planned_at": at,
                "observed_at": at,
                "difference": 0,
                "lr_before": before,
                "lr_after": after,
                "planned_lr_before": before,
                "planned_lr_after": after,
            }
            for at, before, after in (
                (20, 0.1, 0.05),
                (40, 0.05, 0.025),
                (60, 0.025, 0.0125),
                (80, 0.0125, 0.00625),
            )
        ],
        "steps_from": 0,
        "counting_note": None,
    }


# -- checking and diagnosing --------------------------------------------------


@pytest.mark.parametrize(
    ("name", "logged", "kind", "factor", "resume_at", "first_mismatch"),
    [
        ("per micro-batch, accumulation 4", lambda t: STEP20.lr_at(4 * t + 3), "early", 4, None, 5),
        ("phase 0, accumulation 3", lambda t: STEP20.lr_at(3 * t), "early", 3, None, 7),
        ("every third step", lambda t: STEP20.lr_at(t // 3), "late", 3, None, 20),
        ("rounded up, every second", lambda t: STEP20.lr_at(-(-t // 2)), "late", 2, None, 20),
        ("scheduler first", lambda t: STEP20.lr_at(t + 1), "ahead_by_one", None, None, 19),
        ("one step late", lambda t: STEP20.lr_at(max(0, t - 1)), "behind_by_one", None, None, 20),
        ("reset at 50", lambda t: STEP20.lr_at(t if t < 50 else t - 50), "reset", None, 50, 50),
        ("reset at 45", lambda t: STEP20.lr_at(t if t < 45 else t - 45), "reset", None, 45, 45),
        ("never stepped", lambda t: 0.1, "constant", None, None, 20),
        ("constant elsewhere", lambda t: 0.3, "constant", None, None, 0),
        ("exponential", lambda t: 0.1 * 0.97**t, "unknown", None, None, 1),
    ],
)
def test_diagnosis_table(
    name: str,
    logged: Any,
    kind: str,
    factor: int | None,
    resume_at: int | None,
    first_mismatch: int,
) -> None:
    result = check_log(series(logged, 100), STEP20)
    assert not result.ok
    assert result.first_mismatch_step == first_mismatch
    assert result.diagnosis is not None
    assert (result.diagnosis.kind, result.diagnosis.factor) == (kind, factor)
    assert result.diagnosis.resume_at == resume_at


def test_exact_match_and_tolerance() -> None:
    result = check_log(series(STEP20.lr_at, 200), STEP20)
    assert dataclasses.replace(result, decays=()) == CheckResult(
        True, None, None, None, None, 200, 0
    )
    # A run that is right still lists its decays, each where the schedule planned it.
    assert [(row.planned_at, row.observed_at, row.difference) for row in result.decays] == [
        (position, position, 0) for position in range(20, 200, 20)
    ]
    nudged = series(lambda t: STEP20.lr_at(t) * (1 + 1e-7), 50)
    assert check_log(nudged, STEP20).ok
    result = check_log(nudged, STEP20, tolerance=0)
    assert (result.ok, result.first_mismatch_step, result.mismatches) == (False, 0, 50)


def test_unknown_message_names_the_first_mismatch() -> None:
    result = check_log(points({0: 0.1, 10: 0.2, 30: 0.05}), STEP20)
    assert result.diagnosis == Diagnosis(
        "unknown", "unknown: first mismatch at step 10: expected 0.1, logged 0.2"
    )


def test_sparse_log_leaves_the_factor_open() -> None:
    """Two points cannot pin an accumulation factor down: it is bracketed."""
    result = check_log([LogPoint(t, STEP20.lr_at(4 * t)) for t in (3, 9)], STEP20)
    assert result.diagnosis is not None
    assert result.diagnosis.kind == "early"
    assert result.diagnosis.factor is None
    assert result.diagnosis.factor_range == (3, 4)
    assert "decays between 3 and 4 times too early" in result.diagnosis.message
    every_25 = [LogPoint(t, STEP20.lr_at(4 * t)) for t in range(0, 100, 25)]
    diagnosis = check_log(every_25, STEP20).diagnosis
    assert diagnosis is not None
    assert diagnosis.factor == 4


def test_epoch_schedule_maps_logged_steps_to_epochs() -> None:
    epochs = StepSchedule(0.1, step_size=3, gamma=0.1, mode="epoch")
    log = series(lambda t: epochs.lr_at(t // 10), 100)
    assert check_log(log, epochs, steps_per_epoch=10).ok
    assert not check_log(log, epochs).ok
    reset = series(lambda t: epochs.lr_at(t // 10 if t < 40 else t // 10 - 4), 100)
    diagnosis = check_log(reset, epochs, steps_per_epoch=10).diagnosis
    assert diagnosis is not None
    assert (diagnosis.kind, diagnosis.resume_at) == ("reset", 4)
    assert "reset to the start of the schedule at epoch 4 (step 40)" in diagnosis.message


def test_milestones_with_warmup() -> None:
    schedule = StepSchedule(
        0.1, milestones=(30, 70), gamma=0.1, warmup_steps=5, warmup_start_lr=0.01
    )
    early = check_log(series(lambda t: schedule.lr_at(2 * t), 100), schedule).diagnosis
    assert early is not None
    assert (early.kind, early.factor) == ("early", 2)
    resumed = series(lambda t: schedule.lr_at(t if t < 80 else t - 80), 200)
    reset = check_log(resumed, schedule).diagnosis
    assert reset is not None
    assert (reset.kind, reset.resume_at) == ("reset", 80)


def test_huge_positions() -> None:
    schedule = StepSchedule(0.1, step_size=2**62, gamma=0.5)
    log = [LogPoint(2**62 - 1, 0.1), LogPoint(2**62, 0.05), LogPoint(2**64, 0.1 / 16)]
    assert check_log(log, schedule).ok
    early = [LogPoint(t, schedule.lr_at(4 * t)) for t in (0, 2**60, 2**61, 2**62)]
    diagnosis = check_log(early, schedule).diagnosis
    assert diagnosis is not None
    assert diagnosis.kind == "early"
    assert diagnosis.factor_range is not None
    assert diagnosis.factor_range[0] <= 4 <= (diagnosis.factor_range[1] or 4)


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"tolerance": -0.1}, "tolerance must be a number with 0 <= tolerance < 1, got -0.1"),
        ({"tolerance": 1.0}, "tolerance must be a number with 0 <= tolerance < 1, got 1.0"),
        ({"tolerance": True}, "tolerance must be a number with 0 <= tolerance < 1, got True"),
        ({"steps_per_epoch": 0}, "steps_per_epoch must be an integer >= 1, got 0"),
        ({"steps_per_epoch": 2.0}, "steps_per_epoch must be an integer >= 1, got 2.0"),
    ],
)
def test_bad_arguments(arguments: dict[str, Any], message: str) -> None:
    with pytest.raises(RunLogError, match=message):
        check_log([LogPoint(0, 0.1)], STEP20, **arguments)


def test_empty_log_is_an_error() -> None:
    with pytest.raises(RunLogError, match="the log has no points to check"):
        check_log([], STEP20)


def test_a_long_log_streams_in_bounded_memory() -> None:
    """A generator of 50,000 points is consumed once, without growing memory."""

    def generated() -> Iterator[LogPoint]:
        for t in range(50_000):
            yield LogPoint(t, STEP20.lr_at(4 * t + 3) if t % 1000 else STEP20.lr_at(4 * t))

    tracemalloc.start()
    try:
        result = check_log(generated(), STEP20)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert result.points_checked == 50_000
    assert result.diagnosis is not None
    assert (result.diagnosis.kind, result.diagnosis.factor) == ("early", 4)
    assert peak < 2_000_000


# -- properties ---------------------------------------------------------------

schedules = st.builds(
    StepSchedule,
    initial_lr=st.sampled_from([0.1, 1.0, 3e-4, 0.05]),
    step_size=st.integers(2, 40),
    gamma=st.sampled_from([0.1, 0.5, 0.9, 0.3333]),
)


@settings(max_examples=60, deadline=None)
@given(schedule=schedules, factor=st.integers(2, 6), phase=st.data())
def test_property_early_factor_is_found(schedule: StepSchedule, factor: int, phase: Any) -> None:
    offset = phase.draw(st.integers(0, factor - 1))
    step_size = schedule.step_size or 1
    log = series(lambda t: schedule.lr_at(factor * t + offset), 3 * step_size)
    result = check_log(log, schedule)
    assert result.diagnosis is not None
    diagnosis = result.diagnosis
    assert "early" in (diagnosis.kind, *diagnosis.also_consistent)
    if diagnosis.kind == "early":
        assert diagnosis.factor_range is not None
        low, high = diagnosis.factor_range
        assert low <= factor <= (high if high is not None else factor)


@settings(max_examples=60, deadline=None)
@given(schedule=schedules, data=st.data())
def test_property_reset_is_found_where_it_happened(schedule: StepSchedule, data: Any) -> None:
    step_size = schedule.step_size or 1
    resume = data.draw(st.integers(step_size + 1, 3 * step_size))
    log = series(lambda t: schedule.lr_at(t if t < resume else t - resume), 5 * step_size)
    diagnosis = check_log(log, schedule).diagnosis
    assert diagnosis is not None
    assert (diagnosis.kind, diagnosis.resume_at) == ("reset", resume)


@settings(max_examples=60, deadline=None)
@given(schedule=schedules, length=st.integers(1, 200))
def test_property_a_faithful_log_matches(schedule: StepSchedule, length: int) -> None:
    result = check_log(series(schedule.lr_at, length), schedule)
    assert (result.ok, result.points_checked) == (True, length)
