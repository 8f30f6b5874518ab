"""optax ``exponential_decay`` and ``piecewise_constant_schedule`` as JSON, with optax's values.

Same interface as the other framework modules (see
:mod:`stepsched_cli.formats.frameworks.timm.schedule`):

- ``FORMAT_NAME = "optax"``; ``detect(document) -> bool``;
  ``parse(document) -> OptaxSchedule`` (raises :class:`~stepsched_cli.errors.StateError`
  for malformed input);
- ``OptaxSchedule.lr_at(count)``, ``.to_schedule()`` (or
  :class:`~stepsched_cli.errors.ConversionError`), ``.to_document()``, ``.notes``;
- ``from_schedule(schedule, steps_per_epoch=None) -> dict``.

JSON shape: the function's keyword arguments, with an optional ``"optax"`` marker naming
it (a config holds the bare arguments: they are recognised by their names).  JSON
object keys are strings, so ``boundaries_and_scales`` keys are integers written as
strings::

    {"optax": "exponential_decay", "init_value": 0.1, "transition_steps": 30,
     "decay_rate": 0.1, "transition_begin": 0, "staircase": true, "end_value": null}
    {"optax": "piecewise_constant_schedule", "init_value": 0.1,
     "boundaries_and_scales": {"30": 0.1, "60": 0.1}}

Missing keys take optax's defaults (``transition_begin=0``, ``staircase=false``,
``end_value=null``, ``boundaries_and_scales=null``).

Semantics (optax 0.2, ``optax/schedules/_schedule.py``); ``count`` is the optimizer's
update count (``ScaleByScheduleState.count``, int32), so there is no epoch mode:

- exponential_decay: with ``d = count - transition_begin``, the value is ``init_value``
  while ``d <= 0`` and ``init_value * decay_rate ** p`` after, where
  ``p = d / transition_steps``, floored when ``staircase``.  ``end_value`` clips: a floor
  when ``decay_rate < 1`` (stepsched's ``min_lr``), a ceiling otherwise.  optax returns
  the constant ``init_value`` when ``transition_steps <= 0`` or ``decay_rate == 0``, and
  treats a negative ``transition_begin`` as 0.  Holding ``init_value`` until
  ``transition_begin`` is stepsched's warmup from ``initial_lr`` to ``initial_lr``.
- piecewise_constant_schedule: the scale of boundary ``b`` multiplies in when
  ``count >= b`` (AT the boundary, like stepsched's milestones), cumulatively in
  boundary order.

"Exact" means float32: JAX computes in float32 unless ``jax_enable_x64`` is set, and
:meth:`lr_at` emulates that (each operation in float64 rounded to float32, and, as XLA on
CPU does, subnormal results flushed to zero, so a decaying value drops to 0.0 below
2**-126; the power may differ from XLA's by a float32 ulp), so compare with optax at
float32 precision.  The converted :class:`StepSchedule` holds the same decay positions
with exact decimal values.

Example:
    >>> optax_schedule = parse({"optax": "piecewise_constant_schedule", "init_value": 1.0,
    ...                         "boundaries_and_scales": {"30": 0.5, "60": 0.5}})
    >>> [optax_schedule.lr_at(count) for count in (29, 30, 60)]
    [1.0, 0.5, 0.25]
    >>> optax_schedule.to_schedule().milestones
    (30, 60)
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from stepsched_cli.errors import ConversionError, StateError
from stepsched_cli.formats.frameworks import common as _framework
from stepsched_cli.formats.frameworks.common import (
    boolean,
    check_counter,
    check_keys,
    checked_schedule,
    float32_field,
    in_steps,
    number,
    positive_number,
    power_or_infinity,
    whole_period,
)
from stepsched_cli.schedule import StepSchedule
from stepsched_cli.validate import shown

FORMAT_NAME = "optax"
MARKER = "optax"
EXPONENTIAL = "exponential_decay"
PIECEWISE = "piecewise_constant_schedule"
FUNCTIONS = (EXPONENTIAL, PIECEWISE)

_EXPONENTIAL_KEYS = frozenset(
    {
        MARKER,
        "init_value",
        "transition_steps",
        "decay_rate",
        "transition_begin",
        "staircase",
        "end_value",
    }
)
_PIECEWISE_KEYS = frozenset({MARKER, "init_value", "boundaries_and_scales"})
# XLA on CPU flushes float32 subnormal results to zero (observed with jax 0.10).
FLOAT32_SMALLEST_NORMAL = 2.0**-126
# optax keeps the update count in an int32 that safe_int32_increment stops at its maximum.
MAX_COUNT = 2**31 - 1
_COUNTER = "optax counts updates in an int32, which stops there"


def float32(value: float) -> float:
    """``value`` rounded to float32 as XLA on CPU does: ties to even, subnormals to zero.

    Example:
        >>> float32(0.1), float32(1e-39)
        (0.10000000149011612, 0.0)
    """
    rounded = _framework.float32(value)
    if abs(rounded) < FLOAT32_SMALLEST_NORMAL:
        return math.copysign(0.0, rounded)
    return rounded


@dataclass(frozen=True)
class OptaxExponentialDecay:
    """``optax.exponential_decay``'s arguments (see the module docstring for semantics)."""

    init_value: float
    transition_steps: int | float
    decay_rate: float
    transition_begin: int = 0
    staircase: bool = False
    end_value: float | None = None

    def lr_at(self, count: int) -> float:
        """optax's value at update ``count``, in emulated float32.

        Raises:
            ScheduleError: ``count`` is not an integer from 0 to :data:`MAX_COUNT`.
        """
        position = check_counter(count, "count", MAX_COUNT, _COUNTER)
        if self.transition_steps <= 0 or self.decay_rate == 0:
            return self.init_value  # optax returns the Python value itself
        decreased = position - max(0, self.transition_begin)
        if decreased <= 0:
            value = float32(self.init_value)
        else:
            exponent = float32(float32(decreased) / float32(self.transition_steps))
            if self.staircase and math.isfinite(exponent):
                exponent = float(math.floor(exponent))
            power = float32(power_or_infinity(float32(self.decay_rate), exponent))
            value = float32(float32(self.init_value) * power)
        if self.end_value is None:
            return value
        end = float32(self.end_value)
        return max(value, end) if self.decay_rate < 1 else min(value, end)

    @property
    def notes(self) -> tuple[str, ...]:
        """Remarks a user converting this schedule should see."""
        return ("optax computes in float32 unless jax_enable_x64 is set",)

    def to_schedule(self) -> StepSchedule:
        """The :class:`StepSchedule` with the same decay positions, hold and floor.

        Raises:
            ConversionError: continuous decay (``staircase`` false), a constant schedule
                (``transition_steps <= 0``, ``decay_rate`` 0 or 1), growth
                (``decay_rate > 1``), a fractional ``transition_steps``, or an
                ``end_value`` at or above ``init_value``.
        """
        if self.transition_steps <= 0 or self.decay_rate in (0.0, 1.0):
            raise ConversionError(
                f"optax exponential_decay with transition_steps={self.transition_steps!r} and "
                f"decay_rate={self.decay_rate!r} never decays; stepsched needs "
                "transition_steps >= 1 and 0 < decay_rate < 1"
            )
        if self.decay_rate > 1:
            raise ConversionError(
                f"optax decay_rate={self.decay_rate!r} grows the value; stepsched needs "
                "0 < gamma < 1"
            )
        if not self.staircase:
            raise ConversionError(
                "optax exponential_decay with staircase=false decays continuously; stepsched "
                "needs staircase=true"
            )
        step_size = whole_period(self.transition_steps, "optax transition_steps")
        min_lr = 0.0 if self.end_value is None else max(0.0, self.end_value)
        if min_lr >= self.init_value:
            raise ConversionError(
                f"optax end_value={self.end_value!r} is not below init_value="
                f"{self.init_value!r}; stepsched's min_lr must be below initial_lr"
            )
        begin = max(0, self.transition_begin)
        return checked_schedule(
            "optax",
            initial_lr=self.init_value,
            step_size=step_size,
            gamma=self.decay_rate,
            warmup_steps=begin,
            warmup_start_lr=self.init_value if begin else 0.0,
            min_lr=min_lr,
            mode="step",
            warmup_prefix=bool(begin),
        )

    def to_document(self) -> dict[str, Any]:
        """The canonical JSON document (every argument written)."""
        return {
            MARKER: EXPONENTIAL,
            "init_value": self.init_value,
            "transition_steps": self.transition_steps,
            "decay_rate": self.decay_rate,
            "transition_begin": self.transition_begin,
            "staircase": self.staircase,
            "end_value": self.end_value,
        }


