"""Planning commands: ``table``, ``at`` and ``boundaries``.

Each is a thin layer over :class:`~stepsched_cli.schedule.StepSchedule`: the values
come from the core, the records (the JSON contract) are built here, and
:mod:`stepsched_cli.cli.output` prints them.
"""

from __future__ import annotations

from collections.abc import Iterator
from itertools import chain, islice, tee
from typing import Annotated, Any

import typer

from stepsched_cli.cli.options.output import FormatOption, JsonFlag, output_format_of
from stepsched_cli.cli.options.parameters import usage_error
from stepsched_cli.cli.options.schedule import (
    ScheduleOptions,
    plan_title,
    resolve_plan,
    schedule_options,
    warn_if_implausible,
)
from stepsched_cli.cli.options.units import (
    TIME_METAVAR,
    EpochsOption,
    TotalOption,
    located,
    position_parser,
    run_total,
    time_parser,
)
from stepsched_cli.cli.output import (
    Listing,
    Record,
    emit_listing,
    emit_rows,
    format_number,
    format_position,
    format_range,
    print_json,
    print_lines,
)
from stepsched_cli.planning import Moment, Plan, default_total, lowest_lr
from stepsched_cli.schedule import Segment
from stepsched_cli.units import TimeValue

DEFAULT_TABLE_DECAYS = 3
DEFAULT_BOUNDARY_COUNT = 3

TABLE_EPILOG = """\
Examples:

  stepsched table

  stepsched table --lr 0.1 --step-size 30

  stepsched table --lr 0.1 --milestones 30,80 --total 100 --json

  stepsched table --mode epoch --steps-per-epoch 5005 --epochs 90

  stepsched table --lr 0.1 --step-size 30 --every 10 --format csv
"""

AT_EPILOG = """\
Examples:

  stepsched at 100

  stepsched at 45 --lr 0.1 --step-size 30

  stepsched at 200000st --mode epoch --milestones 30,60,80 --steps-per-epoch 5005

  stepsched at --state run.json --json
"""

BOUNDARIES_EPILOG = """\
Examples:

  stepsched boundaries

  stepsched boundaries --lr 0.1 --step-size 30 --count 5

  stepsched boundaries --lr 0.1 --step-size 30 --below 1e-3 --format json
"""


def register(app: typer.Typer) -> None:
    """Add the planning commands to ``app``."""
    app.command("table", epilog=TABLE_EPILOG)(table)
    # A negative T reaches the parser, which says T must be >= 0 (and refuses unknown
    # options as click would).
    app.command("at", epilog=AT_EPILOG, context_settings={"ignore_unknown_options": True})(at)
    app.command("boundaries", epilog=BOUNDARIES_EPILOG)(boundaries)


# -- table -------------------------------------------------------------------


@schedule_options
def table(
    schedule: ScheduleOptions,
    total: TotalOption = None,
    every: Annotated[
        int | None,
        typer.Option(
            "--every",
            min=1,
            metavar="K",
            help="Sampled rows at positions 0, K, 2K, ... below the total, instead of intervals.",
            show_default=False,
        ),
    ] = None,
    epochs: EpochsOption = None,
    output_format: FormatOption = "table",
    json_output: JsonFlag = False,
) -> None:
    """Show the schedule as one row per constant-lr interval.

    With --total N (or --epochs E) the rows cover positions 0..N-1; without it they run
    until the third decay has happened and the last row is open-ended.  Every option
    has a default (lr 0.1, step size 30, gamma 0.1, per step): the line above the table
    names the schedule shown.
    """
    output_format = output_format_of(output_format, json_output)
    plan = resolve_plan(schedule)
    length = run_total(plan, total, epochs)
    horizon = length if length is not None else default_total(plan.schedule)
    warn_if_implausible(plan, total=length, horizon=horizon)
    title = plan_title(plan, length)
    if every is not None:
        emit_rows(plan.sampled_rows(every, horizon), _sample_listing(plan, title), output_format)
        return
    segments = plan.schedule.segments(
        total=length, decays=None if length is not None else DEFAULT_TABLE_DECAYS
    )
    records = (_segment_record(plan, segment) for segment in segments)
    emit_listing(records, _segment_listing(plan, title), output_format)


