"""The ``check`` command: a logged lr series against the schedule, and a mismatch diagnosed.

A thin layer over :mod:`stepsched_cli.runlog` (CSV and JSON-lines logs, streamed) and
:func:`stepsched_cli.runlog.read_events` (event-file runs), whose JSON contract is the
result's ``to_dict()``.
"""

from __future__ import annotations

import shutil
from contextlib import nullcontext
from dataclasses import dataclass
from typing import Annotated

import typer

from stepsched_cli.checkplot import check_picture
from stepsched_cli.cli.check_progress import progress_for
from stepsched_cli.cli.commands.plot import image_format_for
from stepsched_cli.cli.options.output import JsonFlag
from stepsched_cli.cli.options.parameters import option_for, usage_error
from stepsched_cli.cli.options.schedule import (
    ScheduleOptions,
    resolve_plan,
    schedule_options,
    warn_if_implausible,
)
from stepsched_cli.cli.output import (
    Listing,
    Record,
    describe_schedule,
    emit_listing,
    format_number,
    format_position,
    print_json,
    print_lines,
    print_message,
    write_output,
)
from stepsched_cli.errors import EXIT_INVALID
from stepsched_cli.planning import Plan
from stepsched_cli.plot import FigureSize
from stepsched_cli.runlog import (
    DEFAULT_TOLERANCE,
    EVENT_RUNS,
    EVENT_SOURCE,
    CheckResult,
    ColumnConflictError,
    Diagnosis,
    LogFormat,
    LogSample,
    RunLogError,
    check_log_file,
    check_run,
    is_event_source,
)
from stepsched_cli.termplot import render, terminal_fit
from stepsched_cli.validate import STANDARD_STREAM

EXIT_MISMATCH = EXIT_INVALID
# The decays a mismatch lists for people (--json lists them all).
DECAYS_SHOWN = 6
STDIN = STANDARD_STREAM
_STEPS_FROM_HINT = (
    "hint: if the log's steps count from 1 (step s holds the lr update s used), check it "
    "with --steps-from 1"
)
# check's hint when the log and the schedule probably count in different units, by
# whether steps per epoch were unknown.
_UNITS_HINT = {
    True: "hint: the schedule counts epochs: give --steps-per-epoch (or --dataset-size and "
    "--batch-size) so that logged optimizer steps are read as epochs",
    False: "hint: if the log's step column counts epochs, check it without --steps-per-epoch "
    "and the data pipeline options",
}

CHECK_EPILOG = """\
Examples:

  stepsched check train_log.csv --lr 0.1 --step-size 30

  stepsched check run.jsonl --lr 0.1 --step-size 30 --mode epoch --steps-per-epoch 5005 --json

  tail -n +1 log.csv | stepsched check - --lr 0.1 --lr-column lr-SGD

  stepsched check run.csv --milestones 30ep,60ep,80ep --steps-per-epoch 5005 -o check.png
"""


def register(app: typer.Typer) -> None:
    """Add ``check`` to ``app``."""
    app.command("check", epilog=CHECK_EPILOG)(check)