@dataclass(frozen=True)
class OptaxPiecewiseConstant:
    """``optax.piecewise_constant_schedule``'s arguments, boundaries sorted ascending."""

    init_value: float
    boundaries_and_scales: tuple[tuple[int, float], ...] | None = None

    def lr_at(self, count: int) -> float:
        """optax's value at update ``count``, in emulated float32.

        Raises:
            ScheduleError: ``count`` is not an integer from 0 to :data:`MAX_COUNT`.
        """
        position = check_counter(count, "count", MAX_COUNT, _COUNTER)
        if self.boundaries_and_scales is None:
            return self.init_value  # optax returns the Python value itself
        value = float32(self.init_value)
        for boundary, scale in self.boundaries_and_scales:
            if position >= boundary:
                value = float32(float32(scale) * value)
        return value

    @property
    def notes(self) -> tuple[str, ...]:
        """Remarks a user converting this schedule should see."""
        return ("optax computes in float32 unless jax_enable_x64 is set",)

    def to_schedule(self) -> StepSchedule:
        """The :class:`StepSchedule` with milestones at the boundaries.

        Raises:
            ConversionError: no boundaries, a boundary below 1 (it would scale the
                first value), or scales that are not all one factor 0 < gamma < 1.
        """
        pairs = self.boundaries_and_scales or ()
        if not pairs:
            raise ConversionError(
                "optax piecewise_constant_schedule without boundaries never decays; stepsched "
                "needs at least one milestone"
            )
        boundaries = [boundary for boundary, _ in pairs]
        scales = sorted({scale for _, scale in pairs})
        if boundaries[0] < 1:
            raise ConversionError(
                f"optax boundary {boundaries[0]} scales the value from count 0; stepsched "
                "milestones must be >= 1"
            )
        if len(scales) != 1 or not 0 < scales[0] < 1:
            raise ConversionError(
                f"optax scales {[scale for _, scale in pairs]} cannot be converted: stepsched "
                "needs one factor gamma with 0 < gamma < 1 at every boundary"
            )
        return checked_schedule(
            "optax",
            initial_lr=self.init_value,
            milestones=tuple(boundaries),
            gamma=scales[0],
            mode="step",
        )

    def to_document(self) -> dict[str, Any]:
        """The canonical JSON document (boundaries as string keys, ascending)."""
        pairs = self.boundaries_and_scales
        return {
            MARKER: PIECEWISE,
            "init_value": self.init_value,
            "boundaries_and_scales": None if pairs is None else {str(b): s for b, s in pairs},
        }


