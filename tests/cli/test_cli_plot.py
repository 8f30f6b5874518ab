"""``plot`` and :mod:`stepsched_cli.plot`: the drawn points are the boundaries; files read back."""

from __future__ import annotations

import os
import pty
import subprocess
import sys
import time
from collections.abc import Callable
from itertools import combinations, pairwise
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from typer.testing import Result

from stepsched_cli import figure as drawing
from stepsched_cli.figure import build_figure, render
from stepsched_cli.plot import (
    COLOURS,
    Current,
    FigureSize,
    PlotError,
    XAxis,
    XUnit,
    current_marker,
    plot_horizon,
    prefers_log_scale,
    staircase,
    x_axis,
)
from stepsched_cli.schedule import Mode, StepSchedule

if TYPE_CHECKING:
    from matplotlib.figure import Figure

Invoke = Callable[..., Result]

SEED = ["--lr", "0.1", "--step-size", "30"]
SEED_SCHEDULE = StepSchedule(0.1, step_size=30)
CHECKPOINTS = Path(__file__).parent.parent / "data" / "checkpoints"
SIGNATURES = {"png": b"\x89PNG\r\n\x1a\n", "svg": b"<?xml", "pdf": b"%PDF-"}


# -- the staircase -----------------------------------------------------------


@pytest.mark.parametrize(
    ("schedule", "total", "positions", "lrs"),
    [
        (
            StepSchedule(0.1, step_size=30),
            120,
            (0, 30, 60, 90, 120),
            (0.1, 0.01, 0.001, 0.0001, 0.0001),
        ),
        (StepSchedule(0.1, step_size=30), 1, (0, 1), (0.1, 0.1)),
        (StepSchedule(0.1, step_size=30), 31, (0, 30, 31), (0.1, 0.01, 0.01)),
        (StepSchedule(0.1, milestones=(5, 7)), 100, (0, 5, 7, 100), (0.1, 0.01, 0.001, 0.001)),
        (
            StepSchedule(0.1, step_size=3, warmup_steps=2, warmup_prefix=True),
            6,
            (0, 1, 2, 5, 6),
            (0.0, 0.05, 0.1, 0.01, 0.01),
        ),
        (
            StepSchedule(0.1, step_size=3, warmup_steps=2),
            7,
            (0, 1, 2, 3, 6, 7),
            (0.0, 0.05, 0.1, 0.01, 0.001, 0.001),
        ),
        (
            StepSchedule(1.0, step_size=2, gamma=0.5, warmup_steps=5),
            9,
            (0, 1, 2, 3, 4, 5, 6, 8, 9),
            (0.0, 0.2, 0.4, 0.6, 0.8, 0.25, 0.125, 0.0625, 0.0625),
        ),
    ],
)
def test_exact_staircase(
    schedule: StepSchedule, total: int, positions: tuple[int, ...], lrs: tuple[float, ...]
) -> None:
    curve = staircase(schedule, total)
    assert curve.exact
    assert (curve.positions, curve.lrs) == (positions, lrs)


def test_decays_exclude_warmup_steps() -> None:
    curve = staircase(StepSchedule(0.1, step_size=3, warmup_steps=2, warmup_prefix=True), 9)
    assert curve.decays == ((5, 0.01), (8, 0.001))
    curve = staircase(StepSchedule(0.1, step_size=3, warmup_steps=2), 9)
    assert curve.decays == ((3, 0.01), (6, 0.001))


def test_decays_inside_the_warmup_are_marked_where_it_ends() -> None:
    curve = staircase(StepSchedule(1.0, step_size=2, gamma=0.5, warmup_steps=5), 9)
    assert curve.decays == ((5, 0.25), (6, 0.125), (8, 0.0625))


def test_sampled_staircase_is_bounded_by_the_budget() -> None:
    schedule = StepSchedule(0.1, step_size=1, gamma=0.9999999)
    curve = staircase(schedule, 10**12, budget=100)
    assert not curve.exact
    assert len(curve.positions) == 101
    assert curve.positions[0] == 0
    assert curve.positions[-2:] == (10**12 - 1, 10**12)
    assert curve.lrs[:-1] == tuple(schedule.lr_at(p) for p in curve.positions[:-1])
    assert curve.decays == ()


def test_a_sampled_staircase_keeps_its_decays_exactly() -> None:
    """A warmup of 25025 steps is sampled, but its three decays are marked and drawn
    at their exact steps (the ImageNet recipe with a five-epoch warmup, in steps)."""
    schedule = StepSchedule(0.1, milestones=(150150, 300300, 400400), warmup_steps=25025)
    curve = staircase(schedule, 450450)
    assert not curve.exact
    assert curve.decays == ((150150, 0.01), (300300, 0.001), (400400, 0.0001))
    assert curve.levels == ((25025, 0.1), *curve.decays)
    for position, lr in curve.decays:
        index = curve.positions.index(position)
        assert (curve.lrs[index - 1], curve.lrs[index]) == (lr * 10, lr)
    assert len(curve.positions) == 1600 + 3 + 1
    figure = build_figure(curve, title="t", axis=STEPS, log=True)
    markers = figure.axes[0].get_lines()[1]
    assert list(markers.get_xdata()) == [150150, 300300, 400400]


