"""Checks whose log and schedule count in different units: the diagnosis says so."""

from __future__ import annotations

from stepsched_cli.runlog import Diagnosis, LogPoint, check_log
from stepsched_cli.schedule import StepSchedule

EPOCHS = StepSchedule(0.1, step_size=30, gamma=0.1, mode="epoch")
IMAGENET_STEPS_PER_EPOCH = 5005


def test_an_epoch_schedule_without_steps_per_epoch_on_a_step_log() -> None:
    """A correct run logged per 1000 optimizer steps, checked as if steps were epochs."""
    log = [
        LogPoint(t, EPOCHS.lr_at(t // IMAGENET_STEPS_PER_EPOCH))
        for t in range(0, 90 * IMAGENET_STEPS_PER_EPOCH, 1000)
    ]
    result = check_log(log, EPOCHS)
    assert result.diagnosis == Diagnosis(
        "late",
        "the lr decays between 5001 and 5101 times too late: at step t the log holds the "
        "schedule's lr at t/k (first mismatch at step 1000: expected 1e-34, logged 0.1); the "
        "scheduler is stepped once every k optimizer steps: per epoch while step_size counts "
        "steps, or only every few steps; but the schedule counts epochs and no steps per "
        "epoch were given, so each logged step was taken as an epoch: if the log counts "
        "optimizer steps, the units are mixed and the code may well be right: give the steps "
        "per epoch (steps_per_epoch, probably between 5001 and 5101) before changing it",
        factor_range=(5001, 5101),
        units_mixed=True,
    )
    assert check_log(log, EPOCHS, steps_per_epoch=IMAGENET_STEPS_PER_EPOCH).ok


def test_a_step_log_far_beyond_the_schedule_s_epochs() -> None:
    """Not a clean factor (the log is cut short), but steps reach 50x the decays."""
    log = [LogPoint(t, 0.1 if t < 9000 else 0.01) for t in range(0, 20_000, 500)]
    result = check_log(log, EPOCHS)
    assert result.diagnosis is not None
    assert result.diagnosis.units_mixed
    assert result.diagnosis.message.endswith(
        "; but the schedule counts epochs and no steps per epoch were given, so each logged "
        "step was taken as an epoch: if the log counts optimizer steps, the units are mixed "
        "and the code may well be right: give the steps per epoch (steps_per_epoch) before "
        "changing it"
    )


def test_a_short_late_factor_is_not_called_mixed_units() -> None:
    log = [LogPoint(t, EPOCHS.lr_at(t // 3)) for t in range(200)]
    result = check_log(log, EPOCHS)
    assert result.diagnosis is not None
    assert (result.diagnosis.kind, result.diagnosis.factor) == ("late", 3)
    assert not result.diagnosis.units_mixed
    assert "units" not in result.diagnosis.message


def test_an_epoch_log_checked_with_steps_per_epoch() -> None:
    """The log's step column counts epochs; steps_per_epoch converts it as if steps."""
    log = [LogPoint(t, EPOCHS.lr_at(t)) for t in range(90)]
    result = check_log(log, EPOCHS, steps_per_epoch=IMAGENET_STEPS_PER_EPOCH)
    assert result.diagnosis == Diagnosis(
        "early",
        "the lr decays between 4923 and 5061 times too early: at step t the log holds the "
        "schedule's lr at k*t (first mismatch at step 30: expected 0.1, logged 0.01); the "
        "scheduler is stepped k times per optimizer step: per micro-batch under gradient "
        "accumulation, or per batch while step_size counts epochs; steps_per_epoch (5005) is "
        "in that range: the log's step column probably counts epochs while the schedule "
        "converts optimizer steps to epochs: the units are mixed, and the code may well be right",
        factor_range=(4923, 5061),
        units_mixed=True,
    )


def test_per_batch_stepping_with_a_known_steps_per_epoch_in_the_range() -> None:
    """A step schedule logged once per epoch: each logged step is 5005 schedule steps."""
    steps = StepSchedule(0.1, step_size=30, gamma=0.1)
    log = [LogPoint(epoch, steps.lr_at(epoch * IMAGENET_STEPS_PER_EPOCH)) for epoch in range(60)]
    result = check_log(log, steps, steps_per_epoch=IMAGENET_STEPS_PER_EPOCH)
    assert result.diagnosis is not None
    assert result.diagnosis.kind == "early"
    assert result.diagnosis.factor is None
    assert result.diagnosis.message.endswith(
        "; steps_per_epoch (5005) is in that range: scheduler.step() probably runs every batch "
        "but the schedule counts epochs"
    )
    assert not result.diagnosis.units_mixed
