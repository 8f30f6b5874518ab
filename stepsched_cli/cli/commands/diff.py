"""The ``diff`` command: the intervals where two schedules differ, with both lrs.

A thin layer over :mod:`stepsched_cli.compare` (SPEC overrides and where two
schedules differ).  With one SPEC it compares the schedule options (the base) with the
base plus that SPEC; with two, the base plus the first with the base plus the second.
"""

from __future__ import annotations

import math
from itertools import chain
from typing import Annotated, Any

import typer

from stepsched_cli.cli.options.output import FormatOption, JsonFlag, output_format_of
from stepsched_cli.cli.options.parameters import usage_error
from stepsched_cli.cli.options.schedule import (
    ScheduleOptions,
    plan_title,
    resolve_plan,
    schedule_options,
)
from stepsched_cli.cli.options.units import EpochsOption, TotalOption, run_total
from stepsched_cli.cli.output import (
    Listing,
    Record,
    describe_schedule,
    emit_listing,
    format_number,
    format_range,
    print_message,
)
from stepsched_cli.compare import CompareError, Difference, apply_spec, check_comparable, diff
from stepsched_cli.planning import Plan, default_total

DIFF_EPILOG = """\
Examples:

  stepsched diff gamma=0.5,step_size=20 --lr 0.1 --step-size 30 --total 90

  stepsched diff lr=0.05 milestones=30,80 --lr 0.1 --json
"""


def register(app: typer.Typer) -> None:
    """Add ``diff`` to ``app``."""
    app.command("diff", epilog=DIFF_EPILOG)(diff_command)


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
    length = run_total(plan, total, epochs)
    base = plan.schedule
    try:
        # A SPEC is an argument value: malformed, invalid or incomparable is a usage error.
        first = base if len(specs) == 1 else apply_spec(base, specs[0])
        second = apply_spec(base, specs[-1])
        check_comparable(first, second)
    except CompareError as error:
        raise usage_error("SPEC", str(error)) from None
    horizon = length if length is not None else max(default_total(first), default_total(second))
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
    context = plan_title(plan, length).splitlines()[1:]
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


__all__ = ["diff_command", "register"]
