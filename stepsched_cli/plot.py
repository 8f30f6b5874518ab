"""Pictures of a schedule: what to draw, on which axes, and a matplotlib Figure of it.

The decisions every picture shares live here, free of matplotlib, so that the
terminal plot (:mod:`stepsched_cli.termplot`) and the image files agree:

* :func:`x_axis` - the x unit (steps or epochs) and how positions map to it;
* :func:`plot_horizon` - the positions drawn, bounded where floats stop placing them;
* :func:`prefers_log_scale` - a log lr axis when the lrs span more than a decade;
* :func:`staircase` - the exact step curve, in ``O(min(changes, budget))`` lr
  evaluations, never ``O(horizon)``: while the lr changes fewer than ``budget`` times
  in the plotted range every change point is drawn exactly; beyond that the lr is
  sampled at ``budget`` evenly spaced positions (about two per pixel column), which is
  all a picture can show.  A horizon of 10**12 positions costs the same as a hundred.

:func:`build_figure` uses matplotlib's object API (``Figure``, never ``pyplot``: no
global state, no GUI backend), imported inside the function so that importing this
module stays cheap.
"""

from __future__ import annotations

import io
import textwrap
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import chain, islice
from typing import TYPE_CHECKING, Any, Literal

from stepsched_cli.errors import StepschedError
from stepsched_cli.schedule import Mode, StepSchedule

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

IMAGE_FORMATS = ("png", "svg", "pdf")
# The default figure: 8 x 4.5 inches at 100 dpi, 800 x 450 pixels.
DEFAULT_WIDTH = 8.0
DEFAULT_HEIGHT = 4.5
DEFAULT_DPI = 100
# A figure side is at most this many pixels (a 10000 x 10000 RGBA image is 400 MB).
MAX_PIXELS = 10_000
# Decay markers are drawn while a curve has at most this many (beyond, they are a smear).
MAX_MARKERS = 200
# The colours of the curves, in order (the first is the base schedule).
COLOURS = ("tab:blue", "tab:orange", "tab:green", "tab:purple", "tab:brown", "tab:pink")
# Pictures place positions as floats (axes, ticks, matplotlib): the largest horizon a
# plot accepts, with room below the float limit (1.8e308) for the tick arithmetic.
MAX_PLOT_TOTAL = 10**300
MAX_PLOT_TOTAL_TEXT = "10**300"
# The lrs span "more than a decade" when the largest is more than this times the smallest.
LOG_SCALE_RATIO = 10.0

XUnit = Literal["step", "epoch"]


class PlotError(StepschedError, ValueError):
    """A picture cannot be drawn as asked; ``parameter`` names what to change."""

    parameter: str

    def __init__(self, message: str, *, parameter: str) -> None:
        super().__init__(message, parameter=parameter)


# -- the axes ----------------------------------------------------------------


@dataclass(frozen=True)
class XAxis:
    """How schedule positions map to the x axis.

    Attributes:
        unit: What the x axis counts: ``"step"`` or ``"epoch"``.
        positions_per_unit: Positions in one x unit (a step-mode schedule drawn in
            epochs: the steps per epoch), else 1.
        units_per_position: X units in one position (an epoch-mode schedule drawn in
            steps: the steps per epoch), else 1.
        other_unit: The other unit, when the steps per epoch are known (a secondary
            axis can show it), else None.
        other_per_unit: How many ``other_unit`` one x unit is (``1/steps_per_epoch``
            from steps to epochs, ``steps_per_epoch`` from epochs to steps).

    Example:
        >>> axis = x_axis("step", "epoch", steps_per_epoch=100)
        >>> axis.to_x(250), axis.other_unit, axis.other_per_unit
        (2.5, 'step', 100.0)
    """

    unit: XUnit
    positions_per_unit: int = 1
    units_per_position: int = 1
    other_unit: XUnit | None = None
    other_per_unit: float = 1.0

    def to_x(self, position: int) -> float:
        """The x coordinate of ``position``."""
        if self.positions_per_unit == 1:
            return float(position * self.units_per_position)
        return position / self.positions_per_unit

    def span_text(self, mode: Mode, horizon: int) -> str:
        """What positions ``0..horizon-1`` of a ``mode`` schedule cover on this axis, in
        its unit, then in the schedule's when the two differ (the last x is the step or
        epoch the last position falls in).

        Example:
            >>> x_axis("epoch", "step", steps_per_epoch=5005).span_text("epoch", 90)
            'steps 0-450449 (epochs 0-89)'
            >>> x_axis("step", "epoch", steps_per_epoch=5005).span_text("step", 450450)
            'epochs 0-89 (steps 0-450449)'
        """
        own = f"{mode}s 0-{horizon - 1}"
        if self.unit == mode:
            return own
        last = (horizon * self.units_per_position - 1) // self.positions_per_unit
        return f"{self.unit}s 0-{last} ({own})"


