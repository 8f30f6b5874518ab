"""Every command's ``--help`` at 80 columns: whole words, readable placeholders, every
option, one screenful.

Rendered as a user sees it in an 80-column terminal (``COLUMNS=80``); the checks are
about the help's form, so they hold for any option added later: no line is cut with an
ellipsis or runs past 80 columns, no placeholder is a type name (``<int>``) or a range
split across lines, every option a command accepts is listed, the command's own
options come before the shared panels, and the whole help stays within about 80 lines.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Annotated, Literal

import pytest
import typer
from typer.testing import Result

from stepsched_cli.cli.app import COMMANDS, build_app
from stepsched_cli.cli.help_text import readable_help

Invoke = Callable[..., Result]

WIDTH = 80
MOST_LINES = 85
SHARED_PANELS = ("Schedule", "Position and units", "Data pipeline", "Output")
PLACEHOLDERS = re.compile(
    r"<(int|float|str|text|integer|int range|float range)>|\{[A-Z]+\}|x>=|<=x"
)


def options_of(command: str) -> set[str]:
    """Every flag ``command`` accepts, from its click parameters."""
    group = typer.main.get_command(build_app(command=command))
    assert isinstance(group, typer.core.TyperGroup)
    click_command = group.commands[command]
    return {
        flag
        for parameter in click_command.params
        for flag in parameter.opts
        if flag.startswith("--")
    }


@pytest.fixture
def help_of(run: Invoke, monkeypatch: pytest.MonkeyPatch) -> Callable[[str], list[str]]:
    monkeypatch.setenv("COLUMNS", str(WIDTH))

    def render(command: str) -> list[str]:
        result = run(command, "--help")
        assert (result.exit_code, result.stderr) == (0, "")
        return result.stdout.splitlines()

    return render


@pytest.mark.parametrize("command", COMMANDS)
def test_help_fits_80_columns_without_cutting_a_word(
    help_of: Callable[[str], list[str]], command: str
) -> None:
    lines = help_of(command)
    assert [line for line in lines if len(line) > WIDTH] == []
    assert [line for line in lines if "…" in line] == []
    assert [line for line in lines if PLACEHOLDERS.search(line)] == []


@pytest.mark.parametrize("command", COMMANDS)
def test_help_lists_every_option_within_a_screenful(
    help_of: Callable[[str], list[str]], command: str
) -> None:
    lines = help_of(command)
    text = "\n".join(lines)
    listed = set(re.findall(r"(?<![\w-])--[a-z][a-z-]*", text))
    assert options_of(command) <= listed
    assert len(lines) <= MOST_LINES, f"{command} --help is {len(lines)} lines"


@pytest.mark.parametrize("command", COMMANDS)
def test_own_options_come_first_then_the_panels_by_concern(
    help_of: Callable[[str], list[str]], command: str
) -> None:
    panels = [line.strip("╭─ ╮") for line in help_of(command) if line.startswith("╭─")]
    panels = [panel for panel in panels if panel != "Arguments"]
    assert panels[0] == "Options", panels
    assert all(panel.startswith((*SHARED_PANELS, "Reading the file")) for panel in panels[1:])


def test_placeholders_are_words_for_any_option() -> None:
    """The hook itself, on options and arguments no command declares yet: a number, a
    text, a choice (which keeps Typer's own ``[a|b]``) and an optional argument."""
    app = typer.Typer(add_completion=False)

    @app.command()
    def sample(
        name: Annotated[str | None, typer.Argument(metavar="NAME")] = None,
        count: Annotated[int, typer.Option()] = 1,
        scale: Annotated[float, typer.Option()] = 1.0,
        label: Annotated[str, typer.Option()] = "",
        kind: Annotated[Literal["a", "b"], typer.Option()] = "a",
    ) -> None:
        """A sample."""

    command = typer.main.get_command(app)
    readable_help(command)
    placeholders = {parameter.name: parameter.metavar for parameter in command.params}
    assert placeholders == {
        "name": "NAME",
        "count": "N",
        "scale": "NUMBER",
        "label": "TEXT",
        "kind": None,
    }
    context = command.make_context("sample", [])
    assert command.collect_usage_pieces(context) == ["[OPTIONS]", "[NAME]"]
    assert command.params[0].type.convert("x", None, None) == "x"
