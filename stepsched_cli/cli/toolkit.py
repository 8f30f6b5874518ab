"""Practitioner commands: ``steps-per-epoch``, ``check``, ``solve`` and ``diff``.

Each is a thin layer over the library: :mod:`stepsched_cli.units` (steps per epoch
from the data pipeline), :mod:`stepsched_cli.runlog` (a logged run against its
schedule), :mod:`stepsched_cli.solve` (the schedule reaching a final lr) and
:mod:`stepsched_cli.compare` (SPEC overrides and where two schedules differ).  The
JSON contracts are the library's ``to_dict()`` where it has one.

``diff`` with one SPEC compares the schedule options (the base) with the base plus
that SPEC; with two, the base plus the first with the base plus the second.

Size: about 530 lines, over the house's ~500: four commands, each an option list
(Typer's declarations are most of the lines) and a few lines that call the library.
"""

from __future__ import annotations

import math
from contextlib import nullcontext
from itertools import chain
from typing import Annotated, Any

import typer

from stepsched_cli import tensorboard_log
from stepsched_cli.cli.check_progress import progress_for
from stepsched_cli.cli.options import (
    EpochsOption,
    FormatOption,
    JsonFlag,
    PipelineOptions,
    Plan,
    ScheduleOptions,
    TotalOption,
    default_total,
    output_format_of,
    pipeline_options,
    plan_title,
    resolve_plan,
    resolve_steps_per_epoch,
    run_total,
    schedule_options,
    usage_error,
    warn_if_implausible,
)
from stepsched_cli.cli.output import (
    Listing,
    Record,
    describe_schedule,
    emit_listing,
    format_number,
    format_range,
    print_json,
    print_lines,
    print_message,
)
from stepsched_cli.compare import CompareError, Difference, apply_spec, check_comparable, diff
from stepsched_cli.errors import EXIT_INVALID
from stepsched_cli.numbers import format_exact
from stepsched_cli.runlog import (
    DEFAULT_TOLERANCE,
    CheckResult,
    ColumnConflictError,
    LogFormat,
    RunLogError,
    check_log,
    check_log_file,
)
from stepsched_cli.solve import SolveError, solve
from stepsched_cli.units import StepsPerEpoch
from stepsched_cli.validate import STANDARD_STREAM

EXIT_MISMATCH = EXIT_INVALID
STDIN = STANDARD_STREAM
# The library parameters that check's errors may name, shown as their options.
_CHECK_OPTIONS = {"step_column": "--step-column", "lr_column": "--lr-column"}
# check's hint when the log and the schedule probably count in different units, by
# whether steps per epoch were unknown.
_UNITS_HINT = {
    True: "hint: the schedule counts epochs: give --steps-per-epoch (or --dataset-size and "
    "--batch-size) so that logged optimizer steps are read as epochs",
    False: "hint: if the log's step column counts epochs, check it without --steps-per-epoch "
    "and the data pipeline options",
}

STEPS_PER_EPOCH_EPILOG = """\
Examples:

  stepsched steps-per-epoch --dataset-size 1281167 --batch-size 256

  stepsched steps-per-epoch --dataset-size 1281167 --batch-size 32 --world-size 8 --json

  stepsched steps-per-epoch --dataset-size 1281167 --global-batch-size 256 --world-size 8
"""

CHECK_EPILOG = """\
Examples:

  stepsched check train_log.csv --lr 0.1 --step-size 30

  stepsched check run.jsonl --lr 0.1 --step-size 30 --mode epoch --steps-per-epoch 5005 --json

  tail -n +1 log.csv | stepsched check - --lr 0.1 --lr-column lr-SGD
"""

SOLVE_EPILOG = """\
Examples:

  stepsched solve --lr 0.1 --final-lr 0.0001 --total 90 --decays 3

  stepsched solve --lr 0.1 --final-lr 0.001 --total 100 --gamma 0.1 --json
"""