@pytest.mark.parametrize(
    ("schedule", "total", "levels"),
    [
        (SEED_SCHEDULE, 120, ((0, 0.1), (30, 0.01), (60, 0.001), (90, 0.0001))),
        (SEED_SCHEDULE, 20, ((0, 0.1),)),
        (StepSchedule(0.1, step_size=30, warmup_steps=5), 40, ((5, 0.1), (30, 0.01))),
        # Decays inside the warmup: the first level starts, decayed, where it ends.
        (StepSchedule(1.0, step_size=2, gamma=0.5, warmup_steps=5), 9,
         ((5, 0.25), (6, 0.125), (8, 0.0625))),
        # Still warming up at the horizon: no level yet.
        (StepSchedule(0.1, step_size=30, warmup_steps=50), 40, ()),
        # More decays than markers: the levels are left to the axis.
        (StepSchedule(0.1, step_size=1, gamma=0.9), 1000, ()),
    ],
)  # fmt: skip
def test_levels_start_after_the_warmup_and_at_each_decay(
    schedule: StepSchedule, total: int, levels: tuple[tuple[int, float], ...]
) -> None:
    assert staircase(schedule, total).levels == levels


def test_budget_boundary_is_exact_just_below() -> None:
    schedule = StepSchedule(0.1, step_size=1, gamma=0.5)
    assert staircase(schedule, 10, budget=10).exact
    assert not staircase(schedule, 11, budget=10).exact


def test_bad_arguments() -> None:
    with pytest.raises(ValueError, match="total"):
        staircase(StepSchedule(0.1), 0)


@pytest.mark.parametrize("total", [100, 10**12, 2**70])
def test_cost_does_not_grow_with_the_horizon(total: int) -> None:
    schedule = StepSchedule(0.1, step_size=1, gamma=0.99999999)  # ~7e10 boundaries
    started = time.perf_counter()
    curve = staircase(schedule, total)
    assert time.perf_counter() - started < 2.0
    assert len(curve.positions) <= 1601


# -- axes, horizon, scale --------------------------------------------------------


@pytest.mark.parametrize(
    ("mode", "unit", "steps_per_epoch", "expected", "x_of_200"),
    [
        ("step", None, None, XAxis("step"), 200.0),
        ("step", "step", None, XAxis("step"), 200.0),
        ("epoch", None, None, XAxis("epoch"), 200.0),
        ("step", None, 100, XAxis("step", 1, 1, "epoch", 0.01), 200.0),
        ("step", "epoch", 100, XAxis("epoch", 100, 1, "step", 100.0), 2.0),
        ("epoch", "step", 100, XAxis("step", 1, 100, "epoch", 0.01), 20000.0),
        ("epoch", "epoch", 100, XAxis("epoch", 1, 1, "step", 100.0), 200.0),
    ],
)
def test_x_axis(
    mode: Mode, unit: XUnit | None, steps_per_epoch: int | None, expected: XAxis, x_of_200: float
) -> None:
    axis = x_axis(mode, unit, steps_per_epoch)
    assert axis == expected
    assert axis.to_x(200) == x_of_200


@pytest.mark.parametrize(("mode", "unit"), [("step", "epoch"), ("epoch", "step")])
def test_x_axis_in_the_other_unit_needs_steps_per_epoch(mode: Mode, unit: XUnit) -> None:
    with pytest.raises(
        PlotError, match=f"^{unit}s on the x axis needs --steps-per-epoch$"
    ) as raised:
        x_axis(mode, unit, None)
    assert raised.value.parameter == "x"


@pytest.mark.parametrize(
    ("total", "default", "axis", "current", "horizon"),
    [
        (None, 120, XAxis("step"), None, 120),
        (50, 120, XAxis("step"), None, 50),
        (None, 120, XAxis("step"), 250, 251),
        (None, 120, XAxis("step"), 30, 120),
        (50, 120, XAxis("step"), 250, 50),
        (10**300, 120, XAxis("step"), None, 10**300),
        (10**297, 120, XAxis("step", 1, 1000, "epoch", 0.001), None, 10**297),
    ],
)
def test_plot_horizon(
    total: int | None, default: int, axis: XAxis, current: int | None, horizon: int
) -> None:
    assert plot_horizon(total, default, axis, current=current) == horizon


def test_plot_horizon_refusal_names_total() -> None:
    with pytest.raises(PlotError, match="got a number of 301 digits") as raised:
        plot_horizon(10**300 + 1, 120, XAxis("step"))
    assert raised.value.parameter == "total"


