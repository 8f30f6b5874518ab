"""Position and units: ``--mode``, ``--steps-per-epoch``, and the run's length.

``--mode`` and ``--steps-per-epoch`` are part of the schedule options
(:data:`UNIT_PARAMETERS`, in the schedule's help panel); ``--total`` and ``--epochs``
(:data:`TotalOption`, :data:`EpochsOption`) are declared once and used by the commands
that cover a run, and :func:`run_total` turns them into the run's length.

Every position or length is typed in either unit (``30ep``, ``150150st``, or a bare
number in the schedule's unit): :func:`time_parser` reads the text into the core's
:class:`~stepsched_cli.units.TimeValue`, and the plan's
:class:`~stepsched_cli.planning.Clock` converts it; :func:`converted` names the option
when it cannot.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Annotated

import typer
from typer._click import exceptions as click_exceptions

from stepsched_cli.cli.options.groups import UNITS_PANEL, shared
from stepsched_cli.cli.options.parameters import option_for, usage_error, usage_error_about
from stepsched_cli.errors import ScheduleError
from stepsched_cli.planning import Clock, Moment, Plan, total_for_epochs
from stepsched_cli.schedule import Mode
from stepsched_cli.units import MissingStepsPerEpoch, TimeValue, parse_time

# The metavar of a position or length typed in either unit.
TIME_METAVAR = "N[ep|st]"
# How to give the steps per epoch, added to an error that needs them.
_STEPS_PER_EPOCH_HINT = (
    "give --steps-per-epoch, or the data pipeline (--dataset-size with --batch-size or "
    "--global-batch-size)"
)


def time_parser(parameter: str, maximum: int | None = None) -> Callable[[str], TimeValue]:
    """The ``parser`` of an option typed in either unit: ``30``, ``30ep``, ``150150st``.

    With ``maximum``, the amount typed must lie in ``0..maximum`` (a counter's range,
    checked before any conversion).  A malformed value is a usage error naming the
    option (exit 2).
    """

    def parse(text: str) -> TimeValue:
        if isinstance(text, TimeValue):
            return text  # a default, not text
        # Named by its first flag alone (click would list every alias: --warmup too).
        option = option_for(parameter)
        hint = None if option is None else f"'{option}'"
        try:
            value = parse_time(text, parameter)
        except ScheduleError as error:
            raise typer.BadParameter(str(error), param_hint=hint) from None
        if maximum is not None and not 0 <= value.amount <= maximum:
            message = f"{text} is not in the range 0<=x<={maximum}."
            raise typer.BadParameter(message, param_hint=hint)
        return value

    return parse


def position_parser(text: str) -> TimeValue:
    """The parser of a position argument (``at``'s T): a negative one is read, so that
    the range check can say it must be at least 0; other text that starts like an
    option is an unknown option, as click would say."""
    if isinstance(text, TimeValue):
        return text
    try:
        return parse_time(text, "T")
    except ScheduleError as error:
        if text.startswith("-"):
            raise click_exceptions.NoSuchOption(text) from None
        raise typer.BadParameter(str(error)) from None


def located(clock: Clock, value: TimeValue, parameter: str) -> Moment:
    """Where ``value`` falls in both units; a usage error naming ``parameter`` when it
    cannot be placed (a negative position, the other unit without the steps per epoch).
    """
    try:
        return clock.locate(value, "position")
    except MissingStepsPerEpoch as error:
        raise usage_error(parameter, f"{error}; {_STEPS_PER_EPOCH_HINT}") from None
    except ScheduleError as error:
        raise usage_error(parameter, str(error)) from None


def position_error(error: ScheduleError, options: str) -> typer.BadParameter:
    """A ``--position`` the file's reader could not place in the unit the file counts, as
    a usage error; ``options`` says how this command gives the steps per epoch."""
    if isinstance(error, MissingStepsPerEpoch):
        return usage_error("--position", f"{error}; give {options}")
    return usage_error("--position", str(error))


def converted(
    clock: Clock, value: TimeValue, parameter: str, *, minimum: int = 0, label: str | None = None
) -> int:
    """``value`` in the schedule's unit; a usage error naming the option when it cannot be.

    Raises:
        typer.BadParameter: a value below ``minimum``, steps that are not whole epochs,
            or the other unit without the steps per epoch (the message says how to
            give them) (exit 2).
    """
    try:
        return clock.count(value, parameter, minimum=minimum, label=label)
    except MissingStepsPerEpoch as error:
        option = option_for(error.parameter) or parameter
        raise usage_error(option, f"{error}; {_STEPS_PER_EPOCH_HINT}") from None
    except ScheduleError as error:
        raise usage_error_about(error) from None


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
    TimeValue | None,
    typer.Option(
        "--total",
        metavar=TIME_METAVAR,
        parser=time_parser("total"),
        help="The run's length: positions 0..N-1 (or 90ep).",
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


def run_total(plan: Plan | Clock, total: TimeValue | None, epochs: int | None) -> int | None:
    """The run's length in the schedule's unit, from ``--total`` or ``--epochs`` (or None).

    Raises:
        typer.BadParameter: both given, a ``--total`` that does not convert, or
            ``--epochs`` without the steps per epoch that a step-mode schedule needs
            (exit 2).
    """
    if epochs is None:
        clock = plan.clock if isinstance(plan, Plan) else plan
        return None if total is None else converted(clock, total, "total", minimum=1)
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
    "TIME_METAVAR",
    "UNIT_PARAMETERS",
    "UNIT_WORDS",
    "EpochsOption",
    "TotalOption",
    "converted",
    "located",
    "parse_unit",
    "position_error",
    "position_parser",
    "run_total",
    "time_parser",
]
