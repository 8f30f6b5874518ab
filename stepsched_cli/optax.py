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

from stepsched_cli.decay_tables import FLOAT32, FORMATS, DecaySpec, FloatFormat, decay_spec
from stepsched_cli.errors import ScheduleError

__all__ = ["step_decay", "traced_value"]


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
        return traced_value(spec, fmt, jnp.asarray(count))

    return schedule


CHAINED_CHANGES = 64
"""Up to this many changes of the lr the graph is a chain of selects, without a table."""
_PATTERNS = {"float32": np.int32, "float64": np.int64}


def traced_value(spec: DecaySpec, fmt: FloatFormat, count: Any) -> Any:
    """The lr at an integer array ``count`` (traced or not, any shape), in ``fmt``.

    Exact for every value of the count's dtype, and elementwise work that XLA fuses into
    a single kernel: up to :data:`CHAINED_CHANGES` changes of the lr, a chain of
    selects on ``count >= change`` with the values inline; beyond, a lookup in the
    table at the decay count (the quotient by ``decay_steps`` from a float estimate
    corrected in integers, or the number of boundaries passed).  An integer division
    would be a kernel of its own, and a table a constant buffer: either costs a single
    call more than the dispatch's spread.

    Raises:
        ScheduleError: ``count`` is not an integer array, naming ``count``.
    """
    if not jnp.issubdtype(count.dtype, jnp.integer):
        raise ScheduleError(
            f"count must be an integer (optax's update count), got a {count.dtype} value: "
            "a float count loses exactness past 2**24 (float32)",
            parameter="count",
        )
    largest = int(jnp.iinfo(count.dtype).max)
    values = spec.table(fmt)
    starts = spec.change_counts(fmt, largest)
    if len(starts) <= CHAINED_CHANGES:
        # Selects of the values' bit patterns: XLA's CPU kernels flush a subnormal float
        # constant to 0.0 in a scalar select, never an integer.
        patterns = np.asarray(values, fmt.name).view(_PATTERNS[fmt.name])
        value = jnp.full(count.shape, patterns[0])
        for start, pattern in zip(starts, patterns[1:], strict=False):  # last reached wins
            value = jnp.where(count >= jnp.asarray(start, count.dtype), pattern, value)
        return jax.lax.bitcast_convert_type(value, fmt.name)
    table = jnp.asarray(np.asarray(values, fmt.name))  # numpy converts a long one faster
    if spec.decay_steps is None:
        bounds = jnp.asarray(starts, count.dtype)
        return table[jnp.sum(count[..., None] >= bounds, axis=-1, dtype=count.dtype)]
    last = spec.last_change(fmt, largest)
    if jnp.issubdtype(count.dtype, jnp.unsignedinteger):  # rare: no negative values
        clamped = jnp.minimum(count, jnp.asarray(last, count.dtype))
        return table[clamped // jnp.asarray(spec.decay_steps, count.dtype)]
    return table[_quotient(jnp.clip(count, 0, last), spec.decay_steps)]


def _quotient(count: Any, divisor: int) -> Any:
    """``count // divisor`` for ``0 <= count <= divisor * (2**20 - 1)``, without a division.

    The estimate ``q = float(count) * float(1 / divisor)`` (float32 for counts of up to
    32 bits, float64 for 64) has three roundings of relative error below 2**-24 (2**-53)
    each, 1/divisor rounded twice counted as one and a bit, so
    ``|q - count / divisor| < 4 * 2**-24 * 2**20 = 0.25``: its integer part is
    ``k - 1``, ``k`` or ``k + 1`` (``k = count // divisor``).  Two integer corrections
    make it ``k``; every intermediate lies in ``[-divisor, count]``, so none overflows
    the count's dtype (the largest table, 2**20 entries, bounds the quotient).
    """
    wide = jnp.float64 if count.dtype.itemsize > 4 else jnp.float32
    estimate = (count.astype(wide) * jnp.asarray(1 / divisor, wide)).astype(count.dtype)
    step = jnp.asarray(divisor, count.dtype)
    estimate = estimate - ((estimate - 1) * step > count - step).astype(count.dtype)
    return estimate + (count - estimate * step >= step).astype(count.dtype)
