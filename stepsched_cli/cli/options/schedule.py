"""The schedule options, and the validated plan they give.

The schedule options (``--lr``, ``--step-size``, ``--gamma``, ``--milestones``, the
units ``--mode`` and ``--steps-per-epoch``, the data pipeline options, the warmup and
floor options and ``--state``) are declared once in :data:`SCHEDULE` and added to a
command by the :func:`schedule_options` decorator: the command declares one parameter
``schedule: ScheduleOptions`` and receives the parsed values in it.

:func:`resolve_plan` turns those values into a validated
:class:`~stepsched_cli.planning.Plan` (the library's); a value out of range becomes a
usage error (exit 2) naming the option, before any work is done.  Every schedule
option has a default (:data:`DEFAULT_LR`, ...), so the bare commands work; human
outputs name the schedule they show (:func:`plan_title`).
"""

from __future__ import annotations

import typing
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from typing import Any, TypeVar

from stepsched_cli.cli.options.groups import SCHEDULE_PANEL, OptionGroup, shared, with_options
from stepsched_cli.cli.options.parameters import (
    OPTION_FOR_PARAMETER,
    usage_error,
    usage_error_about,
)
from stepsched_cli.cli.options.pipeline import (
    PIPELINE,
    PipelineOptions,
    pipeline_summary,
    resolve_steps_per_epoch,
)
from stepsched_cli.cli.options.units import (
    DEFAULT_MODE,
    TIME_METAVAR,
    UNIT_PARAMETERS,
    converted,
    time_parser,
)
from stepsched_cli.cli.output import describe_schedule, print_message
from stepsched_cli.errors import ScheduleError
from stepsched_cli.planning import Clock, Plan, RunLength, run_length
from stepsched_cli.plausibility import check_plausibility
from stepsched_cli.schedule import Mode, StepSchedule
from stepsched_cli.units import StepsPerEpoch, TimeValue, parse_time

Collected = TypeVar("Collected")

# The defaults of the schedule options: the seed's recommended step_size and gamma, and
# its example lr (the classic ResNet lr), so that `stepsched table` works as typed.
# Human outputs always name the schedule, so a default is never a surprise.
DEFAULT_LR = 0.1
DEFAULT_STEP_SIZE = 30
DEFAULT_GAMMA = 0.1


@dataclass(frozen=True)
class ScheduleOptions:
    """The raw values of the shared schedule options, None where not given."""

    lr: float | None = None
    step_size: TimeValue | None = None
    gamma: float | None = None
    milestones: str | None = None
    mode: Mode | None = None
    steps_per_epoch: int | None = None
    warmup_steps: TimeValue | None = None
    warmup_start_lr: float | None = None
    warmup_prefix: bool | None = None
    min_lr: float | None = None
    state: str | None = None
    pipeline: PipelineOptions = field(default_factory=PipelineOptions)


def _with_pipeline(kind: Callable[..., Collected]) -> Callable[[dict[str, Any]], Collected]:
    """The collector of a group whose record holds the data pipeline options as one field."""

    def collect(values: dict[str, Any]) -> Collected:
        pipeline = PIPELINE.take(values)
        return kind(**values, pipeline=pipeline)

    return collect


SCHEDULE: OptionGroup[ScheduleOptions] = OptionGroup(
    "schedule",
    (
        shared(
            "lr",
            float | None,
            metavar="LR",
            help=f"Initial learning rate. [default: {DEFAULT_LR}]",
            panel=SCHEDULE_PANEL,
        ),
        shared(
            "step_size",
            TimeValue | None,
            metavar=TIME_METAVAR,
            parser=time_parser("step_size"),
            help=f"Positions between decays (or 30ep). [default: {DEFAULT_STEP_SIZE}]",
            panel=SCHEDULE_PANEL,
        ),
        shared(
            "gamma",
            float | None,
            metavar="GAMMA",
            help=f"Decay factor, 0 < gamma < 1. [default: {DEFAULT_GAMMA}]",
            panel=SCHEDULE_PANEL,
        ),
        shared(
            "milestones",
            str | None,
            metavar="M1,M2,...",
            help="Decay at these positions instead (or 30ep,80ep).",
            panel=SCHEDULE_PANEL,
        ),
        *UNIT_PARAMETERS,
        *PIPELINE.parameters,
        shared(
            "warmup_steps",
            TimeValue | None,
            aliases=("--warmup",),
            metavar=TIME_METAVAR,
            parser=time_parser("warmup_steps"),
            help="Positions of linear warmup (or 5ep). [default: 0]",
            panel=SCHEDULE_PANEL,
        ),
        shared(
            "warmup_start_lr",
            float | None,
            metavar="LR",
            help="The lr at position 0 of the warmup.",
            panel=SCHEDULE_PANEL,
        ),
        shared(
            "warmup_prefix",
            bool | None,
            help="Decays count from the warmup's end (timm's warmup_prefix=True).",
            panel=SCHEDULE_PANEL,
        ),
        shared(
            "min_lr",
            float | None,
            metavar="LR",
            help="A floor the lr never goes below.",
            panel=SCHEDULE_PANEL,
        ),
        shared(
            "state",
            str | None,
            metavar="FILE",
            help="The schedule and position of a run.",
            panel=SCHEDULE_PANEL,
        ),
    ),
    _with_pipeline(ScheduleOptions),
)

