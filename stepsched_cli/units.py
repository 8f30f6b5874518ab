"""Units: optimizer steps and epochs, and how many steps an epoch has.

A schedule in ``"epoch"`` mode is stepped once per epoch; the same schedule in
``"step"`` mode is stepped once per optimizer step.  Given ``steps_per_epoch`` the two
convert exactly in one direction (epoch -> step multiplies every position) and in the
other only when every position falls on an epoch boundary; anything that cannot be
exact raises :class:`ConversionError` instead of rounding.

Example:
    >>> epochs = StepSchedule(0.1, step_size=30, mode="epoch")
    >>> to_mode(epochs, "step", steps_per_epoch=5005).step_size
    150150
    >>> steps_per_epoch(1_281_167, 256).steps_per_epoch
    5005

Positions and lengths may be typed in either unit: ``30ep`` is 30 epochs, ``150150st``
150,150 optimizer steps, and a bare ``30`` counts the schedule's own unit
(:func:`parse_time`).  :func:`time_in` converts such a :class:`TimeValue` into a
schedule's unit, exactly or not at all:

    >>> time_in(parse_time("30ep", "milestones"), "step", 5005, "milestones")
    150150
    >>> time_in(parse_time("1e5", "t"), "step", None, "t")
    100000
"""

from __future__ import annotations

import decimal
import re
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Literal, cast

from stepsched_cli import validate
from stepsched_cli.errors import ConversionError, ScheduleError
from stepsched_cli.schedule import Mode, StepSchedule, check_position

if TYPE_CHECKING:
    from stepsched_cli.scheduler import SchedulerState

AccumulationRounding = Literal["ceil", "floor"]


def check_steps_per_epoch(value: object) -> int:
    """Return ``value`` if it is a valid steps-per-epoch count (an integer >= 1)."""
    return validate.integer(value, "steps_per_epoch", minimum=1, limit=None, error=ScheduleError)


def epochs_to_steps(epochs: int, steps_per_epoch: int) -> int:
    """The optimizer step at which epoch ``epochs`` starts (always exact)."""
    return check_position(epochs, "epoch") * check_steps_per_epoch(steps_per_epoch)


def steps_to_epochs(steps: int, steps_per_epoch: int, what: str = "step") -> int:
    """The epoch that starts at optimizer step ``steps``.

    Raises:
        ConversionError: ``steps`` falls inside an epoch, so no whole epoch matches it.
    """
    steps = check_position(steps, what)
    epochs, remainder = divmod(steps, check_steps_per_epoch(steps_per_epoch))
    if remainder:
        raise ConversionError(
            f"{what} {steps} falls inside epoch {epochs} ({remainder} steps in, with "
            f"{steps_per_epoch} steps per epoch): it has no exact position in epochs"
        )
    return epochs


def to_mode(schedule: StepSchedule, mode: Mode, steps_per_epoch: int) -> StepSchedule:
    """Express ``schedule`` in ``mode`` ("step" or "epoch"), exactly or not at all.

    Raises:
        ConversionError: a boundary falls inside an epoch (step -> epoch), or the
            schedule has a warmup, whose per-position ramp has no exact equivalent in
            the other unit.
    """
    check_steps_per_epoch(steps_per_epoch)
    if mode == schedule.mode:
        return schedule
    if schedule.warmup_steps:
        raise ConversionError(
            f"a warmup ramps once per {schedule.mode}; the same ramp has no exact form in "
            f"{mode}s (warmup_steps={schedule.warmup_steps})"
        )
    if mode not in ("step", "epoch"):
        raise ScheduleError(f"mode must be 'step' or 'epoch', got {mode!r}", parameter="mode")

    def convert(position: int, what: str) -> int:
        if mode == "step":
            return epochs_to_steps(position, steps_per_epoch)
        return steps_to_epochs(position, steps_per_epoch, what)

    if schedule.milestones is not None:
        milestones = tuple(
            convert(milestone, f"milestones[{index}]")
            for index, milestone in enumerate(schedule.milestones)
        )
        return schedule.replace(milestones=milestones, mode=mode)
    step_size = convert(cast(int, schedule.step_size), "step_size")
    return schedule.replace(step_size=step_size, mode=mode)


