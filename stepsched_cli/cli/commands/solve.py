"""The ``solve`` command: the step size and gamma that reach a final lr within a run.

A thin layer over :mod:`stepsched_cli.solve`, whose JSON contract is its ``to_dict()``.
The run's length and the step size take the unit options every schedule command
takes (``--mode``, ``--steps-per-epoch`` or the data pipeline, ``--epochs``, and
``30ep``/``150150st`` values).
"""

from __future__ import annotations

from typing import Annotated

import typer

from stepsched_cli.cli.options.groups import with_options
from stepsched_cli.cli.options.output import JsonFlag
from stepsched_cli.cli.options.parameters import option_for, usage_error
from stepsched_cli.cli.options.schedule import UNITS, UnitOptions, resolve_clock
from stepsched_cli.cli.options.units import (
    TIME_METAVAR,
    EpochsOption,
    TotalOption,
    converted,
    run_total,
    time_parser,
)
from stepsched_cli.cli.output import format_number, format_range, print_json, print_lines
from stepsched_cli.numbers import format_exact
from stepsched_cli.planning import Clock
from stepsched_cli.solve import Solution, SolveError, solve
from stepsched_cli.units import TimeValue

SOLVE_EPILOG = """\
Examples:

  stepsched solve --lr 0.1 --final-lr 0.001 --total 90 --decays 2

  stepsched solve --lr 0.1 --final-lr 0.001 --epochs 90 --decays 2 --mode epoch

  stepsched solve --lr 0.1 --final-lr 0.0001 --total 90 --decays 3

  stepsched solve --lr 0.1 --final-lr 0.001 --total 100 --gamma 0.1 --json
"""


def register(app: typer.Typer) -> None:
    """Add ``solve`` to ``app``."""
    app.command("solve", epilog=SOLVE_EPILOG)(solve_command)


@with_options(UNITS)
def solve_command(
    units: UnitOptions,
    lr: Annotated[float, typer.Option("--lr", help="The initial lr (> 0).", show_default=False)],
    final_lr: Annotated[
        float,
        typer.Option(
            "--final-lr", help="The lr wanted by the end of the run (< --lr).", show_default=False
        ),
    ],
    total: TotalOption = None,
    epochs: EpochsOption = None,
    decays: Annotated[
        int | None,
        typer.Option(
            "--decays", metavar="K", help="The number of evenly spaced decays.", show_default=False
        ),
    ] = None,
    step_size: Annotated[
        TimeValue | None,
        typer.Option(
            "--step-size",
            metavar=TIME_METAVAR,
            parser=time_parser("step_size"),
            help="The positions between decays (or 30ep, 150150st).",
            show_default=False,
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

    Give the run's length (--total T, or --epochs) and exactly one of --decays,
    --step-size and --gamma.  The run covers positions 0..T-1 and is split into equal
    stages, one per lr: --decays 2 over 90 epochs decays at 30 and 60, and the run
    trains 30 epochs at each lr.  When T is not a multiple of the stages, the answer
    is milestones and the last stage is longer.  gamma is printed exactly (the
    shortest text of the float), to be passed on as is.  An impossible request (a
    gamma that does not reach the final lr in whole decays, or so many decays that the
    float gamma's rounding moves the final lr by more than 1e-6, relative) is an error
    (exit 1).
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
    clock, _ = resolve_clock(units)
    length = run_total(clock, total, epochs)
    if length is None:
        raise usage_error("--total", "give the run's length: --total T, or --epochs")
    spacing = None if step_size is None else converted(clock, step_size, "step_size", minimum=1)
    try:
        solution = solve(lr, final_lr, length, decays=decays, step_size=spacing, gamma=gamma)
    except SolveError as error:
        solve_option = option_for(error.parameter)
        if solve_option is not None:
            raise usage_error(solve_option, str(error)) from None
        raise
    if json_output:
        print_json({**solution.to_dict(), "mode": clock.mode})
        return
    print_lines(solution_lines(solution, clock))


def solution_lines(solution: Solution, clock: Clock) -> list[str]:
    """The answer for people: the spacing, gamma, the decays and the time at each lr."""
    unit = clock.mode
    stages = solution.stages
    lengths = sorted({stage.length for stage in stages})
    if len(lengths) == 1:
        how_long = f"{len(stages)} of {lengths[0]} {unit}s"
    else:
        shown = ", ".join(str(stage.length) for stage in stages[:-1])
        how_long = f"{shown} and {stages[-1].length} {unit}s"
    spent = ", ".join(
        f"{format_number(stage.lr)} at {unit}s "
        f"{format_range(stage.start, stage.start + stage.length - 1)}"
        for stage in stages
    )
    lines = [f"step_size  {solution.step_size}"]
    if solution.milestones is not None:
        lines = [
            f"milestones {','.join(str(milestone) for milestone in solution.milestones)} "
            f"(every {solution.step_size} {unit}s: a step size alone would decay once more "
            "inside the run)"
        ]
    return [
        *lines,
        f"gamma      {format_exact(solution.gamma)}",
        f"decays     {solution.decays} (the last at {unit} {solution.reached_at})",
        f"stages     {how_long}: {spent}",
        f"final lr   {format_number(solution.final_lr)} from {unit} {solution.reached_at}, "
        f"inside the run ({unit}s 0-{solution.total - 1})",
    ]


__all__ = ["register", "solution_lines", "solve_command"]
