"""Position and units: ``--mode``, ``--steps-per-epoch``, and the run's length.

``--mode`` and ``--steps-per-epoch`` are part of the schedule options
(:data:`UNIT_PARAMETERS`, in the schedule's help panel); ``--total`` and ``--epochs``
(:data:`TotalOption`, :data:`EpochsOption`) are declared once and used by the commands
that cover a run, and :func:`run_total` turns them into the run's length.
"""

from __future__ import annotations

import inspect
from typing import Annotated

import typer

from stepsched_cli.cli.options.groups import UNITS_PANEL, shared
from stepsched_cli.cli.options.parameters import usage_error
from stepsched_cli.errors import ScheduleError
from stepsched_cli.planning import Plan, total_for_epochs
from stepsched_cli.schedule import Mode

DEFAULT_MODE: Mode = "step"

# Accepted for a unit: the singular and the plural (as --x takes them).
UNIT_WORDS: dict[str, Mode] = {"step": "step", "steps": "step", "epoch": "epoch", "epochs": "epoch"}


def parse_unit(text: str) -> Mode:
    """``step``/``steps`` or ``epoch``/``epochs``, as the unit they name.

    Raises:
        typer.BadParameter: anything else (exit 2).
    """
    unit = UNIT_WORDS.get(text.strip().lower())
    if unit is None:
        raise typer.BadParameter(f"expected step or epoch (or steps, epochs), got {text!r}")
    return unit


# The schedule's unit and the steps in one epoch, as the schedule options take them.
UNIT_PARAMETERS: tuple[inspect.Parameter, ...] = (
    shared(
        "mode",
        Mode | None,
        metavar="[step|epoch]",
        parser=parse_unit,
        help=f"What positions count. [default: {DEFAULT_MODE}]",
        panel=UNITS_PANEL,
    ),
    shared(
        "steps_per_epoch",
        int | None,
        metavar="N",
        help="Optimizer steps in one epoch.",
        panel=UNITS_PANEL,
    ),
)

TotalOption = Annotated[
    int | None,
    typer.Option(
        "--total",
        min=1,
        metavar="N",
        help="The run's length: positions 0..N-1.",
        show_default=False,
        rich_help_panel=UNITS_PANEL,
    ),
]
EpochsOption = Annotated[
    int | None,
    typer.Option(
        "--epochs",
        min=1,
        metavar="N",
        help="The run's length in epochs.",
        show_default=False,
        rich_help_panel=UNITS_PANEL,
    ),
]


def run_total(plan: Plan, total: int | None, epochs: int | None) -> int | None:
    """The run's length in the schedule's unit, from ``--total`` or ``--epochs`` (or None).

    Raises:
        typer.BadParameter: both given, or ``--epochs`` without the steps per epoch that
            a step-mode schedule needs (exit 2).
    """
    if epochs is None:
        return total
    if total is not None:
        raise usage_error("--epochs", "give either --total or --epochs, not both")
    try:
        return total_for_epochs(plan, epochs)
    except ScheduleError:
        raise usage_error(
            "--epochs",
            "a step-mode schedule needs --steps-per-epoch (or the data pipeline) to count "
            "epochs; or give the length in steps with --total",
        ) from None


__all__ = [
    "DEFAULT_MODE",
    "UNIT_PARAMETERS",
    "UNIT_WORDS",
    "EpochsOption",
    "TotalOption",
    "parse_unit",
    "run_total",
]
