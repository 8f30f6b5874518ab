"""The ``plot`` command: the schedule's step curve in the terminal, or as a png, svg or pdf.

Without ``-o`` the curve is drawn in the terminal by :mod:`stepsched_cli.termplot`
(sized to the terminal's width), which never imports matplotlib: it costs what
``table`` costs.  With ``-o`` matplotlib is imported when the command runs (through
:mod:`stepsched_cli.plot`), never when the application starts.  The decisions (the x
axis, the horizon, the lr scale, the figure's size) are the library's; this module
parses the options, calls it, and prints.

An image is regenerable output: ``-o FILE`` replaces an existing file, like every
plotting tool (state files, which are data, refuse without ``--force``).  ``--force``
is still accepted with ``-o`` and changes nothing, so older scripts keep working.
"""

from __future__ import annotations

import shutil
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import PurePath
from typing import Annotated

import typer

from stepsched_cli.cli.options.parameters import usage_error, usage_error_about
from stepsched_cli.cli.options.schedule import (
    ScheduleOptions,
    resolve_plan,
    schedule_options,
    warn_if_implausible,
)
from stepsched_cli.cli.options.units import EpochsOption, TotalOption, parse_unit, run_total
from stepsched_cli.cli.output import describe_schedule, print_lines, print_message, write_output
from stepsched_cli.compare import CompareError, apply_spec, check_comparable
from stepsched_cli.planning import Plan, default_total
from stepsched_cli.plot import (
    MAX_COMPARED,
    PlotError,
    XAxis,
    plot_horizon,
    prefers_log_scale,
)
from stepsched_cli.plot import XUnit as AxisUnit
from stepsched_cli.plot import x_axis as plot_x_axis
from stepsched_cli.schedule import StepSchedule
from stepsched_cli.termplot import MAX_COMPARED as TERMINAL_COMPARED
from stepsched_cli.validate import STANDARD_STREAM

STDOUT = STANDARD_STREAM

PLOT_EPILOG = """\
Examples:

  stepsched plot --lr 0.1 --step-size 30

  stepsched plot --lr 0.1 --step-size 30 --total 120 -o lr.png

  stepsched plot --lr 0.1 --step-size 30 --compare gamma=0.5,step_size=20 -o compare.png

  stepsched plot --lr 0.1 --milestones 30,80 --linear --title "ResNet-50" -o lr.svg

  stepsched plot --lr 0.1 --step-size 30 --mode epoch --steps-per-epoch 5005 --x steps -o lr.pdf
"""


def register(app: typer.Typer) -> None:
    """Add the ``plot`` command to ``app``."""
    app.command("plot", epilog=PLOT_EPILOG)(plot)


@contextmanager
def options_named() -> Iterator[None]:
    """Turn the library's :class:`~stepsched_cli.plot.PlotError` into a usage error (exit 2)
    naming the option behind its ``parameter``."""
    try:
        yield
    except PlotError as error:
        raise usage_error_about(error) from None


def image_format_for(path: str) -> str:
    """The image format chosen by ``path``'s extension (png for stdout).

    Raises:
        typer.BadParameter: any extension other than .png, .svg, .pdf (exit 2).
    """
    from stepsched_cli.plot import IMAGE_FORMATS

    if path == STDOUT:
        return "png"
    suffix = PurePath(path).suffix.lower().lstrip(".")
    if suffix not in IMAGE_FORMATS:
        raise usage_error(
            "--output",
            f"the file name must end in .png, .svg or .pdf, got {path!r}",
        )
    return suffix


def check_file_options(output: str | None, given: Mapping[str, object]) -> None:
    """Refuse options that only shape a file when no file is written, and PNG bytes
    meant for a terminal.

    Raises:
        typer.BadParameter: ``--force``/``--width``/``--height``/``--dpi`` without
            ``-o``, or ``-o -`` while stdout is a terminal (exit 2).
    """
    if output is None:
        for option, value in given.items():
            if value not in (None, False):
                raise usage_error(option, "applies to a file written with -o FILE; give -o as well")
    if output == STDOUT and sys.stdout.isatty():
        raise usage_error(
            "--output",
            "- writes png bytes to stdout, which is a terminal; "
            "redirect it (-o - > lr.png) or give a file name",
        )


def compared_schedules(base: StepSchedule, specs: list[str]) -> list[tuple[str, StepSchedule]]:
    """``(SPEC, schedule)`` for each ``--compare SPEC``.

    Raises:
        typer.BadParameter: a SPEC that is malformed, or makes an invalid or
            incomparable schedule: an option value, so a usage error like a bad --gamma.
    """
    try:
        compared = [(spec, apply_spec(base, spec)) for spec in specs]
        for _, other in compared:
            check_comparable(base, other)
    except CompareError as error:
        raise usage_error("--compare", str(error)) from None
    return compared


def choose_log_scale(log: bool, linear: bool, schedules: list[StepSchedule], horizon: int) -> bool:
    """``--log``/``--linear`` when given, else the library's choice from the lrs' span."""
    if log and linear:
        raise usage_error("--linear", "give either --log or --linear, not both")
    if log or linear:
        return log
    return prefers_log_scale(schedules, horizon)


