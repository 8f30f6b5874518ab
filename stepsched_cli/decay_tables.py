"""The exact lr after each decay count, as a bounded table: what a compiled graph selects from.

Keras and optax evaluate a schedule inside a traced graph (``jax.jit``,
``tf.function``), where Python's integers and the wide arithmetic of
:mod:`stepsched_cli.powers` are not available.  A step decay needs neither there: its
lr is a function of the integer decay count ``k`` alone, so every value it can take is
computed here, in Python, exactly (the float nearest to ``initial_lr * gamma ** k``
with both read as the decimals they stand for), and the graph only computes ``k`` by
integer arithmetic and selects ``table[k]``.

**The table is short.**  The values decrease with ``k`` and reach 0.0 once the exact
value is at most half the format's smallest subnormal (``2**-150`` in float32,
``2**-1075`` in float64); every later value is 0.0 as well.  So the table ends at the
first 0.0 and a larger ``k`` selects that last entry.  Its length is about

    (log2(initial_lr) - log2(smallest subnormal) + 1) / -log2(gamma),

which for initial_lr = 1 is 47 (float32) or 325 (float64) values for gamma = 0.1,
988 or 7,074 for gamma = 0.9, 103,922 or 744,762 for gamma = 0.999 (the 0.0
included).  With
milestones the table has one value per milestone more than none, at most.
:data:`MAX_TABLE_VALUES` bounds it: a gamma so close to 1 that more values would be
needed (0.9999 in float64) is refused, naming the parameter, rather than tabulated
in tens of megabytes.

Example (the float32 table ends at its smallest subnormal, 2**-149, then 0.0):
    >>> decay_table(0.1, 0.1, FLOAT64, None)[:4]
    (0.1, 0.01, 0.001, 0.0001)
    >>> len(decay_table(0.1, 0.1, FLOAT32, None)), decay_table(0.1, 0.1, FLOAT32, None)[-2:]
    (46, (1.401298464324817e-45, 0.0))
"""

from __future__ import annotations

import math
import sys
from bisect import bisect_right
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from itertools import islice, pairwise
from typing import Any

from stepsched_cli.errors import ConversionError, ScheduleError
from stepsched_cli.powers import log2_intended, scaled_powers_in
from stepsched_cli.schedule import StepSchedule
from stepsched_cli.units import to_mode
from stepsched_cli.validate import finite_number, integer, integers, shown

__all__ = [
    "CHAINED_CHANGES",
    "FLOAT32",
    "FLOAT64",
    "MAX_TABLE_VALUES",
    "DecaySpec",
    "FloatFormat",
    "decay_spec",
    "decay_table",
    "lr_of_counts",
    "spec_of_schedule",
    "table_length",
]

MAX_TABLE_VALUES = 2**20
"""The most values a table may hold (4 MiB in float32, 8 MiB in float64).

Enough for gamma >= 0.9999 in float32 and gamma >= 0.999 in float64 from any lr up
to 1 (the longest is 1,039,670 values, for float32 at gamma 0.9999 from lr 1; it
takes about 1.6 s to build, once per schedule)."""


@dataclass(frozen=True)
class FloatFormat:
    """A binary floating-point format: its name, precision and range.

    Attributes:
        name: ``"float32"`` or ``"float64"``, as numpy and the frameworks name it.
        bits: Significant bits, the implicit leading one included.
        min_exponent: The exponent of the smallest subnormal, ``2**min_exponent``.
        max_value: The largest finite value.
    """

    name: str
    bits: int
    min_exponent: int
    max_value: float


FLOAT32 = FloatFormat("float32", 24, -149, 3.4028234663852886e38)
FLOAT64 = FloatFormat("float64", 53, -1074, sys.float_info.max)
FORMATS = {fmt.name: fmt for fmt in (FLOAT32, FLOAT64)}


