"""Field validators and the limits they enforce: one home for every reader and the core.

The schedule, the scheduler, the state file, every foreign format and the command line
check their integers, numbers and flags here, so that a limit (the 40-digit integer
guard, say) cannot be present in one reader and missing in another.

Each validator takes the value, a ``label`` that starts the message as the caller wants
its field named (``"step_size"``, ``"field 'step'"``, ``"decay_rate"``), the exception
class to raise (a :class:`~stepsched_cli.errors.StepschedError` subclass) and the
``parameter`` the error is about, which the command line maps to an option name.  When
``parameter`` is not given the label is used if it is a plain identifier, so
``integer(0, "step_size", minimum=1)`` raises ``ScheduleError("step_size must be an
integer >= 1, got 0", parameter="step_size")``.

Messages describe a value with :func:`shown`, which never builds more than a bounded
text: an integer beyond :data:`INTEGER_LIMIT` is described by its size.

Example:
    >>> integer(30, "step_size", minimum=1)
    30
    >>> finite_number(0.1, "gamma")
    0.1
    >>> integer_text("30"), integer_text("٣٠"), integer_text("3_0")
    (30, None, None)
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping

from stepsched_cli.errors import StepschedError

__all__ = [
    "INT64_MAX",
    "INTEGER_LIMIT",
    "LR_AGREEMENT_TOLERANCE",
    "MAX_INTEGER_DIGITS",
    "STANDARD_STREAM",
    "boolean",
    "finite_number",
    "integer",
    "integer_text",
    "integers",
    "lrs_agree",
    "shown",
    "string_keys",
]

MAX_INTEGER_DIGITS = 40
"""The longest integer, in decimal digits, a file may hold (JSON text or a pickle).

No schedule needs more (2**63 has 19 digits), and Python's int parsing is quadratic
in the length, so a 4,000-digit "step" is a denial of service, not a position.
"""

INTEGER_LIMIT = 10**MAX_INTEGER_DIGITS
"""Every integer field read from a file must be below this in magnitude."""

INT64_MAX = 2**63 - 1
"""The largest signed 64-bit integer: torch's and Keras's step counters stop here."""

STANDARD_STREAM = "-"
"""The file name that means standard input (reading) or standard output (writing)."""

LR_AGREEMENT_TOLERANCE = 1e-9
"""How far (relative) a stored lr may be from the formula's and still agree.

