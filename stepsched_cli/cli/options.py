"""The options several commands share, each declared once.

The schedule options (``--lr``, ``--step-size``, ``--gamma``, ``--milestones``,
``--mode``, ``--steps-per-epoch``, the warmup and floor options and ``--state``) are
added to a command by the :func:`schedule_options` decorator: the command declares one
parameter ``schedule: ScheduleOptions`` and receives the parsed values in it.  A new
shared option is added to :data:`SCHEDULE_PARAMETERS` and :class:`ScheduleOptions`
once, and every schedule command gets it.

:func:`resolve_plan` turns those values into a validated :class:`Plan`; a value out of
range becomes a usage error (exit 2) naming the option, before any work is done.

The other shared options are ``Annotated`` aliases (:data:`FormatOption`,
:data:`JsonFlag`, :data:`TotalOption`, :data:`ForceFlag`, ...) used directly in
command signatures.
"""

from __future__ import annotations

import functools
import inspect
import re
import typing
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any, Literal, TypeVar

import typer

from stepsched_cli.cli.sources import load_state
from stepsched_cli.errors import ScheduleError
from stepsched_cli.schedule import Mode, StepSchedule

OutputFormat = Literal["table", "json", "csv", "markdown"]

SCHEDULE_PANEL = "Schedule options"
OUTPUT_PANEL = "Output options"

# -- plain shared options ----------------------------------------------------

FormatOption = Annotated[
    OutputFormat,
    typer.Option(
        "--format",
        "-f",
        help="table (for people), or json, csv, markdown (plain text that pipes).",
        rich_help_panel=OUTPUT_PANEL,
    ),
]
JsonFlag = Annotated[
    bool,
    typer.Option(
        "--json", help="Print one JSON object instead of text.", rich_help_panel=OUTPUT_PANEL
    ),
]
TotalOption = Annotated[
    int | None,
    typer.Option(
        "--total",
        min=1,
        help="Cover positions 0..N-1 (in the schedule's unit, see --mode).",
        show_default=False,
    ),
]
ForceFlag = Annotated[bool, typer.Option("--force", help="Overwrite the output file if it exists.")]
OutputFile = Annotated[
    str,
    typer.Option(
        "--output", "-o", help="The file to write; - writes to stdout.", show_default=False
    ),
]


# -- the schedule options ----------------------------------------------------


@dataclass(frozen=True)
class ScheduleOptions:
    """The raw values of the shared schedule options, None where not given."""

    lr: float | None = None
    step_size: int | None = None
    gamma: float | None = None
    milestones: str | None = None
    mode: Mode | None = None
    steps_per_epoch: int | None = None
    warmup_steps: int | None = None
    warmup_start_lr: float | None = None
    min_lr: float | None = None
    state: str | None = None


def _option(annotation: Any, *declarations: str, help: str, **extra: Any) -> Any:
    return Annotated[
        annotation,
        typer.Option(
            *declarations, help=help, rich_help_panel=SCHEDULE_PANEL, show_default=False, **extra
        ),
    ]


def _keyword(name: str, annotation: Any) -> inspect.Parameter:
    return inspect.Parameter(
        name, inspect.Parameter.KEYWORD_ONLY, default=None, annotation=annotation
    )


SCHEDULE_PARAMETERS: tuple[inspect.Parameter, ...] = (
    _keyword(
        "lr",
        _option(
            float | None,
            "--lr",
            help="Initial learning rate (> 0). Required unless --state gives the schedule.",
        ),
    ),
    _keyword(
        "step_size",
        _option(int | None, "--step-size", help="Positions between decays. [default: 30]"),
    ),
    _keyword(
        "gamma",
        _option(float | None, "--gamma", help="Decay factor, 0 < gamma < 1. [default: 0.1]"),
    ),
    _keyword(
        "milestones",
        _option(
            str | None,
            "--milestones",
            metavar="M1,M2,...",
            help="Decay at these positions instead of every --step-size, e.g. 30,80.",
        ),
    ),
    _keyword(
        "mode",
        _option(
            Mode | None,
            "--mode",
            help="What --step-size and positions count: optimizer steps or epochs. [default: step]",
        ),
    ),
    _keyword(
        "steps_per_epoch",
        _option(
            int | None,
            "--steps-per-epoch",
            help="Optimizer steps in one epoch: outputs then show steps and epochs.",
        ),
    ),
    _keyword(
        "warmup_steps",
        _option(
            int | None,
            "--warmup-steps",
            help="Positions of linear warmup before the decay clock starts. [default: 0]",
        ),
    ),
    _keyword(
        "warmup_start_lr",
        _option(float | None, "--warmup-start-lr", help="The lr at position 0 when warming up."),
    ),
    _keyword(
        "min_lr",
        _option(float | None, "--min-lr", help="A floor the decayed lr never goes below."),
    ),
    _keyword(
        "state",
        _option(
            str | None,
            "--state",
            metavar="FILE",
            help="Take the schedule and position from a state file (- reads stdin).",
        ),
    ),
)