def table_length(initial_lr: float, gamma: float, fmt: FloatFormat) -> int:
    """An upper bound on the values before (and including) the first 0.0 in ``fmt``.

    The exact value after ``k`` decays has ``log2 = log2(initial_lr) + k * log2(gamma)``;
    it rounds to 0.0 once that is below ``min_exponent - 1``.  Two values of margin
    cover the float error of the logarithms (far below one decay for any table short
    enough to build).
    """
    decays = (math.log2(initial_lr) - (fmt.min_exponent - 1)) / -log2_intended(gamma)
    return max(1, math.ceil(decays) + 2)


@lru_cache(maxsize=128)
def decay_table(
    initial_lr: float,
    gamma: float,
    fmt: FloatFormat,
    decays: int | None,
    gamma_name: str = "gamma",
) -> tuple[float, ...]:
    """The lr after 0, 1, ... decays, correctly rounded to ``fmt``, up to the last change.

    Args:
        initial_lr: A finite float > 0 that ``fmt`` can hold.
        gamma: The decay factor, 0 < gamma < 1.
        fmt: :data:`FLOAT32` or :data:`FLOAT64`.
        decays: The most decays there can be (the number of milestones), or None.
        gamma_name: How an error names gamma (``"decay_rate"`` for Keras and optax).

    Returns:
        ``values[k]`` is the lr after ``k`` decays for ``k < len(values)``; any larger
        ``k`` has the last value (0.0, or the value after the last milestone).

    Raises:
        ScheduleError: the table would hold more than :data:`MAX_TABLE_VALUES` values.
    """
    length = table_length(initial_lr, gamma, fmt)
    if decays is not None:
        length = min(length, decays + 1)
    if length > MAX_TABLE_VALUES:
        raise _too_long(gamma, fmt, gamma_name, f"about {length:,}")
    # The estimate decides the refusal; the walk itself stops at the first 0.0.
    limit = MAX_TABLE_VALUES if decays is None else min(decays + 1, MAX_TABLE_VALUES)
    values: list[float] = []
    for value in islice(scaled_powers_in(initial_lr, gamma, fmt.bits, fmt.min_exponent), limit):
        values.append(value)
        if value == 0.0:
            return tuple(values)
    if decays is None:  # pragma: no cover - the estimate is exact to a value or two
        raise _too_long(gamma, fmt, gamma_name, f"more than {MAX_TABLE_VALUES:,}")
    return tuple(values)


def _too_long(gamma: float, fmt: FloatFormat, gamma_name: str, needed: str) -> ScheduleError:
    return ScheduleError(
        f"{gamma_name}={gamma!r} is too close to 1 for an exact table: the lr takes "
        f"{needed} {fmt.name} values before it reaches 0, and at most "
        f"{MAX_TABLE_VALUES:,} are tabulated",
        parameter=gamma_name,
    )