def _segment_record(plan: Plan, segment: Segment) -> dict[str, Any]:
    record: dict[str, Any] = {}
    if plan.shows_steps:
        record["start_step"] = plan.step_of(segment.start)
        record["end_step"] = plan.last_step_of(segment.end)
    if plan.shows_epochs:
        record["start_epoch"] = plan.epoch_of(segment.start)
        record["end_epoch"] = plan.epoch_of(segment.end)
    record["lr"] = segment.lr
    if plan.schedule.warmup_steps:
        record["lr_end"] = segment.lr_end
        record["warmup"] = segment.warmup
    return record


def _segment_listing(plan: Plan, title: str) -> Listing:
    keys = [f"{edge}_{unit}" for unit in plan.unit_keys() for edge in ("start", "end")]
    keys.append("lr")
    if plan.schedule.warmup_steps:
        keys += ["lr_end", "warmup"]
    headers = [f"{unit}s" for unit in plan.unit_keys()] + ["lr"]

    def human_row(record: Record) -> list[str]:
        cells = [
            format_range(record[f"start_{unit}"], record[f"end_{unit}"])
            for unit in plan.unit_keys()
        ]
        if record.get("warmup"):
            ramp = f"{format_number(record['lr'])} to {format_number(record['lr_end'])}"
            cells.append(f"{ramp} (warmup)")
        else:
            cells.append(format_number(record["lr"]))
        return cells

    return Listing(keys, headers, human_row, title=title)


def _sample_listing(plan: Plan, title: str) -> Listing:
    units = plan.unit_keys()

    def human_row(record: Record) -> list[str]:
        return [format_position(record[unit]) for unit in units] + [format_number(record["lr"])]

    csv_line = "{}," * len(units) + "{!r}\n"
    return Listing([*units, "lr"], [*units, "lr"], human_row, title=title, csv_line=csv_line)


# -- at ----------------------------------------------------------------------


@schedule_options
def at(
    schedule: ScheduleOptions,
    position: Annotated[
        TimeValue | None,
        typer.Argument(
            metavar="T",
            parser=position_parser,
            help="The position (in the schedule's unit; or 40ep, 200000st); defaults to the "
            "--state position.",
            show_default=False,
        ),
    ] = None,
    json_output: JsonFlag = False,
) -> None:
    """Show the lr at position T and when it next changes.

    T may be typed in either unit when the steps per epoch are known: a step of an
    epoch-mode schedule falls inside an epoch, whose lr it has.  --json gives the same
    keys whatever the mode: step and epoch (null when not known), mode, lr,
    next_boundary (in the mode's unit, null after the last decay) and next_lr.
    """
    plan = resolve_plan(schedule)
    if position is None:
        if plan.position is None:
            raise typer.BadParameter(
                "give a position T, or a state file with --state", param_hint="'T'"
            )
        position = TimeValue(plan.position)
    moment = located(plan.clock, position, "T")
    warn_if_implausible(plan, total=None, horizon=moment.position + 1)
    record = at_record(plan, moment)
    if json_output:
        print_json(record)
        return
    print_lines([*plan_title(plan).splitlines(), *_at_lines(plan, moment, record)])


def _at_lines(plan: Plan, moment: Moment, record: dict[str, Any]) -> list[str]:
    unit = plan.mode
    if unit == "epoch" and moment.step is not None and moment.step != plan.step_of(moment.position):
        where = f"step {moment.step} (in epoch {moment.position})"
    else:
        where = f"{unit} {moment.position}"
        if plan.steps_per_epoch is not None:
            other = "epoch" if unit == "step" else "step"
            where += f" ({other} {record[other]})"
    lines = [f"{where}: lr {format_number(record['lr'])}"]
    following = record["next_boundary"]
    if following is None:
        lines.append("no further decay: the lr stays at this value")
    else:
        lines.append(
            f"next decay at {unit} {following} (in {following - moment.position}): "
            f"lr {format_number(record['next_lr'])}"
        )
    return lines


