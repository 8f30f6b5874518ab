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

from stepsched_cli.cli.options import (
    FormatOption,
    JsonFlag,
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
    Listing,
    Record,
    describe_schedule,
    emit_listing,
    format_number,
    format_position,
    format_range,
    print_json,
    print_lines,
    print_message,
)
from stepsched_cli.schedule import Segment

DEFAULT_TABLE_DECAYS = 3
DEFAULT_BOUNDARY_COUNT = 3

TABLE_EPILOG = """\
Examples:

  stepsched table --lr 0.1 --step-size 30

  stepsched table --lr 0.1 --milestones 30,80 --total 100 --format json

  stepsched table --lr 0.1 --step-size 30 --every 10 --format csv
"""

AT_EPILOG = """\
Examples:

  stepsched at 45 --lr 0.1 --step-size 30

  stepsched at --state run.json --json
"""

BOUNDARIES_EPILOG = """\
Examples:

  stepsched boundaries --lr 0.1 --step-size 30 --count 5

  stepsched boundaries --lr 0.1 --step-size 30 --below 1e-3 --format json
"""


def register(app: typer.Typer) -> None:
    """Add the planning commands to ``app``."""
    app.command("table", epilog=TABLE_EPILOG)(table)
    app.command("at", epilog=AT_EPILOG)(at)
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
    output_format: FormatOption = "table",
) -> None:
    """Show the schedule as one row per constant-lr interval.

    With --total N the rows cover positions 0..N-1; without it they run until the third
    decay has happened and the last row is open-ended.
    """
    plan = resolve_plan(schedule)
    horizon = total if total is not None else default_total(plan.schedule)
    warn_if_implausible(plan, total=total, horizon=horizon)
    if every is not None:
        emit_listing(_sample_records(plan, every, horizon), _sample_listing(plan), output_format)
        return
    segments = plan.schedule.segments(
        total=total, decays=None if total is not None else DEFAULT_TABLE_DECAYS
    )
    records = (_segment_record(plan, segment) for segment in segments)
    emit_listing(records, _segment_listing(plan), output_format)


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


def _segment_listing(plan: Plan) -> Listing:
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

    return Listing(keys, headers, human_row, title=describe_schedule(plan.schedule))


def _sample_records(plan: Plan, every: int, total: int) -> Iterator[dict[str, Any]]:
    positions = range(0, total, every)
    # lrs_at walks the decay counts: one multiplication per row, not a fresh power.
    for position, lr in zip(positions, plan.schedule.lrs_at(positions), strict=True):
        yield {**_position_fields(plan, position), "lr": lr}


def _sample_listing(plan: Plan) -> Listing:
    units = plan.unit_keys()

    def human_row(record: Record) -> list[str]:
        return [format_position(record[unit]) for unit in units] + [format_number(record["lr"])]

    return Listing(
        [*units, "lr"], [*units, "lr"], human_row, title=describe_schedule(plan.schedule)
    )


def _position_fields(plan: Plan, position: int, stem: str = "") -> dict[str, int | None]:
    fields: dict[str, int | None] = {}
    if plan.shows_steps:
        fields[f"{stem}step"] = plan.step_of(position)
    if plan.shows_epochs:
        fields[f"{stem}epoch"] = plan.epoch_of(position)
    return fields


# -- at ----------------------------------------------------------------------


@schedule_options
def at(
    schedule: ScheduleOptions,
    position: Annotated[
        int | None,
        typer.Argument(
            metavar="T",
            min=0,
            help="The position (in the schedule's unit); defaults to the --state position.",
            show_default=False,
        ),
    ] = None,
    json_output: JsonFlag = False,
) -> None:
    """Show the lr at position T and when it next changes."""
    plan = resolve_plan(schedule)
    if position is None:
        if plan.position is None:
            raise typer.BadParameter(
                "give a position T, or a state file with --state", param_hint="'T'"
            )
        position = plan.position
    warn_if_implausible(plan, total=None, horizon=position + 1)
    record = at_record(plan, position)
    if json_output:
        print_json(record)
        return
    unit = plan.mode
    where = f"{unit} {position}"
    other = plan.epoch_of(position) if unit == "step" else plan.step_of(position)
    if plan.steps_per_epoch is not None:
        where += f" ({'epoch' if unit == 'step' else 'step'} {other})"
    lines = [f"{where}: lr {format_number(record['lr'])}"]
    following = record["next_boundary"]
    if following is None:
        lines.append("no further decay: the lr stays at this value")
    else:
        lines.append(
            f"next decay at {unit} {following} (in {following - position}): "
            f"lr {format_number(record['next_lr'])}"
        )
    print_lines(lines)


def at_record(plan: Plan, position: int) -> dict[str, Any]:
    """The JSON of ``at``: the position, its lr, the next boundary and the lr after it."""
    schedule = plan.schedule
    following = schedule.next_boundary(position)
    record: dict[str, Any] = _position_fields(plan, position)
    # The schedule's own unit comes first.
    record = {plan.mode: position, **record}
    record["lr"] = schedule.lr_at(position)
    record["next_boundary"] = following
    record["next_lr"] = None if following is None else schedule.lr_at(following)
    return record


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
        int | None,
        typer.Option("--total", min=1, help="All boundaries below N.", show_default=False),
    ] = None,
    below: Annotated[
        float | None,
        typer.Option(
            "--below",
            metavar="X",
            help="Only the first boundary after which the lr is below X.",
            show_default=False,
        ),
    ] = None,
    output_format: FormatOption = "table",
) -> None:
    """List the positions where the lr changes, with the lr before and after."""
    plan = resolve_plan(schedule)
    warn_if_implausible(plan, total=total)
    found: Iterator[int]
    if below is not None:
        if count_ is not None or total is not None:
            raise usage_error("--below", "cannot be combined with --count or --total")
        if not below > 0 or below == float("inf"):
            raise usage_error("--below", f"must be a finite number > 0, got {below!r}")
        first = plan.schedule.first_boundary_below(below)
        found = iter(()) if first is None else iter((first,))
        if first is None and output_format == "table":
            print_message(f"the lr never falls below {format_number(below)}")
    else:
        found = plan.schedule.boundaries(0, total)
        limit = count_ if count_ is not None or total is not None else DEFAULT_BOUNDARY_COUNT
        if limit is not None:
            found = islice(found, limit)
    emit_listing(_boundary_records(plan, found), _boundary_listing(plan), output_format)


def _boundary_records(plan: Plan, found: Iterator[int]) -> Iterator[dict[str, Any]]:
    positions, edges = tee(found)
    # The lr on either side of each boundary, walked incrementally (see lrs_at).
    lrs = plan.schedule.lrs_at(chain.from_iterable((p - 1, p) for p in edges))
    for position in positions:
        yield {**_position_fields(plan, position), "lr_before": next(lrs), "lr_after": next(lrs)}


def _boundary_listing(plan: Plan) -> Listing:
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
        title=describe_schedule(plan.schedule),
    )


__all__ = ["at", "at_record", "boundaries", "register", "table"]