@dataclass(frozen=True)
class DecaySpec:
    """A step decay as Keras's and optax's drop-ins take it, validated.

    Attributes:
        initial_lr: The lr before any decay.
        decay_steps: Counts between decays (``count // decay_steps`` decays), or None.
        boundaries: Instead: the counts at which a decay takes effect (at, not after).
        decay_rate: The factor per decay, 0 < decay_rate < 1.
        initial_name: How errors name ``initial_lr`` (``initial_learning_rate``,
            ``init_value``).
    """

    initial_lr: float
    decay_steps: int | None
    boundaries: tuple[int, ...] | None
    decay_rate: float
    initial_name: str

    def table(self, fmt: FloatFormat) -> tuple[float, ...]:
        """Every value the lr takes, in ``fmt``, indexed by decay count (see module)."""
        if self.initial_lr > fmt.max_value:
            raise ScheduleError(
                f"{self.initial_name} must be at most {fmt.max_value!r} to be held in "
                f"{fmt.name}, got {self.initial_lr!r}",
                parameter=self.initial_name,
            )
        decays = None if self.boundaries is None else len(self.boundaries)
        return decay_table(self.initial_lr, self.decay_rate, fmt, decays, "decay_rate")

    def decays_at(self, count: int) -> int:
        """The decays at an integer ``count`` (negative counts have none)."""
        if count < 0:
            return 0
        if self.boundaries is not None:
            return bisect_right(self.boundaries, count)
        return count // self.decay_steps  # type: ignore[operator]  # one of them is set

    def value_at(self, count: int, fmt: FloatFormat) -> float:
        """The lr at ``count``, correctly rounded to ``fmt``: the table's entry."""
        table = self.table(fmt)
        return table[min(self.decays_at(count), len(table) - 1)]

    def reachable_boundaries(self, largest_count: int) -> tuple[int, ...]:
        """The boundaries a counter whose largest value is ``largest_count`` can reach.

        A graph compares the count with the boundaries in the count's own integer type,
        so a boundary that type cannot hold is left out (no count reaches it).
        """
        return tuple(b for b in self.boundaries or () if b <= largest_count)

    def last_change(self, fmt: FloatFormat, largest_count: int) -> int:
        """The count from which the lr keeps the table's last value (0 if it never
        changes), or ``largest_count`` when that is smaller.

        A graph may clamp the count to ``[0, last_change]``: the clamped count has the
        count's lr (negative counts have no decay).

        Example (0.1 decays to 0.0 in float32 after 45 decays of 0.1):
            >>> spec = decay_spec(0.1, 30, None, 0.1, "x")
            >>> spec.last_change(FLOAT32, 2**31 - 1), spec.value_at(30 * 45, FLOAT32)
            (1350, 0.0)
            >>> decay_spec(0.1, 10**8, None, 0.1, "x").last_change(FLOAT32, 2**31 - 1)
            2147483647
            >>> decay_spec(0.1, None, [5, 9], 0.1, "x").last_change(FLOAT32, 2**31 - 1)
            9
        """
        changes = len(self.table(fmt)) - 1
        if self.boundaries is not None:
            return min(self.boundaries[changes - 1] if changes else 0, largest_count)
        return min(self.decay_steps * changes, largest_count)  # type: ignore[operator]

    def change_counts(self, fmt: FloatFormat, largest_count: int) -> Sequence[int]:
        """The counts up to ``largest_count`` at which the lr changes, increasing.

        The boundaries, or the multiples of ``decay_steps`` (a ``range``), up to the
        table's last value (every later decay keeps it): the ``i``-th of them starts
        ``table[i + 1]``, and there are fewer of them than table values.

        Example:
            >>> spec = decay_spec(1.0, None, [3, 10, 2**40], 0.5, "x")
            >>> list(spec.change_counts(FLOAT32, 2**31 - 1))
            [3, 10]
            >>> list(decay_spec(1.0, 2**30, None, 0.5, "x").change_counts(FLOAT32, 2**31 - 1))
            [1073741824]
        """
        if self.decay_steps is None:
            return self.reachable_boundaries(largest_count)[: len(self.table(fmt)) - 1]
        return range(self.decay_steps, self.last_change(fmt, largest_count) + 1, self.decay_steps)