def convert_state(state: SchedulerState, mode: Mode, steps_per_epoch: int) -> SchedulerState:
    """Express a scheduler state in ``mode``: its schedule and its position.

    Raises:
        ConversionError: as :func:`to_mode`, or the position falls inside an epoch.
    """
    schedule = to_mode(state.schedule, mode, steps_per_epoch)
    if mode == state.schedule.mode:
        position = state.position
    elif mode == "step":
        position = epochs_to_steps(state.position, steps_per_epoch)
    else:
        position = steps_to_epochs(state.position, steps_per_epoch, "the position (step)")
    from stepsched_cli.scheduler import SchedulerState  # only conversions need the state type

    return SchedulerState(
        schedule=schedule,
        position=position,
        order=state.order,
        started=state.started,
        group_initial_lrs=state.group_initial_lrs,
        steps_per_epoch=steps_per_epoch,
    )


@dataclass(frozen=True)
class StepsPerEpoch:
    """How many optimizer steps one epoch takes, with the figures it came from.

    Attributes:
        samples_per_rank: Samples each rank sees: ``ceil(dataset_size / world_size)``
            (a DistributedSampler pads the dataset to a multiple of the world size).
        batches_per_rank: Loader batches per rank: ``ceil(samples / batch_size)``, or
            ``floor`` with ``drop_last``.
        steps_per_epoch: Optimizer steps: ``ceil(batches / grad_accum)`` (the last,
            partial accumulation group still steps), or ``floor`` with
            ``accumulation_rounding="floor"`` (as Hugging Face Trainer counts).
    """

    dataset_size: int
    batch_size: int
    world_size: int
    grad_accum: int
    drop_last: bool
    accumulation_rounding: AccumulationRounding
    samples_per_rank: int
    batches_per_rank: int
    steps_per_epoch: int
    global_batch_size: int | None = None


def batch_size_per_rank(global_batch_size: int, world_size: int = 1, grad_accum: int = 1) -> int:
    """The per-rank loader batch of a global batch (samples per optimizer step, all ranks).

    The global batch is ``batch_size * world_size * grad_accum``: what one optimizer
    step sees over every rank and every accumulated micro-batch.

    Raises:
        ScheduleError: an argument out of range, or a global batch that does not split
            evenly over the ranks and accumulation steps.

    Example:
        >>> batch_size_per_rank(256, world_size=8)
        32
    """
    _check_counts(
        ("global_batch_size", global_batch_size),
        ("world_size", world_size),
        ("grad_accum", grad_accum),
    )
    per_rank, remainder = divmod(global_batch_size, world_size * grad_accum)
    if remainder or per_rank < 1:
        raise ScheduleError(
            f"global_batch_size must be a multiple of world_size * grad_accum "
            f"({world_size} * {grad_accum} = {world_size * grad_accum}), got {global_batch_size}",
            parameter="global_batch_size",
        )
    return per_rank


def _check_counts(*named: tuple[str, object]) -> None:
    for name, value in named:
        validate.integer(value, name, minimum=1, limit=None, error=ScheduleError)


