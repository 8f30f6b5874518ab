"""The options several commands share, each declared once.

The schedule options (``--lr``, ``--step-size``, ``--gamma``, ``--milestones``,
``--mode``, ``--steps-per-epoch``, the data pipeline options, the warmup and floor
options and ``--state``) are added to a command by the :func:`schedule_options`
decorator: the command declares one parameter ``schedule: ScheduleOptions`` and
receives the parsed values in it.  A new shared option is added to
:data:`SCHEDULE_PARAMETERS` and :class:`ScheduleOptions` once, and every schedule
command gets it.

The data pipeline options (``--dataset-size``, ``--batch-size``, ``--world-size``,
``--grad-accum``, ``--drop-last``, ``--accumulation-rounding``) are declared once in
:data:`PIPELINE_PARAMETERS`: part of the schedule options (an alternative to
``--steps-per-epoch``), and on their own through :func:`pipeline_options` (the
``steps-per-epoch`` command).  :func:`resolve_steps_per_epoch` turns them into the
steps per epoch.

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
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Annotated, Any, Literal, TypeVar

import typer

from stepsched_cli.cli.output import print_message
from stepsched_cli.errors import ScheduleError
from stepsched_cli.plausibility import check_plausibility
from stepsched_cli.schedule import Mode, StepSchedule
from stepsched_cli.units import AccumulationRounding, StepsPerEpoch
from stepsched_cli.units import steps_per_epoch as pipeline_steps_per_epoch

OutputFormat = Literal["table", "json", "csv", "markdown"]

SCHEDULE_PANEL = "Schedule options"
PIPELINE_PANEL = "Data pipeline options (instead of --steps-per-epoch)"
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
class PipelineOptions:
    """The raw values of the data pipeline options, None (False) where not given."""

    dataset_size: int | None = None
    batch_size: int | None = None
    world_size: int | None = None
    grad_accum: int | None = None
    drop_last: bool = False
    accumulation_rounding: AccumulationRounding | None = None

    @property
    def given(self) -> list[str]:
        """The options given, as typed (``--dataset-size``, ...)."""
        return [
            option
            for name, option in PIPELINE_OPTION_NAMES.items()
            if getattr(self, name) not in (None, False)
        ]


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
    warmup_prefix: bool | None = None
    min_lr: float | None = None
    state: str | None = None
    pipeline: PipelineOptions = PipelineOptions()


def _option(
    annotation: Any, *declarations: str, help: str, panel: str = SCHEDULE_PANEL, **extra: Any
) -> Any:
    return Annotated[
        annotation,
        typer.Option(*declarations, help=help, rich_help_panel=panel, show_default=False, **extra),
    ]


def _keyword(name: str, annotation: Any, default: Any = None) -> inspect.Parameter:
    return inspect.Parameter(
        name, inspect.Parameter.KEYWORD_ONLY, default=default, annotation=annotation
    )


def _count_option(name: str, option: str, help: str) -> inspect.Parameter:
    return _keyword(name, _option(int | None, option, help=help, panel=PIPELINE_PANEL))


PIPELINE_PARAMETERS: tuple[inspect.Parameter, ...] = (
    _count_option("dataset_size", "--dataset-size", "Samples in the training set (one epoch)."),
    _count_option("batch_size", "--batch-size", "Samples per batch on one rank."),
    _count_option(
        "world_size", "--world-size", "Data-parallel ranks (DistributedSampler). [default: 1]"
    ),
    _count_option(
        "grad_accum",
        "--grad-accum",
        "Batches per optimizer step (gradient accumulation). [default: 1]",
    ),
    _keyword(
        "drop_last",
        _option(
            bool,
            "--drop-last",
            help="The loader drops the last incomplete batch.",
            panel=PIPELINE_PANEL,
        ),
        default=False,
    ),
    _keyword(
        "accumulation_rounding",
        _option(
            AccumulationRounding | None,
            "--accumulation-rounding",
            help="ceil: a last partial accumulation group still steps (a plain PyTorch loop); "
            "floor: it does not (Hugging Face Trainer). [default: ceil]",
            panel=PIPELINE_PANEL,
        ),
    ),
)

PIPELINE_OPTION_NAMES: dict[str, str] = {
    "dataset_size": "--dataset-size",
    "batch_size": "--batch-size",
    "world_size": "--world-size",
    "grad_accum": "--grad-accum",
    "drop_last": "--drop-last",
    "accumulation_rounding": "--accumulation-rounding",
}


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
            help="Optimizer steps in one epoch: outputs then show steps and epochs. "
            "Or give the data pipeline options instead.",
        ),
    ),
    *PIPELINE_PARAMETERS,
    _keyword(
        "warmup_steps",
        _option(
            int | None,
            "--warmup-steps",
            help="Positions of linear warmup; decays stay at their absolute positions "
            "(a decay inside the warmup applies when it ends). [default: 0]",
        ),
    ),
    _keyword(
        "warmup_start_lr",
        _option(float | None, "--warmup-start-lr", help="The lr at position 0 when warming up."),
    ),
    _keyword(
        "warmup_prefix",
        _option(
            bool | None,
            "--warmup-prefix",
            help="Start the decay clock after the warmup: every decay moves later by "
            "--warmup-steps (timm's warmup_prefix=True).",
        ),
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
    "warmup_prefix": "--warmup-prefix",
    "min_lr": "--min-lr",
    "state": "--state",
}

# The core's messages name its parameters; the command line names the options instead.
_OPTION_FOR_PARAMETER: dict[str, str] = {
    **SCHEDULE_OPTION_NAMES,
    **PIPELINE_OPTION_NAMES,
    "initial_lr": "--lr",
    "step_column": "--step-column",
    "lr_column": "--lr-column",
    "log_format": "--log-format",
}

Result = TypeVar("Result")


def schedule_options(command: Callable[..., Result]) -> Callable[..., Result]:
    """Add the shared schedule options to a command that takes ``schedule: ScheduleOptions``.

    Typer reads the wrapper's signature: the command's own parameters followed by
    :data:`SCHEDULE_PARAMETERS`.  The wrapper collects those values into one
    :class:`ScheduleOptions` and passes it as ``schedule``.
    """
    own = _own_parameters(command, "schedule")
    pipeline_names = [parameter.name for parameter in PIPELINE_PARAMETERS]
    names = [
        parameter.name for parameter in SCHEDULE_PARAMETERS if parameter.name not in pipeline_names
    ]

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Result:
        values = {name: kwargs.pop(name, None) for name in names}
        pipeline = _pop_pipeline(kwargs)
        return command(*args, schedule=ScheduleOptions(**values, pipeline=pipeline), **kwargs)

    wrapper.__signature__ = inspect.Signature(  # type: ignore[attr-defined]
        [*own, *SCHEDULE_PARAMETERS]
    )
    return wrapper


def pipeline_options(command: Callable[..., Result]) -> Callable[..., Result]:
    """Add the data pipeline options alone to a command that takes ``pipeline: PipelineOptions``."""
    own = _own_parameters(command, "pipeline")

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Result:
        return command(*args, pipeline=_pop_pipeline(kwargs), **kwargs)

    wrapper.__signature__ = inspect.Signature(  # type: ignore[attr-defined]
        [*own, *PIPELINE_PARAMETERS]
    )
    return wrapper


def _own_parameters(command: Callable[..., Any], collected: str) -> list[inspect.Parameter]:
    hints = typing.get_type_hints(command, include_extras=True)
    return [
        parameter.replace(annotation=hints.get(parameter.name, parameter.annotation))
        for parameter in inspect.signature(command).parameters.values()
        if parameter.name != collected
    ]


def _pop_pipeline(kwargs: dict[str, Any]) -> PipelineOptions:
    values = {name: kwargs.pop(name, None) for name in PIPELINE_OPTION_NAMES}
    values["drop_last"] = bool(values["drop_last"])
    return PipelineOptions(**values)


# -- resolving ---------------------------------------------------------------


@dataclass(frozen=True)
class Plan:
    """A validated schedule with what the commands need around it.

    Attributes:
        schedule: The schedule (positions in ``schedule.mode`` units).
        steps_per_epoch: Optimizer steps per epoch, when known: outputs then show both.
        position: The current position, when a state file gave one.
        pipeline: How the steps per epoch were computed from the data pipeline options.
    """

    schedule: StepSchedule
    steps_per_epoch: int | None = None
    position: int | None = None
    pipeline: StepsPerEpoch | None = None

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


def with_option_names(message: str, parameters: Iterable[str]) -> str:
    """``message`` with each of the core's ``parameters`` named as its option.

    For messages that name a parameter anywhere, not only first (``choose one with
    step_column``); only the given parameters are replaced, as whole words.

    Example:
        >>> with_option_names("no step column; choose one with step_column", ["step_column"])
        'no step column; choose one with --step-column'
    """
    for parameter in parameters:
        message = re.sub(
            rf"(?<![\w-]){re.escape(parameter)}(?![\w-])", _OPTION_FOR_PARAMETER[parameter], message
        )
    return message


def parse_milestones(text: str) -> tuple[int, ...]:
    """Parse ``--milestones 30,80`` into integers (range checks are the core's)."""
    parts = [part.strip() for part in text.split(",")]
    if not all(re.fullmatch(r"[+-]?[0-9]+", part, re.ASCII) for part in parts):
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
    pipeline = resolve_steps_per_epoch(options.pipeline, steps_per_epoch_given=steps_per_epoch)
    if pipeline is not None:
        steps_per_epoch = pipeline.steps_per_epoch
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
        # Imported here: the format registry loads every reader, which only --state needs.
        from stepsched_cli.formats.registry import load_state

        state = load_state(options.state).state
        return Plan(
            schedule=state.schedule,
            steps_per_epoch=steps_per_epoch
            if steps_per_epoch is not None
            else state.steps_per_epoch,
            position=state.position,
            pipeline=pipeline,
        )
    if options.lr is None:
        raise typer.BadParameter(
            "give the initial learning rate with --lr (or a state file with --state)",
            param_hint="'--lr'",
        )
    if options.milestones is not None and options.step_size is not None:
        raise usage_error("--milestones", "give either --step-size or --milestones, not both")
    if options.warmup_start_lr is not None and not options.warmup_steps:
        # Accepted silently, it would change nothing: no warmup, no start lr.
        raise usage_error(
            "--warmup-start-lr", "needs --warmup-steps >= 1: without a warmup it is never used"
        )
    if options.warmup_prefix and not options.warmup_steps:
        raise usage_error(
            "--warmup-prefix", "needs --warmup-steps >= 1: without a warmup it changes nothing"
        )
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
            warmup_prefix=bool(options.warmup_prefix),
        )
    except ScheduleError as error:
        raise schedule_error_as_usage(error) from None
    return Plan(schedule=schedule, steps_per_epoch=steps_per_epoch, pipeline=pipeline)


