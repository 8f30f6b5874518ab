"""What a command prints and where: ``--format``, ``--json``, ``--output``, ``--force``.

Each is an ``Annotated`` alias used directly in command signatures;
:func:`output_format_of` reconciles ``--format`` with its shorthand ``--json``.
"""

from __future__ import annotations

from typing import Annotated, Literal

import typer

from stepsched_cli.cli.options.groups import OUTPUT_PANEL
from stepsched_cli.cli.options.parameters import usage_error

OutputFormat = Literal["table", "json", "csv", "markdown"]

FormatOption = Annotated[
    OutputFormat,
    typer.Option(
        "--format",
        "-f",
        help="table for people; json, csv, markdown pipe.",
        rich_help_panel=OUTPUT_PANEL,
    ),
]
JsonFlag = Annotated[
    bool,
    typer.Option("--json", help="Print JSON instead of text.", rich_help_panel=OUTPUT_PANEL),
]
ForceFlag = Annotated[
    bool,
    typer.Option(
        "--force", help="Overwrite the output file if it exists.", rich_help_panel=OUTPUT_PANEL
    ),
]
OutputFile = Annotated[
    str,
    typer.Option(
        "--output",
        "-o",
        metavar="FILE",
        help="The file to write; - writes to stdout.",
        show_default=False,
        rich_help_panel=OUTPUT_PANEL,
    ),
]


def output_format_of(output_format: OutputFormat, json_output: bool) -> OutputFormat:
    """The format chosen by ``--format`` and its shorthand ``--json``.

    Raises:
        typer.BadParameter: ``--json`` with another ``--format`` than json (exit 2).
    """
    if not json_output:
        return output_format
    if output_format not in ("table", "json"):
        raise usage_error(
            "--json", f"is --format json; it cannot be combined with --format {output_format}"
        )
    return "json"


__all__ = [
    "ForceFlag",
    "FormatOption",
    "JsonFlag",
    "OutputFile",
    "OutputFormat",
    "output_format_of",
]