SCHEDULE_OPTION_NAMES: dict[str, str] = {
    "lr": "--lr",
    "step_size": "--step-size",
    "gamma": "--gamma",
    "milestones": "--milestones",
    "mode": "--mode",
    "steps_per_epoch": "--steps-per-epoch",
    "warmup_steps": "--warmup-steps",
    "warmup_start_lr": "--warmup-start-lr",
    "min_lr": "--min-lr",
    "state": "--state",
}

# The core's messages start with the parameter's name; this names the option instead.
_OPTION_FOR_PARAMETER: dict[str, str] = {
    **SCHEDULE_OPTION_NAMES,
    "initial_lr": "--lr",
}

Result = TypeVar("Result")


def schedule_options(command: Callable[..., Result]) -> Callable[..., Result]:
    """Add the shared schedule options to a command that takes ``schedule: ScheduleOptions``.

    Typer reads the wrapper's signature: the command's own parameters followed by
    :data:`SCHEDULE_PARAMETERS`.  The wrapper collects those values into one
    :class:`ScheduleOptions` and passes it as ``schedule``.
    """
    hints = typing.get_type_hints(command, include_extras=True)
    own = [
        parameter.replace(annotation=hints.get(parameter.name, parameter.annotation))
        for parameter in inspect.signature(command).parameters.values()
        if parameter.name != "schedule"
    ]
    names = [parameter.name for parameter in SCHEDULE_PARAMETERS]

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Result:
        values = {name: kwargs.pop(name, None) for name in names}
        return command(*args, schedule=ScheduleOptions(**values), **kwargs)

    wrapper.__signature__ = inspect.Signature(  # type: ignore[attr-defined]
        [*own, *SCHEDULE_PARAMETERS]
    )
    return wrapper


# -- resolving ---------------------------------------------------------------


@dataclass(frozen=True)
class Plan:
    """A validated schedule with what the commands need around it.

    Attributes:
        schedule: The schedule (positions in ``schedule.mode`` units).
        steps_per_epoch: Optimizer steps per epoch, when known: outputs then show both.
        position: The current position, when a state file gave one.
    """

    schedule: StepSchedule
    steps_per_epoch: int | None = None
    position: int | None = None

    @property
    def mode(self) -> Mode:
        """The unit positions count: ``"step"`` or ``"epoch"``."""
        return self.schedule.mode

    @property
    def shows_steps(self) -> bool:
        """Whether outputs can give positions in optimizer steps."""
        return self.mode == "step" or self.steps_per_epoch is not None

    @property
    def shows_epochs(self) -> bool:
        """Whether outputs can give positions in epochs."""
        return self.mode == "epoch" or self.steps_per_epoch is not None

    def step_of(self, position: int) -> int | None:
        """The optimizer step at which ``position`` starts (None when it is not known)."""
        if self.mode == "step":
            return position
        return None if self.steps_per_epoch is None else position * self.steps_per_epoch

    def last_step_of(self, position: int | None) -> int | None:
        """The last optimizer step of ``position`` (inclusive ends; None stays None)."""
        if position is None or self.mode == "step":
            return position
        return None if self.steps_per_epoch is None else (position + 1) * self.steps_per_epoch - 1

    def epoch_of(self, position: int | None) -> int | None:
        """The epoch ``position`` falls in (counted from 0; None when it is not known)."""
        if position is None or self.mode == "epoch":
            return position
        return None if self.steps_per_epoch is None else position // self.steps_per_epoch

    def unit_keys(self, stem: str = "") -> list[str]:
        """The JSON keys that give a position: ``step``/``epoch`` as known, with a prefix."""
        keys = []
        if self.shows_steps:
            keys.append(f"{stem}step")
        if self.shows_epochs:
            keys.append(f"{stem}epoch")
        return keys


