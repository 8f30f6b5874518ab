"""An exact step decay for optax: ``step_decay``, a schedule of the update count.

``step_decay(init_value, decay_steps=None, boundaries=None, decay_rate=0.1)`` returns
a schedule (a function of ``count``, as every optax schedule is) that multiplies by
``decay_rate`` every ``decay_steps`` updates, or at each of ``boundaries`` (the decay
takes effect at the boundary, as in ``piecewise_constant_schedule``).  optax's
``exponential_decay(staircase=True)`` divides the count in float32 and so decays early
past 2**24 (count 16,999,999 of a 1,000,000-step decay already has the 17th decay);
here the decay count is integer arithmetic on ``count`` (the quotient by
``decay_steps``, from a float estimate corrected in integers, or comparisons with the
boundaries: elementwise work that XLA fuses with the lookup into one kernel) and the
value is the table entry for it: the float nearest to the exact lr in the default float
dtype (float32, float64 with ``jax_enable_x64``), computed in Python once
(:mod:`stepsched_cli.decay_tables`).  It works under ``jax.jit`` and ``jax.vmap``; a
Python ``int`` count is answered in Python, at any size.

Example:
    >>> import jax
    >>> from stepsched_cli.optax import step_decay
    >>> schedule = step_decay(0.1, decay_steps=1_000_000)
    >>> [float(jax.jit(schedule)(count)) for count in (16_999_999, 17_000_000)]
    [9.99999983775159e-18, 1.000000045813705e-18]
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from stepsched_cli.decay_tables import FLOAT32, FORMATS, decay_spec, lr_of_counts
from stepsched_cli.errors import ScheduleError

__all__ = ["step_decay"]


def step_decay(
    init_value: float,
    decay_steps: int | None = None,
    boundaries: list[int] | None = None,
    decay_rate: float = 0.1,
) -> Callable[[Any], Any]:
    """An exact staircase decay: the correctly rounded ``init_value * decay_rate ** k``.

    Args:
        init_value: The lr before any decay, a finite number > 0.
        decay_steps: Updates between decays (``k = count // decay_steps``), an integer
            >= 1; give this or ``boundaries``.
        boundaries: Strictly increasing counts >= 1; ``k`` is how many are at or below
            ``count``.
        decay_rate: The factor per decay, 0 < decay_rate < 1.

    Returns:
        ``schedule(count)``: the lr at ``count`` (a Python int, or an integer array of
        any shape, traced or not) as an array of the default float dtype.

    Raises:
        ScheduleError: (a ``ValueError``) a parameter out of range, naming it; the
            schedule raises it for a float ``count``.
    """
    spec = decay_spec(init_value, decay_steps, boundaries, decay_rate, "init_value")
    spec.table(FLOAT32)  # refuse a table too long now, not at the first update

    def schedule(count: Any) -> Any:
        fmt = FORMATS.get(jnp.dtype(jax.dtypes.canonicalize_dtype(jnp.float64)).name, FLOAT32)
        if isinstance(count, int | np.integer) and not isinstance(count, bool):
            return jnp.asarray(spec.value_at(int(count), fmt), fmt.name)
        count = jnp.asarray(count)
        if not jnp.issubdtype(count.dtype, jnp.integer):
            raise ScheduleError(
                f"count must be an integer (optax's update count), got a {count.dtype} "
                "value: a float count loses exactness past 2**24 (float32)",
                parameter="count",
            )
        return lr_of_counts(spec, fmt, count, jnp)  # one fused kernel under XLA

    return schedule