@pytest.mark.parametrize(
    ("schedules", "total", "log"),
    [
        ([StepSchedule(0.1, step_size=30)], 120, True),  # 0.1 .. 0.0001: three decades
        ([StepSchedule(0.1, step_size=30)], 60, False),  # 0.1 .. 0.01: exactly one
        ([StepSchedule(0.1, step_size=30)], 61, True),
        ([StepSchedule(0.1, step_size=30, gamma=0.5)], 120, False),  # 0.1 .. 0.0125
        ([StepSchedule(0.1, step_size=30, warmup_steps=100)], 120, False),  # the ramp
        ([StepSchedule(0.1, step_size=30, warmup_steps=5)], 126, True),
        ([StepSchedule(0.1, step_size=30, min_lr=0.05)], 10**6, False),
        ([StepSchedule(0.1, step_size=30)], 10**12, True),  # underflows to 0
        ([StepSchedule(0.1, step_size=30), StepSchedule(0.001, step_size=30)], 30, True),
    ],
)
def test_prefers_log_scale_when_the_lrs_span_more_than_a_decade(
    schedules: list[StepSchedule], total: int, log: bool
) -> None:
    assert prefers_log_scale(schedules, total) is log


@pytest.mark.parametrize(
    ("options", "parameter", "message"),
    [
        ({"width": 0.0}, "width", "width must be a finite number > 0, got 0.0"),
        ({"height": -1.0}, "height", "height must be a finite number > 0, got -1.0"),
        ({"dpi": 0}, "dpi", "dpi must be a finite number > 0, got 0"),
        *(
            (
                {"dpi": dpi},
                "dpi",
                f"dpi must be at least 36, got {dpi}: below, the smallest text is under "
                "4 pixels (and under 1 pixel it cannot be drawn at all)",
            )
            for dpi in (1, 5, 35)
        ),
        (
            {"width": 2.4},
            "width",
            "width must be at least 2.5 inches, got 2.4: a smaller figure has no room for "
            "its title, labels and curve",
        ),
        (
            {"height": 0.5},
            "height",
            "height must be at least 2 inches, got 0.5: a smaller figure has no room for "
            "its title, labels and curve",
        ),
        ({"width": float("nan")}, "width", "width must be a finite number > 0, got nan"),
        (
            {"width": 101.0},
            "width",
            "width 101 inches at 100 dpi is 10100 pixels; a figure side is at most 10000 pixels",
        ),
        (
            {"dpi": 3000},
            "width",
            "width 8 inches at 3000 dpi is 24000 pixels; a figure side is at most 10000 pixels",
        ),
    ],
)
def test_figure_size_is_bounded(options: dict[str, Any], parameter: str, message: str) -> None:
    with pytest.raises(PlotError) as raised:
        FigureSize(**options)
    assert (raised.value.parameter, str(raised.value)) == (parameter, message)


# -- the figure --------------------------------------------------------------

STEPS = XAxis("step")


def drawn(figure: Figure) -> Figure:
    """``figure`` after a draw: text extents and the layout are final."""
    figure.canvas.draw()
    return figure


def test_figure_step_points_are_the_boundaries() -> None:
    schedule = StepSchedule(0.1, step_size=30)
    figure = build_figure(staircase(schedule, 120), title="t", axis=STEPS)
    axes = figure.axes[0]
    curve_line, markers = axes.get_lines()
    assert curve_line.get_drawstyle() == "steps-post"
    assert list(curve_line.get_xdata()) == [0, 30, 60, 90, 120]
    assert list(curve_line.get_ydata()) == [0.1, 0.01, 0.001, 0.0001, 0.0001]
    assert list(markers.get_xdata()) == list(schedule.boundaries(0, 120))
    assert list(markers.get_ydata()) == [0.01, 0.001, 0.0001]
    assert axes.get_title() == "t"
    assert axes.get_xlabel() == "step"
    assert axes.get_yscale() == "linear"
    assert axes.child_axes == []  # one unit known: no secondary axis
    assert axes.get_legend() is None


def test_figure_log_axis_and_unit_conversion() -> None:
    curve = staircase(StepSchedule(0.1, step_size=2, mode="epoch"), 4)
    axis = x_axis("epoch", "step", 10)
    figure = build_figure(curve, title="t", axis=axis, log=True)
    axes = figure.axes[0]
    assert axes.get_yscale() == "log"
    assert list(axes.get_lines()[0].get_xdata()) == [0.0, 20.0, 40.0]
    assert axes.get_xlim() == (0.0, 40.0)


@pytest.mark.parametrize(
    ("axis", "bottom", "top", "top_ticks"),
    [
        (x_axis("step", None, 30), "step", "epoch", [0.0, 0.5, 1.0, 1.5, 2.0, 2.5, 3.0, 3.5, 4.0]),
        (x_axis("step", "epoch", 30), "epoch", "step", [0.0, 20.0, 40.0, 60.0, 80.0, 100.0, 120.0]),
    ],
)
def test_figure_secondary_axis_in_the_other_unit(
    axis: XAxis, bottom: str, top: str, top_ticks: list[float]
) -> None:
    figure = drawn(build_figure(staircase(SEED_SCHEDULE, 120), title="t", axis=axis))
    axes = figure.axes[0]
    (secondary,) = axes.child_axes
    assert (axes.get_xlabel(), secondary.get_xlabel()) == (bottom, top)
    visible = [tick for tick in secondary.get_xticks() if top_ticks[0] <= tick <= top_ticks[-1]]
    assert visible == top_ticks


