"""Help that reads at 80 columns: a word for every placeholder, never a type name.

Typer's help shows an option without a placeholder by its type (``<int>``,
``<float>``, ``<str>``), an argument's type beside its name (``FILE  <str>``), and a
required argument in braces in the usage line (``{FILE}``).  :func:`readable_help`
gives every option a placeholder word (its declaration's, else one for its type),
drops the type beside an argument's name, and writes a required argument bare.
:class:`~stepsched_cli.cli.app.StepschedGroup` applies it to every command it runs,
so no option can be declared without a readable placeholder.
"""

from __future__ import annotations

from typing import Any

from typer._click import core as click_core
from typer._click import types as click_types
from typer._types import TyperChoice
from typer.core import TyperArgument, TyperOption

__all__ = ["readable_help"]


def _placeholder(kind: click_types.ParamType) -> str | None:
    """The placeholder word for an option of type ``kind``; None where Typer's own
    (a choice's ``[a|b]``) reads well."""
    if isinstance(kind, click_types.IntParamType):
        return "N"
    if isinstance(kind, click_types.FloatParamType):
        return "NUMBER"
    if isinstance(kind, TyperChoice):
        return None
    return "TEXT"


class _BareArgument(TyperArgument):
    """An argument shown by its placeholder alone: ``FILE``, not ``{FILE}`` (usage) or
    ``FILE  <str>`` (the arguments panel)."""

    def make_metavar(self, ctx: click_core.Context, *, usage: bool = False) -> str:
        # Only arguments declared with a placeholder become bare (readable_help).
        placeholder = str(self.metavar)
        return placeholder if self.required or not usage else f"[{placeholder}]"


class _Untyped(click_types.ParamType):
    """A parameter type that converts as ``inner`` does and shows no type name."""

    def __init__(self, inner: click_types.ParamType) -> None:
        self.inner = inner
        self.name = inner.name

    def get_metavar(self, param: click_core.Parameter, ctx: click_core.Context) -> str | None:
        return ""

    def convert(
        self, value: Any, param: click_core.Parameter | None, ctx: click_core.Context | None
    ) -> Any:
        return self.inner.convert(value, param, ctx)


def readable_help(command: click_core.Command) -> None:
    """Give every option of ``command`` (and its subcommands) a placeholder word, and
    show its arguments by their placeholders alone."""
    for parameter in command.params:
        if isinstance(parameter, TyperOption):
            if parameter.metavar is None and not parameter.is_flag and not parameter.count:
                parameter.metavar = _placeholder(parameter.type)
        elif isinstance(parameter, TyperArgument) and parameter.metavar is not None:
            parameter.__class__ = _BareArgument
            if not isinstance(parameter.type, _Untyped):
                parameter.type = _Untyped(parameter.type)
    subcommands: dict[str, click_core.Command] = getattr(command, "commands", {})
    for subcommand in subcommands.values():
        readable_help(subcommand)
