"""The options several commands share, each declared once.

The schedule options (``--lr``, ``--step-size``, ``--gamma``, ``--milestones``,
``--mode``, ``--steps-per-epoch``, the data pipeline options, the warmup and floor
options and ``--state``) are added to a command by the :func:`schedule_options`
decorator: the command declares one parameter ``schedule: ScheduleOptions`` and
receives the parsed values in it.  A new shared option is added to
:data:`SCHEDULE_PARAMETERS` and :class:`ScheduleOptions` once, and every schedule
command gets it.

The data pipeline options (``--dataset-size``, ``--batch-size`` or
``--global-batch-size``, ``--world-size``, ``--grad-accum``, ``--drop-last``,
``--accumulation-rounding``) are declared once in
:data:`PIPELINE_PARAMETERS`: part of the schedule options (an alternative to
``--steps-per-epoch``), and on their own through :func:`pipeline_options` (the
``steps-per-epoch`` command).  :func:`resolve_steps_per_epoch` turns them into the
steps per epoch.

:func:`resolve_plan` turns those values into a validated
:class:`~stepsched_cli.planning.Plan` (the library's); a value out of range becomes a
usage error (exit 2) naming the option, before any work is done.  Every schedule
option has a default (:data:`DEFAULT_LR`, ...), so the bare commands work; human
outputs name the schedule they show (:func:`plan_title`).

The other shared options are ``Annotated`` aliases (:data:`FormatOption`,
:data:`JsonFlag`, :data:`TotalOption`, :data:`ForceFlag`, ...) used directly in
command signatures.

Size: about 680 lines, over the ~500 of the house style.  It holds three concerns
(the option declarations, resolving them into a plan, mapping the core's errors to
options); the split waits until issue 9's error-mapping change, which rewrites the
third, has landed, so that the two changes do not collide.
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

from stepsched_cli.cli.output import describe_schedule, print_message
from stepsched_cli.errors import ScheduleError
from stepsched_cli.planning import Plan, RunLength, default_total, run_length, total_for_epochs
from stepsched_cli.plausibility import check_plausibility
from stepsched_cli.schedule import Mode, StepSchedule
from stepsched_cli.units import (
    AccumulationRounding,
    StepsPerEpoch,
    steps_per_epoch_for_global_batch,
)
from stepsched_cli.units import steps_per_epoch as pipeline_steps_per_epoch

OutputFormat = Literal["table", "json", "csv", "markdown"]

SCHEDULE_PANEL = "Schedule options"
PIPELINE_PANEL = "Data pipeline options (instead of --steps-per-epoch)"
OUTPUT_PANEL = "Output options"

# The defaults of the schedule options: the seed's recommended step_size and gamma, and
# its example lr (the classic ResNet lr), so that `stepsched table` works as typed.
# Human outputs always name the schedule, so a default is never a surprise.
DEFAULT_LR = 0.1
DEFAULT_STEP_SIZE = 30
DEFAULT_GAMMA = 0.1
DEFAULT_MODE: Mode = "step"

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
    typer.Option("--json", help="Print JSON instead of text.", rich_help_panel=OUTPUT_PANEL),
]
TotalOption = Annotated[
    int | None,
    typer.Option(
        "--total",
        min=1,
        help="The run's length: cover positions 0..N-1 (in the schedule's unit, see --mode).",
        show_default=False,
    ),
]
EpochsOption = Annotated[
    int | None,
    typer.Option(
        "--epochs",
        min=1,
        help="The run's length in epochs, instead of --total (a step-mode schedule needs "
        "--steps-per-epoch or the data pipeline).",
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


def output_format_of(output_format: OutputFormat, json_output: bool) -> OutputFormat:
    """The format chosen by ``--format`` and its shorthand ``--json``.

    Raises:
        typer.BadParameter: ``--json`` with another ``--format`` than json (exit 2).
    """
    if not json_output:
        return output_format
    if output_format not in ("table", "json"):
        raise usage_error(
            "--json", f"is --format json; it cannot be combined with --format {output_format}"
        )
    return "json"


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


# -- the schedule options ----------------------------------------------------


@dataclass(frozen=True)
class PipelineOptions:
    """The raw values of the data pipeline options, None (False) where not given."""

    dataset_size: int | None = None
    batch_size: int | None = None
    global_batch_size: int | None = None
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
    _count_option(
        "batch_size",
        "--batch-size",
        "Samples per loader batch on ONE rank (per GPU), as DataLoader(batch_size=...).",
    ),
    _count_option(
        "global_batch_size",
        "--global-batch-size",
        "Instead of --batch-size: samples per optimizer step over all ranks and "
        "accumulated batches (batch size x world size x grad accum).",
    ),
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
    "global_batch_size": "--global-batch-size",
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
            help=f"Initial learning rate (> 0). [default: {DEFAULT_LR}]",
        ),
    ),
    _keyword(
        "step_size",
        _option(
            int | None,
            "--step-size",
            help=f"Positions between decays. [default: {DEFAULT_STEP_SIZE}]",
        ),
    ),
    _keyword(
        "gamma",
        _option(
            float | None,
            "--gamma",
            help=f"Decay factor, 0 < gamma < 1. [default: {DEFAULT_GAMMA}]",
        ),
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
            metavar="[step|epoch]",
            parser=parse_unit,
            help="What --step-size and positions count: optimizer steps or epochs "
            f"(steps, epochs also accepted). [default: {DEFAULT_MODE}]",
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


def usage_error(option: str, message: str) -> typer.BadParameter:
    """A usage error (exit 2) about ``option``: ``Invalid value for '--x': message``."""
    return typer.BadParameter(message, param_hint=f"'{option}'")


def schedule_error_as_usage(error: ScheduleError) -> typer.BadParameter:
    """Name the option behind a core :class:`ScheduleError` about a parameter.

    The error's ``parameter`` attribute says which; the message is never parsed.
    """
    message = str(error)
    option = _OPTION_FOR_PARAMETER.get(error.parameter or "")
    if option is None:
        return typer.BadParameter(message)
    return usage_error(option, message)


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
        return _plan_from_state(options, steps_per_epoch, pipeline)
    return Plan(
        schedule=_schedule_from_options(options),
        steps_per_epoch=steps_per_epoch,
        pipeline=pipeline,
    )


def _plan_from_state(
    options: ScheduleOptions, steps_per_epoch: int | None, pipeline: StepsPerEpoch | None
) -> Plan:
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

    state = load_state(typing.cast(str, options.state)).state
    return Plan(
        schedule=state.schedule,
        steps_per_epoch=steps_per_epoch if steps_per_epoch is not None else state.steps_per_epoch,
        position=state.position,
        pipeline=pipeline,
    )


def _schedule_from_options(options: ScheduleOptions) -> StepSchedule:
    """The schedule the options give, each option not given taking its default."""
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
    step_size = options.step_size
    if milestones is None and step_size is None:
        step_size = DEFAULT_STEP_SIZE
    try:
        return StepSchedule(
            initial_lr=DEFAULT_LR if options.lr is None else options.lr,
            step_size=step_size,
            gamma=DEFAULT_GAMMA if options.gamma is None else options.gamma,
            milestones=milestones,
            warmup_steps=options.warmup_steps or 0,
            warmup_start_lr=options.warmup_start_lr or 0.0,
            min_lr=options.min_lr or 0.0,
            mode=options.mode or DEFAULT_MODE,
            warmup_prefix=bool(options.warmup_prefix),
        )
    except ScheduleError as error:
        raise schedule_error_as_usage(error) from None


def resolve_steps_per_epoch(
    options: PipelineOptions, *, steps_per_epoch_given: int | None = None
) -> StepsPerEpoch | None:
    """The steps per epoch the data pipeline options describe; None when none is given.

    Raises:
        typer.BadParameter: given together with ``--steps-per-epoch``, without
            ``--dataset-size`` or a batch size, both batch sizes, or a value out of
            range (exit 2).
    """
    given = options.given
    if not given:
        return None
    _check_pipeline_options(options, given, steps_per_epoch_given)
    compute = (
        pipeline_steps_per_epoch
        if options.global_batch_size is None
        else steps_per_epoch_for_global_batch
    )
    try:
        return compute(
            typing.cast(int, options.dataset_size),
            typing.cast(
                int,
                options.batch_size
                if options.global_batch_size is None
                else options.global_batch_size,
            ),
            1 if options.world_size is None else options.world_size,
            1 if options.grad_accum is None else options.grad_accum,
            drop_last=options.drop_last,
            accumulation_rounding=options.accumulation_rounding or "ceil",
        )
    except ScheduleError as error:
        raise schedule_error_as_usage(error) from None


def _check_pipeline_options(
    options: PipelineOptions, given: list[str], steps_per_epoch_given: int | None
) -> None:
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
    if options.batch_size is not None and options.global_batch_size is not None:
        raise usage_error(
            "--global-batch-size",
            "give either --batch-size (per rank) or --global-batch-size (all ranks), not both",
        )
    if options.dataset_size is None:
        raise usage_error("--dataset-size", f"--dataset-size is needed with {given[0]}")
    if options.batch_size is None and options.global_batch_size is None:
        raise usage_error("--batch-size", f"--batch-size is needed with {given[0]}")


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


def pipeline_summary(figures: StepsPerEpoch) -> str:
    """One line: ``5005 steps per epoch: 1281167 samples, batch 32 per rank x 8 ranks``."""
    text = (
        f"{figures.steps_per_epoch} steps per epoch: {figures.dataset_size} samples, "
        f"batch {figures.batch_size} per rank"
    )
    if figures.world_size > 1:
        text += f" x {figures.world_size} ranks"
    if figures.grad_accum > 1:
        text += f", {figures.grad_accum} batches per step ({figures.accumulation_rounding})"
    if figures.drop_last:
        text += ", last batch dropped"
    return text


def run_length_text(length: RunLength) -> str:
    """``90 epochs = 450450 steps``, or ``1000 steps = 0 epochs + 1000 steps``."""
    if not length.extra_steps:
        return f"{length.epochs} epochs = {length.steps} steps"
    return f"{length.steps} steps = {length.epochs} epochs + {length.extra_steps} steps"


__all__ = ["Plan", "default_total"]
