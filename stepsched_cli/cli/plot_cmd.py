"""The ``plot`` command: the schedule's step curve in the terminal, or as a png, svg or pdf.

Without ``-o`` the curve is drawn in the terminal by :mod:`stepsched_cli.termplot`
(sized to the terminal's width), which never imports matplotlib: it costs what
``table`` costs.  With ``-o`` matplotlib is imported when the command runs (through
:mod:`stepsched_cli.plot`), never when the application starts; ``--compare SPEC``
adds further schedules (the base with SPEC's overrides) to the same figure.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import PurePath
from typing import Annotated, Literal

import typer

from stepsched_cli.cli.options import (
    ForceFlag,
    Plan,
    ScheduleOptions,
    TotalOption,
    default_total,
    resolve_plan,
    schedule_options,
    usage_error,
    warn_if_implausible,
)
from stepsched_cli.cli.output import (
    describe_schedule,
    print_lines,
    print_message,
    refuse_existing_output,
    write_output,
)
from stepsched_cli.compare import CompareError, apply_spec, check_comparable

STDOUT = "-"

PLOT_EPILOG = """\
Examples:

  stepsched plot --lr 0.1 --step-size 30 --log

  stepsched plot --lr 0.1 --step-size 30 --total 120 -o lr.png

  stepsched plot --lr 0.1 --step-size 30 --compare gamma=0.5,step_size=20 -o compare.png

  stepsched plot --lr 0.1 --milestones 30,80 --log -o lr.svg

  stepsched plot --lr 0.1 --step-size 30 --mode epoch --steps-per-epoch 5005 --x steps -o lr.pdf
"""

XUnit = Literal["steps", "epochs"]

TERMINAL_PLOT_HEIGHT = 12
# Narrower terminals get lines that overflow rather than an error: the y labels need
# up to 10 columns, and a curve a few more.
MIN_TERMINAL_WIDTH = 20
# Pictures place positions as floats (axes, ticks, matplotlib): the largest horizon a
# plot accepts, with room below the float limit (1.8e308) for the tick arithmetic.
MAX_PLOT_TOTAL = 10**300
MAX_PLOT_TOTAL_TEXT = "10**300"


def register(app: typer.Typer) -> None:
    """Add the ``plot`` command to ``app``."""
    app.command("plot", epilog=PLOT_EPILOG)(plot)


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


def x_axis(plan: Plan, x: XUnit | None) -> tuple[str, Callable[[int], float]]:
    """The x axis label and the map from a position to x, for ``--x``.

    Without ``--x`` the axis counts the schedule's own unit.  The other unit needs
    ``--steps-per-epoch``.
    """
    unit = x or f"{plan.mode}s"
    if unit == f"{plan.mode}s":
        return plan.mode, float
    if plan.steps_per_epoch is None:
        raise usage_error("--x", f"{unit} on the x axis needs --steps-per-epoch")
    per_epoch = plan.steps_per_epoch
    if unit == "epochs":
        return "epoch", lambda position: position / per_epoch
    return "step", lambda position: float(position * per_epoch)


@schedule_options
def plot(
    schedule: ScheduleOptions,
    output: Annotated[
        str | None,
        typer.Option(
            "--output",
            "-o",
            help="The file to write (png, svg, pdf); - writes a png to stdout. "
            "[default: draw in the terminal]",
            show_default=False,
        ),
    ] = None,
    total: TotalOption = None,
    log: Annotated[bool, typer.Option("--log", help="A logarithmic lr axis.")] = False,
    x: Annotated[
        XUnit | None,
        typer.Option(
            "--x",
            help="The x axis unit; the other unit than --mode needs --steps-per-epoch. "
            "[default: the schedule's unit]",
            show_default=False,
        ),
    ] = None,
    force: ForceFlag = False,
    compare: Annotated[
        list[str] | None,
        typer.Option(
            "--compare",
            metavar="SPEC",
            help="Also draw the base schedule with these overrides, e.g. gamma=0.5,step_size=20 "
            "(repeatable; needs -o).",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Draw the exact step curve in the terminal, or to a png, svg or pdf file (-o).

    Without --total the plot runs one interval past the third decay.  Decays are
    marked; the cost depends on the picture's size, not on the horizon.  With -o the
    format is chosen by the extension, an existing file is kept unless --force is
    given (the write is atomic), and -o - writes a png to stdout.
    """
    if force and output is None:
        raise usage_error("--force", "applies to a file written with -o FILE; give -o as well")
    image_format = None if output is None else image_format_for(output)
    plan = resolve_plan(schedule)
    x_label, to_x = x_axis(plan, x)
    horizon = plot_horizon(plan, total, x)
    specs = compare or []
    if specs and output is None:
        raise usage_error("--compare", "draws into a file: give -o FILE as well")
    try:
        # A SPEC is an option value: a malformed one, or one that makes an invalid or
        # incomparable schedule, is a usage error like a bad --gamma.
        compared = [(spec, apply_spec(plan.schedule, spec)) for spec in specs]
        for _, other in compared:
            check_comparable(plan.schedule, other)
    except CompareError as error:
        raise usage_error("--compare", str(error)) from None
    warn_if_implausible(plan, total=total, horizon=horizon)
    if output is None or image_format is None:
        print_lines(terminal_plot(plan, horizon, log=log, x=x))
        return
    refuse_existing_output(output, force=force)  # after the usage errors, before the work

    from stepsched_cli import plot as pictures

    curve = pictures.staircase(plan.schedule, horizon)
    figure = pictures.build_figure(
        curve,
        title=describe_schedule(plan.schedule),
        x_label=x_label,
        to_x=to_x,
        log=log,
        label="base" if compared else "lr",
        compare=[(spec, pictures.staircase(other, horizon)) for spec, other in compared],
    )
    data = pictures.render(figure, image_format)
    write_output(output, data, force=force)
    if output == STDOUT:
        return
    drawn = "exact" if curve.exact else f"sampled at {len(curve.positions) - 1} positions"
    if compared:
        drawn += f", {len(compared) + 1} schedules"
    print_message(f"wrote {output} ({image_format}, {plan.mode}s 0-{horizon - 1}, {drawn})")