def at_record(plan: Plan, moment: Moment) -> dict[str, Any]:
    """The JSON of ``at``: the position in both units, its lr, the next boundary and lr."""
    schedule = plan.schedule
    following = schedule.next_boundary(moment.position)
    return {
        "step": moment.step,
        "epoch": moment.epoch,
        "mode": plan.mode,
        "lr": schedule.lr_at(moment.position),
        "next_boundary": following,
        "next_lr": None if following is None else schedule.lr_at(following),
    }


# -- boundaries --------------------------------------------------------------


@schedule_options
def boundaries(
    schedule: ScheduleOptions,
    count_: Annotated[
        int | None,
        typer.Option(
            "--count",
            min=1,
            metavar="K",
            help=f"The first K boundaries. [default: {DEFAULT_BOUNDARY_COUNT} without --total]",
            show_default=False,
        ),
    ] = None,
    total: Annotated[
        TimeValue | None,
        typer.Option(
            "--total",
            metavar=TIME_METAVAR,
            parser=time_parser("total"),
            help="All boundaries below N (the run's length; or 90ep, 450450st).",
            show_default=False,
        ),
    ] = None,
    epochs: EpochsOption = None,
    below: Annotated[
        float | None,
        typer.Option(
            "--below",
            metavar="X",
            help="Only the first boundary after which the lr is below X (none: the lr "
            "never falls below X; the table says where it stops).",
            show_default=False,
        ),
    ] = None,
    output_format: FormatOption = "table",
    json_output: JsonFlag = False,
) -> None:
    """List the positions where the lr changes, with the lr before and after.

    With --below X and a lr that never falls below X (a floor, or a last milestone),
    the machine formats list nothing (JSON: []) and the table says the lowest lr and
    where it is reached.
    """
    output_format = output_format_of(output_format, json_output)
    plan = resolve_plan(schedule)
    length = run_total(plan, total, epochs)
    warn_if_implausible(plan, total=length)
    title = plan_title(plan, length)
    found: Iterator[int]
    if below is not None:
        if count_ is not None or length is not None:
            raise usage_error("--below", "cannot be combined with --count, --total or --epochs")
        if not below > 0 or below == float("inf"):
            raise usage_error("--below", f"must be a finite number > 0, got {below!r}")
        first = plan.schedule.first_boundary_below(below)
        if first is None:
            _never_below(plan, output_format, title)
            return
        found = iter((first,))
    else:
        found = plan.schedule.boundaries(0, length)
        limit = count_ if count_ is not None or length is not None else DEFAULT_BOUNDARY_COUNT
        if limit is not None:
            found = islice(found, limit)
    emit_listing(_boundary_records(plan, found), _boundary_listing(plan, title), output_format)


def _never_below(plan: Plan, output_format: str, title: str) -> None:
    """The answer when the lr never falls below --below: for people, where it stops."""
    position, lr = lowest_lr(plan.schedule)
    where = f"{plan.mode} {position}"
    if plan.steps_per_epoch is not None:
        other = "epoch" if plan.mode == "step" else "step"
        where += f" ({other} {plan.position_fields(position)[other]})"
    answer = f"never: the lowest lr is {format_number(lr)}, reached at {where}"
    if output_format == "table":
        print_lines([*title.splitlines(), answer])
        return
    # The machine formats list nothing, which is the documented answer.
    emit_listing(iter(()), _boundary_listing(plan, title), output_format)


def _boundary_records(plan: Plan, found: Iterator[int]) -> Iterator[dict[str, Any]]:
    positions, edges = tee(found)
    # The lr on either side of each boundary, walked incrementally (see lrs_at).
    lrs = plan.schedule.lrs_at(chain.from_iterable((p - 1, p) for p in edges))
    for position in positions:
        yield {**plan.position_fields(position), "lr_before": next(lrs), "lr_after": next(lrs)}


def _boundary_listing(plan: Plan, title: str) -> Listing:
    units = plan.unit_keys()

    def human_row(record: Record) -> list[str]:
        return [format_position(record[unit]) for unit in units] + [
            format_number(record["lr_before"]),
            format_number(record["lr_after"]),
        ]

    return Listing(
        [*units, "lr_before", "lr_after"],
        [*units, "lr before", "lr after"],
        human_row,
        title=title,
    )


__all__ = ["at", "at_record", "boundaries", "register", "table"]
