"""Pictures of a schedule: the exact staircase, and a matplotlib Figure of it.

:func:`staircase` decides what to draw and costs ``O(min(changes, budget))`` lr
evaluations, never ``O(horizon)``: while the lr changes fewer than ``budget`` times in
the plotted range, every change point is drawn exactly; beyond that the lr is sampled
at ``budget`` evenly spaced positions (about two per pixel column), which is all a
picture can show.  A horizon of 10**12 positions, or 10**9 boundaries, costs the same
as a hundred.

:func:`build_figure` uses matplotlib's object API (``Figure``, never ``pyplot``: no
global state, no GUI backend), imported inside the function so that importing this
module stays cheap.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from itertools import chain, islice
from typing import TYPE_CHECKING

from stepsched_cli.schedule import StepSchedule

if TYPE_CHECKING:
    from matplotlib.figure import Figure

IMAGE_FORMATS = ("png", "svg", "pdf")
DEFAULT_WIDTH_PX = 800
DEFAULT_HEIGHT_PX = 450
DPI = 100
# Decay markers are drawn while there are at most this many (beyond, they are a smear).
MAX_MARKERS = 200
# Colours of the compared curves, after the main one's tab:blue (and the markers' red).
COMPARE_COLOURS = ("tab:orange", "tab:green", "tab:purple", "tab:brown", "tab:pink", "tab:olive")


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


def staircase(schedule: StepSchedule, total: int, budget: int = 2 * DEFAULT_WIDTH_PX) -> Staircase:
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


def build_figure(
    curve: Staircase,
    *,
    title: str,
    x_label: str,
    to_x: Callable[[int], float] = float,
    log: bool = False,
    width_px: int = DEFAULT_WIDTH_PX,
    height_px: int = DEFAULT_HEIGHT_PX,
    label: str = "lr",
    compare: Sequence[tuple[str, Staircase]] = (),
) -> Figure:
    """A matplotlib Figure of ``curve``: the step line, decay markers, labels and title.

    With ``compare``, several schedules share the figure: each further curve is a
    dashed step line in its own colour, and a legend names them all by their labels.

    Args:
        curve: What to draw, from :func:`staircase`.
        title: The figure's title (the schedule's parameters).
        x_label: The x axis label (``"step"`` or ``"epoch"``).
        to_x: Maps a position to its x coordinate (unit conversion).
        log: A logarithmic y axis (non-positive values are left out).
        width_px: Figure width in pixels at :data:`DPI`.
        height_px: Figure height in pixels at :data:`DPI`.
        label: The legend label of ``curve``.
        compare: ``(label, staircase)`` of each further schedule to draw (over the
            same positions as ``curve``).

    Returns:
        The figure; its first line is the staircase (``drawstyle="steps-post"``), the
        second, when present, the decay markers, then one line per ``compare`` curve
        in order.
    """
    from matplotlib.figure import Figure

    figure = Figure(figsize=(width_px / DPI, height_px / DPI), dpi=DPI, layout="constrained")
    axes = figure.add_subplot()
    xs = [to_x(position) for position in curve.positions]
    axes.step(xs, list(curve.lrs), where="post", label=label, color="tab:blue")
    if curve.decays and len(curve.decays) <= MAX_MARKERS:
        axes.plot(
            [to_x(position) for position, _ in curve.decays],
            [lr for _, lr in curve.decays],
            linestyle="none",
            marker="o",
            markersize=4,
            color="tab:red",
            label="decay",
        )
    for index, (other_label, other) in enumerate(compare):
        axes.step(
            [to_x(position) for position in other.positions],
            list(other.lrs),
            where="post",
            label=other_label,
            color=COMPARE_COLOURS[index % len(COMPARE_COLOURS)],
            linestyle="--",
        )
    if compare:
        axes.legend()
    if log:
        axes.set_yscale("log", nonpositive="mask")
    axes.set_xlim(xs[0], xs[-1])
    axes.set_title(title)
    axes.set_xlabel(x_label)
    axes.set_ylabel("learning rate")
    axes.grid(True, alpha=0.3)
    return figure


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