def test_figure_marks_the_current_position() -> None:
    schedule = StepSchedule(0.1, step_size=100, gamma=0.97)
    current = current_marker(schedule, 250, 400)
    assert current == Current(250, schedule.lr_at(250), "step")
    figure = build_figure(
        staircase(schedule, 400), title="t", axis=x_axis("step", "epoch", 100), current=current
    )
    axes = figure.axes[0]
    marker = axes.get_lines()[-1]
    assert (list(marker.get_xdata()), list(marker.get_ydata())) == ([2.5], [schedule.lr_at(250)])
    assert marker.get_label() == "now: step 250"
    legend = axes.get_legend()
    assert legend is not None
    assert [text.get_text() for text in legend.get_texts()] == ["lr", "decay", "now: step 250"]


@pytest.mark.parametrize(("position", "total"), [(None, 400), (400, 400), (10**6, 400)])
def test_no_marker_outside_the_plot(position: int | None, total: int) -> None:
    assert current_marker(SEED_SCHEDULE, position, total) is None


def test_sampled_figure_has_no_markers() -> None:
    curve = staircase(StepSchedule(0.1, step_size=1, gamma=0.999), 10**6)
    assert len(build_figure(curve, title="t", axis=STEPS).axes[0].get_lines()) == 1


def label_texts(figure: Figure) -> list[tuple[str, str]]:
    """The level labels on the axes: (text, colour), in drawing order."""
    return [(text.get_text(), text.get_color()) for text in figure.axes[0].texts]


def test_each_level_is_labelled_once_in_its_curves_colour() -> None:
    """An identical compared curve adds no label; a new level adds one in its colour."""
    same = staircase(SEED_SCHEDULE, 120)
    halved = staircase(SEED_SCHEDULE.replace(gamma=0.5), 120)
    compare = [("gamma=0.1", same), ("gamma=0.5", halved)]
    figure = build_figure(same, title="t", axis=STEPS, log=True, compare=compare)
    assert label_texts(figure) == [
        ("0.1", "tab:blue"),
        ("0.01", "tab:blue"),
        ("0.001", "tab:blue"),
        ("0.0001", "tab:blue"),
        ("0.05", "tab:green"),
        ("0.025", "tab:green"),
        ("0.0125", "tab:green"),
    ]
    legend = figure.axes[0].get_legend()
    assert legend is not None
    assert [text.get_text() for text in legend.get_texts()][:3] == [
        "lr",
        "gamma=0.1 (same as the first)",
        "gamma=0.5",
    ]
    # The first curve is drawn over the others, which are wider: an equal one shows.
    base, _, equal, *_ = figure.axes[0].get_lines()
    assert base.get_zorder() > equal.get_zorder()
    assert equal.get_linewidth() > base.get_linewidth()


def test_with_more_levels_than_labels_the_highest_and_last_are_labelled() -> None:
    curve = staircase(StepSchedule(0.1, step_size=5, gamma=0.5), 120)
    assert len(curve.levels) == 24
    figure = build_figure(curve, title="t", axis=STEPS, log=True)
    assert label_texts(figure) == [("0.1", "tab:blue"), ("1.19e-8", "tab:blue")]
    # The last level starts at step 115 of 120: its label reads leftwards, inside the axes.
    alignments = [text.get_horizontalalignment() for text in figure.axes[0].texts]
    assert alignments == ["left", "right"]


def test_an_lr_of_zero_on_a_log_axis_runs_along_the_bottom() -> None:
    """--total 10**12 of the seed: the lr underflows to 0 at step 9690 and stays there.
    The y axis ends half a decade above 0.1 (never at 1e13), and the run at 0 is drawn
    along the bottom edge, labelled 0."""
    curve = staircase(SEED_SCHEDULE, 10**12)
    figure = build_figure(curve, title="t", axis=STEPS, log=True)
    axes = figure.axes[0]
    low, high = axes.get_ylim()
    assert 0.1 < high <= 0.1 * 10**0.5
    assert 0 < low < 1e-300
    zero_run = axes.get_lines()[-1]
    assert zero_run.get_transform() == axes.get_xaxis_transform()
    assert (list(zero_run.get_xdata()), list(zero_run.get_ydata())) == ([9690, 10**12], [0, 0])
    assert label_texts(figure) == [("0.1", "tab:blue"), ("0", "tab:blue")]


def test_a_log_axis_with_no_positive_lr_still_draws_the_zero_run() -> None:
    """--log --total 1 of a warmup from 0: the one lr drawn is 0."""
    curve = staircase(StepSchedule(0.1, step_size=30, warmup_steps=5), 1)
    assert curve.lrs == (0.0, 0.0)
    axes = build_figure(curve, title="t", axis=STEPS, log=True).axes[0]
    assert axes.get_ylim() == (0.1, 1.0)
    assert list(axes.get_lines()[-1].get_xdata()) == [0, 1]


def test_a_two_line_title_stays_clear_of_the_top_axis_label() -> None:
    figure = build_figure(
        staircase(SEED_SCHEDULE, 120), title=LONG_TITLE, axis=x_axis("step", None, 30)
    )
    render(figure, "png")
    axes = figure.axes[0]
    (secondary,) = axes.child_axes
    title = axes.title.get_window_extent()
    assert axes.get_title().count("\n") == 1
    assert title.y0 >= secondary.xaxis.label.get_window_extent().y1