schedule_options = with_options(SCHEDULE)
"""Add the schedule options to a command that takes ``schedule: ScheduleOptions``."""


@dataclass(frozen=True)
class UnitOptions:
    """The raw values of the unit options alone (a command that solves for a schedule)."""

    mode: Mode | None = None
    steps_per_epoch: int | None = None
    pipeline: PipelineOptions = field(default_factory=PipelineOptions)


UNITS: OptionGroup[UnitOptions] = OptionGroup(
    "units", (*UNIT_PARAMETERS, *PIPELINE.parameters), _with_pipeline(UnitOptions)
)
"""The schedule's unit and the steps per epoch, declared by :data:`SCHEDULE` too."""


def resolve_clock(options: UnitOptions) -> tuple[Clock, StepsPerEpoch | None]:
    """The unit, the steps per epoch (given or from the data pipeline) and the pipeline.

    Raises:
        typer.BadParameter: a value out of range or options that conflict (exit 2).
    """
    steps_per_epoch = options.steps_per_epoch
    if steps_per_epoch is not None and steps_per_epoch < 1:
        raise usage_error(
            "--steps-per-epoch", f"steps_per_epoch must be an integer >= 1, got {steps_per_epoch}"
        )
    pipeline = resolve_steps_per_epoch(options.pipeline, steps_per_epoch_given=steps_per_epoch)
    if pipeline is not None:
        steps_per_epoch = pipeline.steps_per_epoch
    return Clock(options.mode or DEFAULT_MODE, steps_per_epoch), pipeline


def parse_milestones(text: str, clock: Clock) -> tuple[int, ...]:
    """Parse ``--milestones 30,80`` (or ``30ep,80ep``) into positions of the schedule's unit.

    Range checks beyond a position's (>= 0) are the core's.
    """
    parts = text.split(",")
    try:
        values = [parse_time(part, "milestones") for part in parts]
    except ScheduleError:
        raise usage_error(
            "--milestones",
            f"expected comma-separated whole numbers such as 30,80 (or 30ep,80ep), got {text!r}",
        ) from None
    return tuple(
        converted(clock, value, "milestones", label=f"milestones[{index}]")
        for index, value in enumerate(values)
    )


def resolve_plan(options: ScheduleOptions) -> Plan:
    """Validate the schedule options and build the :class:`Plan` they describe.

    Raises:
        typer.BadParameter: a value out of range or options that conflict (exit 2).
        StepschedError: the ``--state`` file cannot be read or is invalid (exit 1).
    """
    clock, pipeline = resolve_clock(
        UnitOptions(options.mode, options.steps_per_epoch, options.pipeline)
    )
    steps_per_epoch = clock.steps_per_epoch
    if options.state is not None:
        return _plan_from_state(options, steps_per_epoch, pipeline)
    return Plan(
        schedule=_schedule_from_options(options, steps_per_epoch),
        steps_per_epoch=steps_per_epoch,
        pipeline=pipeline,
    )


# The options --state leaves free: the steps per epoch (and the pipeline) are the run's.
_WITH_STATE = ("state", "steps_per_epoch", "pipeline")


def _plan_from_state(
    options: ScheduleOptions, steps_per_epoch: int | None, pipeline: StepsPerEpoch | None
) -> Plan:
    given = [
        OPTION_FOR_PARAMETER[field.name]
        for field in fields(options)
        if field.name not in _WITH_STATE and getattr(options, field.name) is not None
    ]
    if given:
        raise usage_error(
            given[0], "cannot be combined with --state, which gives the whole schedule"
        )
    # Imported here: the format registry loads every reader, which only --state needs.
    from stepsched_cli.formats.registry import load_state

    state = load_state(typing.cast(str, options.state)).state
    return Plan(
        schedule=state.schedule,
        steps_per_epoch=steps_per_epoch if steps_per_epoch is not None else state.steps_per_epoch,
        position=state.position,
        pipeline=pipeline,
    )


