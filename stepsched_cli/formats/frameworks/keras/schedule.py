"""Keras ``ExponentialDecay`` and ``PiecewiseConstantDecay`` as JSON, with Keras's exact values.

Same interface as the other framework modules (see
:mod:`stepsched_cli.formats.frameworks.timm.schedule`):

- ``FORMAT_NAME = "keras"``; ``detect(document) -> bool``;
  ``parse(document) -> KerasSchedule`` (raises :class:`~stepsched_cli.errors.StateError`
  for malformed input);
- ``KerasSchedule.lr_at(step)``, ``.to_schedule()`` (or
  :class:`~stepsched_cli.errors.ConversionError`), ``.to_document()``, ``.notes``;
- ``from_schedule(schedule, steps_per_epoch=None, style="serialize") -> dict``.

JSON shapes accepted: the output of ``keras.optimizers.schedules.serialize()`` (Keras 3;
``module`` and ``registered_name`` are optional, so TF-Keras 2's
``{"class_name": ..., "config": ...}`` also reads) or a bare ``get_config()`` dict::

    {"module": "keras.optimizers.schedules", "class_name": "ExponentialDecay",
     "config": {"initial_learning_rate": 0.1, "decay_steps": 30, "decay_rate": 0.1,
                "staircase": true, "name": "ExponentialDecay"},
     "registered_name": null}
    {"boundaries": [29, 59], "values": [0.1, 0.01, 0.001], "name": "PiecewiseConstant"}

Semantics (Keras 3, ``keras/src/optimizers/schedules/learning_rate_schedule.py``): the
position is the optimizer's ``iterations`` (updates already applied), so there is no
epoch mode.  Keras computes in float32 (``floatx``):

- ExponentialDecay: ``p = float32(step) / float32(decay_steps)``, floored when
  ``staircase`` (Keras's default is ``staircase=False``: continuous decay), and
  ``lr = initial * decay_rate ** p``, every operation rounded to float32.
- PiecewiseConstantDecay: ``values[0]`` while ``step <= boundaries[0]``,
  ``values[i]`` while ``boundaries[i-1] < step <= boundaries[i]``, ``values[-1]`` after
  the last boundary.  A boundary belongs to the interval on its LEFT, so boundary ``b``
  is stepsched's (and torch's) milestone ``b + 1``.  Keras sums one indicator times
  value per interval, so with unsorted boundaries two values can add up: reproduced.

:meth:`lr_at` emulates that float32 arithmetic in pure Python (each operation done in
float64, then rounded to float32, which is exact for +, -, *, / and within one float32
ulp for the power), so it matches Keras to float32 precision, including the float32
rounding of huge step counts (from 2**24 on, ``float32(step)`` is not exact and the
decay can come a step early or late).  The converted :class:`StepSchedule` uses exact
integer positions and exact decimal values, so for parity compare at float32 precision.

Example:
    >>> keras_schedule = parse({"boundaries": [30, 60], "values": [0.1, 0.01, 0.001]})
    >>> [keras_schedule.lr_at(step) for step in (30, 31)] == [float32(0.1), float32(0.01)]
    True
    >>> keras_schedule.to_schedule().milestones
    (31, 61)
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from fractions import Fraction
from typing import Any, Literal

from stepsched_cli.errors import ConversionError, StateError
from stepsched_cli.formats.frameworks.common import (
    boolean,
    check_counter,
    check_keys,
    checked_schedule,
    decay_rate,
    float32,
    float32_field,
    in_steps,
    number,
    positive_number,
    power_or_infinity,
    whole_period,
)
from stepsched_cli.schedule import StepSchedule, intended_value, scaled_power
from stepsched_cli.validate import INT64_MAX, shown

FORMAT_NAME = "keras"
MODULE = "keras.optimizers.schedules"
EXPONENTIAL = "ExponentialDecay"
PIECEWISE = "PiecewiseConstantDecay"
CLASS_NAMES = (EXPONENTIAL, PIECEWISE)
# Beyond this many boundaries a piecewise document stops being a useful thing to write.
MAX_BOUNDARIES = 10_000
# The optimizer's ``iterations`` is an int64 variable: no step goes beyond it.
MAX_STEP = INT64_MAX
_STEP_COUNTER = "Keras counts optimizer steps in an int64"

_EXPONENTIAL_KEYS = frozenset(
    {"initial_learning_rate", "decay_steps", "decay_rate", "staircase", "name"}
)
_PIECEWISE_KEYS = frozenset({"boundaries", "values", "name"})

DocumentStyle = Literal["serialize", "config"]


def float32_of_int(value: int) -> float:
    """The integer ``value`` rounded once to the nearest float32, as a tensor cast does."""
    if abs(value) < 2**53:
        return float32(float(value))
    # float(value) would round to 53 bits first; round straight to 24 instead.
    magnitude = abs(value)
    shift = magnitude.bit_length() - 24
    kept, dropped = magnitude >> shift, magnitude & ((1 << shift) - 1)
    half = 1 << (shift - 1)
    if dropped > half or (dropped == half and kept & 1):
        kept += 1
    return float32(math.copysign(math.ldexp(kept, shift), value))


@dataclass(frozen=True)
class KerasExponentialDecay:
    """Keras ``ExponentialDecay``'s config.

    Attributes:
        initial_learning_rate: The lr at step 0, > 0.
        decay_steps: Steps per decay, > 0 (Keras allows fractions).
        decay_rate: Factor per ``decay_steps``, 0 < decay_rate <= 1.
        staircase: Whether the exponent is floored (a step schedule).
        name: Keras's name for the schedule.
    """

    initial_learning_rate: float
    decay_steps: int | float
    decay_rate: float
    staircase: bool = False
    name: str = EXPONENTIAL

    def lr_at(self, step: int) -> float:
        """Keras's lr at optimizer step ``step``, with Keras's float32 arithmetic.

        Raises:
            ScheduleError: ``step`` is not an integer from 0 to :data:`MAX_STEP`.
        """
        position = check_counter(step, "step", MAX_STEP, _STEP_COUNTER)
        exponent = float32(float32_of_int(position) / _f32(self.decay_steps))
        if self.staircase and math.isfinite(exponent):
            exponent = float(math.floor(exponent))
        power = float32(power_or_infinity(float32(self.decay_rate), exponent))
        return float32(float32(self.initial_learning_rate) * power)

    @property
    def notes(self) -> tuple[str, ...]:
        """Remarks a user converting this schedule should see."""
        return ("Keras computes ExponentialDecay in float32",)

    def to_schedule(self) -> StepSchedule:
        """The :class:`StepSchedule` with the same decay positions and factors.

        Raises:
            ConversionError: ``staircase`` is false (continuous decay), ``decay_rate``
                is 1 (no decay) or ``decay_steps`` is fractional.
        """
        if not self.staircase:
            raise ConversionError(
                "Keras ExponentialDecay with staircase=false decays continuously; "
                "stepsched needs staircase=true"
            )
        if self.decay_rate == 1.0:
            raise ConversionError(
                "Keras decay_rate=1.0 never decays; stepsched needs 0 < gamma < 1"
            )
        return checked_schedule(
            "Keras",
            initial_lr=self.initial_learning_rate,
            step_size=whole_period(self.decay_steps, "Keras decay_steps"),
            gamma=self.decay_rate,
            mode="step",
        )

    def to_document(self, style: DocumentStyle = "serialize") -> dict[str, Any]:
        """The Keras JSON: ``serialize()`` output, or the bare ``get_config()`` dict."""
        config = {
            "initial_learning_rate": self.initial_learning_rate,
            "decay_steps": self.decay_steps,
            "decay_rate": self.decay_rate,
            "staircase": self.staircase,
            "name": self.name,
        }
        return _styled(EXPONENTIAL, config, style)


@dataclass(frozen=True)
class KerasPiecewiseConstantDecay:
    """Keras ``PiecewiseConstantDecay``'s config.

    Attributes:
        boundaries: Integer steps; ``values[i + 1]`` starts one step AFTER
            ``boundaries[i]``.
        values: One more value than boundaries, each finite and >= 0.
        name: Keras's name for the schedule.
    """

    boundaries: tuple[int, ...]
    values: tuple[float, ...]
    name: str = "PiecewiseConstant"

    def lr_at(self, step: int) -> float:
        """Keras's lr at optimizer step ``step``: a float32 sum of indicator * value.

        Raises:
            ScheduleError: ``step`` is not an integer from 0 to :data:`MAX_STEP`.
        """
        position = check_counter(step, "step", MAX_STEP, _STEP_COUNTER)
        values = [float32(value) for value in self.values]
        boundaries = self.boundaries
        total = 0.0
        if position <= boundaries[0]:
            total = float32(total + values[0])
        if position > boundaries[-1]:
            total = float32(total + values[-1])
        for low, high, value in zip(boundaries[:-1], boundaries[1:], values[1:-1], strict=True):
            if low < position <= high:
                total = float32(total + value)
        return total

    @property
    def notes(self) -> tuple[str, ...]:
        """Remarks a user converting this schedule should see."""
        return (
            "Keras PiecewiseConstantDecay keeps a boundary's step in the interval on its "
            f"left: boundaries={list(self.boundaries)} decay at steps "
            f"{[b + 1 for b in self.boundaries]}",
            "Keras computes PiecewiseConstantDecay in float32",
        )

    def to_schedule(self) -> StepSchedule:
        """The :class:`StepSchedule` with milestones ``boundaries + 1`` and the same values.

        ``values`` must be ``initial * gamma ** k`` (each within 1 ulp), optionally
        floored: the last value may be a floor (``min_lr``) that the later values hold.

        Raises:
            ConversionError: the boundaries are not strictly increasing and >= 0, or the
                values are not such a geometric sequence.
        """
        previous = -1
        for index, boundary in enumerate(self.boundaries):
            if boundary <= previous:
                what = "a negative boundary" if index == 0 else "boundaries not strictly increasing"
                raise ConversionError(
                    f"Keras boundaries={list(self.boundaries)} cannot be converted: {what} "
                    f"(boundaries[{index}]={boundary}); stepsched milestones are "
                    "strictly increasing positions >= 1"
                )
            previous = boundary
        initial_lr, gamma, min_lr = _geometric_fit(self.values)
        return checked_schedule(
            "Keras",
            initial_lr=initial_lr,
            milestones=tuple(b + 1 for b in self.boundaries),
            gamma=gamma,
            min_lr=min_lr,
            mode="step",
        )

    def to_document(self, style: DocumentStyle = "serialize") -> dict[str, Any]:
        """The Keras JSON: ``serialize()`` output, or the bare ``get_config()`` dict."""
        config = {
            "boundaries": list(self.boundaries),
            "values": list(self.values),
            "name": self.name,
        }
        return _styled(PIECEWISE, config, style)


KerasSchedule = KerasExponentialDecay | KerasPiecewiseConstantDecay


def detect(document: object) -> bool:
    """Whether ``document`` is a Keras schedule: ``serialize()`` output or a bare config."""
    if not isinstance(document, Mapping):
        return False
    if "class_name" in document:
        return document["class_name"] in CLASS_NAMES and isinstance(document.get("config"), Mapping)
    keys = set(document)
    return {"initial_learning_rate", "decay_steps", "decay_rate"} <= keys <= _EXPONENTIAL_KEYS or {
        "boundaries",
        "values",
    } <= keys <= _PIECEWISE_KEYS


def parse(document: object) -> KerasSchedule:
    """Read a Keras schedule document (see the module docstring for the shapes).

    Raises:
        StateError: not a JSON object, another class, an unknown or missing key, or a
            field of the wrong type or range; the message names the field and value.
    """
    if not isinstance(document, Mapping):
        raise StateError(f"a Keras schedule must be a JSON object, got {type(document).__name__}")
    if "class_name" in document:
        class_name = document["class_name"]
        if class_name not in CLASS_NAMES:
            raise StateError(
                "class_name must be 'ExponentialDecay' or 'PiecewiseConstantDecay', "
                f"got {shown(class_name)}"
            )
        config = document.get("config")
        if not isinstance(config, Mapping):
            raise StateError(f"config must be a JSON object, got {shown(config)}")
    else:
        config = document
        keys = set(document)
        class_name = EXPONENTIAL if "initial_learning_rate" in keys else PIECEWISE
    if class_name == EXPONENTIAL:
        return _parse_exponential(config)
    return _parse_piecewise(config)


def from_schedule(
    schedule: StepSchedule,
    steps_per_epoch: int | None = None,
    style: DocumentStyle = "serialize",
) -> dict[str, Any]:
    """A Keras document that gives ``schedule``'s lr at every optimizer step.

    ``step_size`` without a floor becomes ``ExponentialDecay(staircase=True)``;
    ``milestones``, or a floor (``min_lr``), become ``PiecewiseConstantDecay`` with
    boundaries ``milestone - 1`` and the exact values ``initial * gamma ** k``.

    Args:
        schedule: The schedule to write.
        steps_per_epoch: Needed when ``schedule`` counts epochs: Keras counts steps.
        style: ``"serialize"`` for ``keras.optimizers.schedules.serialize()`` output,
            ``"config"`` for the bare ``get_config()`` dict.

    Raises:
        ConversionError: warmup (Keras's schedules have none), an epoch schedule without
            ``steps_per_epoch``, or a floor reached only after more than
            ``MAX_BOUNDARIES`` decays.

    Example:
        >>> from_schedule(StepSchedule(0.1, milestones=(30, 60)), style="config")
        {'boundaries': [29, 59], 'values': [0.1, 0.01, 0.001], 'name': 'PiecewiseConstant'}
    """
    schedule = in_steps(schedule, steps_per_epoch, "Keras schedules count optimizer steps")
    if schedule.warmup_steps:
        raise ConversionError(
            f"warmup_steps={schedule.warmup_steps} cannot be written for Keras: "
            "ExponentialDecay and PiecewiseConstantDecay have no warmup"
        )
    if schedule.milestones is None and schedule.min_lr == 0:
        return KerasExponentialDecay(
            initial_learning_rate=schedule.initial_lr,
            decay_steps=int(schedule.step_size or 0),
            decay_rate=schedule.gamma,
            staircase=True,
        ).to_document(style)
    if schedule.boundary_count > MAX_BOUNDARIES:
        raise ConversionError(
            f"min_lr={schedule.min_lr!r} is reached after {schedule.boundary_count} decays; "
            f"a Keras PiecewiseConstantDecay of more than {MAX_BOUNDARIES} boundaries "
            "is not written"
        )
    count = schedule.boundary_count
    boundaries = tuple(int(schedule.boundary(k) or 0) - 1 for k in range(1, count + 1))
    values = tuple(schedule.lr_after_decays(k) for k in range(count + 1))
    return KerasPiecewiseConstantDecay(boundaries, values).to_document(style)


# -- helpers -----------------------------------------------------------------


def _f32(value: int | float) -> float:
    return float32_of_int(value) if isinstance(value, int) else float32(value)


def _styled(class_name: str, config: dict[str, Any], style: DocumentStyle) -> dict[str, Any]:
    if style == "config":
        return config
    if style != "serialize":
        raise ValueError(f"style must be 'serialize' or 'config', got {style!r}")
    return {"module": MODULE, "class_name": class_name, "config": config, "registered_name": None}


def _require(config: Mapping[str, Any], key: str, class_name: str) -> object:
    if key not in config:
        raise StateError(f"Keras {class_name} config needs '{key}'")
    return config[key]


def _name(value: object, default: str) -> str:
    """The schedule's ``name``; tf.keras 2 writes ``null`` (no name given): the default."""
    if value is None:
        return default
    if not isinstance(value, str):
        raise StateError(f"name must be a string, got {shown(value)}")
    return value


def _parse_exponential(config: Mapping[str, Any]) -> KerasExponentialDecay:
    check_keys(config, _EXPONENTIAL_KEYS, f"Keras {EXPONENTIAL} config")
    initial = positive_number(
        _require(config, "initial_learning_rate", EXPONENTIAL), "initial_learning_rate"
    )
    float32_field(initial, "initial_learning_rate", "Keras")
    raw_steps = _require(config, "decay_steps", EXPONENTIAL)
    steps = number(raw_steps, "decay_steps")
    if steps <= 0:
        raise StateError(f"decay_steps must be a number > 0, got {shown(raw_steps)}")
    float32_field(steps, "decay_steps", "Keras", nonzero=True)
    rate = decay_rate(_require(config, "decay_rate", EXPONENTIAL))
    return KerasExponentialDecay(
        initial_learning_rate=initial,
        decay_steps=int(steps) if steps.is_integer() else steps,
        decay_rate=rate,
        staircase=boolean(config.get("staircase", False), "staircase"),
        name=_name(config.get("name"), EXPONENTIAL),
    )


def _parse_piecewise(config: Mapping[str, Any]) -> KerasPiecewiseConstantDecay:
    check_keys(config, _PIECEWISE_KEYS, f"Keras {PIECEWISE} config")
    raw_boundaries = _require(config, "boundaries", PIECEWISE)
    raw_values = _require(config, "values", PIECEWISE)
    if (
        not isinstance(raw_boundaries, Sequence)
        or isinstance(raw_boundaries, str)
        or not raw_boundaries
    ):
        raise StateError(
            f"boundaries must be a non-empty list of integers, got {shown(raw_boundaries)}"
        )
    if not isinstance(raw_values, Sequence) or isinstance(raw_values, str):
        raise StateError(f"values must be a list of numbers, got {shown(raw_values)}")
    boundaries = tuple(_boundary(value, index) for index, value in enumerate(raw_boundaries))
    if len(raw_values) != len(boundaries) + 1:
        raise StateError(
            f"values must have one more entry than boundaries ({len(boundaries)}), "
            f"got {len(raw_values)}"
        )
    values = tuple(number(value, f"values[{index}]") for index, value in enumerate(raw_values))
    for index, value in enumerate(values):
        if value < 0:
            raise StateError(f"values[{index}] must be a finite number >= 0, got {shown(value)}")
        float32_field(value, f"values[{index}]", "Keras")
    return KerasPiecewiseConstantDecay(
        boundaries, values, name=_name(config.get("name"), "PiecewiseConstant")
    )


def _boundary(value: object, index: int) -> int:
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, bool) or not isinstance(value, int):
        raise StateError(f"boundaries[{index}] must be an integer, got {shown(value)}")
    return value


