"""The ``plot`` command: the schedule's step curve as a png, svg or pdf file.

matplotlib is imported only when this command runs (through
:mod:`stepsched_cli.plot`), never when the application starts.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import PurePath
from typing import Annotated, Literal

import typer

from stepsched_cli.cli.options import (
    ForceFlag,
    OutputFile,
    Plan,
    ScheduleOptions,
    TotalOption,
    default_total,
    resolve_plan,
    schedule_options,
    usage_error,
)
from stepsched_cli.cli.output import describe_schedule, print_message
from stepsched_cli.cli.state_cmds import refuse_existing_output, write_output

STDOUT = "-"

PLOT_EPILOG = """\
Examples:

  stepsched plot --lr 0.1 --step-size 30 --total 120 -o lr.png

  stepsched plot --lr 0.1 --milestones 30,80 --log -o lr.svg

  stepsched plot --lr 0.1 --step-size 30 --mode epoch --steps-per-epoch 5005 --x steps -o lr.pdf
"""

XUnit = Literal["steps", "epochs"]


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
    output: OutputFile,
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
) -> None:
    """Draw the exact step curve to a png, svg or pdf file (chosen by the extension).

    Without --total the plot runs one interval past the third decay.  Decays are
    marked; the cost depends on the picture's size, not on the horizon.  An existing
    file is kept unless --force is given (the write is atomic); -o - writes a png to
    stdout.
    """
    image_format = image_format_for(output)
    plan = resolve_plan(schedule)
    x_label, to_x = x_axis(plan, x)
    horizon = total if total is not None else default_total(plan.schedule)
    refuse_existing_output(output, force=force)  # after the usage errors, before the work

    from stepsched_cli import plot as pictures

    curve = pictures.staircase(plan.schedule, horizon)
    figure = pictures.build_figure(
        curve,
        title=describe_schedule(plan.schedule),
        x_label=x_label,
        to_x=to_x,
        log=log,
    )
    data = pictures.render(figure, image_format)
    write_output(output, data, force=force)
    if output == STDOUT:
        return
    drawn = "exact" if curve.exact else f"sampled at {len(curve.positions) - 1} positions"
    print_message(f"wrote {output} ({image_format}, {plan.mode}s 0-{horizon - 1}, {drawn})")