def _schedule_from_options(options: ScheduleOptions, steps_per_epoch: int | None) -> StepSchedule:
    """The schedule the options give, each option not given taking its default.

    Positions and lengths typed in the other unit are converted with ``steps_per_epoch``.
    """
    if options.milestones is not None and options.step_size is not None:
        raise usage_error("--milestones", "give either --step-size or --milestones, not both")
    no_warmup = options.warmup_steps is None or not options.warmup_steps.amount
    if options.warmup_start_lr is not None and no_warmup:
        # Accepted silently, it would change nothing: no warmup, no start lr.
        raise usage_error(
            "--warmup-start-lr", "needs --warmup-steps >= 1: without a warmup it is never used"
        )
    if options.warmup_prefix and no_warmup:
        raise usage_error(
            "--warmup-prefix", "needs --warmup-steps >= 1: without a warmup it changes nothing"
        )
    clock = Clock(options.mode or DEFAULT_MODE, steps_per_epoch)
    milestones = None
    if options.milestones is not None:
        milestones = parse_milestones(options.milestones, clock)
    step_size = None
    if options.step_size is not None:
        step_size = converted(clock, options.step_size, "step_size", minimum=1)
    elif milestones is None:
        step_size = DEFAULT_STEP_SIZE
    warmup_steps = 0
    if options.warmup_steps is not None:
        warmup_steps = converted(clock, options.warmup_steps, "warmup_steps")
    try:
        return StepSchedule(
            initial_lr=DEFAULT_LR if options.lr is None else options.lr,
            step_size=step_size,
            gamma=DEFAULT_GAMMA if options.gamma is None else options.gamma,
            milestones=milestones,
            warmup_steps=warmup_steps,
            warmup_start_lr=options.warmup_start_lr or 0.0,
            min_lr=options.min_lr or 0.0,
            mode=options.mode or DEFAULT_MODE,
            warmup_prefix=bool(options.warmup_prefix),
        )
    except ScheduleError as error:
        raise usage_error_about(error) from None


# What the command line adds to a plausibility warning: the option that fixes it.
_WARNING_HINTS = {
    "epochs_meant": "; did you mean --mode epoch?",
    "warmup_above": " (check --warmup-start-lr and --lr)",
}


def warn_if_implausible(plan: Plan, *, total: int | None, horizon: int | None = None) -> None:
    """Print the schedule's plausibility warnings on stderr (never changing the result).

    Args:
        plan: The resolved plan.
        total: The horizon the user gave (``--total``), or None.
        horizon: The positions the output covers (defaults to ``total``).
    """
    for warning in check_plausibility(
        plan.schedule, total=total, horizon=horizon, steps_per_epoch=plan.steps_per_epoch
    ):
        print_message(
            f"stepsched: warning: {warning.message}{_WARNING_HINTS.get(warning.kind, '')}"
        )


def plan_title(plan: Plan, total: int | None = None) -> str:
    """The lines above a human output: the schedule, the pipeline and the run's length.

    The schedule is always named (every option has a default, so a default is never a
    surprise); the steps per epoch when the data pipeline gave them, with the per-rank
    batch assumed; the run's length in both units when it was given and both are known.
    """
    lines = [describe_schedule(plan.schedule)]
    if plan.pipeline is not None:
        lines.append(pipeline_summary(plan.pipeline))
    length = None if total is None else run_length(plan, total)
    if length is not None:
        lines.append(run_length_text(length))
    return "\n".join(lines)


def run_length_text(length: RunLength) -> str:
    """``90 epochs = 450450 steps``, or ``1000 steps = 0 epochs + 1000 steps``."""
    if not length.extra_steps:
        return f"{length.epochs} epochs = {length.steps} steps"
    return f"{length.steps} steps = {length.epochs} epochs + {length.extra_steps} steps"


__all__ = [
    "DEFAULT_GAMMA",
    "DEFAULT_LR",
    "DEFAULT_STEP_SIZE",
    "SCHEDULE",
    "UNITS",
    "ScheduleOptions",
    "UnitOptions",
    "parse_milestones",
    "plan_title",
    "resolve_clock",
    "resolve_plan",
    "run_length_text",
    "schedule_options",
    "warn_if_implausible",
]
