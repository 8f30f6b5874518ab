"""``code --framework keras``: ExponentialDecay(staircase=True) or PiecewiseConstantDecay on
the step count, with the parameters :func:`~.schedule.from_schedule` writes."""

from __future__ import annotations

from typing import Any

from stepsched_cli.formats.frameworks.keras import schedule as keras_format
from stepsched_cli.formats.snippet import Snippet, drop_in_arguments
from stepsched_cli.schedule import StepSchedule

__all__ = ["SNIPPET", "exact_keras_snippet", "keras_snippet"]


def keras_snippet(schedule: StepSchedule, steps_per_epoch: int | None) -> str:
    """Keras: ExponentialDecay(staircase=True) or PiecewiseConstantDecay on the step count."""
    config: dict[str, Any] = keras_format.from_schedule(schedule, steps_per_epoch, style="config")
    config.pop("name", None)
    if "boundaries" in config:
        kind = "PiecewiseConstantDecay"
        note = (
            "# Keras's boundary value belongs to the interval on its left, so the boundaries\n"
            "# are one step before stepsched's decays.\n"
        )
    else:
        kind = "ExponentialDecay"
        note = ""
    arguments = ", ".join(f"{key}={value!r}" for key, value in config.items())
    return f"""import keras

schedule = keras.optimizers.schedules.{kind}({arguments})
optimizer = keras.optimizers.SGD(learning_rate=schedule)
{note}# Keras evaluates the schedule at optimizer.iterations (updates done, in float32).
# Resume: restore the optimizer's variables with the model (keras.saving.load_model, or
# a checkpoint that includes the optimizer) so that optimizer.iterations continues.
"""


def exact_keras_snippet(schedule: StepSchedule, steps_per_epoch: int | None) -> str:
    """stepsched_cli.keras.StepDecay: integer decay count, correctly rounded values."""
    arguments = drop_in_arguments(schedule, steps_per_epoch, "Keras")
    return f"""
# Exact drop-in: stepsched_cli.keras.StepDecay decides each decay by integer arithmetic on
# optimizer.iterations (no early decay past 2**24) and gives the correctly rounded lr;
# the decay takes effect AT each boundary. Import it before keras.models.load_model.
from stepsched_cli.keras import StepDecay

schedule = StepDecay({arguments})
optimizer = keras.optimizers.SGD(learning_rate=schedule)
"""


SNIPPET = Snippet("keras", "Keras", keras_snippet, exact_keras_snippet)
"""``code --framework keras``."""