def test_level_labels_that_would_overlap_are_left_out() -> None:
    """At the smallest figure, decays 8 steps apart leave no room for every label."""
    curve = staircase(StepSchedule(0.1, step_size=8, gamma=0.5), 120)
    figure = build_figure(curve, title="t", axis=STEPS, size=FigureSize(2.5, 2.0, 100))
    assert len(figure.axes[0].texts) == 15
    render(figure, "png")
    boxes = [text.get_window_extent() for text in figure.axes[0].texts]
    assert 1 < len(boxes) < 15
    assert not any(box.overlaps(other) for box, other in combinations(boxes, 2))


def test_a_figure_its_text_would_squash_is_refused() -> None:
    figure = build_figure(
        staircase(SEED_SCHEDULE, 120), title=LONG_TITLE * 2, axis=STEPS, size=FigureSize(2.5, 2.0)
    )
    with pytest.raises(PlotError) as raised:
        render(figure, "png")
    assert raised.value.parameter == "height"
    assert str(raised.value).startswith("a 2.5 x 2 inch figure has no room for this title")


LONG_TITLE = (
    "lr=0.1, milestones=30,60,80, gamma=0.1, warmup_steps=5, warmup_start_lr=0.001, "
    "min_lr=1e-05, mode=epoch"
)


@pytest.mark.parametrize(
    ("size", "lines"),
    [
        (FigureSize(), 2),
        (FigureSize(width=4.0, height=3.0), 4),
        (FigureSize(width=16.0, height=4.0, dpi=50), 1),
        (FigureSize(width=4.0, height=3.0, dpi=300), 4),
    ],
)
def test_a_long_title_is_wrapped_inside_the_figure(size: FigureSize, lines: int) -> None:
    figure = drawn(
        build_figure(staircase(SEED_SCHEDULE, 120), title=LONG_TITLE, axis=STEPS, size=size)
    )
    title = figure.axes[0].title
    assert title.get_text().count("\n") + 1 == lines
    assert title.get_text().replace("\n", " ") == LONG_TITLE
    extent = title.get_window_extent()
    assert 0 <= extent.x0 < extent.x1 <= figure.bbox.width
    assert extent.y1 <= figure.bbox.height
    assert (figure.bbox.width, figure.bbox.height) == (
        size.width * size.dpi,
        size.height * size.dpi,
    )


@pytest.mark.parametrize("image_format", ["png", "svg", "pdf"])
def test_render_signatures(image_format: str) -> None:
    figure = build_figure(staircase(StepSchedule(0.1), 120), title="t", axis=STEPS)
    data = render(figure, image_format)
    assert data.startswith(SIGNATURES[image_format])


def test_render_refuses_other_formats() -> None:
    figure = build_figure(staircase(StepSchedule(0.1), 120), title="t", axis=STEPS)
    with pytest.raises(ValueError, match="image format"):
        render(figure, "gif")


# -- the command -------------------------------------------------------------


@pytest.fixture
def figures(monkeypatch: pytest.MonkeyPatch) -> list[Figure]:
    """The figures ``plot -o`` renders, kept for their matplotlib objects."""
    kept: list[Figure] = []

    def keep(figure: Figure, image_format: str) -> bytes:
        kept.append(figure)
        return render(figure, image_format)

    monkeypatch.setattr(drawing, "render", keep)
    return kept


@pytest.mark.parametrize("extension", ["png", "svg", "pdf", "PNG"])
def test_plot_writes_each_format(run: Invoke, tmp_path: Path, extension: str) -> None:
    target = tmp_path / f"lr.{extension}"
    result = run("plot", *SEED, "--total", "120", "-o", str(target))
    assert result.exit_code == 0, result.stderr
    assert result.stdout == ""
    kind = extension.lower()
    assert result.stderr == (
        f"wrote {target}: lr=0.1, step_size=30, gamma=0.1, steps 0-119 "
        f"({kind}, log lr axis, exact)\n"
    )
    data = target.read_bytes()
    assert data.startswith(SIGNATURES[kind])
    assert len(data) > 1000


def png_size(path: Path) -> tuple[int, int]:
    header = path.read_bytes()[16:24]
    return int.from_bytes(header[:4], "big"), int.from_bytes(header[4:], "big")


@pytest.mark.parametrize(
    ("args", "size"),
    [
        ([], (800, 450)),
        (["--width", "4", "--height", "3"], (400, 300)),
        (["--dpi", "200"], (1600, 900)),
        (["--width", "6.5", "--height", "2", "--dpi", "50"], (325, 100)),
    ],
)
def test_plot_png_size(run: Invoke, tmp_path: Path, args: list[str], size: tuple[int, int]) -> None:
    target = tmp_path / "lr.png"
    assert run("plot", *SEED, *args, "-o", str(target)).exit_code == 0
    assert png_size(target) == size