DIFF_EPILOG = """\
Examples:

  stepsched diff gamma=0.5,step_size=20 --lr 0.1 --step-size 30 --total 90

  stepsched diff lr=0.05 milestones=30,80 --lr 0.1 --json
"""


def register(app: typer.Typer) -> None:
    """Add the practitioner commands to ``app``."""
    app.command("steps-per-epoch", epilog=STEPS_PER_EPOCH_EPILOG)(steps_per_epoch_command)
    app.command("check", epilog=CHECK_EPILOG)(check)
    app.command("solve", epilog=SOLVE_EPILOG)(solve_command)
    app.command("diff", epilog=DIFF_EPILOG)(diff_command)


# -- steps-per-epoch -----------------------------------------------------------


@pipeline_options
def steps_per_epoch_command(pipeline: PipelineOptions, json_output: JsonFlag = False) -> None:
    """Compute the optimizer steps in one epoch from the data pipeline.

    As PyTorch counts: a DistributedSampler gives each of --world-size ranks
    ceil(N / W) samples (padded), the loader makes ceil(samples / B) batches (floor
    with --drop-last), and under gradient accumulation the optimizer steps every A
    batches, the last partial group still stepping (ceil; --accumulation-rounding
    floor counts as the Hugging Face Trainer does).  --dataset-size and --batch-size
    (per rank) are required; --global-batch-size (samples per optimizer step over all
    ranks and accumulated batches) may replace --batch-size.
    """
    figures = resolve_steps_per_epoch(pipeline)
    if figures is None:
        raise usage_error(
            "--dataset-size", "give --dataset-size and --batch-size (or --global-batch-size)"
        )
    if json_output:
        print_json(steps_per_epoch_record(figures))
        return
    print_lines(steps_per_epoch_lines(figures))


def steps_per_epoch_record(figures: StepsPerEpoch) -> dict[str, Any]:
    """The JSON of ``steps-per-epoch``: the answer first, then every input and figure."""
    return {
        "steps_per_epoch": figures.steps_per_epoch,
        "dataset_size": figures.dataset_size,
        "batch_size": figures.batch_size,
        "global_batch_size": figures.global_batch_size,
        "world_size": figures.world_size,
        "grad_accum": figures.grad_accum,
        "drop_last": figures.drop_last,
        "accumulation_rounding": figures.accumulation_rounding,
        "samples_per_rank": figures.samples_per_rank,
        "batches_per_rank": figures.batches_per_rank,
    }


def steps_per_epoch_lines(figures: StepsPerEpoch) -> list[str]:
    """The formula with the numbers, one rounding per line, after the batch per rank."""
    loader = "floor" if figures.drop_last else "ceil"
    if figures.global_batch_size is None:
        batch = f"batch per rank    {figures.batch_size} (--batch-size is per rank)"
    else:
        batch = (
            f"batch per rank    {figures.global_batch_size} / ({figures.world_size} ranks x "
            f"{figures.grad_accum} accumulated) = {figures.batch_size}"
        )
    return [
        batch,
        f"samples per rank  ceil({figures.dataset_size} / {figures.world_size}) "
        f"= {figures.samples_per_rank}",
        f"batches per rank  {loader}({figures.samples_per_rank} / {figures.batch_size}) "
        f"= {figures.batches_per_rank}",
        f"steps per epoch   {figures.accumulation_rounding}({figures.batches_per_rank} / "
        f"{figures.grad_accum}) = {figures.steps_per_epoch}",
    ]


# -- check -------------------------------------------------------------------


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
    except ColumnConflictError as error:  # the options chose one column twice
        raise usage_error(_CHECK_OPTIONS[error.parameter or "step_column"], error.detail) from None
    except RunLogError as error:
        if error.parameter in _CHECK_OPTIONS:
            raise RunLogError(error.naming(_CHECK_OPTIONS[error.parameter])) from None
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


# -- solve -------------------------------------------------------------------

