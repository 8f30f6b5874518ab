"""The ``check`` command: a logged lr series against the schedule, and a mismatch diagnosed.

A thin layer over :mod:`stepsched_cli.runlog` (CSV and JSON-lines logs, streamed) and
:func:`stepsched_cli.runlog.read_events` (TensorBoard runs), whose JSON contract is the
result's ``to_dict()``.
"""

from __future__ import annotations

from contextlib import nullcontext
from typing import Annotated

import typer

from stepsched_cli.cli.check_progress import progress_for
from stepsched_cli.cli.options.output import JsonFlag
from stepsched_cli.cli.options.parameters import option_for, usage_error
from stepsched_cli.cli.options.schedule import (
    ScheduleOptions,
    resolve_plan,
    schedule_options,
    warn_if_implausible,
)
from stepsched_cli.cli.output import describe_schedule, format_number, print_json, print_lines
from stepsched_cli.errors import EXIT_INVALID
from stepsched_cli.planning import Plan
from stepsched_cli.runlog import (
    DEFAULT_TOLERANCE,
    CheckResult,
    LogFormat,
    RunLogError,
    check_log,
    check_log_file,
    is_event_source,
    read_events,
)
from stepsched_cli.validate import STANDARD_STREAM

EXIT_MISMATCH = EXIT_INVALID
STDIN = STANDARD_STREAM
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
            help="The logged lr series: CSV or JSON lines (- reads stdin), or a TensorBoard "
            "run directory or event file.",
        ),
    ],
    tolerance: Annotated[
        float,
        typer.Option(
            "--tolerance",
            metavar="R",
            help="Relative tolerance: a logged lr matches within R of the expected one.",
        ),
    ] = DEFAULT_TOLERANCE,
    step_column: Annotated[
        str | None,
        typer.Option(
            "--step-column",
            metavar="C",
            help="The step column (CSV) or key (JSON lines). [default: recognised by name]",
            show_default=False,
        ),
    ] = None,
    lr_column: Annotated[
        str | None,
        typer.Option(
            "--lr-column",
            metavar="C",
            help="The lr column or key. [default: recognised by name]",
            show_default=False,
        ),
    ] = None,
    log_format: Annotated[
        LogFormat | None,
        typer.Option(
            "--log-format",
            help="The log's format. [default: by the extension, else by the first line]",
            show_default=False,
        ),
    ] = None,
    tag: Annotated[
        str | None,
        typer.Option(
            "--tag",
            metavar="TAG",
            help="TensorBoard runs: the scalar tag of the lr. [default: the lr-looking tag]",
            show_default=False,
        ),
    ] = None,
    json_output: JsonFlag = False,
) -> None:
    """Check a logged lr series against the schedule, and diagnose a mismatch.

    Every logged point is compared (the log is streamed, never loaded whole).  Exit 0
    when all match; exit 1 with the first mismatching step, the expected and logged
    lr and the likely cause (stepped per micro-batch, per batch or per epoch, off by
    one step, reset on resume, never stepped).  Logged steps are optimizer steps; for
    an epoch-mode schedule give --steps-per-epoch (or the data pipeline).
    """
    if not 0 <= tolerance < 1:
        raise usage_error("--tolerance", f"must be a number with 0 <= R < 1, got {tolerance!r}")
    if log == STDIN and schedule.state == STDIN:
        raise usage_error("--state", "only one of LOG and --state can be - (standard input)")
    plan = resolve_plan(schedule)
    warn_if_implausible(plan, total=None)
    try:
        result = _checked_log(
            plan, log, tag, json_output, tolerance, step_column, lr_column, log_format
        )
    except RunLogError as error:
        # A column the log lacks is named as the option that picks one (--lr-column).
        check_option = option_for(error.parameter)
        if check_option is not None:
            raise RunLogError(error.naming(check_option)) from None
        raise
    if json_output:
        print_json(result.to_dict())
    elif result.ok:
        print_lines(
            [f"ok: {result.points_checked} points match {describe_schedule(plan.schedule)}"]
        )
    else:
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
        print_lines(lines)
    if not result.ok:
        raise typer.Exit(EXIT_MISMATCH)


def _checked_log(
    plan: Plan,
    log: str,
    tag: str | None,
    json_output: bool,
    tolerance: float,
    step_column: str | None,
    lr_column: str | None,
    log_format: LogFormat | None,
) -> CheckResult:
    """Check a TensorBoard run (by its tag) or a CSV/JSON-lines log (the fast path)."""
    if is_event_source(log):  # a run directory or an event file
        points = read_events(log, tag)
        return check_log(
            points, plan.schedule, tolerance=tolerance, steps_per_epoch=plan.steps_per_epoch
        )
    if tag is not None:
        raise usage_error("--tag", "is for TensorBoard runs (a directory or event file)")
    progress = progress_for(json_output)
    with progress or nullcontext():
        return check_log_file(
            log,
            plan.schedule,
            log_format=log_format,
            step_column=step_column,
            lr_column=lr_column,
            tolerance=tolerance,
            steps_per_epoch=plan.steps_per_epoch,
            progress=progress,
        )


__all__ = ["check", "register"]