def x_axis(mode: Mode, unit: XUnit | None, steps_per_epoch: int | None) -> XAxis:
    """The x axis of a ``mode`` schedule drawn in ``unit`` (None: the schedule's own).

    Raises:
        PlotError: the other unit than ``mode`` without ``steps_per_epoch``
            (``parameter="x"``).
    """
    unit = unit or mode
    if unit != mode and steps_per_epoch is None:
        raise PlotError(f"{unit}s on the x axis needs --steps-per-epoch", parameter="x")
    if steps_per_epoch is None:
        return XAxis(unit)
    if unit == "epoch":
        positions = steps_per_epoch if mode == "step" else 1
        return XAxis(unit, positions, 1, "step", float(steps_per_epoch))
    units = steps_per_epoch if mode == "epoch" else 1
    return XAxis(unit, 1, units, "epoch", 1 / steps_per_epoch)


def describe_count(number: int) -> str:
    """A number in a message: in full, or its digit count when it is too long to read.

    Example:
        >>> describe_count(120), describe_count(10**40)
        ('120', 'a number of 41 digits')
    """
    text = str(number)
    return text if len(text) <= 30 else f"a number of {len(text)} digits"


def plot_horizon(
    total: int | None, default: int, axis: XAxis, *, current: int | None = None
) -> int:
    """The positions to draw: ``total``, or ``default``; refused past :data:`MAX_PLOT_TOTAL`.

    Args:
        total: The horizon asked for (``--total``), or None.
        default: The horizon used without ``total``.
        axis: The x axis: an epoch-mode schedule drawn in steps spans more x units.
        current: A run's current position: without ``total`` the plot reaches it.

    Raises:
        PlotError: the horizon, in the x axis's unit, exceeds the bound
            (``parameter="total"``).
    """
    if total is None and current is not None:
        default = max(default, current + 1)
    horizon = total if total is not None else default
    drawn = horizon * axis.units_per_position
    if drawn <= MAX_PLOT_TOTAL:
        return horizon
    accepted = f"a plot draws at most {MAX_PLOT_TOTAL_TEXT} positions (it places them as floats)"
    if total is None:
        message = (
            f"the default horizon (one interval past the third decay) is {describe_count(horizon)}"
            f"; {accepted}: give --total from 1 to {MAX_PLOT_TOTAL_TEXT}"
        )
    elif drawn != horizon:
        message = (
            f"with --x steps the plot spans {describe_count(drawn)} steps "
            f"({describe_count(horizon)} epochs); {accepted}"
        )
    else:
        message = (
            f"must be an integer from 1 to {MAX_PLOT_TOTAL_TEXT} for a plot, "
            f"got {describe_count(total)}"
        )
    raise PlotError(message, parameter="total")


def prefers_log_scale(schedules: Sequence[StepSchedule], total: int) -> bool:
    """Whether the decayed lrs in ``0..total-1`` span more than a decade (O(1) per schedule).

    The decay levels decide, not a warmup ramp (which starts near 0 and would always
    look like a wide span).  After the warmup a step schedule never rises, so its
    highest decayed lr is at the end of the warmup and its lowest at ``total - 1``.
    An lr that reaches 0 (underflow) spans every decade.

    Example:
        >>> seed = StepSchedule(0.1, step_size=30)
        >>> prefers_log_scale([seed], 120), prefers_log_scale([seed], 60)
        (True, False)
    """
    highest, lowest = 0.0, float("inf")
    for schedule in schedules:
        highest = max(highest, schedule.lr_at(min(schedule.warmup_steps, total - 1)))
        lowest = min(lowest, schedule.lr_at(total - 1))
    if lowest <= 0:
        return highest > 0
    return highest > LOG_SCALE_RATIO * lowest


# -- the staircase -------------------------------------------------------------


@dataclass(frozen=True)
class Staircase:
    """The step curve to draw over positions ``0..total-1``.

    Attributes:
        positions: Where each constant piece starts (the first is 0), then ``total``
            (the right edge of the last position).
        lrs: The lr from each of ``positions`` on (the last repeats the one before).
        decays: ``(position, lr after)`` of every decay boundary drawn exactly; empty
            when the curve is sampled.
        exact: Whether every change point is drawn (False: sampled at ``budget``
            evenly spaced positions).
    """

    positions: tuple[int, ...]
    lrs: tuple[float, ...]
    decays: tuple[tuple[int, float], ...]
    exact: bool