def decay_spec(
    initial_lr: object,
    decay_steps: object,
    boundaries: object,
    decay_rate: object,
    initial_name: str,
) -> DecaySpec:
    """Validate the drop-ins' parameters; exactly one of ``decay_steps`` and ``boundaries``.

    Raises:
        ScheduleError: (a ``ValueError``) naming the parameter: ``initial_name`` not a
            finite number > 0, ``decay_steps`` not an integer >= 1, ``boundaries`` not a
            non-empty list of strictly increasing integers >= 1, both or neither of them
            given, ``decay_rate`` not in (0, 1).

    Example:
        >>> spec = decay_spec(0.1, None, [30, 80], 0.1, "init_value")
        >>> [spec.decays_at(count) for count in (29, 30, 79, 80)]
        [0, 1, 1, 2]
        >>> decay_spec(0.1, 0, None, 0.1, "init_value")
        Traceback (most recent call last):
        ...
        stepsched_cli.errors.ScheduleError: decay_steps must be an integer >= 1, got 0
        >>> decay_spec(0.0, 3, None, 0.1, "init_value")
        Traceback (most recent call last):
        ...
        stepsched_cli.errors.ScheduleError: init_value must be a finite number > 0, got 0.0
        >>> decay_spec(0.1, None, 30, 0.1, "init_value")  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        stepsched_cli.errors.ScheduleError: boundaries must be a non-empty list ..., got 30
    """
    initial = finite_number(initial_lr, initial_name, error=ScheduleError)
    if initial <= 0:
        raise ScheduleError(
            f"{initial_name} must be a finite number > 0, got {shown(initial_lr)}",
            parameter=initial_name,
        )
    if (decay_steps is None) == (boundaries is None):
        raise ScheduleError(
            "give exactly one of decay_steps and boundaries, got "
            f"decay_steps={shown(decay_steps)} and boundaries={shown(boundaries)}",
            parameter="decay_steps",
        )
    steps = None
    if decay_steps is not None:
        steps = integer(decay_steps, "decay_steps", minimum=1, limit=None, error=ScheduleError)
    rate = finite_number(decay_rate, "decay_rate", error=ScheduleError)
    if not 0 < rate < 1:
        raise ScheduleError(
            f"decay_rate must be a number with 0 < decay_rate < 1, got {shown(decay_rate)}",
            parameter="decay_rate",
        )
    checked = None if boundaries is None else _boundaries(boundaries)
    return DecaySpec(initial, steps, checked, rate, initial_name)


def _boundaries(boundaries: object) -> tuple[int, ...]:
    expected = "boundaries must be a non-empty list of strictly increasing integers >= 1"
    if isinstance(boundaries, str | bytes) or not isinstance(boundaries, Sequence):
        raise ScheduleError(f"{expected}, got {shown(boundaries)}", parameter="boundaries")
    values = tuple(integers(boundaries, "boundaries", minimum=1, error=ScheduleError))
    if not values or any(b <= a for a, b in pairwise(values)):
        raise ScheduleError(f"{expected}, got {shown(list(values))}", parameter="boundaries")
    return values


def spec_of_schedule(
    schedule: StepSchedule, steps_per_epoch: int | None, framework: str
) -> DecaySpec:
    """The drop-ins' parameters for ``schedule``, counted in optimizer updates.

    Keras and optax count updates, so an epoch schedule needs ``steps_per_epoch``;
    the drop-ins have neither a warmup nor a floor.

    Raises:
        ConversionError: a warmup, a ``min_lr``, or an epoch schedule without
            ``steps_per_epoch``; the message starts with ``framework``.

    Example:
        >>> spec = spec_of_schedule(StepSchedule(0.1, 3, mode="epoch"), 100, "Keras")
        >>> spec.decay_steps, spec.decay_rate
        (300, 0.1)
        >>> epochs = StepSchedule(0.1, 3, mode="epoch")
        >>> spec_of_schedule(epochs, None, "Keras")  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        stepsched_cli.errors.ConversionError: Keras counts optimizer updates: give the steps ...
    """
    if schedule.warmup_steps or schedule.min_lr:
        raise ConversionError(
            f"{framework}: stepsched's exact drop-in has no warmup or lr floor; "
            "use stepsched_cli.StepScheduler for those"
        )
    if schedule.mode == "epoch":
        if steps_per_epoch is None:
            raise ConversionError(
                f"{framework} counts optimizer updates: give the steps per epoch "
                "to write an epoch schedule",
                parameter="steps_per_epoch",
            )
        schedule = to_mode(schedule, "step", steps_per_epoch)
    return decay_spec(
        schedule.initial_lr, schedule.step_size, schedule.milestones, schedule.gamma, "initial_lr"
    )


CHAINED_CHANGES = 64
"""Up to this many changes of the lr, :func:`lr_of_counts` is a chain of selects."""


