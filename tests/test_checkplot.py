"""The picture of a check: the plan over every logged step, the log's points, the marks."""

from __future__ import annotations

import pytest

from stepsched_cli.checkplot import build_check_figure, check_picture
from stepsched_cli.runlog import LogPoint, LogSample, check_log
from stepsched_cli.schedule import StepSchedule

PLAN = StepSchedule(0.1, milestones=(30, 60, 80), mode="epoch")
LATE = PLAN.replace(milestones=(32, 62, 82))


def test_a_late_run_against_its_epoch_plan() -> None:
    sample = LogSample(budget=50)
    points = [LogPoint(step, LATE.lr_at(step // 10)) for step in range(900)]
    result = check_log(points, PLAN, steps_per_epoch=10, sample=sample)
    picture = check_picture(PLAN, result, sample.points(), sample.largest_step, 10, budget=200)
    # Drawn in steps: 90 epochs of 10 steps; the plan is exact (3 decays).
    assert (picture.axis.unit, picture.axis.units_per_position, picture.horizon) == ("step", 10, 90)
    assert picture.curve.positions == (0, 30, 60, 80, 90)
    assert picture.mismatch == (300, 0.1)
    assert picture.observed_decays == (320, 620, 820)
    assert picture.title.startswith("each decay came 20 steps (2 epochs) late")
    assert picture.log_scale
    # The sample keeps the lowest and highest lr of each bucket of 16 steps.
    assert sample.width == 16
    assert len(picture.points) <= 2 * 57
    assert {lr for _, lr in picture.points} == {0.1, 0.01, 0.001, 0.0001}


def test_the_figure_holds_the_plan_the_points_and_the_marks() -> None:
    pytest.importorskip("matplotlib")
    sample = LogSample(budget=50)
    points = [LogPoint(step, LATE.lr_at(step // 10)) for step in range(900)]
    result = check_log(points, PLAN, steps_per_epoch=10, sample=sample)
    picture = check_picture(PLAN, result, sample.points(), sample.largest_step, 10, budget=200)
    figure = build_check_figure(picture)
    axes = figure.axes[0]
    labels = [line.get_label() for line in axes.get_lines()]
    assert labels == [
        "planned",
        "decay",
        "logged",
        "observed decay",
        "_observed decay",
        "_observed decay",
        "first mismatch: step 300",
    ]
    planned = axes.get_lines()[0]
    assert list(planned.get_xdata()) == [0.0, 300.0, 600.0, 800.0, 900.0]
    decays = [line.get_xdata()[0] for line in axes.get_lines()[3:6]]
    assert decays == [320, 620, 820]
    assert axes.get_yscale() == "log"
    assert axes.get_title().startswith("each decay came 20 steps (2 epochs) late")


def test_an_epoch_plan_without_steps_per_epoch_is_drawn_in_epochs() -> None:
    points = [LogPoint(epoch, PLAN.lr_at(epoch)) for epoch in range(90)]
    sample = LogSample(budget=50)
    result = check_log(points, PLAN, sample=sample)
    picture = check_picture(PLAN, result, sample.points(), sample.largest_step, None)
    assert (picture.axis.unit, picture.horizon, picture.mismatch) == ("epoch", 90, None)
    assert picture.title == "ok: 90 logged points match the plan"
    assert picture.observed_decays == (30, 60, 80)