@schedule_options
def plot(
    schedule: ScheduleOptions,
    output: Annotated[
        str | None,
        typer.Option(
            "--output",
            "-o",
            metavar="FILE",
            help="Write a png, svg or pdf (- : png to stdout).",
            show_default=False,
        ),
    ] = None,
    total: TotalOption = None,
    epochs: EpochsOption = None,
    log: Annotated[
        bool,
        typer.Option(
            "--log",
            help="A log lr axis. [default: if over a decade]",
        ),
    ] = False,
    linear: Annotated[bool, typer.Option("--linear", help="A linear lr axis.")] = False,
    x: Annotated[
        AxisUnit | None,
        typer.Option(
            "--x",
            metavar="[steps|epochs]",
            parser=parse_unit,
            help="The x axis unit. [default: the schedule's]",
            show_default=False,
        ),
    ] = None,
    title: Annotated[
        str | None,
        typer.Option(
            "--title",
            metavar="TEXT",
            help="The title. [default: the schedule]",
            show_default=False,
        ),
    ] = None,
    width: Annotated[
        float | None,
        typer.Option("--width", metavar="INCHES", help="Figure width (-o). [default: 8]"),
    ] = None,
    height: Annotated[
        float | None,
        typer.Option("--height", metavar="INCHES", help="Figure height (-o). [default: 4.5]"),
    ] = None,
    dpi: Annotated[
        int | None,
        typer.Option("--dpi", metavar="DPI", help="Dots per inch (-o). [default: 100]"),
    ] = None,
    force: Annotated[
        bool,
        typer.Option(
            "--force",
            help="Changes nothing (-o replaces an image).",
        ),
    ] = False,
    compare: Annotated[
        list[str] | None,
        typer.Option(
            "--compare",
            metavar="SPEC",
            help="Also draw it with overrides: gamma=0.5 (up to 5).",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Draw the exact step curve in the terminal, or to a png, svg or pdf file (-o).

    Without --total the plot runs one interval past the third decay (and on to a
    --state file's position); the lr axis is logarithmic when the lrs span more than
    a decade.  More in docs/commands.md.
    """
    sizes = {"--width": width, "--height": height, "--dpi": dpi, "--force": force}
    check_file_options(output, sizes)
    image_format = None if output is None else image_format_for(output)
    plan = resolve_plan(schedule)
    length = run_total(plan, total, epochs)
    with options_named():
        axis = plot_x_axis(plan.mode, x, plan.steps_per_epoch)
        horizon = plot_horizon(length, default_total(plan.schedule), axis, current=plan.position)
    if output is None and len(compare or []) > TERMINAL_COMPARED:
        raise usage_error(
            "--compare", f"the terminal draws at most {TERMINAL_COMPARED}; write a file with -o"
        )
    if len(compare or []) > MAX_COMPARED:
        raise usage_error(
            "--compare",
            f"a picture compares at most {MAX_COMPARED} schedules with the base "
            f"(one colour each), got {len(compare or [])}",
        )
    compared = compared_schedules(plan.schedule, compare or [])
    warn_if_implausible(plan, total=length, horizon=horizon)
    schedules = [plan.schedule, *(other for _, other in compared)]
    log_scale = choose_log_scale(log, linear, schedules, horizon)
    heading = title if title is not None else describe_schedule(plan.schedule)
    if output is None or image_format is None:
        print_lines(terminal_plot(plan, compared, horizon, axis, log=log_scale, title=heading))
        return
    from stepsched_cli import figure as drawing
    from stepsched_cli import plot as pictures

    with options_named():
        size = pictures.FigureSize(
            width=pictures.DEFAULT_WIDTH if width is None else width,
            height=pictures.DEFAULT_HEIGHT if height is None else height,
            dpi=pictures.DEFAULT_DPI if dpi is None else dpi,
        )
    curve = pictures.staircase(plan.schedule, horizon, size.budget)
    current = pictures.current_marker(plan.schedule, plan.position, horizon)
    figure = drawing.build_figure(
        curve,
        title=heading,
        axis=axis,
        log=log_scale,
        size=size,
        label=describe_schedule(plan.schedule),
        compare=[
            (spec, pictures.staircase(other, horizon, size.budget)) for spec, other in compared
        ],
        current=current,
    )
    with options_named():
        image = drawing.render(figure, image_format)
    write_output(output, image, force=True)
    if output == STDOUT:
        return
    drawn = "exact" if curve.exact else f"sampled at {len(curve.positions) - 1} positions"
    if compared:
        drawn += f", {len(compared) + 1} schedules"
    if plan.position is not None:
        drawn += f", now at {plan.mode} {plan.position}" + ("" if current else " (not drawn)")
    scale = "log" if log_scale else "linear"
    print_message(
        f"wrote {output}: {describe_schedule(plan.schedule)}, {axis.span_text(plan.mode, horizon)} "
        f"({image_format}, {scale} lr axis, {drawn})"
    )


def terminal_plot(
    plan: Plan,
    compared: list[tuple[str, StepSchedule]],
    horizon: int,
    axis: XAxis,
    *,
    log: bool,
    title: str,
) -> list[str]:
    """The terminal picture: the title, then the curves filling the terminal.

    The size is the terminal's (``COLUMNS`` and ``LINES`` when set, 80x24 when not a
    terminal), bounded by :func:`~stepsched_cli.termplot.terminal_fit`.  An
    epoch-mode schedule drawn in steps spans its steps per epoch per epoch: a warmup
    ramped per epoch is the staircase the file plot draws too.
    """
    from stepsched_cli.termplot import render, terminal_fit

    width, height = terminal_fit(*shutil.get_terminal_size())
    return render(
        plan.schedule,
        total=horizon,
        width=width,
        height=height,
        log_scale=log,
        x_label=axis.unit,
        positions_per_unit=axis.positions_per_unit,
        units_per_position=axis.units_per_position,
        title=title,
        label=describe_schedule(plan.schedule),
        compare=compared,
    )
