"""``code --framework optax``: exponential_decay(staircase=True) or
piecewise_constant_schedule, with the parameters :func:`~.optax.from_schedule` writes."""

from __future__ import annotations

from typing import Any, cast

from stepsched_cli.formats.frameworks.optax import schedule as optax_format
from stepsched_cli.formats.snippet import Snippet, drop_in_arguments
from stepsched_cli.schedule import StepSchedule

__all__ = ["SNIPPET", "exact_optax_snippet", "optax_snippet"]


def optax_snippet(schedule: StepSchedule, steps_per_epoch: int | None) -> str:
    """optax: exponential_decay(staircase=True) or piecewise_constant_schedule."""
    document: dict[str, Any] = optax_format.from_schedule(schedule, steps_per_epoch)
    kind = cast(str, document.pop(optax_format.MARKER))
    if "boundaries_and_scales" in document:
        document["boundaries_and_scales"] = {
            int(boundary): scale for boundary, scale in document["boundaries_and_scales"].items()
        }
    arguments = ", ".join(f"{key}={value!r}" for key, value in document.items())
    return f"""import optax

schedule = optax.{kind}({arguments})
optimizer = optax.sgd(learning_rate=schedule)
# optax evaluates the schedule at the update count kept in the optimizer state.
# Resume: checkpoint and restore opt_state (e.g. with orbax) together with the params,
# so that its count continues; a fresh optimizer.init() starts again from count 0.
"""


def exact_optax_snippet(schedule: StepSchedule, steps_per_epoch: int | None) -> str:
    """stepsched_cli.optax.step_decay: integer decay count, correctly rounded values."""
    arguments = drop_in_arguments(schedule, steps_per_epoch, "optax")
    return f"""
# Exact drop-in: stepsched_cli.optax.step_decay decides each decay by integer arithmetic
# on the update count (no early decay past 2**24), works under jax.jit and vmap, and
# gives the correctly rounded lr in the default float dtype.
from stepsched_cli.optax import step_decay

schedule = step_decay({arguments})
optimizer = optax.sgd(learning_rate=schedule)
"""


SNIPPET = Snippet("optax", "optax", optax_snippet, exact_optax_snippet)
"""``code --framework optax``."""