def staircase(
    schedule: StepSchedule, total: int, budget: int = int(2 * DEFAULT_WIDTH * DEFAULT_DPI)
) -> Staircase:
    """The staircase of ``schedule`` over positions ``0..total-1``, in ``O(budget)`` work.

    Args:
        schedule: The schedule to draw.
        total: The number of positions covered, >= 1.
        budget: The most pieces to draw, >= 2 (about two per pixel column).

    Example:
        >>> curve = staircase(StepSchedule(0.1, step_size=30), total=120)
        >>> curve.positions, curve.lrs
        ((0, 30, 60, 90, 120), (0.1, 0.01, 0.001, 0.0001, 0.0001))
    """
    if total < 1 or budget < 2:
        raise ValueError(f"total must be >= 1 and budget >= 2, got {total} and {budget}")
    warmup_end = min(schedule.warmup_steps, total - 1)
    # Every position after 0 where the lr may change: each warmup step, then each decay.
    changes = chain(range(1, warmup_end + 1), schedule.boundaries(warmup_end + 1, total))
    found = list(islice(changes, budget))
    if len(found) < budget:
        starts = (0, *found)
        lrs = tuple(schedule.lrs_at(starts))
        # The end of the warmup is a decay too when decays inside it take effect there.
        first_decay = schedule.next_boundary(schedule.warmup_steps - 1 if warmup_end else 0)
        decays = tuple(
            (position, lr)
            for position, lr in zip(starts, lrs, strict=True)
            if first_decay is not None and position >= first_decay
        )
        return Staircase((*starts, total), (*lrs, lrs[-1]), decays, exact=True)
    last = total - 1
    starts = tuple(sorted({index * last // (budget - 1) for index in range(budget)}))
    lrs = tuple(schedule.lrs_at(starts))
    return Staircase((*starts, total), (*lrs, lrs[-1]), (), exact=False)


# -- the figure ------------------------------------------------------------------


@dataclass(frozen=True)
class FigureSize:
    """A figure's size: ``width`` x ``height`` inches at ``dpi`` dots per inch.

    Raises:
        PlotError: a side that is not positive, or more than :data:`MAX_PIXELS` pixels
            (``parameter`` names the side, or ``"dpi"``).
    """

    width: float = DEFAULT_WIDTH
    height: float = DEFAULT_HEIGHT
    dpi: int = DEFAULT_DPI

    def __post_init__(self) -> None:
        for name in ("width", "height", "dpi"):
            value = getattr(self, name)
            if not value > 0 or value == float("inf"):
                raise PlotError(f"{name} must be a finite number > 0, got {value}", parameter=name)
        for name in ("width", "height"):
            inches = getattr(self, name)
            if inches * self.dpi > MAX_PIXELS:
                raise PlotError(
                    f"{name} {inches:g} inches at {self.dpi} dpi is {inches * self.dpi:g} pixels; "
                    f"a figure side is at most {MAX_PIXELS} pixels",
                    parameter=name,
                )

    @property
    def budget(self) -> int:
        """The most pieces worth drawing: about two per pixel column."""
        return max(2, round(2 * self.width * self.dpi))


@dataclass(frozen=True)
class Current:
    """Where a run stands: ``position`` in ``unit`` (the schedule's mode) and the lr there."""

    position: int
    lr: float
    unit: Mode = "step"


def current_marker(schedule: StepSchedule, position: int | None, total: int) -> Current | None:
    """The marker of a run at ``position``, when it falls inside ``0..total-1``."""
    if position is None or position >= total:
        return None
    return Current(position, schedule.lr_at(position), schedule.mode)


def build_figure(
    curve: Staircase,
    *,
    title: str,
    axis: XAxis,
    log: bool = False,
    size: FigureSize = FigureSize(),
    label: str = "lr",
    compare: Sequence[tuple[str, Staircase]] = (),
    current: Current | None = None,
) -> Figure:
    """A matplotlib Figure of ``curve``: step lines, decay markers, labels and title.

    With ``compare``, several schedules share the figure: each further curve is a
    dashed step line in its own colour with its own decay markers, and a legend names
    them all by their labels.  When the axis knows the other unit, a secondary x axis
    at the top shows it.  The title is wrapped to fit the figure's width.

    Args:
        curve: What to draw, from :func:`staircase`.
        title: The figure's title.
        axis: The x axis, from :func:`x_axis`.
        log: A logarithmic y axis (non-positive values are left out).
        size: The figure's size.
        label: The legend label of ``curve``.
        compare: ``(label, staircase)`` of each further schedule to draw (over the
            same positions as ``curve``).
        current: A marker at a run's current position, labelled with it.

    Returns:
        The figure.  Its axes' lines are, in order: each curve's step line
        (``drawstyle="steps-post"``) followed by its decay markers when it has any,
        then the current position's marker.
    """
    from matplotlib.figure import Figure

    figure = Figure(figsize=(size.width, size.height), dpi=size.dpi, layout="constrained")
    axes = figure.add_subplot()
    curves = [(label, curve), *compare]
    for index, (name, drawn) in enumerate(curves):
        draw_curve(axes, drawn, axis, name, index)
    if current is not None:
        axes.plot(
            [axis.to_x(current.position)],
            [current.lr],
            linestyle="none",
            marker="D",
            markersize=7,
            color="black",
            label=f"now: {current.unit} {current.position}",
        )
    if compare or current is not None:
        _add_legend(figure, axes)
    if log:
        axes.set_yscale("log", nonpositive="mask")
    axes.set_xlim(axis.to_x(curve.positions[0]), axis.to_x(curve.positions[-1]))
    axes.set_xlabel(axis.unit)
    axes.set_ylabel("learning rate")
    axes.grid(True, alpha=0.3)
    add_other_unit(axes, axis)
    axes.set_title(fit_title(figure, title, axes.title.get_fontproperties()))
    return figure


def add_other_unit(axes: Axes, axis: XAxis) -> None:
    """A secondary x axis at the top in the other unit, when the axis knows it."""
    if axis.other_unit is None:
        return
    factor = axis.other_per_unit

    def to_other(x: Any) -> Any:
        return x * factor

    def from_other(x: Any) -> Any:
        return x / factor

    top = axes.secondary_xaxis("top", functions=(to_other, from_other))
    top.set_xlabel(axis.other_unit)


def draw_curve(
    axes: Axes, curve: Staircase, axis: XAxis, label: str, index: int, zorder: float = 2
) -> None:
    """One schedule's step line (solid for the first, dashed after) and its decay markers."""
    colour = COLOURS[index % len(COLOURS)]
    xs = [axis.to_x(position) for position in curve.positions]
    style = "-" if index == 0 else "--"
    axes.step(
        xs, list(curve.lrs), where="post", label=label, color=colour, linestyle=style, zorder=zorder
    )
    if curve.decays and len(curve.decays) <= MAX_MARKERS:
        axes.plot(
            [axis.to_x(position) for position, _ in curve.decays],
            [lr for _, lr in curve.decays],
            linestyle="none",
            marker="o",
            markersize=4,
            color=colour,
            # One legend entry says what the dots are; the others would repeat it.
            label="decay" if index == 0 else "_decay",
        )


def _add_legend(figure: Figure, axes: Axes) -> None:
    """A legend whose long labels (a schedule's description) are wrapped to a share of
    the figure's width, so that it never pushes the axes aside."""
    from matplotlib.font_manager import FontProperties

    handles, labels = axes.get_legend_handles_labels()
    font = FontProperties(size="small")
    wrapped = [fit_title(figure, label, font, share=_LEGEND_SHARE) for label in labels]
    axes.legend(handles, wrapped, fontsize="small")


# The title may use this share of the figure's width: the axes' title is centred over
# the axes, which the y labels push right of the figure's centre.  A legend label,
# inside the axes, less.
_TITLE_SHARE = 0.8
_LEGEND_SHARE = 0.35


def fit_title(figure: Figure, title: str, font: object, *, share: float = _TITLE_SHARE) -> str:
    """``title`` wrapped at spaces into lines no wider than ``share`` of the figure's width.

    Text widths are measured with the figure's own renderer and ``font``, so the title
    is never clipped at either edge, at any size or dpi.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    renderer = FigureCanvasAgg(figure).get_renderer()  # type: ignore[no-untyped-call]
    room = share * figure.bbox.width

    def width_of(text: str) -> float:
        extent: tuple[float, float, float] = renderer.get_text_width_height_descent(
            text, font, ismath=False
        )
        return extent[0]

    lines = [title]
    characters = len(title)
    while characters > 1 and max(width_of(line) for line in lines) > room:
        widest = max(lines, key=width_of)
        characters = min(characters - 1, int(len(widest) * room / width_of(widest)))
        lines = textwrap.wrap(title, max(1, characters), break_on_hyphens=False)
    return "\n".join(lines)


def render(figure: Figure, image_format: str) -> bytes:
    """The bytes of ``figure`` as png, svg or pdf (without creation dates, so reproducible)."""
    if image_format not in IMAGE_FORMATS:
        raise ValueError(
            f"image format must be one of {', '.join(IMAGE_FORMATS)}, got {image_format!r}"
        )
    metadata: dict[str, None] = {}
    if image_format == "svg":
        metadata = {"Date": None}
    elif image_format == "pdf":
        metadata = {"CreationDate": None}
    buffer = io.BytesIO()
    figure.savefig(buffer, format=image_format, metadata=metadata)
    return buffer.getvalue()
