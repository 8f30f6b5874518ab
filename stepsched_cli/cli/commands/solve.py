"""The ``solve`` command: the step size and gamma that reach a final lr within a run.

A thin layer over :mod:`stepsched_cli.solve`, whose JSON contract is its ``to_dict()``.
"""

from __future__ import annotations

from typing import Annotated

import typer

from stepsched_cli.cli.options.output import JsonFlag
from stepsched_cli.cli.options.parameters import option_for, usage_error
from stepsched_cli.cli.output import format_number, print_json, print_lines
from stepsched_cli.numbers import format_exact
from stepsched_cli.solve import SolveError, solve

SOLVE_EPILOG = """\
Examples:

  stepsched solve --lr 0.1 --final-lr 0.0001 --total 90 --decays 3

  stepsched solve --lr 0.1 --final-lr 0.001 --total 100 --gamma 0.1 --json
"""


def register(app: typer.Typer) -> None:
    """Add ``solve`` to ``app``."""
    app.command("solve", epilog=SOLVE_EPILOG)(solve_command)


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
        solve_option = option_for(error.parameter)
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


__all__ = ["register", "solve_command"]
