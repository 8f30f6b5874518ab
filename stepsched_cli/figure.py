"""A matplotlib Figure of a schedule's staircase, and its bytes as png, svg or pdf.

What to draw (the staircase, the axes, the size) is decided in
:mod:`stepsched_cli.plot`, free of matplotlib; this module draws it with
matplotlib's object API (``Figure``, never ``pyplot``: no global state, no GUI
backend), imported inside the functions so that importing this module stays cheap.
Nothing here reaches the user raw from matplotlib: a figure too small for its
layout is a :class:`~stepsched_cli.plot.PlotError`, not a library warning.
"""

from __future__ import annotations

import io
import math
import textwrap
import warnings
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from stepsched_cli.numbers import format_lr
from stepsched_cli.plot import (
    COLOURS,
    IMAGE_FORMATS,
    MAX_LEVEL_LABELS,
    Current,
    FigureSize,
    PlotError,
    Staircase,
    XAxis,
)

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

# The lowest lr a log axis reaches, in decades (the smallest float is about 5e-324).
_LOWEST_DECADE = -323.0
# A level label reads rightwards from where its level starts, unless that is this far
# along the x axis.
_RIGHTWARDS_SHARE = 0.85


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
    wider dashed step line in its own colour with its own decay markers, drawn under
    the first (so a curve equal to it shows as a coloured edge, and its legend label
    says so), and a legend names them all; its "decay" entry shows every curve's
    colour.  Each lr level is labelled with its value once (at most
    :data:`MAX_LEVEL_LABELS` levels; more are left to the axis).  On a log axis an
    lr of 0 (underflow) runs along the bottom edge, labelled 0.  When the axis knows
    the other unit, a secondary x axis at the top shows it.  The title is wrapped to
    fit the figure's width and sits above everything on the axes' top.

    Args:
        curve: What to draw, from :func:`staircase`.
        title: The figure's title.
        axis: The x axis, from :func:`x_axis`.
        log: A logarithmic y axis from about the smallest positive lr to the largest.
        size: The figure's size.
        label: The legend label of ``curve``.
        compare: ``(label, staircase)`` of each further schedule to draw (over the
            same positions as ``curve``).
        current: A marker at a run's current position, labelled with it.

    Returns:
        The figure.  Its axes' lines are, in order: each curve's step line
        (``drawstyle="steps-post"``) followed by its decay markers when it has any
        and its runs at lr 0 on a log axis, then the current position's marker.
    """
    from matplotlib.figure import Figure

    figure = Figure(figsize=(size.width, size.height), dpi=size.dpi, layout="constrained")
    axes = figure.add_subplot()
    curves = [(label, curve), *compare]
    if log:
        axes.set_yscale("log", nonpositive="clip")
        axes.set_ylim(*_log_limits([drawn for _, drawn in curves], current))
    legend: list[tuple[Any, str]] = []
    markers = []
    for index, (name, drawn) in enumerate(curves):
        same = index > 0 and drawn == curve
        shown = f"{name} (same as the first)" if same else name
        line, marker = draw_curve(axes, drawn, axis, shown, index, log=log)
        legend.append((line, shown))
        markers += [] if marker is None else [marker]
    if markers:
        legend.append((tuple(markers), "decay"))
    _label_levels(axes, [drawn for _, drawn in curves], axis, log=log)
    if current is not None:
        marker = axes.plot(
            [axis.to_x(current.position)],
            [current.lr],
            linestyle="none",
            marker="D",
            markersize=7,
            color="black",
            label=f"now: {current.unit} {current.position}",
            zorder=4,
        )[0]
        legend.append((marker, f"now: {current.unit} {current.position}"))
    if compare or current is not None:
        _add_legend(figure, axes, legend)
    axes.set_xlim(axis.to_x(curve.positions[0]), axis.to_x(curve.positions[-1]))
    axes.set_xlabel(axis.unit)
    axes.set_ylabel("learning rate")
    axes.grid(True, alpha=0.3)
    add_other_unit(axes, axis)
    # Bottom-aligned, a title of several lines grows upwards, clear of the top axis.
    font = axes.title.get_fontproperties()
    axes.set_title(fit_title(figure, title, font), verticalalignment="bottom")
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
    axes: Axes,
    curve: Staircase,
    axis: XAxis,
    label: str,
    index: int,
    *,
    log: bool = False,
    zorder: float | None = None,
) -> tuple[Any, Any]:
    """One schedule's step line (solid on top for the first; wider and dashed under it
    after), labelled ``label``, its decay markers, and on a log axis its runs at lr 0
    along the bottom edge.

    Returns:
        The step line and the markers (None without markers), for the legend.
    """
    colour = COLOURS[index % len(COLOURS)]
    xs = [axis.to_x(position) for position in curve.positions]
    style: dict[str, Any] = {"linestyle": "-", "zorder": 3}
    if index:
        style = {"linestyle": "--", "linewidth": 2.5}
    if zorder is not None:
        style["zorder"] = zorder
    (line,) = axes.step(xs, list(curve.lrs), where="post", color=colour, label=label, **style)
    marker = None
    if curve.decays:
        (marker,) = axes.plot(
            [axis.to_x(position) for position, _ in curve.decays],
            [lr for _, lr in curve.decays],
            linestyle="none",
            marker="o",
            markersize=4,
            color=colour,
            zorder=3,
            # One legend entry shows every curve's dots: the others are not listed.
            label="decay" if index == 0 else "_decay",
        )
    if log:
        for start, end in _zero_runs(curve):
            axes.plot(
                [axis.to_x(start), axis.to_x(end)],
                [0, 0],
                color=colour,
                linewidth=3,
                solid_capstyle="butt",
                transform=axes.get_xaxis_transform(),
                clip_on=False,
            )
    return line, marker


def _zero_runs(curve: Staircase) -> list[tuple[int, int]]:
    """The ``(start, end)`` position ranges where ``curve`` is at lr 0."""
    runs: list[tuple[int, int]] = []
    for start, end, lr in zip(curve.positions, curve.positions[1:], curve.lrs, strict=False):
        if lr > 0:
            continue
        if runs and runs[-1][1] == start:
            start = runs.pop()[0]
        runs.append((start, end))
    return runs


def _log_limits(curves: Sequence[Staircase], current: Current | None) -> tuple[float, float]:
    """The lr range of a log axis: the positive lrs drawn, with a margin of 5% of their
    span in decades below and 8% above (room for the top level's label; at most half a
    decade, so that no tick shows an lr far above any the schedule reaches), never
    below the smallest float."""
    positive = [lr for curve in curves for lr in curve.lrs if lr > 0]
    if current is not None and current.lr > 0:
        positive.append(current.lr)
    if not positive:
        return 0.1, 1.0
    high, low = math.log10(max(positive)), math.log10(min(positive))
    margin = 0.05 * (high - low) or 0.5
    top = min(1.6 * margin, 0.5)
    return 10.0 ** max(low - margin, _LOWEST_DECADE), 10.0 ** (high + top)


def _label_levels(axes: Axes, curves: Sequence[Staircase], axis: XAxis, *, log: bool) -> None:
    """Each lr level's value, once, just above where the level starts; with more than
    :data:`MAX_LEVEL_LABELS` levels, only each curve's highest and last ones."""
    seen: dict[float, tuple[int, int]] = {}
    for index, curve in enumerate(curves):
        for position, lr in curve.levels:
            seen.setdefault(lr, (index, position))
    if len(seen) > MAX_LEVEL_LABELS or any(not curve.levels for curve in curves):
        seen = {}
        for index, curve in enumerate(curves):
            for position, lr in _outer_levels(curve):
                seen.setdefault(lr, (index, position))
    total = curves[0].positions[-1]
    for lr, (index, position) in seen.items():
        on_edge = log and lr <= 0
        # A level that starts near the right edge is labelled leftwards, over the
        # space its drop leaves below the level before it.
        leftwards = position > _RIGHTWARDS_SHARE * total
        axes.annotate(
            format_lr(lr, 3, short_exponent=True),
            xy=(axis.to_x(position), 0 if on_edge else lr),
            xycoords=("data", "axes fraction") if on_edge else "data",
            xytext=(-3 if leftwards else 3, 2),
            textcoords="offset points",
            fontsize="small",
            color=COLOURS[index % len(COLOURS)],
            verticalalignment="bottom",
            horizontalalignment="right" if leftwards else "left",
        )


