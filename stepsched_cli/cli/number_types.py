"""Number options and arguments read as ASCII decimal text, as every file reader does.

click converts an ``int`` or ``float`` parameter with ``int()``/``float()``, which read
``--lr 0_1`` as 1.0 (a typo becomes 10x), ``1_0.0_1``, full-width digits (U+FF10 to U+FF19) and
Arabic-Indic ``--step-size`` digits as 30, while the log and state readers refuse those forms.
:func:`ascii_numbers` gives every number parameter of a command the same parsers as
the readers (:func:`~stepsched_cli.validate.integer_text`,
:func:`~stepsched_cli.validate.number_text`), keeping click's ranges and messages.
:class:`~stepsched_cli.cli.app.StepschedGroup` applies it to every command it runs,
so no option can be declared without it.
"""

from __future__ import annotations

from typing import Any

from typer._click import core as click_core
from typer._click import types as click_types

from stepsched_cli.describe import describe
from stepsched_cli.validate import integer_text, number_text

__all__ = ["ascii_numbers"]


def _ascii_int(value: object) -> int:
    if isinstance(value, int) and not isinstance(value, bool):
        return value  # a default, not text
    parsed = integer_text(value, any_length=True) if isinstance(value, str) else None
    if parsed is None:
        raise ValueError(value)
    return parsed


def _ascii_float(value: object) -> float:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)  # a default, not text
    parsed = number_text(value, special=True) if isinstance(value, str) else None
    if parsed is None:
        raise ValueError(value)
    return parsed


class _AsciiNumber(click_types._NumberParamTypeBase):
    """click's number conversion with an ASCII parser and a bounded echo of the text."""

    def convert(
        self, value: Any, param: click_core.Parameter | None, ctx: click_core.Context | None
    ) -> Any:
        try:
            return self._number_class(value)
        except ValueError:
            self.fail(f"{describe(value)} is not a valid {self.name}.", param, ctx)


class AsciiInt(_AsciiNumber, click_types.IntParamType):
    _number_class = staticmethod(_ascii_int)  # type: ignore[assignment]


class AsciiFloat(_AsciiNumber, click_types.FloatParamType):
    _number_class = staticmethod(_ascii_float)  # type: ignore[assignment]


class _RangeInErrors(click_types._NumberRangeBase):
    """A range checked and named in its error, but not printed beside the placeholder
    in ``--help`` (where ``[0<=x<=9223372036854775807]`` split across two lines at 80
    columns): the option's own help states the bound in words."""

    def _describe_range(self) -> str:
        return ""

    def convert(
        self, value: Any, param: click_core.Parameter | None, ctx: click_core.Context | None
    ) -> Any:
        number = click_types._NumberParamTypeBase.convert(self, value, param, ctx)
        below = self.min is not None and (
            number <= self.min if self.min_open else number < self.min
        )
        above = self.max is not None and (
            number >= self.max if self.max_open else number > self.max
        )
        if below or above:
            bounds = click_types._NumberRangeBase._describe_range(self)
            self.fail(f"{number} is not in the range {bounds}.", param, ctx)
        return number


class AsciiIntRange(_RangeInErrors, click_types.IntRange):
    _number_class = staticmethod(_ascii_int)  # type: ignore[assignment]


class AsciiFloatRange(_RangeInErrors, click_types.FloatRange):
    _number_class = staticmethod(_ascii_float)  # type: ignore[assignment]


def _ascii_type(kind: click_types.ParamType) -> click_types.ParamType:
    """``kind`` reading ASCII decimal text; other types unchanged."""
    if isinstance(kind, (_AsciiNumber, AsciiIntRange, AsciiFloatRange)):
        return kind
    if isinstance(kind, click_types._NumberRangeBase):
        ranged = AsciiIntRange if isinstance(kind, click_types.IntRange) else AsciiFloatRange
        return ranged(kind.min, kind.max, kind.min_open, kind.max_open, kind.clamp)
    if isinstance(kind, click_types.IntParamType):
        return AsciiInt()
    if isinstance(kind, click_types.FloatParamType):
        return AsciiFloat()
    return kind


def ascii_numbers(command: click_core.Command) -> None:
    """Make every int and float parameter of ``command`` (and its subcommands) ASCII-only."""
    for parameter in command.params:
        parameter.type = _ascii_type(parameter.type)
    subcommands: dict[str, click_core.Command] = getattr(command, "commands", {})
    for subcommand in subcommands.values():
        ascii_numbers(subcommand)