def usage_error(option: str, message: str) -> typer.BadParameter:
    """A usage error (exit 2) about ``option``: ``Invalid value for '--x': message``."""
    return typer.BadParameter(message, param_hint=f"'{option}'")


def schedule_error_as_usage(error: ScheduleError) -> typer.BadParameter:
    """Name the option behind a core :class:`ScheduleError` about a parameter."""
    message = str(error)
    match = re.match(r"\w+", message)
    option = _OPTION_FOR_PARAMETER.get(match.group(0) if match else "")
    if option is None:
        return typer.BadParameter(message)
    return usage_error(option, message)


def parse_milestones(text: str) -> tuple[int, ...]:
    """Parse ``--milestones 30,80`` into integers (range checks are the core's)."""
    parts = [part.strip() for part in text.split(",")]
    if not all(re.fullmatch(r"[+-]?\d+", part) for part in parts):
        raise usage_error(
            "--milestones", f"expected comma-separated integers such as 30,80, got {text!r}"
        )
    return tuple(int(part) for part in parts)


def resolve_plan(options: ScheduleOptions) -> Plan:
    """Validate the schedule options and build the :class:`Plan` they describe.

    Raises:
        typer.BadParameter: a value out of range or options that conflict (exit 2).
        StepschedError: the ``--state`` file cannot be read or is invalid (exit 1).
    """
    steps_per_epoch = options.steps_per_epoch
    if steps_per_epoch is not None and steps_per_epoch < 1:
        raise usage_error(
            "--steps-per-epoch", f"steps_per_epoch must be an integer >= 1, got {steps_per_epoch}"
        )
    if options.state is not None:
        given = [
            option
            for name, option in SCHEDULE_OPTION_NAMES.items()
            if name not in ("state", "steps_per_epoch") and getattr(options, name) is not None
        ]
        if given:
            raise usage_error(
                given[0], "cannot be combined with --state, which gives the whole schedule"
            )
        state = load_state(options.state).state
        return Plan(
            schedule=state.schedule,
            steps_per_epoch=steps_per_epoch
            if steps_per_epoch is not None
            else state.steps_per_epoch,
            position=state.position,
        )
    if options.lr is None:
        raise typer.BadParameter(
            "give the initial learning rate with --lr (or a state file with --state)",
            param_hint="'--lr'",
        )
    if options.milestones is not None and options.step_size is not None:
        raise usage_error("--milestones", "give either --step-size or --milestones, not both")
    milestones = None if options.milestones is None else parse_milestones(options.milestones)
    try:
        schedule = StepSchedule(
            initial_lr=options.lr,
            step_size=options.step_size,
            gamma=0.1 if options.gamma is None else options.gamma,
            milestones=milestones,
            warmup_steps=options.warmup_steps or 0,
            warmup_start_lr=options.warmup_start_lr or 0.0,
            min_lr=options.min_lr or 0.0,
            mode=options.mode or "step",
        )
    except ScheduleError as error:
        raise schedule_error_as_usage(error) from None
    return Plan(schedule=schedule, steps_per_epoch=steps_per_epoch)


def default_total(schedule: StepSchedule) -> int:
    """The horizon shown when ``--total`` is not given: one interval past the third decay.

    With fewer than three decays, one interval past the last.  For the seed example
    (step_size 30) this is 120: the table's four rows, and a plot that shows the last.
    """
    decays = min(3, schedule.boundary_count)
    last = schedule.boundary(decays)
    previous = schedule.boundary(decays - 1) if decays > 1 else schedule.warmup_steps
    if last is None or previous is None:  # pragma: no cover - boundary_count >= 1 always
        return schedule.warmup_steps + 1
    return last + (last - previous)