def _outer_levels(curve: Staircase) -> list[tuple[int, float]]:
    """Where ``curve``'s highest lr and its last piece start, with their lrs."""
    highest = max(range(len(curve.lrs) - 1), key=lambda index: curve.lrs[index])
    return [(curve.positions[highest], curve.lrs[highest]), (curve.positions[-2], curve.lrs[-1])]


def _add_legend(figure: Figure, axes: Axes, entries: list[tuple[Any, str]]) -> None:
    """A legend whose long labels (a schedule's description) are wrapped to a share of
    the figure's width, so that it never pushes the axes aside.  A handle that is a
    tuple (the decay markers of every curve) shows each of its colours."""
    from matplotlib.font_manager import FontProperties
    from matplotlib.legend_handler import HandlerTuple

    font = FontProperties(size="small")
    wrapped = [fit_title(figure, label, font, share=_LEGEND_SHARE) for _, label in entries]
    axes.legend(
        [handle for handle, _ in entries],
        wrapped,
        fontsize="small",
        handler_map={tuple: HandlerTuple(ndivide=None)},
    )


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
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    buffer = io.BytesIO()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        FigureCanvasAgg(figure).draw()  # type: ignore[no-untyped-call]
        _drop_overlapping_labels(figure)
        figure.savefig(buffer, format=image_format, metadata=metadata)
    if caught or _crowded(figure):
        # matplotlib warns when the layout cannot fit the text into the figure (it
        # then draws the axes over the labels), or fits it by shrinking the axes to a
        # sliver, or the legend hides the curves: refuse that picture.
        width, height = figure.get_size_inches()
        raise PlotError(
            f"a {width:g} x {height:g} inch figure has no room for this title, its "
            "labels and legend; give a larger --width or --height (or a shorter --title)",
            parameter="height",
        )
    return buffer.getvalue()