def test_plot_as_typed_twice_replaces_the_image(
    run: Invoke, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An image is regenerable output: the same command runs twice, like any plotting tool."""
    monkeypatch.chdir(tmp_path)
    first = run("plot", *SEED, "-o", "lr.png")
    assert first.exit_code == 0, first.stderr
    image = (tmp_path / "lr.png").read_bytes()
    second = run("plot", *SEED, "-o", "lr.png")
    assert (second.exit_code, second.stderr) == (0, first.stderr)
    assert (tmp_path / "lr.png").read_bytes() == image
    assert sorted(path.name for path in tmp_path.iterdir()) == ["lr.png"]


@pytest.mark.parametrize("force", [[], ["--force"]])
def test_plot_replaces_an_existing_file(run: Invoke, tmp_path: Path, force: list[str]) -> None:
    """--force is still accepted (older scripts) and changes nothing."""
    target = tmp_path / "lr.svg"
    target.write_text("old")
    result = run("plot", *SEED, "-o", str(target), *force)
    assert result.exit_code == 0, result.stderr
    assert target.read_bytes().startswith(b"<?xml")


def test_plot_to_stdout_is_png(run: Invoke) -> None:
    result = run("plot", *SEED, "-o", "-")
    assert (result.exit_code, result.stderr) == (0, "")
    assert result.stdout_bytes.startswith(SIGNATURES["png"])


def test_plot_png_to_a_terminal_is_refused(tmp_path: Path) -> None:
    """``-o -`` with stdout on a terminal: one line, exit 2, no bytes on the terminal."""
    primary, secondary = pty.openpty()
    try:
        process = subprocess.run(
            [sys.executable, "-m", "stepsched_cli", "plot", *SEED, "-o", "-"],
            stdout=secondary,
            stderr=subprocess.PIPE,
            cwd=tmp_path,
            env={**os.environ, "NO_COLOR": "1", "COLUMNS": "200"},
            check=False,
            timeout=60,
        )
        os.set_blocking(primary, False)
        try:
            written = os.read(primary, 4096)
        except BlockingIOError:
            written = b""
    finally:
        os.close(primary)
        os.close(secondary)
    assert process.returncode == 2
    assert process.stderr.decode() == (
        "stepsched: error: Invalid value for '--output': - writes png bytes to stdout, which "
        "is a terminal; redirect it (-o - > lr.png) or give a file name "
        "(see 'stepsched plot --help')\n"
    )
    assert written == b""


@pytest.mark.parametrize(
    ("args", "scale", "said"),
    [
        ([], "log", "log lr axis"),
        (["--total", "60"], "linear", "linear lr axis"),
        (["--linear"], "linear", "linear lr axis"),
        (["--total", "60", "--log"], "log", "log lr axis"),
        (["--gamma", "0.5"], "linear", "linear lr axis"),
    ],
)
def test_plot_chooses_the_lr_axis_from_the_data(
    run: Invoke, tmp_path: Path, figures: list[Figure], args: list[str], scale: str, said: str
) -> None:
    result = run("plot", *SEED, *args, "-o", str(tmp_path / "lr.png"))
    assert result.exit_code == 0, result.stderr
    (figure,) = figures
    assert figure.axes[0].get_yscale() == scale
    assert f"(png, {said}, exact)" in result.stderr


def test_plot_seed_png_shows_all_four_levels(
    run: Invoke, tmp_path: Path, figures: list[Figure]
) -> None:
    """The design card's command as typed: every level sits inside the visible y range."""
    assert run("plot", *SEED, "-o", str(tmp_path / "lr.png")).exit_code == 0
    axes = figures[0].axes[0]
    low, high = axes.get_ylim()
    levels = [0.1, 0.01, 0.001, 0.0001]
    assert all(low < level < high for level in levels)
    # On the log axis the levels are evenly spaced on the page, not squashed onto 0.
    pixels = [axes.transData.transform((10, level))[1] for level in levels]
    gaps = [upper - lower for upper, lower in pairwise(pixels)]
    assert max(gaps) - min(gaps) < 1
    assert min(gaps) > 50


def test_plot_title_size_and_secondary_axis_from_options(
    run: Invoke, tmp_path: Path, figures: list[Figure]
) -> None:
    args = ["--title", "ResNet-50", "--steps-per-epoch", "10", "--width", "5", "--dpi", "80"]
    assert run("plot", *SEED, *args, "-o", str(tmp_path / "lr.png")).exit_code == 0
    (figure,) = figures
    axes = figure.axes[0]
    assert axes.get_title() == "ResNet-50"
    assert [child.get_xlabel() for child in axes.child_axes] == ["epoch"]
    assert (figure.get_figwidth(), figure.get_dpi()) == (5.0, 80.0)


def test_plot_compare_lines_are_labelled_and_marked(
    run: Invoke, tmp_path: Path, figures: list[Figure]
) -> None:
    args = ["--compare", "gamma=0.5", "--compare", "lr=0.05,step_size=20"]
    result = run("plot", *SEED, *args, "-o", str(tmp_path / "lr.png"))
    assert result.exit_code == 0, result.stderr
    axes = figures[0].axes[0]
    lines = axes.get_lines()
    labels = [line.get_label() for line in lines]
    assert labels == [
        "lr=0.1, step_size=30, gamma=0.1",
        "decay",
        "gamma=0.5",
        "_decay",
        "lr=0.05,step_size=20",
        "_decay",
    ]
    # Decay markers on every line, in that line's colour.
    assert list(lines[3].get_xdata()) == [30, 60, 90]
    assert list(lines[3].get_ydata()) == [0.05, 0.025, 0.0125]
    assert list(lines[5].get_xdata()) == [20, 40, 60, 80, 100]
    assert [lines[i].get_color() for i in (2, 3)] == ["tab:orange", "tab:orange"]
    legend = axes.get_legend()
    assert legend is not None
    assert [text.get_text() for text in legend.get_texts()] == [
        "lr=0.1, step_size=30, gamma=0.1",
        "gamma=0.5",
        "lr=0.05,step_size=20",
        "decay",
    ]
    # The one "decay" entry shows the dots of every curve, each in its colour.
    from matplotlib.offsetbox import DrawingArea

    *_, decay_sample = legend.findobj(match=DrawingArea)
    assert [dots.get_color() for dots in decay_sample.get_children()] == list(COLOURS[:3])


def test_plot_from_a_checkpoint_marks_the_current_step(
    run: Invoke, tmp_path: Path, figures: list[Figure]
) -> None:
    target = tmp_path / "lr.png"
    result = run("plot", "--state", str(CHECKPOINTS / "lightning.ckpt"), "-o", str(target))
    assert result.exit_code == 0, result.stderr
    assert result.stderr == (
        f"wrote {target}: lr=0.1, step_size=100, gamma=0.97, steps 0-399 "
        "(png, linear lr axis, exact, now at step 250)\n"
    )
    marker = figures[0].axes[0].get_lines()[-1]
    assert (marker.get_label(), list(marker.get_xdata())) == ("now: step 250", [250.0])


def test_plot_default_horizon_reaches_the_current_step(
    run: Invoke, tmp_path: Path, figures: list[Figure]
) -> None:
    state = tmp_path / "run.json"
    assert run("init", *SEED, "-o", str(state)).exit_code == 0
    assert run("plot", "--state", str(state), "-o", str(tmp_path / "lr.png")).exit_code == 0
    assert figures[0].axes[0].get_xlim() == (0.0, 120.0)


def test_plot_huge_horizon_is_fast(run: Invoke, tmp_path: Path) -> None:
    target = tmp_path / "big.png"
    started = time.perf_counter()
    result = run(
        "plot", "--lr", "0.1", "--step-size", "1", "--gamma", "0.99999999",
        "--total", str(10**12), "--log", "-o", str(target),
    )  # fmt: skip
    assert time.perf_counter() - started < 10
    assert result.exit_code == 0, result.stderr
    assert "sampled at 1600 positions" in result.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ([*SEED, "-o", "lr.gif"], "Invalid value for '--output': the file name must end in .png"),
        ([*SEED, "-o", "lr"], "Invalid value for '--output'"),
        ([*SEED, "--force"], "Invalid value for '--force': applies to a file written with -o"),
        ([*SEED, "--width", "4"], "Invalid value for '--width': applies to a file written with -o"),
        ([*SEED, "--dpi", "300"], "Invalid value for '--dpi': applies to a file written with -o"),
        ([*SEED, "--log", "--linear"], "Invalid value for '--linear': give either --log or"),
        (
            [*SEED, "--dpi", "0", "-o", "lr.png"],
            "Invalid value for '--dpi': dpi must be a finite number > 0",
        ),
        (
            [*SEED, "--width", "200", "-o", "lr.png"],
            "Invalid value for '--width': width 200 inches",
        ),
        (
            [*SEED, *["--compare", "gamma=0.5"] * 4],
            "Invalid value for '--compare': the terminal draws at most 3; write a file with -o",
        ),
        (
            [*SEED, "--compare", "mode=epoch", "-o", "lr.png"],
            "Invalid value for '--compare': cannot compare a step-mode schedule with an epoch-mode "
            "one: their positions count different units; give both the same mode "
            "(see 'stepsched plot --help')\n",
        ),
        *(
            (
                [*SEED, "--dpi", str(dpi), "-o", f"lr.{extension}"],
                f"Invalid value for '--dpi': dpi must be at least 36, got {dpi}: below, the "
                "smallest text is under 4 pixels (and under 1 pixel it cannot be drawn at all) "
                "(see 'stepsched plot --help')\n",
            )
            for dpi in range(1, 6)
            for extension in ("png", "svg")
        ),
        (
            [*SEED, "--height", "1", "-o", "lr.pdf"],
            "Invalid value for '--height': height must be at least 2 inches, got 1",
        ),
        (
            [*SEED, "--width", "2.5", "--height", "2", "--title", "x " * 200, "-o", "lr.png"],
            "Invalid value for '--height': a 2.5 x 2 inch figure has no room for this "
            "title, its labels and legend; give a larger --width or --height (or a shorter "
            "--title) (see 'stepsched plot --help')\n",
        ),
        (
            [*SEED, *["--compare", "gamma=0.5"] * 6, "-o", "lr.png"],
            "Invalid value for '--compare': a picture compares at most 5 schedules with the base "
            "(one colour each), got 6 (see 'stepsched plot --help')\n",
        ),
        ([*SEED, "--x", "epochs", "-o", "lr.png"], "Invalid value for '--x': epochs on the x axis"),
        ([*SEED, "--x", "days", "-o", "lr.png"], "Invalid value for '--x'"),
        (["--lr", "-1", "-o", "lr.png"], "Invalid value for '--lr'"),
    ],
)
def test_plot_usage_errors(
    run: Invoke, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, args: list[str], message: str
) -> None:
    """One line naming the option (no library warning), and no file written."""
    monkeypatch.chdir(tmp_path)
    result = run("plot", *args)
    assert result.exit_code == 2
    assert result.stderr.startswith("stepsched: error: " + message), result.stderr
    assert result.stderr.count("\n") == 1
    assert list(tmp_path.iterdir()) == []


