"""``code --framework keras``: ExponentialDecay(staircase=True) or PiecewiseConstantDecay on
the step count, with the parameters :func:`~.schedule.from_schedule` writes."""

from __future__ import annotations

from typing import Any

from stepsched_cli.formats.frameworks.keras import schedule as keras_format
from stepsched_cli.formats.snippet import Snippet, drop_in_arguments, run_in_steps
from stepsched_cli.schedule import StepSchedule

__all__ = ["SNIPPET", "exact_keras_snippet", "keras_run", "keras_snippet"]


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


def keras_run(schedule: StepSchedule, steps_per_epoch: int | None, length: int) -> str:
    """Keras: model.fit for a run of ``length`` positions, in optimizer steps (Keras's
    epochs when the run is a whole number of them, else one long epoch)."""
    steps = run_in_steps(schedule, steps_per_epoch, length)
    epochs, per_epoch = 1, steps
    if steps_per_epoch is not None and steps % steps_per_epoch == 0:
        epochs, per_epoch = steps // steps_per_epoch, steps_per_epoch
    return f"""
# The run: {steps} optimizer steps (optimizer.iterations 0 to {steps - 1}).
model.compile(optimizer=optimizer, loss=...)  # your model and loss
model.fit(dataset.repeat(), epochs={epochs}, steps_per_epoch={per_epoch})  # your tf.data dataset
"""


SNIPPET = Snippet("keras", "Keras", keras_snippet, exact_keras_snippet, keras_run)
"""``code --framework keras``."""