OptaxSchedule = OptaxExponentialDecay | OptaxPiecewiseConstant


def bare_function(document: Mapping[Any, Any]) -> str | None:
    """The optax function a document without the marker holds the arguments of, if any.

    A config often holds the bare keyword arguments: ``init_value``,
    ``transition_steps`` and ``decay_rate`` (and only ``exponential_decay``'s other
    arguments) mean ``exponential_decay``; ``init_value`` and
    ``boundaries_and_scales`` mean ``piecewise_constant_schedule``.

    Example:
        >>> bare_function({"init_value": 0.1, "boundaries_and_scales": {"30": 0.1}})
        'piecewise_constant_schedule'
    """
    keys = set(document)
    if (
        keys <= _EXPONENTIAL_KEYS - {MARKER}
        and {
            "init_value",
            "transition_steps",
            "decay_rate",
        }
        <= keys
    ):
        return EXPONENTIAL
    if keys == _PIECEWISE_KEYS - {MARKER}:
        return PIECEWISE
    return None


def detect(document: object) -> bool:
    """Whether ``document`` is an optax schedule document: it carries the marker, or it
    holds exactly the keyword arguments of one function (see :func:`bare_function`)."""
    if not isinstance(document, Mapping):
        return False
    return document.get(MARKER) in FUNCTIONS or (
        MARKER not in document and bare_function(document) is not None
    )


def parse(document: object) -> OptaxSchedule:
    """Read an optax schedule document (see the module docstring for its shape).

    Raises:
        StateError: not a JSON object, an unknown marker or key, or a field of the
            wrong type or range; the message names the field and the value.
    """
    if not isinstance(document, Mapping):
        raise StateError(f"an optax schedule must be a JSON object, got {type(document).__name__}")
    function = document.get(MARKER)
    if MARKER not in document:
        function = bare_function(document)
        if function is None:
            keys = ", ".join(sorted(str(key) for key in document)) or "none"
            raise StateError(
                "an optax document holds the keyword arguments of exponential_decay "
                "(init_value, transition_steps, decay_rate, ...) or of "
                "piecewise_constant_schedule (init_value, boundaries_and_scales), with an "
                f'optional "optax" key naming the function; got keys {keys}'
            )
        document = {MARKER: function, **document}
    if function not in FUNCTIONS:
        raise StateError(
            "optax must be 'exponential_decay' or 'piecewise_constant_schedule', "
            f"got {shown(function)}"
        )
    allowed = _EXPONENTIAL_KEYS if function == EXPONENTIAL else _PIECEWISE_KEYS
    check_keys(document, allowed, f"optax {function} document")
    if "init_value" not in document:
        raise StateError(f"optax {function} document needs 'init_value'")
    init_value = float32_field(
        positive_number(document["init_value"], "init_value"), "init_value", "optax"
    )
    if function == PIECEWISE:
        return OptaxPiecewiseConstant(
            init_value, _boundaries_and_scales(document.get("boundaries_and_scales"))
        )
    for key in ("transition_steps", "decay_rate"):
        if key not in document:
            raise StateError(f"optax exponential_decay document needs '{key}'")
    steps = number(document["transition_steps"], "transition_steps")
    rate = number(document["decay_rate"], "decay_rate")
    if rate < 0:
        raise StateError(
            f"decay_rate must be a finite number >= 0, got {shown(document['decay_rate'])}"
        )
    begin = document.get("transition_begin", 0)
    if isinstance(begin, float) and begin.is_integer():
        begin = int(begin)
    if isinstance(begin, bool) or not isinstance(begin, int):
        raise StateError(f"transition_begin must be an integer, got {shown(begin)}")
    staircase = boolean(document.get("staircase", False), "staircase")
    float32_field(steps, "transition_steps", "optax", nonzero=True)
    raw_end = document.get("end_value")
    return OptaxExponentialDecay(
        init_value=init_value,
        transition_steps=int(steps) if steps.is_integer() else steps,
        decay_rate=rate,
        transition_begin=begin,
        staircase=staircase,
        end_value=None
        if raw_end is None
        else float32_field(number(raw_end, "end_value"), "end_value", "optax"),
    )


