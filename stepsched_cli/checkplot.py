"""A run against its plan: the schedule a log should follow and the points it shows.

TensorBoard and W&B draw a run's lr; :func:`check_picture` decides what to draw to
see it against the schedule it should have followed: the planned staircase (exact,
from :func:`~stepsched_cli.plot.staircase`), the logged points (a bounded sample,
:class:`~stepsched_cli.runlog.LogSample`, so a 10**7-row log costs what a
hundred do), the first mismatch and each observed decay, under a title that gives
the verdict.  :func:`build_check_figure` draws it with matplotlib (imported inside),
and the terminal draws the same through :mod:`stepsched_cli.termplot`.

The x axis counts the log's steps (optimizer steps); an epoch-mode schedule without
steps per epoch is drawn in epochs, as the check read the log's steps as epochs.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from stepsched_cli.figure import add_other_unit, draw_curve, fit_title
from stepsched_cli.numbers import format_lr
from stepsched_cli.plot import (
    COLOURS,
    FigureSize,
    Staircase,
    XAxis,
    prefers_log_scale,
    staircase,
    x_axis,
)
from stepsched_cli.runlog import CheckResult
from stepsched_cli.schedule import StepSchedule

if TYPE_CHECKING:
    from matplotlib.figure import Figure


@dataclass(frozen=True)
class CheckPicture:
    """What a picture of a check shows.

    Attributes:
        axis: The x axis (the log's steps, or epochs; see the module).
        horizon: The schedule positions drawn: ``0..horizon-1`` cover every logged step.
        curve: The planned staircase over those positions.
        points: The logged points drawn, ``(step, lr)``.
        mismatch: The first mismatching point ``(step, logged lr)``, None when ok.
        observed_decays: The first logged step after each observed decay.
        title: The verdict: ok, or the diagnosis's headline and the first mismatch.
        log_scale: Whether the lr axis is logarithmic.
    """

    axis: XAxis
    horizon: int
    curve: Staircase
    points: tuple[tuple[int, float], ...]
    mismatch: tuple[int, float] | None
    observed_decays: tuple[int, ...]
    title: str
    log_scale: bool


def check_picture(
    schedule: StepSchedule,
    result: CheckResult,
    points: Sequence[tuple[int, float]],
    largest_step: int,
    steps_per_epoch: int | None,
    budget: int = FigureSize().budget,
) -> CheckPicture:
    """The picture of ``result``: the plan over every logged step, and the log's points.

    Args:
        schedule: The schedule the log was checked against.
        result: The check's result.
        points: The logged points to draw (a sample), ``(step, lr)``, each step the
            position it logs (``step - result.steps_from``, as the check's sample holds).
        largest_step: The largest logged step.
        steps_per_epoch: As the check was given.
        budget: The most pieces of the planned curve to draw.
    """
    in_steps = schedule.mode == "step" or steps_per_epoch is not None
    axis = x_axis(schedule.mode, "step" if in_steps else "epoch", steps_per_epoch)
    scale = axis.units_per_position
    horizon = max(1, largest_step // scale + 1)
    curve = staircase(schedule, horizon, budget)
    # The points are drawn at the positions they log (a log counting from 1 logs
    # position s - 1 at step s); the result tells logged steps: drawn where they log too.
    offset = result.steps_from
    mismatch = None
    if result.first_mismatch_step is not None and result.logged_lr is not None:
        mismatch = (result.first_mismatch_step - offset, result.logged_lr)
    observed = tuple(
        row.observed_at - offset for row in result.decays if row.observed_at is not None
    )
    if result.ok:
        title = f"ok: {result.points_checked} logged points match the plan"
    elif result.diagnosis is not None:
        title = (
            f"{result.diagnosis.headline or result.diagnosis.kind}: first mismatch at step "
            f"{result.first_mismatch_step} (expected {format_lr(result.expected_lr or 0.0)}, "
            f"logged {format_lr(result.logged_lr or 0.0)})"
        )
    else:  # pragma: no cover - a mismatch always has a diagnosis
        title = f"mismatch at step {result.first_mismatch_step}"
    lrs = [lr for _, lr in points]
    log_scale = prefers_log_scale([schedule], horizon) or (
        bool(lrs) and min(lrs) > 0 and max(lrs) > 10 * min(lrs)
    )
    return CheckPicture(axis, horizon, curve, tuple(points), mismatch, observed, title, log_scale)


def build_check_figure(picture: CheckPicture, size: FigureSize = FigureSize()) -> Figure:
    """A matplotlib Figure of ``picture``.

    Its axes' lines are, in order: the planned step line, its decay markers (when the
    curve has any), the logged points, the first mismatch (when there is one); the
    observed decays are vertical dotted lines.
    """
    from matplotlib.figure import Figure

    figure = Figure(figsize=(size.width, size.height), dpi=size.dpi, layout="constrained")
    axes = figure.add_subplot()
    axis = picture.axis
    curve = picture.curve
    # The plan on top of the points: where the log follows it, the line stays visible.
    draw_curve(axes, curve, axis, "planned", 0, zorder=3)
    axes.plot(
        [step for step, _ in picture.points],
        [lr for _, lr in picture.points],
        linestyle="none",
        marker="o",
        markersize=3,
        alpha=0.5,
        color=COLOURS[1],
        label="logged",
    )
    for index, step in enumerate(picture.observed_decays):
        axes.axvline(
            step,
            color=COLOURS[1],
            linestyle=":",
            linewidth=1,
            label="observed decay" if index == 0 else "_observed decay",
        )
    if picture.mismatch is not None:
        step, lr = picture.mismatch
        axes.plot(
            [step],
            [lr],
            linestyle="none",
            marker="X",
            markersize=9,
            color="tab:red",
            zorder=4,
            label=f"first mismatch: step {step}",
        )
    if picture.log_scale:
        axes.set_yscale("log", nonpositive="mask")
    axes.set_xlim(0, axis.to_x(picture.horizon))
    axes.set_xlabel(axis.unit)
    axes.set_ylabel("learning rate")
    axes.grid(True, alpha=0.3)
    axes.legend(fontsize="small")
    add_other_unit(axes, axis)
    # Bottom-aligned, a title of several lines grows upwards, clear of the top axis.
    font = axes.title.get_fontproperties()
    axes.set_title(fit_title(figure, picture.title, font), verticalalignment="bottom")
    return figure


__all__ = ["CheckPicture", "build_check_figure", "check_picture"]