def _geometric_fit(values: Sequence[float]) -> tuple[float, float, float]:
    """``(initial_lr, gamma, min_lr)`` with ``values[k] == max(min_lr, initial * gamma**k)``.

    Each value must be within 1 ulp of its exact counterpart.  ``gamma`` is read from the
    first two values, preferring the short decimal a person would have typed.
    """
    initial = values[0]
    if initial <= 0 or values[1] <= 0:
        raise ConversionError(
            f"Keras values={list(values)} cannot be converted: stepsched needs values > 0"
        )
    ratio = intended_value(values[1]) / intended_value(initial)
    candidates = [float(f"{float(ratio):.15g}"), float(ratio)]
    for gamma in candidates:
        if not 0 < gamma < 1:
            continue
        if _matches(values, initial, gamma, 0.0):
            return initial, gamma, 0.0
        floor = values[-1]
        if floor < initial and _matches(values, initial, gamma, floor):
            return initial, gamma, floor
    raise ConversionError(
        f"Keras values={list(values)} cannot be converted: they are not initial * gamma**k "
        "with 0 < gamma < 1 (optionally floored by the last value)"
    )


def _matches(values: Sequence[float], initial: float, gamma: float, floor: float) -> bool:
    for k, value in enumerate(values):
        expected = max(floor, scaled_power(initial, gamma, k))
        if abs(Fraction(value) - Fraction(expected)) > Fraction(math.ulp(expected)):
            return False
    # A floor must be reached, or it is not a floor but a mismatch.
    return floor == 0.0 or scaled_power(initial, gamma, len(values) - 1) < floor