@schedule_options
def check(
    schedule: ScheduleOptions,
    log: Annotated[
        str,
        typer.Argument(
            metavar="LOG",
            help=f"The logged lr series: CSV or JSON lines (- reads stdin), or {EVENT_SOURCE}.",
        ),
    ],
    tolerance: Annotated[
        float,
        typer.Option(
            "--tolerance",
            metavar="R",
            help="Relative tolerance of a match.",
        ),
    ] = DEFAULT_TOLERANCE,
    step_column: Annotated[
        str | None,
        typer.Option(
            "--step-column",
            metavar="C",
            help="The step column or key. [default: by name]",
            show_default=False,
        ),
    ] = None,
    lr_column: Annotated[
        str | None,
        typer.Option(
            "--lr-column",
            metavar="C",
            help="The lr column or key. [default: by name]",
            show_default=False,
        ),
    ] = None,
    log_format: Annotated[
        LogFormat | None,
        typer.Option(
            "--log-format",
            help="The log's format. [default: detected]",
            show_default=False,
        ),
    ] = None,
    tag: Annotated[
        str | None,
        typer.Option(
            "--tag",
            metavar="TAG",
            help=f"{EVENT_RUNS}: the lr's tag. [default: by name]",
            show_default=False,
        ),
    ] = None,
    steps_from: Annotated[
        int | None,
        typer.Option(
            "--steps-from",
            min=0,
            max=1,
            metavar="0|1",
            help="The log's first step, 0 or 1. [default: by its shape]",
            show_default=False,
        ),
    ] = None,
    json_output: JsonFlag = False,
    output: Annotated[
        str | None,
        typer.Option(
            "--output",
            "-o",
            metavar="FILE",
            help="Also draw the plan and the log: png, svg, pdf.",
            show_default=False,
        ),
    ] = None,
    plot: Annotated[
        bool,
        typer.Option("--plot", help="Also draw them in the terminal."),
    ] = False,
) -> None:
    """Check a logged lr series against the schedule, and diagnose a mismatch.

    Exit 0 when every logged point matches; exit 1 with the first mismatch, the
    likely cause and the decays the log shows beside the planned ones.  Logged steps
    are optimizer steps.  More in docs/commands.md.
    """
    if not 0 <= tolerance < 1:
        raise usage_error("--tolerance", f"must be a number with 0 <= R < 1, got {tolerance!r}")
    if log == STDIN and schedule.state == STDIN:
        raise usage_error("--state", "only one of LOG and --state can be - (standard input)")
    image_format = None if output is None else image_format_for(output)
    plan = resolve_plan(schedule)
    warn_if_implausible(plan, total=None)
    sample = LogSample(FigureSize().budget) if output is not None or plot else None
    try:
        options = _LogOptions(tag, tolerance, step_column, lr_column, log_format, steps_from)
        result = _checked_log(plan, log, options, json_output, sample)
    except ColumnConflictError as error:  # the options chose one column twice
        raise usage_error(option_for(error.parameter) or "--step-column", error.detail) from None
    except RunLogError as error:
        # A column the log lacks is named as the option that picks one (--lr-column).
        check_option = option_for(error.parameter)
        if check_option is not None:
            raise RunLogError(error.naming(check_option)) from None
        raise
    if json_output:
        print_json(result.to_dict())
    else:
        if result.counting_note is not None:
            print_message(result.counting_note)
        print_lines(_verdict_lines(plan, result))
        # A run that matches has its decays where planned: listed in --json only.
        if result.decays and not result.ok:
            shown = result.decays[:DECAYS_SHOWN]
            emit_listing(iter([row.to_dict() for row in shown]), _DECAY_LISTING, "table")
            if len(result.decays) > DECAYS_SHOWN:
                print_lines([f"... {len(result.decays) - DECAYS_SHOWN} more (all in --json)"])
    if sample is not None:
        _draw(plan, result, sample, output, image_format, terminal=plot)
    if not result.ok:
        raise typer.Exit(EXIT_MISMATCH)


def _verdict_lines(plan: Plan, result: CheckResult) -> list[str]:
    if result.ok:
        return [f"ok: {result.points_checked} points match {describe_schedule(plan.schedule)}"]
    lines = [
        f"mismatch at step {result.first_mismatch_step}: expected lr "
        f"{format_number(result.expected_lr or 0.0)}, logged "
        f"{format_number(result.logged_lr or 0.0)} ({result.mismatches} of "
        f"{result.points_checked} points differ)"
    ]
    if result.diagnosis is not None:
        lines.append(f"diagnosis: {result.diagnosis.message}")
        if result.diagnosis.also_consistent:
            lines.append("also consistent with: " + ", ".join(result.diagnosis.also_consistent))
        if result.diagnosis.units_mixed:
            lines.append(_UNITS_HINT[plan.steps_per_epoch is None])
        if result.steps_from == 0 and _one_behind(result.diagnosis):
            lines.append(_STEPS_FROM_HINT)
    return lines