def steps_per_epoch(
    dataset_size: int,
    batch_size: int,
    world_size: int = 1,
    grad_accum: int = 1,
    *,
    drop_last: bool = False,
    accumulation_rounding: AccumulationRounding = "ceil",
) -> StepsPerEpoch:
    """Optimizer steps per epoch for a PyTorch-style data pipeline.

    Models a ``DistributedSampler`` (each of ``world_size`` ranks gets
    ``ceil(N / W)`` samples, padded), a ``DataLoader`` with per-rank ``batch_size``
    (``ceil``, or ``floor`` with ``drop_last``) and gradient accumulation over
    ``grad_accum`` batches.

    Args:
        dataset_size: Samples in the dataset, >= 1.
        batch_size: Samples per batch on one rank, >= 1.
        world_size: Data-parallel ranks, >= 1.
        grad_accum: Batches per optimizer step, >= 1.
        drop_last: The loader drops the last incomplete batch.
        accumulation_rounding: ``"ceil"``: a final partial accumulation group still
            steps the optimizer (a plain PyTorch loop that steps at the epoch's end);
            ``"floor"``: it does not (Hugging Face Trainer's count).

    Raises:
        ScheduleError: an argument out of range, or an epoch with no optimizer step.

    Example:
        >>> steps_per_epoch(1_281_167, 32, world_size=8).steps_per_epoch
        5005
        >>> steps_per_epoch(1_281_167, 256, drop_last=True).steps_per_epoch
        5004
    """
    _check_counts(
        ("dataset_size", dataset_size),
        ("batch_size", batch_size),
        ("world_size", world_size),
        ("grad_accum", grad_accum),
    )
    if accumulation_rounding not in ("ceil", "floor"):
        raise ScheduleError(
            f"accumulation_rounding must be 'ceil' or 'floor', got {accumulation_rounding!r}",
            parameter="accumulation_rounding",
        )
    samples = -(-dataset_size // world_size)
    batches = samples // batch_size if drop_last else -(-samples // batch_size)
    steps = -(-batches // grad_accum) if accumulation_rounding == "ceil" else batches // grad_accum
    if steps < 1:
        raise ScheduleError(
            f"an epoch of {dataset_size} samples gives {batches} batches of {batch_size} per "
            f"rank and {steps} optimizer steps with grad_accum {grad_accum}: the scheduler "
            "would never step"
        )
    return StepsPerEpoch(
        dataset_size=dataset_size,
        batch_size=batch_size,
        world_size=world_size,
        grad_accum=grad_accum,
        drop_last=drop_last,
        accumulation_rounding=accumulation_rounding,
        samples_per_rank=samples,
        batches_per_rank=batches,
        steps_per_epoch=steps,
    )


def steps_per_epoch_for_global_batch(
    dataset_size: int,
    global_batch_size: int,
    world_size: int = 1,
    grad_accum: int = 1,
    *,
    drop_last: bool = False,
    accumulation_rounding: AccumulationRounding = "ceil",
) -> StepsPerEpoch:
    """:func:`steps_per_epoch` for a global batch, split evenly into per-rank batches.

    Raises:
        ScheduleError: as :func:`steps_per_epoch` and :func:`batch_size_per_rank`.

    Example:
        >>> figures = steps_per_epoch_for_global_batch(1_281_167, 256, world_size=8)
        >>> figures.batch_size, figures.steps_per_epoch
        (32, 5005)
    """
    per_rank = batch_size_per_rank(global_batch_size, world_size, grad_accum)
    figures = steps_per_epoch(
        dataset_size,
        per_rank,
        world_size,
        grad_accum,
        drop_last=drop_last,
        accumulation_rounding=accumulation_rounding,
    )
    return replace(figures, global_batch_size=global_batch_size)


# -- positions and lengths in either unit ------------------------------------------

# The suffixes of a typed time: MosaicML Composer's ``ep``, and ``st`` for optimizer
# steps (updates, not batches: under gradient accumulation the two differ).
UNIT_SUFFIXES: dict[str, Mode] = {"ep": "epoch", "st": "step"}
SUFFIX_OF_UNIT: dict[Mode, str] = {"epoch": "ep", "step": "st"}
# The longest integer a typed time may spell out (as int() itself accepts, 4300 digits).
_MAX_TIME_DIGITS = 4300
_TIME_TEXT = re.compile(
    r"\s*(?P<number>[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?)"
    r"\s*(?P<suffix>[a-zA-Z]*)\s*",
    re.ASCII,
)


@dataclass(frozen=True)
class TimeValue:
    """A position or a length as typed: a whole ``amount`` of ``unit``.

    Attributes:
        amount: The integer typed (``30`` in ``30ep``); may be negative, the
            conversions check the range.
        unit: ``"step"`` or ``"epoch"`` for a suffixed value; None for a bare number,
            which counts the schedule's own unit.
    """

    amount: int
    unit: Mode | None = None

    def __str__(self) -> str:
        return f"{self.amount}{'' if self.unit is None else SUFFIX_OF_UNIT[self.unit]}"


def parse_time(text: str, parameter: str) -> TimeValue:
    """Read ``30``, ``30ep``, ``150150st``, ``1e5`` or ``2.5e5st`` as a :class:`TimeValue`.

    The number is ASCII decimal text; a decimal point or an exponent is accepted when
    the value is an exact integer (``2.5e5`` is 250000, ``1.5`` is refused).  The
    suffix is ``ep`` (epochs) or ``st`` (optimizer steps), in any case; none counts
    the schedule's unit.

    Raises:
        ScheduleError: anything else, with ``parameter`` (the message starts with it).

    Example:
        >>> parse_time("30ep", "milestones"), parse_time(" 2.5E5 ", "total")
        (TimeValue(amount=30, unit='epoch'), TimeValue(amount=250000, unit=None))
    """
    match = _TIME_TEXT.fullmatch(text) if isinstance(text, str) else None
    suffix = "" if match is None else match["suffix"].lower()
    if match is None or (suffix and suffix not in UNIT_SUFFIXES):
        raise ScheduleError(
            f"{parameter} must be a whole number, optionally with a unit (30, 30ep for "
            f"epochs, 150150st for steps), got {validate.shown(text)}",
            parameter=parameter,
        )
    number = decimal.Decimal(match["number"])
    # adjusted() is the power of ten of the leading digit: it bounds the digits.
    if number and number.adjusted() >= _MAX_TIME_DIGITS:
        raise ScheduleError(
            f"{parameter} must have at most {_MAX_TIME_DIGITS} digits, got {validate.shown(text)}",
            parameter=parameter,
        )
    if number != number.to_integral_value():
        raise ScheduleError(
            f"{parameter} must be a whole number of {_counted(suffix)}, got "
            f"{validate.shown(text.strip())}",
            parameter=parameter,
        )
    return TimeValue(int(number), UNIT_SUFFIXES[suffix] if suffix else None)


def _counted(suffix: str) -> str:
    return f"{UNIT_SUFFIXES[suffix]}s" if suffix else "positions"


def time_in(
    value: TimeValue,
    mode: Mode,
    steps_per_epoch: int | None,
    parameter: str,
    *,
    minimum: int = 0,
    label: str | None = None,
) -> int:
    """``value`` counted in ``mode``'s unit, exactly: a boundary, a length or a position.

    An amount in epochs becomes ``amount * steps_per_epoch`` steps; an amount in steps
    becomes epochs only when it is a whole number of them.

    Args:
        value: The typed value.
        mode: The unit wanted (the schedule's).
        steps_per_epoch: Optimizer steps per epoch, None when not known.
        parameter: What the error names (``"milestones"``, ``"step_size"``).
        minimum: The smallest amount accepted.
        label: How the message names the value (defaults to ``parameter``).

    Raises:
        ScheduleError: the amount is below ``minimum``; steps that are not a whole
            number of epochs (the message gives the nearest whole values); the other
            unit without ``steps_per_epoch`` (:class:`MissingStepsPerEpoch`).

    Example:
        >>> time_in(TimeValue(100, "step"), "epoch", 5005, "step_size")
        Traceback (most recent call last):
        ...
        stepsched_cli.errors.ScheduleError: step_size 100st is not a whole number of \
epochs (5005 steps each): the nearest whole values are 0ep (0st) and 1ep (5005st)
    """
    label = parameter if label is None else label
    if value.amount < minimum:
        raise ScheduleError(f"{label} must be at least {minimum}, got {value}", parameter=parameter)
    if value.unit is None or value.unit == mode:
        return value.amount
    if steps_per_epoch is None:
        raise MissingStepsPerEpoch(
            f"{label} {value} counts {value.unit}s and the schedule counts {mode}s: "
            "converting needs the steps per epoch",
            parameter=parameter,
        )
    check_steps_per_epoch(steps_per_epoch)
    if mode == "step":
        return value.amount * steps_per_epoch
    epochs, remainder = divmod(value.amount, steps_per_epoch)
    if remainder:
        raise ScheduleError(
            f"{label} {value} is not a whole number of epochs ({steps_per_epoch} steps "
            f"each): the nearest whole values are {epochs}ep ({epochs * steps_per_epoch}st) "
            f"and {epochs + 1}ep ({(epochs + 1) * steps_per_epoch}st)",
            parameter=parameter,
        )
    return epochs


class MissingStepsPerEpoch(ScheduleError):
    """A value in the other unit than the schedule's, and no steps per epoch to convert it.

    ``parameter`` names the value; the command line adds the options that give the
    steps per epoch.
    """


__all__ = [
    "SUFFIX_OF_UNIT",
    "UNIT_SUFFIXES",
    "AccumulationRounding",
    "MissingStepsPerEpoch",
    "StepsPerEpoch",
    "TimeValue",
    "batch_size_per_rank",
    "check_steps_per_epoch",
    "convert_state",
    "epochs_to_steps",
    "parse_time",
    "steps_per_epoch",
    "steps_per_epoch_for_global_batch",
    "steps_to_epochs",
    "time_in",
    "to_mode",
]