def from_schedule(schedule: StepSchedule, steps_per_epoch: int | None = None) -> dict[str, Any]:
    """An optax document that gives ``schedule``'s lr at every update count.

    ``step_size`` becomes ``exponential_decay(staircase=True)`` (``min_lr`` as
    ``end_value``); ``milestones`` become ``piecewise_constant_schedule`` with scale
    ``gamma`` at each.  A warmup that holds ``initial_lr`` (``warmup_start_lr ==
    initial_lr``) becomes ``transition_begin`` or shifted boundaries.

    Args:
        schedule: The schedule to write.
        steps_per_epoch: Needed when ``schedule`` counts epochs: optax counts updates.

    Raises:
        ConversionError: a warmup ramp (these functions have none; build it with
            ``optax.join_schedules``), a floor on milestones, or an epoch schedule
            without ``steps_per_epoch``.

    Example:
        >>> from_schedule(StepSchedule(0.1, milestones=(30, 60)))["boundaries_and_scales"]
        {'30': 0.1, '60': 0.1}
    """
    schedule = in_steps(schedule, steps_per_epoch, "optax schedules count updates")
    begin = schedule.warmup_steps if schedule.warmup_prefix else 0
    if schedule.warmup_steps and schedule.warmup_start_lr != schedule.initial_lr:
        raise ConversionError(
            f"warmup from {schedule.warmup_start_lr!r} to {schedule.initial_lr!r} cannot be "
            "written for optax exponential_decay or piecewise_constant_schedule: they hold "
            "init_value before the first decay (join a linear_schedule with "
            "optax.join_schedules instead)"
        )
    if not schedule.warmup_prefix and schedule.decays_at(schedule.warmup_steps):
        raise ConversionError(
            f"a decay inside the warmup (warmup_steps={schedule.warmup_steps}) cannot be "
            "written for optax: it would apply before the warmup ends"
        )
    if schedule.milestones is None:
        return OptaxExponentialDecay(
            init_value=schedule.initial_lr,
            transition_steps=int(schedule.step_size or 0),
            decay_rate=schedule.gamma,
            transition_begin=begin,
            staircase=True,
            end_value=schedule.min_lr if schedule.min_lr > 0 else None,
        ).to_document()
    if schedule.min_lr > 0:
        raise ConversionError(
            f"min_lr={schedule.min_lr!r} cannot be written for optax "
            "piecewise_constant_schedule: it has no floor"
        )
    pairs = tuple((begin + milestone, schedule.gamma) for milestone in schedule.milestones)
    return OptaxPiecewiseConstant(schedule.initial_lr, pairs).to_document()


def _boundaries_and_scales(value: object) -> tuple[tuple[int, float], ...] | None:
    if value is None:
        return None
    if not isinstance(value, Mapping):
        raise StateError(
            f"boundaries_and_scales must be a JSON object of step -> scale, got {shown(value)}"
        )
    pairs: dict[int, float] = {}
    for key, raw_scale in value.items():
        try:
            boundary = int(str(key).strip())
        except ValueError:
            raise StateError(
                f"boundaries_and_scales key {shown(key)} must be an integer step"
            ) from None
        if boundary in pairs:
            raise StateError(f"boundaries_and_scales repeats step {boundary} (key {shown(key)})")
        scale = number(raw_scale, f"boundaries_and_scales[{shown(key)}]")
        if scale < 0:
            raise StateError(
                f"boundaries_and_scales[{shown(key)}] must be a finite number >= 0, "
                f"got {shown(raw_scale)}"
            )
        pairs[boundary] = float32_field(scale, f"boundaries_and_scales[{shown(key)}]", "optax")
    return tuple(sorted(pairs.items()))
