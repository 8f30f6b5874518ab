"""What the framework modules (``timm``, ``keras``, ``optax``) share.

Reading a document's fields (a finite number, a flag, the allowed keys), emulating
float32 arithmetic, and turning a framework's parameters into a :class:`StepSchedule`.
Each function raises with the same message wherever it is used: the field name (or
the framework's name) is an argument.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from stepsched_cli import validate
from stepsched_cli.errors import ConversionError, ScheduleError, StateError
from stepsched_cli.formats.reading import float32 as float32
from stepsched_cli.schedule import StepSchedule, check_position
from stepsched_cli.units import to_mode

# -- float32 -----------------------------------------------------------------


FLOAT32_MAX = 3.4028234663852886e38
"""The largest finite float32."""


def float32_field(value: float, name: str, framework: str, *, nonzero: bool = False) -> float:
    """``value``, checked to stay finite (and, if ``nonzero``, non-zero) in float32.

    The framework computes in float32, where 1e39 is infinite and 1e-300 is 0: such a
    field makes every lr infinite or divides by zero.

    Raises:
        StateError: the field overflows (or underflows to 0) in float32; the message
            names the field.

    Example:
        >>> float32_field(0.1, "initial_learning_rate", "Keras")
        0.1
    """
    rounded = float32(value)
    if not math.isfinite(rounded):
        raise StateError(
            f"{name} {value!r} is infinite in float32, which {framework} computes in "
            f"(the largest float32 is {FLOAT32_MAX:.8g})",
            parameter=name,
        )
    if nonzero and rounded == 0 and value != 0:
        raise StateError(
            f"{name} {value!r} is 0 in float32, which {framework} computes in "
            "(the smallest float32 above 0 is 1.4e-45)",
            parameter=name,
        )
    return value


def power_or_infinity(base: float, exponent: float) -> float:
    """``base ** exponent`` in float64, infinite instead of raising when it overflows."""
    try:
        return math.pow(base, exponent)
    except OverflowError:
        return math.inf


def check_counter(value: object, name: str, largest: int, counter: str) -> int:
    """``value`` as a position no larger than the framework's own counter can hold.

    Raises:
        ScheduleError: ``value`` is not an integer >= 0, or is above ``largest``; the
            message says which counter stops there (``counter``).
    """
    position = check_position(value, name)
    if position > largest:
        bits = position.bit_length()
        shown = str(position) if bits < 128 else f"an integer of {bits} bits"
        raise ScheduleError(f"{name} must be at most {largest} ({counter}), got {shown}")
    return position


# -- reading fields ----------------------------------------------------------


def number(value: object, name: str) -> float:
    """``value`` as a float: a JSON number (not a boolean) that is finite.

    An integer too large for a float (``lr: 10**400``) is refused like infinity.

    Raises:
        StateError: ``{name} must be a finite number, got {value!r}``.
    """
    return validate.finite_number(value, name, error=StateError, parameter=_field(name))


def positive_number(value: object, name: str) -> float:
    """``value`` as a float > 0 (a learning rate).

    Raises:
        StateError: not a finite number, or not > 0.
    """
    result = number(value, name)
    if result <= 0:
        raise StateError(
            f"{name} must be a finite number > 0, got {validate.shown(value)}",
            parameter=_field(name),
        )
    return result


def decay_rate(value: object, name: str = "decay_rate") -> float:
    """``value`` as a decay factor with ``0 < rate <= 1`` (1 never decays).

    Raises:
        StateError: not a finite number, or outside ``(0, 1]``.
    """
    rate = number(value, name)
    if not 0 < rate <= 1:
        raise StateError(
            f"{name} must be a number with 0 < {name} <= 1, got {validate.shown(value)}",
            parameter=_field(name),
        )
    return rate


def boolean(value: object, name: str) -> bool:
    """``value`` as a JSON boolean.

    Raises:
        StateError: ``{name} must be true or false, got {value!r}``.
    """
    return validate.boolean(value, name, error=StateError, parameter=_field(name))


def _field(name: str) -> str:
    """The field a label is about: ``decay_t`` for ``decay_t[2]`` or ``timm decay_t``."""
    return name.split()[-1].split("[")[0]


def check_keys(document: Mapping[Any, Any], allowed: frozenset[str], where: str) -> None:
    """Refuse keys outside ``allowed``; ``where`` names the document in the message.

    Raises:
        StateError: ``unknown key(s) in {where}: a, b`` (sorted).
    """
    unknown = sorted(str(key) for key in document if key not in allowed)
    if unknown:
        raise StateError(f"unknown key(s) in {where}: {', '.join(unknown)}")


# -- converting --------------------------------------------------------------


def whole_period(value: int | float, field: str) -> int:
    """A decay period as stepsched's ``step_size``; ``field`` names it (``"timm decay_t"``).

    Raises:
        ConversionError: ``value`` is fractional (a float: the parsers keep integral
            values as ints).
    """
    if isinstance(value, float):
        raise ConversionError(
            f"{field}={value!r} is fractional; stepsched needs an integer step_size >= 1"
        )
    return value


def checked_schedule(framework: str, **fields: Any) -> StepSchedule:
    """``StepSchedule(**fields)``, its refusal reworded as a conversion error of ``framework``.

    Raises:
        ConversionError: ``{framework} schedule cannot be converted: {reason}``.
    """
    try:
        return StepSchedule(**fields)
    except ScheduleError as error:
        raise ConversionError(f"{framework} schedule cannot be converted: {error}") from None


def in_steps(schedule: StepSchedule, steps_per_epoch: int | None, counts: str) -> StepSchedule:
    """``schedule`` in step mode, for a framework that counts optimizer steps.

    Args:
        schedule: The schedule to write.
        steps_per_epoch: Needed when ``schedule`` counts epochs.
        counts: What the framework counts, for the message (``"Keras schedules count
            optimizer steps"``).

    Raises:
        ConversionError: an epoch schedule without ``steps_per_epoch``.
    """
    if schedule.mode != "epoch":
        return schedule
    if steps_per_epoch is None:
        raise ConversionError(f"{counts}; give steps_per_epoch to write an epoch-mode schedule")
    return to_mode(schedule, "step", steps_per_epoch)