def test_plot_x_in_epochs(run: Invoke, tmp_path: Path) -> None:
    target = tmp_path / "lr.png"
    args = [*SEED, "--steps-per-epoch", "30", "--x", "epochs", "-o", str(target)]
    assert run("plot", *args).exit_code == 0


@pytest.mark.parametrize("unit", ["epoch", "Epoch", " epochs "])
def test_plot_x_takes_the_words_mode_takes(run: Invoke, unit: str) -> None:
    """--x epoch draws the same axis as --x epochs (in epochs, labelled so)."""
    args = [*SEED, "--steps-per-epoch", "30"]
    plural = run("plot", *args, "--x", "epochs")
    drawn = run("plot", *args, "--x", unit)
    assert drawn.exit_code == plural.exit_code == 0
    assert drawn.stdout == plural.stdout
    assert plural.stdout.splitlines()[-1].split()[-3:] == ["3", "3.5", "epoch"]


def test_plot_into_a_missing_folder_is_a_file_error(run: Invoke, tmp_path: Path) -> None:
    result = run("plot", *SEED, "-o", str(tmp_path / "missing" / "lr.png"))
    assert result.exit_code == 1
    assert result.stderr.startswith(
        f"stepsched: error: {tmp_path}/missing/lr.png: cannot be written"
    )