def lr_of_counts(spec: DecaySpec, fmt: FloatFormat, count: Any, xp: Any) -> Any:
    """The lr at each of an integer array of counts, by array operations alone.

    The graph Keras's and optax's drop-ins trace (``xp`` is ``jax.numpy``; numpy runs
    the same operations), exact for every value of the count's integer dtype, and
    elementwise work that XLA fuses into one kernel with the lookup.  Up to
    :data:`CHAINED_CHANGES` changes, a chain of selects ``count >= change`` on the
    values' bit patterns (XLA's CPU kernels flush a subnormal float constant to 0.0 in
    a scalar select, not an integer one); beyond, ``table[k]`` with ``k`` the number
    of boundaries passed, or the quotient by ``decay_steps`` (:func:`_quotient`).

    Args:
        spec: The schedule.
        fmt: The values' format; ``count`` has an integer dtype.
        count: An integer array of any shape (a traced one included).
        xp: The array module, ``jax.numpy`` or ``numpy``.

    Example:
        >>> import numpy as np
        >>> spec = decay_spec(0.1, 1_000_000, None, 0.1, "x")
        >>> counts = np.array([-1, 16_999_999, 17_000_000, 2**31 - 1], np.int32)
        >>> [float(v) for v in lr_of_counts(spec, FLOAT32, counts, np)]
        [0.10000000149011612, 9.99999983775159e-18, 1.000000045813705e-18, 0.0]
    """
    import numpy as np  # a long table converts faster through numpy than in jax

    largest = int(xp.iinfo(count.dtype).max)
    values = np.asarray(spec.table(fmt), fmt.name)
    starts = spec.change_counts(fmt, largest)
    if len(starts) <= CHAINED_CHANGES:
        patterns = values.view(np.int32 if values.itemsize == 4 else np.int64)
        value = xp.full(count.shape, patterns[0])
        for start, pattern in zip(starts, patterns[1:], strict=False):  # last reached wins
            value = xp.where(count >= xp.asarray(start, count.dtype), pattern, value)
        return value.view(fmt.name)
    table = xp.asarray(values)
    if spec.decay_steps is None:
        bounds = xp.asarray(starts, count.dtype)
        return table[xp.sum(count[..., None] >= bounds, axis=-1, dtype=count.dtype)]
    clamped = xp.clip(count, 0, spec.last_change(fmt, largest))
    if xp.issubdtype(count.dtype, xp.unsignedinteger):  # rare: a plain // (no negatives)
        return table[clamped // xp.asarray(spec.decay_steps, count.dtype)]
    return table[_quotient(clamped, spec.decay_steps, xp)]


def _quotient(count: Any, divisor: int, xp: Any) -> Any:
    """``count // divisor`` for ``0 <= count <= divisor * (2**20 - 1)``, without a division.

    An integer division is a kernel of its own under XLA.  The estimate
    ``q = float(count) * float(1 / divisor)`` (float32 for counts of up to 32 bits,
    float64 for 64) has three roundings of relative error below 2**-24 (2**-53) each,
    ``1 / divisor`` rounded twice counted as one and a bit, so
    ``|q - count / divisor| < 4 * 2**-24 * 2**20 = 0.25`` (the quotient is below 2**20,
    the table's length bound): its integer part is ``k - 1``, ``k`` or ``k + 1``
    (``k = count // divisor``).  Two integer corrections make it ``k``; every
    intermediate lies in ``[-divisor, count]``, so none overflows the count's dtype.
    """
    wide = "float64" if count.dtype.itemsize > 4 else "float32"
    estimate = (count.astype(wide) * xp.asarray(1 / divisor, wide)).astype(count.dtype)
    step = xp.asarray(divisor, count.dtype)
    estimate = estimate - ((estimate - 1) * step > count - step).astype(count.dtype)
    return estimate + (count - estimate * step >= step).astype(count.dtype)
