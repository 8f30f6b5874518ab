"""A ``code --framework`` choice: a short runnable snippet building a schedule elsewhere.

Each format names the snippets that build its schedule (the format table's
``snippets``); each snippet is written by the wing that knows the framework, from the
same rules as its writer, so a snippet says exactly what ``convert --to`` would write.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from stepsched_cli.errors import ConversionError
from stepsched_cli.schedule import StepSchedule
from stepsched_cli.units import epochs_to_steps

__all__ = ["Snippet", "drop_in_arguments", "run_in_steps"]


@dataclass(frozen=True)
class Snippet:
    """One ``code --framework`` choice.

    Attributes:
        name: The ``--framework`` name (``"lightning"``).
        title: The framework as it spells itself (``"Lightning"``), for the header line.
        write: The snippet's code for a schedule and its steps per epoch (None when
            unknown), after the header line; raises ``ConversionError`` saying why when
            the framework cannot express the schedule exactly.
        exact: What ``code --exact`` adds after it: the same schedule with stepsched's
            drop-in for the framework (``stepsched_cli.torch``, also for Lightning and
            timm's train.py, ``.keras``, ``.optax``); raises ``ConversionError`` as
            ``write`` does.
        run: What ``code --epochs``/``--total`` adds after it: the training loop of a
            run of a given length (the schedule, its steps per epoch, and the run's
            length in the schedule's unit), or None where the snippet has no loop.
    """

    name: str
    title: str
    write: Callable[[StepSchedule, int | None], str]
    exact: Callable[[StepSchedule, int | None], str]
    run: Callable[[StepSchedule, int | None, int], str] | None = None


def run_in_steps(schedule: StepSchedule, steps_per_epoch: int | None, length: int) -> int:
    """A run of ``length`` positions of ``schedule`` in optimizer steps (updates), as the
    frameworks that count updates (Keras, optax) need it.

    Raises:
        ConversionError: an epoch-mode run without the steps per epoch.

    Example:
        >>> run_in_steps(StepSchedule(0.1, 30, mode="epoch"), 5005, 90)
        450450
    """
    if schedule.mode == "step":
        return length
    if steps_per_epoch is None:
        raise ConversionError(
            f"a run of {length} epochs counts optimizer updates here: give the steps per epoch",
            parameter="steps_per_epoch",
        )
    return epochs_to_steps(length, steps_per_epoch)


def drop_in_arguments(schedule: StepSchedule, steps_per_epoch: int | None, framework: str) -> str:
    """The arguments of ``StepDecay`` / ``step_decay`` for ``schedule``, counted in updates.

    Raises:
        ConversionError: what the drop-ins cannot hold (see
            :func:`~stepsched_cli.decay_tables.spec_of_schedule`).

    Example:
        >>> drop_in_arguments(StepSchedule(0.1, milestones=(30, 80)), None, "optax")
        '0.1, boundaries=[30, 80], decay_rate=0.1'
    """
    from stepsched_cli.decay_tables import spec_of_schedule

    spec = spec_of_schedule(schedule, steps_per_epoch, framework)
    if spec.boundaries is None:
        decay = f"decay_steps={spec.decay_steps}"
    else:
        decay = f"boundaries=[{', '.join(str(b) for b in spec.boundaries)}]"
    return f"{spec.initial_lr!r}, {decay}, decay_rate={spec.decay_rate!r}"
