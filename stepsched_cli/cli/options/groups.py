"""Options declared once and handed to a command as one record.

An :class:`OptionGroup` is the declaration of options several commands share (each
a keyword parameter whose annotation holds its ``typer.Option``) and the function that
collects their values into the record a command receives.  :func:`with_options` adds
groups to a command: the command declares one parameter per group, named after it
(``schedule: ScheduleOptions``); Typer reads the command's own parameters followed by
the groups'.  A new shared option is added to its group once, and every command with
the group gets it; a command gets a group by naming it in :func:`with_options`.

A group's flags come from the one map of
:mod:`~stepsched_cli.cli.options.parameters` (a test checks that every other option
agrees with it too); the help panels (``rich_help_panel``)
that group ``--help`` by concern are named here.
"""

from __future__ import annotations

import functools
import inspect
import typing
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any, Generic, TypeVar

import typer

from stepsched_cli.cli.options.parameters import OPTION_FOR_PARAMETER

# The help panels of the shared options, by concern; a command's own options come first.
SCHEDULE_PANEL = "Schedule"
UNITS_PANEL = "Position and units"
PIPELINE_PANEL = "Data pipeline (instead of --steps-per-epoch)"
OUTPUT_PANEL = "Output"

Collected = TypeVar("Collected")
Result = TypeVar("Result")


def shared(
    parameter: str,
    annotation: Any,
    *,
    help: str,
    panel: str,
    default: Any = None,
    aliases: tuple[str, ...] = (),
    **settings: Any,
) -> inspect.Parameter:
    """One option of a group: a keyword parameter, its flag from the one map.

    Args:
        parameter: The parameter's name, which :data:`OPTION_FOR_PARAMETER` maps to
            its flag (``steps_per_epoch`` to ``--steps-per-epoch``).
        annotation: The value's type.
        help: The help text (a default is written into it where there is one).
        panel: The help panel that lists it.
        default: The value when not given.
        aliases: Further flags of the same option (``--warmup`` for ``--warmup-steps``).
        settings: The rest of ``typer.Option``'s settings (``metavar``, ``parser``).
    """
    declared = Annotated[
        annotation,
        typer.Option(
            OPTION_FOR_PARAMETER[parameter],
            *aliases,
            help=help,
            rich_help_panel=panel,
            show_default=False,
            **settings,
        ),
    ]
    return inspect.Parameter(
        parameter, inspect.Parameter.KEYWORD_ONLY, default=default, annotation=declared
    )


@dataclass(frozen=True)
class OptionGroup(Generic[Collected]):
    """Options declared once, and the record a command receives for them.

    Attributes:
        receiver: The name of the command's parameter that receives the record.
        parameters: The options, in the order ``--help`` lists them.
        collect: Builds the record from the options' values (None where not given),
            keyed by parameter name.
    """

    receiver: str
    parameters: tuple[inspect.Parameter, ...]
    collect: Callable[[dict[str, Any]], Collected]

    @property
    def names(self) -> tuple[str, ...]:
        """The parameters' names, in order."""
        return tuple(parameter.name for parameter in self.parameters)

    def take(self, values: dict[str, Any]) -> Collected:
        """Remove this group's values from ``values`` and collect them into its record."""
        return self.collect({name: values.pop(name, None) for name in self.names})


def with_options(
    *groups: OptionGroup[Any],
) -> Callable[[Callable[..., Result]], Callable[..., Result]]:
    """Add ``groups``' options to a command that takes one parameter per group's receiver.

    Typer reads the wrapper's signature: the command's own parameters, then each
    group's.  The wrapper collects each group's values into its record and passes it
    under the group's receiver.
    """
    receivers = {group.receiver for group in groups}

    def decorate(command: Callable[..., Result]) -> Callable[..., Result]:
        own = _own_parameters(command, receivers)

        @functools.wraps(command)
        def wrapper(*args: Any, **kwargs: Any) -> Result:
            records = {group.receiver: group.take(kwargs) for group in groups}
            return command(*args, **records, **kwargs)

        parameters = [parameter for group in groups for parameter in group.parameters]
        # --help lists panels in the order their first option is declared: the command's
        # own options, the groups' panels (schedule, units, pipeline), then the command's
        # options placed in a shared panel (its --total, its -o) join those panels.
        plain = [parameter for parameter in own if _panel(parameter) is None]
        paneled = [
            parameter.replace(kind=inspect.Parameter.KEYWORD_ONLY)
            for parameter in own
            if _panel(parameter) is not None
        ]
        wrapper.__signature__ = inspect.Signature(  # type: ignore[attr-defined]
            [*plain, *parameters, *paneled]
        )
        return wrapper

    return decorate


def _panel(parameter: inspect.Parameter) -> str | None:
    """The help panel an option declares (``rich_help_panel``), None for the default."""
    for setting in getattr(parameter.annotation, "__metadata__", ()):
        panel = getattr(setting, "rich_help_panel", None)
        if panel is not None:
            return str(panel)
    return None


def _own_parameters(command: Callable[..., Any], receivers: set[str]) -> list[inspect.Parameter]:
    """The command's parameters other than the receivers, annotations resolved."""
    hints = typing.get_type_hints(command, include_extras=True)
    return [
        parameter.replace(annotation=hints.get(parameter.name, parameter.annotation))
        for parameter in inspect.signature(command).parameters.values()
        if parameter.name not in receivers
    ]


__all__ = [
    "OUTPUT_PANEL",
    "PIPELINE_PANEL",
    "SCHEDULE_PANEL",
    "UNITS_PANEL",
    "OptionGroup",
    "shared",
    "with_options",
]