def resolve_steps_per_epoch(
    options: PipelineOptions, *, steps_per_epoch_given: int | None = None
) -> StepsPerEpoch | None:
    """The steps per epoch the data pipeline options describe; None when none is given.

    Raises:
        typer.BadParameter: given together with ``--steps-per-epoch``, without
            ``--dataset-size`` or ``--batch-size``, or a value out of range (exit 2).
    """
    given = options.given
    if not given:
        return None
    if options.accumulation_rounding is not None and options.grad_accum in (None, 1):
        raise usage_error(
            "--accumulation-rounding",
            "needs --grad-accum >= 2: without gradient accumulation there is nothing to round",
        )
    if steps_per_epoch_given is not None:
        raise usage_error(
            "--steps-per-epoch",
            f"give either --steps-per-epoch or the data pipeline ({given[0]}, ...), not both",
        )
    for name in ("dataset_size", "batch_size"):
        if getattr(options, name) is None:
            option = PIPELINE_OPTION_NAMES[name]
            raise usage_error(option, f"{option} is needed with {given[0]}")
    try:
        return pipeline_steps_per_epoch(
            typing.cast(int, options.dataset_size),
            typing.cast(int, options.batch_size),
            1 if options.world_size is None else options.world_size,
            1 if options.grad_accum is None else options.grad_accum,
            drop_last=options.drop_last,
            accumulation_rounding=options.accumulation_rounding or "ceil",
        )
    except ScheduleError as error:
        raise schedule_error_as_usage(error) from None


# What the command line adds to a plausibility warning: the option that fixes it.
_WARNING_HINTS = {"epochs_meant": "; did you mean --mode epoch?"}


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
