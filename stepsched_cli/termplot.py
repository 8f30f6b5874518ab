"""A step schedule drawn in the terminal with Unicode box-drawing characters.

:func:`render` returns the picture as lines of text: the y axis with a few compact
labels on the left, the curve as a staircase (``─`` levels, ``┐``/``└`` where the lr
drops), a dotted ``┊`` line under each decay boundary, and an x axis with ticks and
labels below.  It depends on nothing but the schedule.

Cost: the plot area has at most ``width`` columns, and each column is one contiguous
range of positions whose extreme lrs are found from its two ends (plus the warmup
peak when it falls inside), so the schedule is evaluated ``O(width)`` times and a
10**12-position horizon costs the same as 100.  A column holding several decays
shows them as one vertical drop.

Size: about 530 lines, a little over the house's ~500: one picture (layout, curves,
markers, logged points, axes and their labels), whose parts share the column layout.

Example:
    >>> schedule = StepSchedule(0.1, step_size=30, gamma=0.1)
    >>> print("\\n".join(render(schedule, total=120, width=30, height=5, log_scale=True)))
       0.1┤─────┐
          │     └─────┐
          │     ┊     │
          │     ┊     └─────┐
    0.0001┤     ┊     ┊     └─────
          └┬────────┬─────────┬───
           0        50        step
"""

from __future__ import annotations

import math
import textwrap
from collections.abc import Sequence
from dataclasses import dataclass

from stepsched_cli.box_drawing import DOWN, LEFT, RIGHT, STYLES, UP, glyph
from stepsched_cli.errors import StepschedError
from stepsched_cli.numbers import format_count, format_lr
from stepsched_cli.schedule import StepSchedule

# The most schedules drawn beside the first: one line style each.
MAX_COMPARED = len(STYLES) - 1
MARKER = "┊"
# A logged point off the curve (drawn by check --plot).
POINT = "•"
# Boundary markers are drawn while at most one column in this many has one.
_MARKER_SPACING = 3


# The picture in a terminal of C columns and L lines: C wide, L - RESERVED_LINES rows
# tall (room for the title, the x axis, a legend and the prompt: 12 rows at 80x24),
# within these bounds; a terminal's size comes from the environment (COLUMNS, LINES),
# so an absurd one is capped rather than obeyed.
RESERVED_LINES = 12
MIN_WIDTH, MAX_WIDTH = 20, 1000
MIN_ROWS, MAX_ROWS = 4, 40


def terminal_fit(columns: int, lines: int) -> tuple[int, int]:
    """The ``(width, height)`` to :func:`render` in a terminal of ``columns`` x ``lines``.

    Narrower terminals than :data:`MIN_WIDTH` get lines that overflow rather than an
    error (the y labels need up to 10 columns, and a curve a few more).

    Example:
        >>> terminal_fit(80, 24), terminal_fit(200, 50), terminal_fit(10**8, 10**8)
        ((80, 12), (200, 38), (1000, 40))
    """
    width = min(max(columns, MIN_WIDTH), MAX_WIDTH)
    return width, min(max(lines - RESERVED_LINES, MIN_ROWS), MAX_ROWS)


class TermPlotError(StepschedError, ValueError):
    """The requested picture cannot be drawn (too small, bad argument)."""


@dataclass(frozen=True)
class _Column:
    start: int
    end: int
    entry: float
    exit: float
    low: float
    high: float
    boundary: bool


# One plot cell: the style of the curve drawn on each of its arms (the first curve
# drawn there wins an arm), or None when empty.
_Cells = list[list[dict[int, int] | None]]


@dataclass(frozen=True)
class _Layout:
    """The columns of every curve, the y scale, its labels and the gutter they take."""

    columns: list[list[_Column]]
    scale: _Scale
    labels: dict[int, str]
    gutter: int

    @property
    def count(self) -> int:
        """Plot columns (the same for every curve)."""
        return len(self.columns[0])


