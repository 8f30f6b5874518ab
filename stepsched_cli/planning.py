"""A plan: a schedule with the units around it, and the arithmetic of positions and horizons.

The command line shows positions in the schedule's unit and, when the steps per
epoch are known, in the other one too; it covers a horizon given as ``--total`` (in
the schedule's unit), as ``--epochs`` (a run's length in epochs), or a default one.
All of that arithmetic lives here, so the command line only parses and prints.

Example:
    >>> plan = Plan(StepSchedule(0.1, step_size=30, mode="epoch"), steps_per_epoch=5005)
    >>> plan.step_of(30), plan.last_step_of(59), plan.epoch_of(30)
    (150150, 300299, 30)
    >>> plan.position_fields(30)
    {'step': 150150, 'epoch': 30}
    >>> default_total(plan.schedule)
    120
    >>> run_length(plan, total_for_epochs(plan, 90))
    RunLength(steps=450450, epochs=90, extra_steps=0)

Positions and lengths typed in either unit (``30ep``, ``200000st``) are converted by a
:class:`Clock`, the plan's unit and steps per epoch:

    >>> clock = Clock("step", steps_per_epoch=5005)
    >>> clock.count(TimeValue(30, "epoch"), "milestones")
    150150
    >>> plan.clock.locate(TimeValue(200000, "step"), "position")
    Moment(position=39, step=200000, epoch=39)
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import cast

from stepsched_cli.errors import ScheduleError
from stepsched_cli.schedule import Mode, StepSchedule
from stepsched_cli.units import StepsPerEpoch, TimeValue, time_in


@dataclass(frozen=True)
class Moment:
    """A point of a run in both units.

    Attributes:
        position: The schedule's position there (in its unit): the one whose lr applies.
        step: The optimizer step (for an epoch given to an epoch-mode schedule, the
            epoch's first step), None when not known.
        epoch: The epoch it falls in, None when not known.
    """

    position: int
    step: int | None
    epoch: int | None


@dataclass(frozen=True)
class Clock:
    """A schedule's unit and the steps per epoch: what converts typed times into positions.

    Attributes:
        mode: The unit positions count: ``"step"`` or ``"epoch"``.
        steps_per_epoch: Optimizer steps per epoch, when known.
    """

    mode: Mode
    steps_per_epoch: int | None = None

    def count(
        self, value: TimeValue, parameter: str, *, minimum: int = 0, label: str | None = None
    ) -> int:
        """``value`` in the schedule's unit, exactly (a boundary, a length, a state's position).

        Raises:
            ScheduleError: as :func:`~stepsched_cli.units.time_in`, with ``parameter``.
        """
        return time_in(
            value, self.mode, self.steps_per_epoch, parameter, minimum=minimum, label=label
        )

    def locate(self, value: TimeValue, parameter: str) -> Moment:
        """Where ``value`` falls: a step of an epoch-mode schedule is inside an epoch.

        Raises:
            ScheduleError: a negative value, or the other unit without the steps per
                epoch, with ``parameter``.
        """
        if value.unit == "step" and self.mode == "epoch":
            step = time_in(value, "step", None, parameter)
            if self.steps_per_epoch is None:
                self.count(value, parameter)  # raises: the steps per epoch are needed
            inside = step // cast(int, self.steps_per_epoch)
            return Moment(inside, step, inside)
        position = self.count(value, parameter)
        if self.mode == "epoch":
            return Moment(position, _times(position, self.steps_per_epoch), position)
        epoch = None if self.steps_per_epoch is None else position // self.steps_per_epoch
        return Moment(position, position, epoch)


def _times(position: int, steps_per_epoch: int | None) -> int | None:
    return None if steps_per_epoch is None else position * steps_per_epoch


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
    def clock(self) -> Clock:
        """What converts positions typed in either unit into this plan's."""
        return Clock(self.mode, self.steps_per_epoch)

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
        """The keys that give a position: ``step``/``epoch`` as known, with a prefix."""
        keys = []
        if self.shows_steps:
            keys.append(f"{stem}step")
        if self.shows_epochs:
            keys.append(f"{stem}epoch")
        return keys

    def sampled_rows(self, every: int, total: int) -> Iterator[tuple[int | float, ...]]:
        """Rows at positions ``0, every, 2*every, ...`` below ``total``: the position in
        each unit of :meth:`unit_keys`, then the lr (one walk, no record per row).

        Example:
            >>> plan = Plan(StepSchedule(0.1, step_size=2), steps_per_epoch=3)
            >>> list(plan.sampled_rows(1, 5))
            [(0, 0, 0.1), (1, 0, 0.1), (2, 0, 0.01), (3, 1, 0.01), (4, 1, 0.001)]
        """
        positions = range(0, total, every)
        lrs = self.schedule.lrs_at(positions)
        per_epoch = self.steps_per_epoch
        if per_epoch is None:
            return zip(positions, lrs, strict=True)
        if self.mode == "step":
            return ((p, p // per_epoch, lr) for p, lr in zip(positions, lrs, strict=True))
        return ((p * per_epoch, p, lr) for p, lr in zip(positions, lrs, strict=True))

    def position_fields(self, position: int, stem: str = "") -> dict[str, int | None]:
        """``position`` in every unit that is known, keyed as :meth:`unit_keys`."""
        fields: dict[str, int | None] = {}
        if self.shows_steps:
            fields[f"{stem}step"] = self.step_of(position)
        if self.shows_epochs:
            fields[f"{stem}epoch"] = self.epoch_of(position)
        return fields


def default_total(schedule: StepSchedule) -> int:
    """The horizon shown when no length is given: one interval past the third decay.

    With fewer than three decays, one interval past the last.  For the seed example
    (step_size 30) this is 120: the table's four rows, and a plot that shows the last.

    Example:
        >>> default_total(StepSchedule(0.1, milestones=(30, 80)))
        130
    """
    decays = min(3, schedule.boundary_count)
    last = schedule.boundary(decays)
    # The decay clock starts at 0, or after the warmup with warmup_prefix.
    clock_start = schedule.warmup_steps if schedule.warmup_prefix else 0
    previous = schedule.boundary(decays - 1) if decays > 1 else clock_start
    if last is None or previous is None:  # pragma: no cover - boundary_count >= 1 always
        return schedule.warmup_steps + 1
    return last + (last - previous)


def total_for_epochs(plan: Plan | Clock, epochs: int) -> int:
    """The length, in the schedule's unit, of a run of ``epochs`` epochs.

    Raises:
        ScheduleError: ``epochs`` is not an integer >= 1, or the schedule counts steps
            and the steps per epoch are not known.

    Example:
        >>> total_for_epochs(Plan(StepSchedule(0.1), steps_per_epoch=5005), 90)
        450450
    """
    if isinstance(epochs, bool) or not isinstance(epochs, int) or epochs < 1:
        raise ScheduleError(f"epochs must be an integer >= 1, got {epochs!r}", parameter="epochs")
    if plan.mode == "epoch":
        return epochs
    if plan.steps_per_epoch is None:
        raise ScheduleError(
            "epochs needs the steps per epoch for a step-mode schedule: give "
            "steps_per_epoch (or the data pipeline), or the length in steps",
            parameter="epochs",
        )
    return epochs * plan.steps_per_epoch


@dataclass(frozen=True)
class RunLength:
    """A run's length in both units, when both are known.

    Attributes:
        steps: Optimizer steps in the run.
        epochs: Whole epochs in the run.
        extra_steps: Steps past the last whole epoch (0 for a run of whole epochs).
    """

    steps: int
    epochs: int
    extra_steps: int = 0


def run_length(plan: Plan, total: int) -> RunLength | None:
    """A run of ``total`` positions in steps and epochs; None unless both units are known.

    Example:
        >>> run_length(Plan(StepSchedule(0.1), steps_per_epoch=10), 25)
        RunLength(steps=25, epochs=2, extra_steps=5)
    """
    if plan.steps_per_epoch is None:
        return None
    if plan.mode == "epoch":
        return RunLength(steps=total * plan.steps_per_epoch, epochs=total)
    epochs, extra_steps = divmod(total, plan.steps_per_epoch)
    return RunLength(steps=total, epochs=epochs, extra_steps=extra_steps)


def lowest_lr(schedule: StepSchedule) -> tuple[int, float]:
    """Where the lr stops changing, and its value from there on (the last decay's).

    Example:
        >>> lowest_lr(StepSchedule(0.1, milestones=(30, 60, 80)))
        (80, 0.0001)
    """
    last = schedule.boundary(schedule.boundary_count)
    if last is None:  # pragma: no cover - boundary_count >= 1 always
        return 0, schedule.lr_at(0)
    return last, schedule.lr_at(last)


__all__ = [
    "Clock",
    "Moment",
    "Plan",
    "RunLength",
    "default_total",
    "lowest_lr",
    "run_length",
    "total_for_epochs",
]