# SolveError messages about one argument start with its name.
_SOLVE_OPTIONS = {
    "lr": "--lr",
    "final_lr": "--final-lr",
    "total": "--total",
    "decays": "--decays",
    "step_size": "--step-size",
    "gamma": "--gamma",
}


def solve_command(
    lr: Annotated[float, typer.Option("--lr", help="The initial lr (> 0).", show_default=False)],
    final_lr: Annotated[
        float,
        typer.Option(
            "--final-lr", help="The lr wanted by the end of the run (< --lr).", show_default=False
        ),
    ],
    total: Annotated[
        int,
        typer.Option(
            "--total",
            metavar="T",
            help="The run's length: positions 0..T-1, as in every command.",
            show_default=False,
        ),
    ],
    decays: Annotated[
        int | None,
        typer.Option(
            "--decays", metavar="K", help="The number of evenly spaced decays.", show_default=False
        ),
    ] = None,
    step_size: Annotated[
        int | None,
        typer.Option(
            "--step-size", metavar="S", help="The positions between decays.", show_default=False
        ),
    ] = None,
    gamma: Annotated[
        float | None,
        typer.Option(
            "--gamma", metavar="G", help="The decay factor, 0 < G < 1.", show_default=False
        ),
    ] = None,
    json_output: JsonFlag = False,
) -> None:
    """Find the step size and gamma that take --lr to --final-lr within a run of T positions.

    Give exactly one of --decays, --step-size and --gamma.  The run covers positions
    0..T-1 and every decay lands inside it: with --decays 3 and T 90 the step size is
    29 (decays at 29, 58, 87), so the run trains at the final lr; step size 30 would
    reach it at 90, after the run.
    gamma is printed exactly (the shortest text of the float), to be passed on as is.
    An impossible request (no step size gives K decays by T, a gamma that does not
    reach the final lr in whole decays, or so many decays that the float gamma's
    rounding moves the final lr by more than 1e-6, relative) is an error (exit 1).
    """
    given = [
        option
        for option, value in (("--decays", decays), ("--step-size", step_size), ("--gamma", gamma))
        if value is not None
    ]
    if len(given) != 1:
        option = given[1] if given else "--decays"
        shown = " and ".join(given) if given else "none"
        raise usage_error(
            option, f"give exactly one of --decays, --step-size, --gamma (got {shown})"
        )
    try:
        solution = solve(lr, final_lr, total, decays=decays, step_size=step_size, gamma=gamma)
    except SolveError as error:
        solve_option = _SOLVE_OPTIONS.get(error.parameter or "")
        if solve_option is not None:
            raise usage_error(solve_option, str(error)) from None
        raise
    if json_output:
        print_json(solution.to_dict())
        return
    print_lines(
        [
            f"step_size  {solution.step_size}",
            f"gamma      {format_exact(solution.gamma)}",
            f"decays     {solution.decays} (the last at position {solution.reached_at})",
            f"final lr   {format_number(solution.final_lr)} from position "
            f"{solution.reached_at}, inside the run (positions 0-{solution.total - 1})",
        ]
    )


# -- diff --------------------------------------------------------------------


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
    if tensorboard_log.is_event_source(log):  # a run directory or an event file
        points = tensorboard_log.read_events(log, tag)
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


