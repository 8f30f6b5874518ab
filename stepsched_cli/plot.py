"""Pictures of a schedule: what to draw, on which axes, at which size.

The decisions every picture shares live here, free of matplotlib, so that the
terminal plot (:mod:`stepsched_cli.termplot`) and the image files agree:

* :func:`x_axis` - the x unit (steps or epochs) and how positions map to it;
* :func:`plot_horizon` - the positions drawn, bounded where floats stop placing them;
* :func:`prefers_log_scale` - a log lr axis when the lrs span more than a decade;
* :func:`staircase` - the exact step curve, in ``O(min(changes, budget))`` lr
  evaluations, never ``O(horizon)``: while the lr changes fewer than ``budget`` times
  in the plotted range every change point is drawn exactly; beyond that the lr is
  sampled at ``budget`` evenly spaced positions (about two per pixel column), which is
  all a picture can show.  A horizon of 10**12 positions costs the same as a hundred;
* :class:`FigureSize` - the figure's size and dpi, bounded so that it can be drawn.

:mod:`stepsched_cli.figure` draws a staircase with matplotlib.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from itertools import chain, islice
from typing import Literal

from stepsched_cli.errors import StepschedError
from stepsched_cli.schedule import Mode, StepSchedule

IMAGE_FORMATS = ("png", "svg", "pdf")
# The default figure: 8 x 4.5 inches at 100 dpi, 800 x 450 pixels.
DEFAULT_WIDTH = 8.0
DEFAULT_HEIGHT = 4.5
DEFAULT_DPI = 100
# A figure side is at most this many pixels (a 10000 x 10000 RGBA image is 400 MB).
MAX_PIXELS = 10_000
# The smallest figure with room for its text: the smallest text (8 points) takes 4
# pixels at 36 dpi, and 2.5 x 2 inches hold the axes' labels and a default title.
MIN_DPI = 36
MIN_WIDTH, MIN_HEIGHT = 2.5, 2.0
# Decay markers are drawn while a curve has at most this many (beyond, they are a smear).
MAX_MARKERS = 200
# Each lr level is labelled with its value while a picture has at most this many levels.
MAX_LEVEL_LABELS = 16
# The colours of the curves, in order (the first is the base schedule).
COLOURS = ("tab:blue", "tab:orange", "tab:green", "tab:purple", "tab:brown", "tab:pink")
# A picture compares the base schedule with at most this many others: one colour each.
MAX_COMPARED = len(COLOURS) - 1
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
        decays: ``(position, lr after)`` of every decay boundary in the range, exact
            whether or not the curve is sampled; empty when there are more than
            :data:`MAX_MARKERS` (beyond, markers are a smear).
        levels: ``(position, lr)`` where each constant level after the warmup starts
            (the end of the warmup, or 0, then each decay); empty with ``decays``.
        exact: Whether every change point is drawn (False: sampled at ``budget``
            evenly spaced positions, plus each decay boundary in ``decays``).
    """

    positions: tuple[int, ...]
    lrs: tuple[float, ...]
    decays: tuple[tuple[int, float], ...]
    levels: tuple[tuple[int, float], ...]
    exact: bool


def staircase(
    schedule: StepSchedule, total: int, budget: int = int(2 * DEFAULT_WIDTH * DEFAULT_DPI)
) -> Staircase:
    """The staircase of ``schedule`` over positions ``0..total-1``, in ``O(budget)`` work.

    Args:
        schedule: The schedule to draw.
        total: The number of positions covered, >= 1.
        budget: The most pieces to draw, >= 2 (about two per pixel column); a sampled
            curve adds the decay boundaries it marks (at most :data:`MAX_MARKERS`).

    Example:
        >>> curve = staircase(StepSchedule(0.1, step_size=30), total=120)
        >>> curve.positions, curve.lrs
        ((0, 30, 60, 90, 120), (0.1, 0.01, 0.001, 0.0001, 0.0001))
        >>> curve.levels
        ((0, 0.1), (30, 0.01), (60, 0.001), (90, 0.0001))
    """
    if total < 1 or budget < 2:
        raise ValueError(f"total must be >= 1 and budget >= 2, got {total} and {budget}")
    warmup_end = min(schedule.warmup_steps, total - 1)
    # Decays inside the warmup take effect at its end, which boundaries() yields.
    marked = list(islice(schedule.boundaries(1, total), MAX_MARKERS + 1))
    decays = tuple(zip(marked, schedule.lrs_at(marked), strict=True))
    levels = _levels(schedule, total, decays)
    if len(marked) > MAX_MARKERS:
        marked, decays, levels = [], (), ()
    # Every position after 0 where the lr may change: each warmup step, then each decay.
    changes = chain(range(1, warmup_end + 1), schedule.boundaries(warmup_end + 1, total))
    found = list(islice(changes, budget))
    exact = len(found) < budget
    if exact:
        starts: tuple[int, ...] = (0, *found)
    else:
        last = total - 1
        samples = {index * last // (budget - 1) for index in range(budget)}
        starts = tuple(sorted(samples.union(marked)))
    lrs = tuple(schedule.lrs_at(starts))
    return Staircase((*starts, total), (*lrs, lrs[-1]), decays, levels, exact)


def _levels(
    schedule: StepSchedule, total: int, decays: tuple[tuple[int, float], ...]
) -> tuple[tuple[int, float], ...]:
    """Where each constant level in ``0..total-1`` starts, and its lr: the end of the
    warmup (when it is inside and no decay takes effect there), then each decay."""
    peak = schedule.warmup_steps
    if peak >= total or (decays and decays[0][0] == peak):
        return decays
    return ((peak, schedule.lr_at(peak)), *decays)


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
        if self.dpi < MIN_DPI:
            raise PlotError(
                f"dpi must be at least {MIN_DPI}, got {self.dpi}: below, the smallest text "
                "is under 4 pixels (and under 1 pixel it cannot be drawn at all)",
                parameter="dpi",
            )
        for name, least in (("width", MIN_WIDTH), ("height", MIN_HEIGHT)):
            inches = getattr(self, name)
            if inches < least:
                raise PlotError(
                    f"{name} must be at least {least:g} inches, got {inches:g}: a smaller "
                    "figure has no room for its title, labels and curve",
                    parameter=name,
                )
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