# The axes must keep at least this share of the figure's width and height, and the
# legend (inside the axes) take at most this share of theirs.
_LEAST_AXES_SHARE = 1 / 3
_MOST_LEGEND_SHARE = 0.6


def _crowded(figure: Figure) -> bool:
    """Whether the text leaves no room for the curves: the layout gave the axes less
    than :data:`_LEAST_AXES_SHARE` of the figure either way (a long title), or the
    legend covers more than :data:`_MOST_LEGEND_SHARE` of the axes either way."""
    axes = figure.axes[0]
    box = axes.get_window_extent()
    whole = figure.bbox
    if box.width < _LEAST_AXES_SHARE * whole.width or (
        box.height < _LEAST_AXES_SHARE * whole.height
    ):
        return True
    legend = axes.get_legend()
    if legend is None:
        return False
    covered = legend.get_window_extent()
    return covered.width > _MOST_LEGEND_SHARE * box.width or (
        covered.height > _MOST_LEGEND_SHARE * box.height
    )


def _drop_overlapping_labels(figure: Figure) -> None:
    """Remove the level labels that would overlap one drawn before them (on a small
    figure, or where levels are short) or run past the axes' right edge, once the
    layout has placed them."""
    kept: list[Any] = []
    right = figure.axes[0].get_window_extent().x1
    for text in list(figure.axes[0].texts):
        box = text.get_window_extent()
        if box.x1 > right or any(box.overlaps(other) for other in kept):
            text.remove()
        else:
            kept.append(box)