@schedule_options
def diff_command(
    schedule: ScheduleOptions,
    specs: Annotated[
        list[str],
        typer.Argument(
            metavar="SPEC [SPEC]",
            help="Overrides of the base schedule, e.g. gamma=0.5,step_size=20 or lr=0.05 "
            "(milestones=30,80 as --milestones takes them).  One SPEC: base vs "
            "base+SPEC; two: base+SPEC1 vs base+SPEC2.",
            show_default=False,
        ),
    ],
    total: TotalOption = None,
    epochs: EpochsOption = None,
    output_format: FormatOption = "table",
    json_output: JsonFlag = False,
) -> None:
    """List the intervals where two schedules differ, with both lrs and their ratio.

    Schedule A is the base (the schedule options) with one SPEC, or the base plus the
    first SPEC with two; B is the base plus the last SPEC.  ratio is lr B / lr A at
    the start of the interval: "inf" when lr A is 0 (or the ratio is too large for a
    float), "-" when both are 0 (undefined); JSON has no infinity, so both are null
    there (and empty in CSV): lr_a and lr_b tell which.  Without --total the
    comparison covers one interval past the third decay of whichever schedule
    reaches it later.  Nothing listed: the schedules agree.
    """
    if len(specs) > 2:
        raise usage_error("SPEC", f"give one or two SPECs, got {len(specs)}")
    output_format = output_format_of(output_format, json_output)
    plan = resolve_plan(schedule)
    total = run_total(plan, total, epochs)
    base = plan.schedule
    try:
        # A SPEC is an argument value: malformed, invalid or incomparable is a usage error.
        first = base if len(specs) == 1 else apply_spec(base, specs[0])
        second = apply_spec(base, specs[-1])
        check_comparable(first, second)
    except CompareError as error:
        raise usage_error("SPEC", str(error)) from None
    horizon = total if total is not None else max(default_total(first), default_total(second))
    ramps = bool(first.warmup_steps or second.warmup_steps)
    differences = diff(first, second, total=horizon)
    leading = next(differences, None)
    if leading is None:
        print_message(f"the schedules agree at every {plan.mode} below {horizon}")
    records = (
        _difference_record(plan, difference, ramps)
        for difference in chain(() if leading is None else (leading,), differences)
    )
    # The base's title lines after its schedule: the pipeline and the run's length.
    context = plan_title(plan, total).splitlines()[1:]
    title = "\n".join(
        [f"A: {describe_schedule(first)}", f"B: {describe_schedule(second)}", *context]
    )
    emit_listing(records, _difference_listing(plan, ramps, title), output_format)


def _difference_record(plan: Plan, difference: Difference, ramps: bool) -> dict[str, Any]:
    record: dict[str, Any] = {}
    if plan.shows_steps:
        record["start_step"] = plan.step_of(difference.start)
        record["end_step"] = plan.last_step_of(difference.end)
    if plan.shows_epochs:
        record["start_epoch"] = plan.epoch_of(difference.start)
        record["end_epoch"] = plan.epoch_of(difference.end)
    record["lr_a"] = difference.lr_a
    record["lr_b"] = difference.lr_b
    # JSON has no infinity or NaN: x/0 (inf) and 0/0 (undefined) are both null.
    record["ratio"] = difference.ratio if math.isfinite(difference.ratio) else None
    if ramps:
        record["lr_a_end"] = difference.lr_a_end
        record["lr_b_end"] = difference.lr_b_end
    return record


def _difference_listing(plan: Plan, ramps: bool, title: str) -> Listing:
    units = plan.unit_keys()
    keys = [f"{edge}_{unit}" for unit in units for edge in ("start", "end")]
    keys += ["lr_a", "lr_b", "ratio"]
    if ramps:
        keys += ["lr_a_end", "lr_b_end"]

    def human_row(record: Record) -> list[str]:
        cells = [format_range(record[f"start_{unit}"], record[f"end_{unit}"]) for unit in units]
        for which in ("a", "b"):
            value = format_number(record[f"lr_{which}"])
            end = record.get(f"lr_{which}_end")
            if end is not None and end != record[f"lr_{which}"]:
                value += f" to {format_number(end)}"
            cells.append(value)
        cells.append(_ratio_text(record))
        return cells

    headers = [f"{unit}s" for unit in units] + ["lr A", "lr B", "B/A"]
    return Listing(keys, headers, human_row, title=title)


def _ratio_text(record: Record) -> str:
    """B/A for people: a null ratio is '-' for 0/0 (undefined), 'inf' otherwise."""
    ratio = record["ratio"]
    if ratio is not None:
        return format_number(ratio)
    return "-" if record["lr_a"] == 0 and record["lr_b"] == 0 else "inf"


__all__ = ["check", "diff_command", "register", "solve_command", "steps_per_epoch_command"]