def _one_behind(diagnosis: Diagnosis) -> bool:
    """Whether the log may count its steps from 1: one step behind, or every decay a step
    late."""
    return (
        diagnosis.kind == "behind_by_one"
        or "behind_by_one" in diagnosis.also_consistent
        or (diagnosis.kind == "shifted" and diagnosis.shift == 1)
    )


def _lr_change(before: float | None, after: float | None) -> str:
    if before is None or after is None:
        return "-"
    return f"{format_number(before)} -> {format_number(after)}"


def _decay_cells(record: Record) -> list[str]:
    difference = record["difference"]
    return [
        "-" if record["planned_at"] is None else format_position(record["planned_at"]),
        "-" if record["observed_at"] is None else format_position(record["observed_at"]),
        "-" if difference is None else f"{difference:+d}",
        _lr_change(record["planned_lr_before"], record["planned_lr_after"]),
        _lr_change(record["lr_before"], record["lr_after"]),
    ]


_DECAY_LISTING = Listing(
    ["planned_at", "observed_at", "difference", "planned_lr_before", "lr_before"],
    ["planned at step", "observed at", "difference", "planned lr", "logged lr"],
    _decay_cells,
    title="decays: planned and observed (the first logged step at the new lr)",
)


def _draw(
    plan: Plan,
    result: CheckResult,
    sample: LogSample,
    output: str | None,
    image_format: str | None,
    *,
    terminal: bool,
) -> None:
    """The plan and the log on the same axes: in the terminal, to a file, or both."""
    picture = check_picture(
        plan.schedule, result, sample.points(), sample.largest_step, plan.steps_per_epoch
    )
    if terminal:
        width, height = terminal_fit(*shutil.get_terminal_size())
        print_lines(
            render(
                plan.schedule,
                total=picture.horizon,
                width=width,
                height=height,
                log_scale=picture.log_scale,
                x_label=picture.axis.unit,
                units_per_position=picture.axis.units_per_position,
                title=picture.title,
                points=picture.points,
            )
        )
    if output is None or image_format is None:
        return
    from stepsched_cli.checkplot import build_check_figure
    from stepsched_cli.figure import render as render_image

    write_output(output, render_image(build_check_figure(picture), image_format), force=True)
    if output != STDIN:
        print_message(
            f"wrote {output}: the plan and {len(picture.points)} of the "
            f"{result.points_checked} logged points ({image_format})"
        )


@dataclass(frozen=True)
class _LogOptions:
    """check's options about reading the log."""

    tag: str | None
    tolerance: float
    step_column: str | None
    lr_column: str | None
    log_format: LogFormat | None
    steps_from: int | None


def _checked_log(
    plan: Plan, log: str, options: _LogOptions, json_output: bool, sample: LogSample | None
) -> CheckResult:
    """Check an event-file run (by its tag) or a CSV/JSON-lines log (the fast path)."""
    if is_event_source(log):  # a run directory or an event file
        return check_run(
            log,
            plan.schedule,
            tag=options.tag,
            tolerance=options.tolerance,
            steps_per_epoch=plan.steps_per_epoch,
            steps_from=options.steps_from,
            sample=sample,
        )
    if options.tag is not None:
        raise usage_error("--tag", f"is for {EVENT_RUNS} (a directory or event file)")
    progress = progress_for(json_output)
    with progress or nullcontext():
        return check_log_file(
            log,
            plan.schedule,
            log_format=options.log_format,
            step_column=options.step_column,
            lr_column=options.lr_column,
            tolerance=options.tolerance,
            steps_per_epoch=plan.steps_per_epoch,
            steps_from=options.steps_from,
            progress=progress,
            sample=sample,
        )


__all__ = ["check", "register"]
