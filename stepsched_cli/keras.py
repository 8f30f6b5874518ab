"""An exact step decay for Keras 3: ``StepDecay``, a ``LearningRateSchedule``.

``StepDecay(initial_learning_rate, decay_steps=None, boundaries=None, decay_rate=0.1)``
decays by ``decay_rate`` every ``decay_steps`` iterations (as
``ExponentialDecay(staircase=True)``), or at each of ``boundaries`` (at the boundary,
where ``PiecewiseConstantDecay`` decays one iteration after it).  Keras's own staircase
divides the iteration count in float32, which holds integers exactly only up to
2**24: from there it decays early (iteration 16,999,999 of a 1,000,000-step decay
already has the 17th decay), and ``decay_rate ** p`` in float32 is not the nearest
float32 to the exact value.  Here the decay count is integer arithmetic on the
iteration count (``//``, or comparisons with the boundaries; on the jax backend the
graph of :func:`stepsched_cli.decay_tables.lr_of_counts`, one fused XLA kernel),
and the value is selected from a table of the correctly rounded lrs in ``keras.config.floatx()``
(float32, or float64), computed once in Python (:mod:`stepsched_cli.decay_tables`,
which bounds its length).  It runs on the jax, torch and tensorflow backends, inside
jit and tf.function, and is registered for serialization, so a model compiled with it
round-trips through ``model.save()`` and ``keras.models.load_model`` (import this
module before loading).

Example:
    >>> from stepsched_cli.keras import StepDecay
    >>> schedule = StepDecay(0.1, decay_steps=1_000_000)
    >>> [float(schedule(step)) for step in (16_999_999, 17_000_000)]
    [9.99999983775159e-18, 1.000000045813705e-18]
"""

from __future__ import annotations

from typing import Any

import keras
import numpy as np

from stepsched_cli.decay_tables import (
    FLOAT32,
    FORMATS,
    DecaySpec,
    FloatFormat,
    decay_spec,
    lr_of_counts,
)
from stepsched_cli.errors import ScheduleError

__all__ = ["StepDecay"]


@keras.saving.register_keras_serializable(package="stepsched", name="StepDecay")
class StepDecay(keras.optimizers.schedules.LearningRateSchedule):  # type: ignore[misc]
    """Exact step decay: the correctly rounded ``initial_learning_rate * decay_rate ** k``.

    Args:
        initial_learning_rate: The lr before any decay, a finite number > 0.
        decay_steps: Iterations between decays (``k = step // decay_steps``), an
            integer >= 1; give this or ``boundaries``.
        boundaries: Strictly increasing iteration counts >= 1; ``k`` is how many are
            at or below the step.
        decay_rate: The factor per decay, 0 < decay_rate < 1.
        name: The schedule's name, as Keras's schedules have one.

    Raises:
        ScheduleError: (a ``ValueError``) a parameter out of range, naming it; also a
            ``decay_rate`` so close to 1 that the values before the lr reaches 0 would
            not fit the table (see :mod:`stepsched_cli.decay_tables`).
    """

    def __init__(
        self,
        initial_learning_rate: float,
        decay_steps: int | None = None,
        boundaries: list[int] | None = None,
        decay_rate: float = 0.1,
        name: str = "StepDecay",
    ) -> None:
        super().__init__()
        self.spec: DecaySpec = decay_spec(
            initial_learning_rate, decay_steps, boundaries, decay_rate, "initial_learning_rate"
        )
        self.name = name
        self.spec.table(FLOAT32)  # refuse a table too long now, not at the first step

    def __call__(self, step: Any) -> Any:
        """The lr at iteration ``step`` (an integer, or an integer tensor), in floatx."""
        fmt = _float_format()
        table = self.spec.table(fmt)
        if isinstance(step, int | np.integer) and not isinstance(step, bool):
            return keras.ops.convert_to_tensor(self.spec.value_at(int(step), fmt), fmt.name)
        count = keras.ops.convert_to_tensor(step)
        kind = keras.backend.standardize_dtype(count.dtype)
        if "int" not in kind:
            raise ScheduleError(
                f"step must be an integer count (the optimizer's iterations), got a {kind} "
                "value: a float count loses exactness past 2**24 (float32)",
                parameter="step",
            )
        if keras.backend.backend() == "jax":  # the graph XLA fuses into one kernel
            import jax.numpy as jnp

            return lr_of_counts(self.spec, fmt, count, jnp)
        decays = self._decays(count, kind)
        index = keras.ops.clip(decays, 0, len(table) - 1)
        return keras.ops.take(keras.ops.convert_to_tensor(np.asarray(table, fmt.name)), index)

    def _decays(self, count: Any, kind: str) -> Any:
        """The decay count by integer arithmetic in the count's own type."""
        largest = int(np.iinfo(kind).max)
        if self.spec.decay_steps is not None:
            if self.spec.decay_steps > largest:  # no count of this type reaches a decay
                return keras.ops.zeros_like(count)
            # The tensor's own //: keras.ops.floor_divide on torch returns int32 for int64
            # operands (Keras 3.15), wrapping counts from 2**31 on.
            return count // keras.ops.cast(self.spec.decay_steps, kind)
        bounds = np.asarray(self.spec.reachable_boundaries(largest), kind)
        reached = keras.ops.greater_equal(keras.ops.expand_dims(count, -1), bounds)
        return keras.ops.sum(keras.ops.cast(reached, kind), axis=-1)

    def get_config(self) -> dict[str, Any]:
        """The constructor's arguments, for ``from_config`` and ``model.save()``."""
        boundaries = self.spec.boundaries
        return {
            "initial_learning_rate": self.spec.initial_lr,
            "decay_steps": self.spec.decay_steps,
            "boundaries": None if boundaries is None else list(boundaries),
            "decay_rate": self.spec.decay_rate,
            "name": self.name,
        }


def _float_format() -> FloatFormat:
    """The format of ``floatx()`` as the backend holds it (jax without x64: float32)."""
    held = keras.backend.standardize_dtype(
        keras.ops.convert_to_tensor(np.zeros((), keras.config.floatx())).dtype
    )
    return FORMATS.get(held, FLOAT32)