def render(
    schedule: StepSchedule,
    *,
    total: int,
    width: int = 80,
    height: int = 12,
    log_scale: bool = False,
    x_label: str = "step",
    positions_per_unit: int = 1,
    units_per_position: int = 1,
    markers: bool = True,
    title: str | None = None,
    label: str = "lr",
    compare: Sequence[tuple[str, StepSchedule]] = (),
    points: Sequence[tuple[int, float]] = (),
) -> list[str]:
    """Draw positions ``0..total-1`` of ``schedule`` in a ``width`` x ``height`` box.

    Args:
        schedule: The schedule to draw.
        total: Positions drawn: ``0..total-1``, an integer >= 1.
        width: Characters per line, labels included; lines are never longer (trailing
            spaces are stripped).
        height: Rows of the plot area, >= 2; two more lines follow (the x axis and
            its labels), so the picture is ``height + 2`` lines.
        log_scale: A logarithmic y axis from the smallest positive lr in
            ``0..total-1`` (even one a column's ends do not show, such as the last lr
            before the schedule underflows to 0) to the largest; when the lr is 0
            somewhere, a bottom row labelled 0 holds it, below the scale.  Otherwise
            linear from 0.
        x_label: The x unit, written at the right of the label line; the last tick
            labels give way to it when the line is full.
        positions_per_unit: Positions per x-axis unit: 1 labels positions, the steps
            per epoch labels a step-mode schedule in epochs.
        units_per_position: X-axis units per position: the steps per epoch draw an
            epoch-mode schedule in steps (each epoch spans that many steps, so a
            warmup ramped per epoch is a staircase, as it is).
        markers: Dotted lines under the decay boundaries (left out when more than one
            column in three would carry one).
        title: Lines above the picture, wrapped at spaces to ``width`` (never cut).
        label: The legend's name of ``schedule`` (a legend is drawn with ``compare``).
        compare: ``(label, schedule)`` of up to three further schedules, drawn in
            heavy, double and ASCII lines (the first schedule stays on top where they
            meet), with a legend of ``len(compare) + 1`` entries below the picture.
        points: Logged points ``(x, lr)`` (x in the x axis's units, below
            ``total * units_per_position``), drawn as :data:`POINT` where no curve is:
            a point off the curve stands out.

    Returns:
        The title's lines, ``height + 2`` lines of picture, then the legend's lines.

    Raises:
        TermPlotError: an argument out of range, or ``width`` too small for the labels.
    """
    total = _integer("total", total, 1)
    width = _integer("width", width, 8)
    height = _integer("height", height, 2)
    positions_per_unit = _integer("positions_per_unit", positions_per_unit, 1)
    units_per_position = _integer("units_per_position", units_per_position, 1)
    if len(compare) > MAX_COMPARED:
        raise TermPlotError(
            f"compare: the terminal draws at most {MAX_COMPARED} further schedules, "
            f"got {len(compare)}"
        )
    schedules = [schedule, *(other for _, other in compare)]
    lrs = [lr for _, lr in points]
    layout = _fit(schedules, total, width, height, log_scale, units_per_position, lrs)
    cells: _Cells = [[None] * layout.count for _ in range(height)]
    for style, columns in enumerate(layout.columns):
        _draw_curve(cells, columns, layout.scale, style)
    span = total * units_per_position
    dots = {
        (layout.scale.row(lr), min(layout.count - 1, max(0, x) * layout.count // span))
        for x, lr in points
    }
    draw_markers = markers and _marker_count(schedule, total) * _MARKER_SPACING <= layout.count
    lines = wrap_text(title, width) if title else []
    lines += _plot_rows(layout, cells, draw_markers, dots)
    ticks = _x_ticks(span, layout.count, positions_per_unit)
    axis_line = ["─"] * layout.count
    for column_index, _ in ticks:
        axis_line[column_index] = "┬"
    lines.append(" " * layout.gutter + "└" + "".join(axis_line))
    plot_end = layout.gutter + 1 + layout.count
    lines.append(_tick_labels(ticks, layout.gutter + 1, plot_end, width, x_label).rstrip())
    if compare:
        lines += legend([label, *(name for name, _ in compare)], width)
    return lines


def wrap_text(text: str, width: int, indent: str = "") -> list[str]:
    """``text`` wrapped at spaces into lines of at most ``width`` characters.

    A word longer than the line is split across lines, so nothing is ever cut off;
    continuation lines start with ``indent``.

    Example:
        >>> wrap_text("lr=0.1, step_size=30, gamma=0.1", 21)
        ['lr=0.1, step_size=30,', 'gamma=0.1']
    """
    return textwrap.wrap(
        text,
        max(1, width),
        subsequent_indent=indent,
        break_on_hyphens=False,
    ) or [""]


def legend(labels: Sequence[str], width: int) -> list[str]:
    """One entry per curve: its line style, then its label, wrapped to ``width``.

    Example:
        >>> legend(["lr=0.1, step_size=30", "gamma=0.5"], 40)
        ['── lr=0.1, step_size=30', '━━ gamma=0.5']
    """
    lines = []
    for style, label in enumerate(labels):
        sample = STYLES[style][LEFT | RIGHT] * 2
        lines += wrap_text(f"{sample} {label}", width, indent="   ")
    return lines


def _integer(name: str, value: object, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise TermPlotError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return value


def _fit(
    schedules: Sequence[StepSchedule],
    total: int,
    width: int,
    height: int,
    log_scale: bool,
    units_per_position: int,
    extra_lrs: Sequence[float] = (),
) -> _Layout:
    """As many columns as fit beside the y labels their own extremes need.

    Fewer columns may change the drawn extremes and so the labels' width: shrink until
    the columns fit (the gutter only grows a little, so this ends after a step or two).
    """
    # The smallest positive lr may hide inside a column (one holding the decay to 0).
    hidden = [_smallest_positive_lr(each, total) for each in schedules] if log_scale else []
    wanted = max(2, width)
    while True:
        columns = [_columns(each, total, wanted, units_per_position) for each in schedules]
        values = [
            value for curve in columns for column in curve for value in (column.low, column.high)
        ]
        scale = _Scale(values + hidden + list(extra_lrs), height, log_scale)
        labels = scale.labels()
        gutter = max(len(text) for text in labels.values())
        plot_width = width - gutter - 1
        if plot_width < 2:
            raise TermPlotError(
                f"width must be at least {gutter + 3} for these y labels, got {width}"
            )
        if len(columns[0]) <= plot_width:
            return _Layout(columns, scale, labels, gutter)
        wanted = plot_width


def _draw_curve(cells: _Cells, columns: list[_Column], scale: _Scale, style: int) -> None:
    """Draw one curve into the empty ``cells``: per column, a vertical run from where the
    curve enters to where it leaves (through its extremes), with box corners."""
    previous_exit: float | None = None
    for index, column in enumerate(columns):
        entry = column.entry if previous_exit is None else previous_exit
        row_in, row_out = scale.row(entry), scale.row(column.exit)
        rows = (row_in, row_out, scale.row(column.low), scale.row(column.high))
        top, bottom = min(rows), max(rows)
        for row in range(top, bottom + 1):
            bits = (LEFT if row == row_in else 0) | (RIGHT if row == row_out else 0)
            bits |= (UP if row > top else 0) | (DOWN if row < bottom else 0)
            cell = cells[row][index]
            if cell is None:
                cell = cells[row][index] = {}
            for arm in (LEFT, RIGHT, UP, DOWN):
                if bits & arm:
                    cell.setdefault(arm, style)
        previous_exit = column.exit


def _plot_rows(
    layout: _Layout, cells: _Cells, draw_markers: bool, dots: set[tuple[int, int]]
) -> list[str]:
    """The plot area's lines: label, axis, then the curves, the logged points where no
    curve is, and the boundary markers."""
    boundaries = [column.boundary for column in layout.columns[0]]
    lines = []
    for row, row_cells in enumerate(cells):
        axis = "┤" if row in layout.labels else "│"
        text = []
        for index, cell in enumerate(row_cells):
            if cell is not None:
                text.append(glyph(cell))
            elif (row, index) in dots:
                text.append(POINT)
            elif draw_markers and boundaries[index] and _below_curve(cells, row, index):
                text.append(MARKER)
            else:
                text.append(" ")
        label = layout.labels.get(row, "")
        lines.append(f"{label:>{layout.gutter}}{axis}{''.join(text)}".rstrip())
    return lines


def _columns(
    schedule: StepSchedule, total: int, count: int, units_per_position: int = 1
) -> list[_Column]:
    """``count`` columns over x units ``0..span-1`` (``span = total *
    units_per_position``): each holds the positions its x units fall in, or, with more
    columns than x units, one unit spread over several columns (its first column
    carries its boundary)."""
    span = total * units_per_position
    warmup = schedule.warmup_steps
    columns: list[_Column] = []
    last_x = -1
    for index in range(count):
        start_x = index * span // count
        end_x = max(start_x, (index + 1) * span // count - 1)
        start, end = start_x // units_per_position, end_x // units_per_position
        first, last = schedule.lr_at(start), schedule.lr_at(end)
        extremes = [first, last]
        if start < warmup <= end:
            extremes += [schedule.lr_at(warmup - 1), schedule.lr_at(warmup)]
        # The first boundary drawn at or after the column's first x unit.
        first_whole = -(-start_x // units_per_position)
        following = schedule.next_boundary(first_whole - 1 if first_whole else 0)
        new_unit = last_x < start_x
        last_x = end_x
        columns.append(
            _Column(
                start=start,
                end=end,
                entry=first,
                exit=last,
                low=min(extremes),
                high=max(extremes),
                boundary=new_unit
                and following is not None
                and following * units_per_position <= end_x,
            )
        )
    return columns


def _smallest_positive_lr(schedule: StepSchedule, total: int) -> float:
    """The smallest lr > 0 at positions ``0..total-1`` (0.0 when there is none).

    After the warmup the lr never rises, so it is the lr at ``total - 1``, or, when
    that has reached 0, the lr one decay earlier; a warmup from 0 adds its first step.
    """
    last = total - 1
    candidates = [schedule.lr_at(0), schedule.lr_at(last)]
    if last >= 1 and schedule.warmup_steps > 1:
        candidates.append(schedule.lr_at(1))
    decays = schedule.decays_at(last)
    if last >= schedule.warmup_steps and decays >= 1:
        candidates.append(schedule.lr_after_decays(decays - 1))
    positive = [value for value in candidates if value > 0]
    return min(positive) if positive else 0.0


def _marker_count(schedule: StepSchedule, total: int) -> int:
    """How many decay boundaries fall below ``total`` (O(1): the decay count there)."""
    return schedule.decays_at(total - 1)


def _below_curve(cells: _Cells, row: int, index: int) -> bool:
    return any(cells[above][index] is not None for above in range(row))


class _Scale:
    """Maps lrs to rows (0 at the top) on a linear or log axis.

    On a log axis with a 0 among the values, the bottom row holds 0 (labelled so) and
    the positive lrs use the rows above it.  A linear axis starts at 0, or at the lowest
    lr when all lrs lie within the top half.
    """

    def __init__(self, values: list[float], height: int, log_scale: bool) -> None:
        self.height = height
        self.log_scale = log_scale
        self.zero_row: int | None = None
        self.scale_rows = height
        high = max(values)
        if log_scale:
            positive = [value for value in values if value > 0]
            high = max(positive) if positive else 1.0
            low = min(positive) if positive else 0.1
            if len(positive) < len(values):
                self.zero_row = height - 1
                self.scale_rows = height - 1
            elif low == high:
                low = high / 10  # a constant curve: a decade of axis below it
        else:
            # From 0, unless every lr is above half the top: then decays of a gamma near
            # 1 (0.1 -> 0.097) would share a row, so the axis spans the lrs themselves.
            lowest = min(values)
            low = lowest if high / 2 < lowest < high else 0.0
            if high <= 0:
                high = 1.0
        self.low, self.high = low, high

    def _fraction(self, value: float) -> float:
        if self.log_scale:
            if value <= 0 or self.low == self.high:
                return 1.0 if value > 0 else 0.0
            return (math.log10(value) - math.log10(self.low)) / (
                math.log10(self.high) - math.log10(self.low)
            )
        return (value - self.low) / (self.high - self.low)

    def row(self, value: float) -> int:
        if self.zero_row is not None and value <= 0:
            return self.zero_row
        fraction = min(1.0, max(0.0, self._fraction(value)))
        return self.scale_rows - 1 - round(fraction * (self.scale_rows - 1))

    def labels(self) -> dict[int, str]:
        """Row -> label: the top and bottom, and between them decades (log) or the middle."""
        labels = {self.scale_rows - 1: compact_number(self.low), 0: compact_number(self.high)}
        if self.zero_row is not None:
            labels[self.zero_row] = "0"
        candidates: list[float] = []
        if self.log_scale:
            first = math.ceil(math.log10(self.low))
            last = math.floor(math.log10(self.high))
            candidates = [10.0**exponent for exponent in range(first, last + 1)]
        elif self.height >= 5:
            candidates = [(self.low + self.high) / 2]
        for value in candidates:
            row = self.row(value)
            if all(abs(row - taken) >= 2 for taken in labels):
                labels[row] = compact_number(value)
        return labels


def compact_number(value: float) -> str:
    """A number in at most three significant digits, exponents without padding.

    Example:
        >>> [compact_number(x) for x in (0.1, 0.0001, 1e-05, 0.00015, 2.5e-08, 0.0, 150.0)]
        ['0.1', '0.0001', '1e-5', '0.00015', '2.5e-8', '0', '150']
    """
    return format_lr(value, 3, short_exponent=True)


def compact_position(value: float) -> str:
    """An axis position: whole numbers below 10,000 in full, larger ones with k, M, G, ...

    Example:
        >>> [compact_position(x) for x in (0, 30, 9999, 150000, 2.5e6, 10**12, 0.5)]
        ['0', '30', '9999', '150k', '2.5M', '1T', '0.5']
    """
    return format_count(value)


def _x_ticks(total: int, count: int, positions_per_unit: int) -> list[tuple[int, str]]:
    """(column, label) pairs at multiples of a 1-2-5 step, about one per six columns."""
    span = total / positions_per_unit
    wanted = max(2, count // 6)
    # Never closer than one position: a tick between two positions has no column.
    raw = max(span / wanted, 1 / positions_per_unit)
    magnitude = 10 ** math.floor(math.log10(raw)) if raw > 0 else 1
    step = next(
        (factor * magnitude for factor in (1, 2, 5, 10) if factor * magnitude >= raw),
        10 * magnitude,
    )
    ticks: list[tuple[int, str]] = []
    index = 0
    while True:
        value = index * step
        position = round(value * positions_per_unit)
        if position >= total:
            break
        column = position * count // total
        if not ticks or column > ticks[-1][0]:
            ticks.append((column, compact_position(value)))
        index += 1
    return ticks


def _tick_labels(
    ticks: list[tuple[int, str]], offset: int, plot_end: int, width: int, x_label: str
) -> str:
    """Tick labels left-aligned at their ticks (skipped where they would collide or
    overflow), then the unit ending at the plot's right edge, or after the last label.

    The unit says what the numbers count, so it is never dropped: when the line is full,
    the last tick labels give way to it.
    """
    placed: list[tuple[int, str]] = []
    for column, text in ticks:
        start = offset + column
        end = placed[-1][0] + len(placed[-1][1]) if placed else 0
        if (end and start <= end) or start + len(text) > width:
            continue
        placed.append((start, text))
    if x_label:
        while True:
            end = placed[-1][0] + len(placed[-1][1]) if placed else 0
            start = max(end + 2, plot_end - len(x_label))
            if start + len(x_label) <= width or not placed:
                break
            placed.pop()
        placed.append((max(0, min(start, width - len(x_label))), x_label))
    line = [" "] * width
    for start, text in placed:
        line[start : start + len(text)] = text
    return "".join(line)


__all__ = [
    "MARKER",
    "MAX_COMPARED",
    "POINT",
    "TermPlotError",
    "compact_number",
    "compact_position",
    "legend",
    "render",
    "terminal_fit",
    "wrap_text",
]