def plot_horizon(plan: Plan, total: int | None, x: XUnit | None) -> int:
    """The positions to draw: ``--total``, or the default; refused past :data:`MAX_PLOT_TOTAL`.

    Raises:
        typer.BadParameter: the horizon (in the x axis's unit) exceeds the bound (exit 2).
    """
    horizon = total if total is not None else default_total(plan.schedule)
    drawn = horizon
    if x == "steps" and plan.mode == "epoch" and plan.steps_per_epoch is not None:
        drawn = horizon * plan.steps_per_epoch
    if drawn <= MAX_PLOT_TOTAL:
        return horizon
    accepted = f"a plot draws at most {MAX_PLOT_TOTAL_TEXT} positions (it places them as floats)"
    if total is None:
        raise usage_error(
            "--total",
            f"the default horizon (one interval past the third decay) is {_digits(horizon)}; "
            f"{accepted}: give --total from 1 to {MAX_PLOT_TOTAL_TEXT}",
        )
    if drawn != horizon:
        raise usage_error(
            "--total",
            f"with --x steps the plot spans {_digits(drawn)} steps ({_digits(horizon)} "
            f"epochs); {accepted}",
        )
    raise usage_error(
        "--total",
        f"must be an integer from 1 to {MAX_PLOT_TOTAL_TEXT} for a plot, got {_digits(total)}",
    )


def _digits(number: int) -> str:
    """A number in a message: in full, or its digit count when it is too long to read."""
    text = str(number)
    return text if len(text) <= 30 else f"a number of {len(text)} digits"


def terminal_plot(plan: Plan, horizon: int, *, log: bool, x: XUnit | None) -> list[str]:
    """The terminal picture: the schedule's description, then the curve as wide as the terminal.

    The width is the terminal's (``COLUMNS`` when set, 80 when not a terminal), at
    least :data:`MIN_TERMINAL_WIDTH`: a tinier terminal wraps the lines.  An
    epoch-mode schedule drawn in steps is converted to steps first (exactly, or a
    :class:`~stepsched_cli.errors.ConversionError`).
    """
    from stepsched_cli.termplot import render
    from stepsched_cli.units import to_mode

    schedule, total, per_unit = plan.schedule, horizon, 1
    unit = x or f"{plan.mode}s"
    if unit != f"{plan.mode}s" and plan.steps_per_epoch is not None:
        if plan.mode == "epoch":
            schedule = to_mode(schedule, "step", plan.steps_per_epoch)
            total = horizon * plan.steps_per_epoch
        else:
            per_unit = plan.steps_per_epoch
    width = max(MIN_TERMINAL_WIDTH, shutil.get_terminal_size().columns)
    picture = render(
        schedule,
        total=total,
        width=width,
        height=TERMINAL_PLOT_HEIGHT,
        log_scale=log,
        x_label=unit.rstrip("s"),
        positions_per_unit=per_unit,
    )
    return [describe_schedule(plan.schedule), *picture]