It covers one rounding of ours and the drift of frameworks that multiply by gamma at
each decay (torch: about 12 ulps after 100,000 decays, 2.7e-15 relative).
"""

# Deep in the subnormals a float has few significant bits, so the relative drift of
# a multiplying framework (torch, a state written from its lrs) grows without bound
# while both values are still 0 for any purpose; below 1e-300 they agree absolutely.
_LR_AGREEMENT_FLOOR = 1e-300

# The widest text of a value an error message shows.
_SHOWN_WIDTH = 60
_INTEGER_TEXT = re.compile(r"[+-]?[0-9]{1,40}", re.ASCII)
_NUMBER_TEXT = re.compile(r"[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?", re.ASCII)
_LONGEST_NUMBER_TEXT = 400
_SPECIAL_NUMBER_TEXT = re.compile(r"[+-]?(inf|infinity|nan)", re.ASCII | re.IGNORECASE)
_ANY_INTEGER_TEXT = re.compile(r"[+-]?[0-9]+", re.ASCII)
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*", re.ASCII)


def shown(value: object) -> str:
    """``value`` for an error message: at most 60 characters of it, then its type and size.

    Built in bounded time and memory whatever ``value`` is (see
    :func:`stepsched_cli.describe.describe`).  An int beyond :data:`INTEGER_LIMIT` is
    described by its size (Python cannot even print one of 5,000 digits).

    Example:
        >>> shown(30), shown("x" * 100)[:8], shown(-(10**50))
        ('30', "'xxxxxxx", 'a negative integer of 167 bits')
    """
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) >= INTEGER_LIMIT:
        sign = "a negative" if value < 0 else "an"
        return f"{sign} integer of {value.bit_length()} bits"
    # Never ``repr`` first and cut after: a shared list 40 deep has a repr of 2**40
    # items.  describe renders piece by piece and stops at the width.
    from stepsched_cli.describe import describe

    return describe(value, width=_SHOWN_WIDTH)


def _parameter(label: str, parameter: str | None) -> str | None:
    if parameter is not None:
        return parameter
    return label if _IDENTIFIER.fullmatch(label) else None


def integer(
    value: object,
    label: str,
    *,
    minimum: int = 0,
    limit: int | None = INTEGER_LIMIT,
    error: type[StepschedError] = StepschedError,
    parameter: str | None = None,
) -> int:
    """``value`` as an int >= ``minimum`` (and below ``limit``), refusing booleans.

    Args:
        value: What was given.
        label: How the message names the field.
        minimum: The smallest accepted value.
        limit: Values must be below this in magnitude (None: any size, for the core's
            positions, which may be as large as you like).
        error: The exception class to raise.
        parameter: The parameter the error is about (default: ``label`` if it is an
            identifier).

    Raises:
        error: ``{label} must be an integer >= {minimum}, got {value}``, or
            ``{label} must be an integer below 10**40, got an integer of N bits``.
    """
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise error(
            f"{label} must be an integer >= {minimum}, got {shown(value)}",
            parameter=_parameter(label, parameter),
        )
    if limit is not None and value >= limit:
        raise error(
            f"{label} must be an integer below 10**{MAX_INTEGER_DIGITS}, got {shown(value)}",
            parameter=_parameter(label, parameter),
        )
    return int(value)


def integers(
    values: Iterable[object],
    label: str,
    *,
    minimum: int,
    error: type[StepschedError] = StepschedError,
) -> list[int]:
    """Each of ``values`` as :func:`integer` (any size), named ``label[i]`` in messages.

    Example:
        >>> integers([30, 80], "milestones", minimum=1)
        [30, 80]
    """
    return [
        integer(
            value, f"{label}[{index}]", minimum=minimum, limit=None, error=error, parameter=label
        )
        for index, value in enumerate(values)
    ]


def finite_number(
    value: object,
    label: str,
    *,
    expected: str = "a finite number",
    error: type[StepschedError] = StepschedError,
    parameter: str | None = None,
) -> float:
    """``value`` as a finite float: an int or float, not a boolean, not NaN or infinite.

    An int too large for a float (``10**400``) is refused like infinity, with the
    message, never an ``OverflowError``.

    Args:
        value: What was given.
        label: How the message names the field.
        expected: What a value of the wrong type is told to be (``"a number"`` in
            state files, whose message for a non-finite one still says finite).
        error: The exception class to raise.
        parameter: As for :func:`integer`.

    Raises:
        error: ``{label} must be {expected}, got {value}`` for a wrong type, else
            ``{label} must be a finite number, got {value}``.
    """
    which = _parameter(label, parameter)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise error(f"{label} must be {expected}, got {shown(value)}", parameter=which)
    try:
        number = float(value)
    except OverflowError:
        raise error(
            f"{label} must be a finite number, got {_huge_integer(value)}", parameter=which
        ) from None
    if not math.isfinite(number):
        raise error(f"{label} must be a finite number, got {shown(value)}", parameter=which)
    return number


def _huge_integer(value: object) -> str:
    """An int too large for a float, by its leading digits and length (bounded work)."""
    if not isinstance(value, int) or abs(value) >= 10**4000:
        return shown(value)
    digits = str(abs(value))
    sign = "-" if value < 0 else ""
    return f"{sign}{digits[:20]}... (an integer of {len(digits)} digits)"


def boolean(
    value: object,
    label: str,
    *,
    error: type[StepschedError] = StepschedError,
    parameter: str | None = None,
) -> bool:
    """``value`` as a bool: only ``True`` or ``False`` (not 0 or 1).

    Raises:
        error: ``{label} must be true or false, got {value}``.
    """
    if not isinstance(value, bool):
        raise error(
            f"{label} must be true or false, got {shown(value)}",
            parameter=_parameter(label, parameter),
        )
    return value


def string_keys(
    mapping: Mapping[object, object], owner: str, *, error: type[StepschedError] = StepschedError
) -> None:
    """Refuse a mapping with keys that are not strings (a pickle can hold any key).

    Raises:
        error: ``{owner}'s keys must be strings, got (1, 2), 3 and 2 more``.
    """
    not_names = [key for key in mapping if not isinstance(key, str)]
    if not_names:
        listed = ", ".join(shown(key) for key in not_names[:3])
        more = f" and {len(not_names) - 3} more" if len(not_names) > 3 else ""
        raise error(f"{owner}'s keys must be strings, got {listed}{more}")


def integer_text(text: str, *, any_length: bool = False) -> int | None:
    """The int a decimal text stands for, or None: ASCII digits only, at most 40.

    Underscores, other scripts' digits and surrounding text are refused, unlike
    ``int()``, which reads ``"3_0"`` and ``"٣٠"`` as 30.  Surrounding spaces are allowed.
    ``any_length`` lifts the 40-digit limit up to the 4,300 digits ``int()`` converts,
    for callers that say themselves how long a number may be (command-line options).
    """
    stripped = text.strip()
    if any_length:
        if not _ANY_INTEGER_TEXT.fullmatch(stripped):
            return None
        try:
            return int(stripped)
        except ValueError:  # beyond sys.get_int_max_str_digits()
            return None
    return int(stripped) if _INTEGER_TEXT.fullmatch(stripped) else None


def lrs_agree(stored: float, expected: float) -> bool:
    """Whether a stored lr agrees with the formula's: relative 1e-9, or both below 1e-300.

    One rule for every reader (native state files, torch state dicts, checkpoints'
    optimizers): the same lr must be accepted or refused whatever wrote it.  An int
    too large for a float (a pickle can hold one) agrees with no lr.

    Example:
        >>> lrs_agree(0.0010000000000000002, 0.001), lrs_agree(0.0011, 0.001)
        (True, False)
        >>> lrs_agree(10**400, 0.1)
        False
    """
    if isinstance(stored, int) and abs(stored) > 2**1023:
        return False
    return math.isclose(
        stored, expected, rel_tol=LR_AGREEMENT_TOLERANCE, abs_tol=_LR_AGREEMENT_FLOOR
    )


def number_text(text: str, *, special: bool = False) -> float | None:
    """The float a decimal text stands for, or None: ASCII digits, a point, an exponent.

    Like :func:`integer_text`, and as the log reader reads numbers: ``float()`` also
    reads ``"0_1"`` (as 1.0: a typo becomes 10x), full-width digits, ``"inf"`` and
    ``"nan"``; these are refused (``special`` admits ``inf``, ``infinity`` and ``nan``,
    ASCII words a caller then refuses with its own message).  Surrounding spaces are
    allowed.

    Example:
        >>> number_text("0.1"), number_text("1e-3"), number_text("0_1"), number_text("\uff10.1")
        (0.1, 0.001, None, None)
    """
    stripped = text.strip()
    if special and _SPECIAL_NUMBER_TEXT.fullmatch(stripped):
        return float(stripped)
    if len(stripped) > _LONGEST_NUMBER_TEXT or not _NUMBER_TEXT.fullmatch(stripped):
        return None
    return float(stripped)