HUGE = str(10**400)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--lr", "0.1", "--total", HUGE],
         "must be an integer from 1 to 10**300 for a plot, got a number of 401 digits"),
        (["--lr", "0.1", "--total", HUGE, "-o", "lr.png"],
         "must be an integer from 1 to 10**300 for a plot, got a number of 401 digits"),
        (["--lr", "0.1", "--total", str(10**300 + 1)],
         "must be an integer from 1 to 10**300 for a plot, got a number of 301 digits"),
        (["--lr", "0.1", "--step-size", HUGE],
         "the default horizon (one interval past the third decay) is a number of 401 digits; "
         "a plot draws at most 10**300 positions (it places them as floats): give --total "
         "from 1 to 10**300"),
        (["--lr", "0.1", "--mode", "epoch", "--steps-per-epoch", "1000", "--x", "steps",
          "--total", str(10**299), "-o", "lr.png"],
         "with --x steps the plot spans a number of 303 digits steps (a number of 300 digits "
         "epochs); a plot draws at most 10**300 positions (it places them as floats)"),
    ],
)  # fmt: skip
def test_plot_total_is_bounded(
    run: Invoke, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, args: list[str], message: str
) -> None:
    monkeypatch.chdir(tmp_path)
    result = run("plot", *args)
    assert (result.exit_code, result.stdout) == (2, "")
    assert result.stderr == (
        f"stepsched: error: Invalid value for '--total': {message} (see 'stepsched plot --help')\n"
    )
    assert not (tmp_path / "lr.png").exists()


def test_plot_at_the_total_bound_draws(run: Invoke) -> None:
    result = run("plot", "--lr", "0.1", "--total", str(10**300))
    assert result.exit_code == 0, result.stderr
    assert result.stdout.splitlines()[-1].split()[:2] == ["0", "1e+299"]


LAST = str(10**400 - 1)


@pytest.mark.parametrize(
    ("args", "last_line"),
    [
        (["table", "--lr", "0.1", "--total", HUGE, "-f", "csv"], f"9690,{LAST},0.0"),
        (["table", "--lr", "0.1", "--total", HUGE, "--every", HUGE, "-f", "csv"], "0,0.1"),
        (["at", HUGE, "--lr", "0.1", "--json"], '  "next_lr": null'),
        (["boundaries", "--lr", "0.1", "--total", HUGE, "-f", "csv"], "9690,1e-323,0.0"),
        (["diff", "lr=0.2", "--lr", "0.1", "--total", HUGE, "-f", "csv"],
         "9660,9689,1e-323,2e-323,2.0"),
    ],
)  # fmt: skip
def test_integer_commands_take_huge_positions(run: Invoke, args: list[str], last_line: str) -> None:
    """Only pictures need floats: the listings work for any integer horizon."""
    result = run(*args)
    assert result.exit_code == 0, result.stderr
    assert result.stdout.splitlines()[-2 if args[0] == "at" else -1] == last_line
