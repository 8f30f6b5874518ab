"""Human output: the streamed plain table, the field grid, closed streams, exit codes.

The plain table is the layout of every human listing that is piped or longer than a
screen; on a terminal a listing that fits on the screen is a Rich table of the same
geometry.  Both are checked here against exact text.
"""

from __future__ import annotations

import errno
import io
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import typer
from hypothesis import given, settings
from hypothesis import strategies as st
from typer._click import exceptions as click_exceptions
from typer.testing import CliRunner

from stepsched_cli.cli import app as app_module
from stepsched_cli.cli import output
from stepsched_cli.cli.output import Listing, emit_listing, plain_fields, plain_table
from stepsched_cli.errors import StepschedError

RULE = "\u2500"
SEED = ["--lr", "0.1", "--step-size", "30"]


def rendered(rows: list[list[str]], headers: list[str], title: str | None = None) -> str:
    return "".join(plain_table(rows, headers, title))


# -- the plain table ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("rows", "headers", "title", "expected"),
    [
        (
            [["0-29", "0.1"], ["30-59", "0.01"], ["60-89", "0.001"], ["90+", "0.0001"]],
            ["steps", "lr"],
            "lr=0.1, step_size=30, gamma=0.1",
            "lr=0.1, step_size=30, gamma=0.1\n"
            "\n"
            "  steps       lr\n"
            f" {RULE * 16}\n"
            "   0-29      0.1\n"
            "  30-59     0.01\n"
            "  60-89    0.001\n"
            "    90+   0.0001\n",
        ),
        (
            [["1", "22", "333"]],
            ["a", "b", "c"],
            None,
            f"  a    b     c\n {RULE * 14}\n  1   22   333\n",
        ),
        ([], ["step", "lr"], "t", f"t\n\n  step   lr\n {RULE * 11}\n"),
        ([], ["step", "lr"], None, f"  step   lr\n {RULE * 11}\n"),
        ([["", "x"], ["y", ""]], ["a", "b"], None, f"  a   b\n {RULE * 7}\n      x\n  y\n"),
    ],
)
def test_plain_table_layout(
    rows: list[list[str]], headers: list[str], title: str | None, expected: str
) -> None:
    """Rich's SIMPLE_HEAD geometry: a one-space edge, cells padded by one space each side."""
    assert rendered(rows, headers, title) == expected


def test_plain_table_repeats_the_head_when_a_page_needs_wider_columns(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(output, "_FIRST_PAGE", 2)
    monkeypatch.setattr(output, "_LAST_PAGE", 4)
    rows = [[str(10**k), "x"] for k in (0, 0, 0, 0, 3, 0, 0, 0, 0, 0)]
    pages = list(plain_table(rows, ["n", "lr"], "t"))
    # Pages of 2, 4 and 4 rows: the second needs a wider first column.
    assert pages == [
        f"t\n\n  n   lr\n {RULE * 8}\n  1    x\n  1    x\n",
        f"\n     n   lr\n {RULE * 11}\n     1    x\n     1    x\n  1000    x\n     1    x\n",
        "     1    x\n" * 4,
    ]


def test_plain_table_with_a_last_page_exactly_full_adds_nothing(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(output, "_FIRST_PAGE", 2)
    assert rendered([["1"], ["2"]], ["n"]) == f"  n\n {RULE * 3}\n  1\n  2\n"


def test_plain_table_refuses_a_row_with_another_number_of_cells() -> None:
    with pytest.raises(ValueError, match="zip"):
        rendered([["1", "2"], ["3"]], ["a", "b"])


CELL = st.text(alphabet="0123456789.e+-abc", min_size=1, max_size=12)


@settings(max_examples=60, deadline=None)
@given(
    headers=st.lists(st.text(alphabet="abcdefgh", min_size=1, max_size=8), min_size=1, max_size=4),
    data=st.data(),
)
def test_plain_table_is_aligned_and_loses_nothing(headers: list[str], data: Any) -> None:
    rows = data.draw(
        st.lists(st.lists(CELL, min_size=len(headers), max_size=len(headers)), max_size=40)
    )
    lines = rendered(rows, headers).splitlines()
    assert all(line == line.rstrip() for line in lines)
    body = [line for line in lines if line and not line.startswith(f" {RULE}")]
    assert [line.split() for line in body] == [headers, *rows]
    assert len({len(line) for line in body}) == 1  # right-aligned, non-empty cells


@settings(max_examples=30, deadline=None)
@given(
    headers=st.lists(st.text(alphabet="abcdefgh", min_size=1, max_size=8), min_size=1, max_size=4),
    data=st.data(),
)
def test_plain_table_has_the_geometry_of_the_rich_table(headers: list[str], data: Any) -> None:
    """Below a page, the plain layout is Rich's table without trailing spaces or padding."""
    from rich import box
    from rich.console import Console
    from rich.table import Table

    rows = data.draw(
        st.lists(st.lists(CELL, min_size=len(headers), max_size=len(headers)), max_size=20)
    )
    table = Table(box=box.SIMPLE_HEAD)
    for header in headers:
        table.add_column(header, justify="right")
    for row in rows:
        table.add_row(*row)
    file = io.StringIO()
    Console(file=file, width=500, color_system=None).print(table)
    rich_lines = [line.rstrip() for line in file.getvalue().splitlines()]
    assert rich_lines[0] == rich_lines[-1] == ""  # the padding lines Rich adds
    assert rendered(rows, headers).splitlines() == rich_lines[1:-1]


# -- streaming -------------------------------------------------------------------


class RecordingStdout(io.StringIO):
    """A stdout that notes how many records had been made at its first write."""

    def __init__(self, made: list[int], fail: bool = False) -> None:
        super().__init__()
        self.made = made
        self.fail = fail
        self.made_at_first_write: int | None = None

    def write(self, text: str) -> int:
        if self.made_at_first_write is None:
            self.made_at_first_write = self.made[0]
        if self.fail:
            raise BrokenPipeError(errno.EPIPE, "Broken pipe")
        return super().write(text)


def counted_records(made: list[int], count: int) -> Iterator[dict[str, Any]]:
    for position in range(count):
        made[0] += 1
        yield {"step": position, "lr": 0.1}


LISTING = Listing(["step", "lr"], ["step", "lr"], lambda r: [str(r["step"]), str(r["lr"])], "t")


def test_the_human_table_prints_its_first_page_before_making_the_rest(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    made = [0]
    stdout = RecordingStdout(made)
    monkeypatch.setattr(sys, "stdout", stdout)
    emit_listing(counted_records(made, 10_000), LISTING, "table")
    assert stdout.made_at_first_write == output._FIRST_PAGE
    assert made[0] == 10_000
    lines = stdout.getvalue().splitlines()
    assert lines[:5] == ["t", "", "  step    lr", f" {RULE * 12}", "     0   0.1"]
    assert lines[-1] == "  9999   0.1"
    assert len(lines) == 10_000 + 4  # the columns never widen: one head


def test_a_closed_pipe_stops_the_listing_at_the_first_page(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    made = [0]
    monkeypatch.setattr(sys, "stdout", RecordingStdout(made, fail=True))
    with pytest.raises(BrokenPipeError):
        emit_listing(counted_records(made, 10**7), LISTING, "table")
    assert made[0] == output._FIRST_PAGE


def test_a_reader_closing_the_pipe_ends_a_huge_table_with_exit_0() -> None:
    """10**9 rows would take hours: the command must stop once `head` has its line."""
    arguments = ["--lr", "0.1", "--step-size", "1", "--gamma", "0.9999999", "--total", str(10**9)]
    process = subprocess.Popen(
        [sys.executable, "-m", "stepsched_cli", "table", *arguments],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    assert process.stderr is not None
    head = [process.stdout.readline() for _ in range(5)]
    process.stdout.close()
    try:
        code = process.wait(timeout=120)
    finally:
        process.kill()
    assert head[4] == "      0         0.1\n"
    assert (code, process.stderr.read()) == (0, "")


def test_a_listing_that_fits_the_terminal_is_a_rich_table(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(output, "_terminal_rows", lambda: 4)
    monkeypatch.setenv("NO_COLOR", "1")
    rows = [{"step": step, "lr": 0.1} for step in range(4)]
    emit_listing(rows, LISTING, "table")
    shown = capsys.readouterr().out.splitlines()
    assert shown[1] == "              "  # Rich's padding line: a terminal shows it as blank
    assert [line.rstrip() for line in shown] == [
        *rendered([["0", "0.1"], ["1", "0.1"], ["2", "0.1"], ["3", "0.1"]], ["step", "lr"], "t")
        .rstrip("\n")
        .split("\n"),
        "",
    ]


def test_a_listing_longer_than_the_terminal_is_plain(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(output, "_terminal_rows", lambda: 4)
    emit_listing([{"step": step, "lr": 0.1} for step in range(5)], LISTING, "table")
    expected = rendered([[str(step), "0.1"] for step in range(5)], ["step", "lr"], "t")
    assert capsys.readouterr().out == expected


def test_a_stream_without_a_terminal_has_no_screen() -> None:
    assert output._terminal_rows() is None  # pytest's captured stdout


def test_human_table_through_the_command(run: Any) -> None:
    result = run("table", *SEED, "--total", "100")
    assert result.stdout == (
        "lr=0.1, step_size=30, gamma=0.1\n\n  steps       lr\n"
        f" {RULE * 16}\n   0-29      0.1\n  30-59     0.01\n  60-89    0.001\n  90-99   0.0001\n"
    )


# -- the field grid ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("fields", "title", "width", "expected"),
    [
        ([("lr", "0.1"), ("position", "step 0")], None, 80, ["lr        0.1", "position  step 0"]),
        ([("a", "")], "T", 80, ["T", "a"]),
        (
            [("note", "one two three four five six"), ("lr", "0.1")],
            None,
            20,
            ["note  one two three", "      four five six", "lr    0.1"],
        ),
        ([("note", "line one\nline two")], None, 80, ["note  line one", "      line two"]),
        (  # a path longer than the line stays whole, for copying
            [("file", "runs/a_very_long_checkpoint_name.pt (torch-checkpoint format)")],
            None,
            30,
            [
                "file  runs/a_very_long_checkpoint_name.pt",
                "      (torch-checkpoint",
                "      format)",
            ],
        ),
        ([], None, 80, []),
    ],
)
def test_plain_fields(
    fields: list[tuple[str, str]], title: str | None, width: int, expected: list[str]
) -> None:
    assert plain_fields(fields, title, width) == expected


@pytest.mark.parametrize(("columns", "width"), [("100", 100), ("", 80), ("x", 80), ("0", 80)])
def test_plain_width_follows_columns(
    columns: str, width: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", columns)
    assert output._plain_width() == width


def test_print_fields_piped_has_no_trailing_spaces(capsys: pytest.CaptureFixture[str]) -> None:
    output.print_fields([("file", "run.json"), ("next decay", "step 30")], title="T")
    assert capsys.readouterr().out == "T\nfile        run.json\nnext decay  step 30\n"


def test_print_fields_on_a_terminal_is_a_rich_grid(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(output, "_terminal_rows", lambda: 20)
    monkeypatch.setenv("NO_COLOR", "1")
    output.print_fields([("file", "run.json"), ("next decay", "step 30")], title="T")
    shown = capsys.readouterr().out.splitlines()
    assert [line.rstrip() for line in shown] == ["T", "file        run.json", "next decay  step 30"]


# -- closed standard streams (issue 12, item 14) ------------------------------------------


def run_with_closed(redirections: str, *args: str, cwd: Path | None = None) -> Any:
    """``stepsched ARGS`` from a shell that closes streams first (``>&-``, ``2>&-``)."""
    command = f'exec "$0" -m stepsched_cli "$@" {redirections}'
    return subprocess.run(
        ["sh", "-c", command, sys.executable, *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        cwd=cwd,
    )


CLOSED = "stepsched: error: cannot write the output: standard output is closed\n"


@pytest.mark.parametrize(
    "args",
    [
        ["init", "-o", "-", *SEED],
        ["table", *SEED],
        ["table", *SEED, "-f", "json"],
        ["--version"],
    ],
)
def test_data_to_a_closed_stdout_is_a_one_line_error(args: list[str]) -> None:
    result = run_with_closed(">&-", *args)
    assert (result.returncode, result.stderr) == (1, CLOSED)


def test_a_closed_stdout_and_stderr_still_give_the_exit_code() -> None:
    assert run_with_closed(">&- 2>&-", "table", *SEED).returncode == 1


def test_a_file_output_with_stdout_closed_is_written(tmp_path: Path) -> None:
    result = run_with_closed(">&-", "init", "-o", "run.json", *SEED, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert json.loads((tmp_path / "run.json").read_text())["step"] == 0


def test_messages_to_a_closed_stderr_are_dropped() -> None:
    result = run_with_closed("2>&-", "table", *SEED, "--total", "30")
    assert result.returncode == 0
    assert result.stdout.splitlines()[-1] == "   0-29   0.1"


def test_stand_ins_for_missing_streams(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "stdout", None)
    monkeypatch.setattr(sys, "stderr", None)
    app_module.ensure_standard_streams()
    assert isinstance(sys.stdout, app_module.ClosedOutput)
    assert sys.stderr.write("lost") == 4
    with pytest.raises(OSError, match="standard output is closed") as text_error:
        sys.stdout.write("x")
    with pytest.raises(OSError, match="standard output is closed") as bytes_error:
        sys.stdout.buffer.write(b"x")
    assert text_error.value.errno == bytes_error.value.errno == errno.EBADF
    assert sys.stdout.writable()
    assert sys.stdout.buffer.writable()


# -- exit codes ------------------------------------------------------------------------------


def usage_error() -> Exception:
    return click_exceptions.UsageError("bad usage")


@pytest.mark.parametrize(
    ("make_error", "code", "message"),
    [
        (lambda: StepschedError("gamma must be < 1, got 2"), 1, "gamma must be < 1, got 2"),
        (usage_error, 2, "bad usage"),
        (lambda: click_exceptions.ClickException("click says no"), 1, "click says no"),
        (lambda: typer.Abort(), 1, "aborted"),
        (lambda: FileNotFoundError(errno.ENOENT, "No such file or directory"), 1,
         "No such file or directory"),
        (lambda: BrokenPipeError(errno.EPIPE, "Broken pipe"), 0, None),
        (lambda: RuntimeError("boom\nagain"), 1,
         "internal error: RuntimeError: boom again (please report it; "
         "STEPSCHED_DEBUG=1 shows the traceback)"),
    ],
)  # fmt: skip
def test_exit_code_of(
    make_error: Any,
    code: int,
    message: str | None,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.delenv("STEPSCHED_DEBUG", raising=False)
    error = make_error()

    def invoke() -> None:
        raise error

    assert app_module.run_guarded(invoke) == code
    expected = "" if message is None else f"stepsched: error: {message}\n"
    assert capsys.readouterr().err == expected


@pytest.mark.parametrize("result", [None, 0, 3, True])
def test_run_guarded_returns_the_command_result(result: object) -> None:
    expected = result if type(result) is int else 0
    assert app_module.run_guarded(lambda: result) == expected


def test_debug_raises_an_os_error_again(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STEPSCHED_DEBUG", "1")
    error = PermissionError(errno.EACCES, "Permission denied")

    def invoke() -> None:
        raise error

    with pytest.raises(PermissionError):
        app_module.run_guarded(invoke)


# -- the command index (stepsched --help without the command modules) ---------------------


def test_the_index_summaries_are_the_commands_docstrings() -> None:
    from typer.main import get_command

    commands = get_command(app_module.build_app()).commands  # type: ignore[attr-defined]
    for name, (_, summary) in app_module.COMMANDS.items():
        assert commands[name].help.split("\n\n")[0] == summary, name


@pytest.mark.parametrize("args", [["--help"], [], ["-h"]])
def test_the_index_help_is_the_full_help(args: list[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "100")
    monkeypatch.setenv("NO_COLOR", "1")
    runner = CliRunner()
    full = runner.invoke(app_module.build_app(), args, prog_name="stepsched")
    index = runner.invoke(app_module.build_index_app(), args, prog_name="stepsched")
    assert (index.exit_code, index.stdout) == (full.exit_code, full.stdout)
    assert "steps-per-epoch  Compute the optimizer steps" in index.stdout


def test_the_index_never_runs_a_command() -> None:
    with pytest.raises(RuntimeError, match="command index"):
        app_module._listed_only()


MODULES_AFTER = """
import sys
from stepsched_cli.cli.app import main
sys.argv = ["stepsched", *sys.argv[1:]]
try:
    main()
except SystemExit:
    pass
print(" ".join(sorted(sys.modules)), file=sys.stderr)
"""


def modules_after(*args: str) -> list[str]:
    result = subprocess.run(
        [sys.executable, "-c", MODULES_AFTER, *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    return result.stderr.strip().splitlines()[-1].split()


def command_modules(modules: list[str]) -> list[str]:
    return [name for name in modules if name.startswith("stepsched_cli.cli.")]


def test_help_imports_no_command_module() -> None:
    modules = modules_after("--help")
    assert command_modules(modules) == [
        "stepsched_cli.cli.app",
        "stepsched_cli.cli.help_text",
        "stepsched_cli.cli.number_types",
        "stepsched_cli.cli.output",
    ]


def test_a_piped_table_imports_no_rich_table() -> None:
    modules = modules_after("table", *SEED)
    assert "rich.table" not in modules
    assert "rich.console" not in modules
    assert command_modules(modules) == [
        "stepsched_cli.cli.app",
        "stepsched_cli.cli.commands",
        "stepsched_cli.cli.commands.plan",
        "stepsched_cli.cli.help_text",
        "stepsched_cli.cli.number_types",
        "stepsched_cli.cli.options",
        "stepsched_cli.cli.options.groups",
        "stepsched_cli.cli.options.output",
        "stepsched_cli.cli.options.parameters",
        "stepsched_cli.cli.options.pipeline",
        "stepsched_cli.cli.options.schedule",
        "stepsched_cli.cli.options.units",
        "stepsched_cli.cli.output",
    ]


def test_inspect_of_a_json_state_imports_no_pickle_or_zip_reader(tmp_path: Path) -> None:
    state = tmp_path / "run.json"
    CliRunner().invoke(app_module.build_app(), ["init", "-o", str(state), *SEED])
    assert "pickle" not in modules_after("inspect", str(state))
    assert "zipfile" not in modules_after("inspect", str(state))


@pytest.mark.parametrize(
    ("arguments", "command"),
    [
        (["table", "--lr", "0.1"], "table"),
        (["--version"], None),
        ([], None),
        (["nonsense", "table"], None),
        (["-h", "steps-per-epoch"], "steps-per-epoch"),
    ],
)
def test_the_command_named_on_the_command_line(
    arguments: list[str], command: str | None, monkeypatch: pytest.MonkeyPatch
) -> None:
    for variable in [name for name in app_module.os.environ if name.endswith("_COMPLETE")]:
        monkeypatch.delenv(variable)
    assert app_module._command_named(arguments) == command
    monkeypatch.setenv("_STEPSCHED_COMPLETE", "bash_complete")
    assert app_module._command_named(arguments) is None


@pytest.mark.parametrize("command", ["at", "check", "inspect"])
def test_an_app_built_for_one_command_has_only_that_command(command: str) -> None:
    from typer.main import get_command

    module = app_module.COMMAND_MODULES[command]
    built = get_command(app_module.build_app({module}, command=command))
    assert sorted(built.commands) == [command]  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("argv", "listed"),
    [
        (["stepsched", "--help"], "steps-per-epoch"),
        (["stepsched", "at", "--help"], "Usage: stepsched at"),
    ],
)
def test_main_runs_the_index_or_the_one_command(
    argv: list[str],
    listed: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setattr(sys, "argv", argv)
    with pytest.raises(SystemExit) as exit_info:
        app_module.main()
    assert exit_info.value.code == 0
    assert listed in capsys.readouterr().out


def test_main_under_completion_builds_every_command(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(sys, "argv", ["stepsched"])
    monkeypatch.setenv("_STEPSCHED_COMPLETE", "complete_bash")
    monkeypatch.setenv("COMP_WORDS", "stepsched ste")
    monkeypatch.setenv("COMP_CWORD", "1")
    with pytest.raises(SystemExit):
        app_module.main()
    assert capsys.readouterr().out.split() == ["steps-per-epoch"]


@pytest.mark.parametrize(("lines", "rows"), [(30, 24), (0, 18), (5, 1)])
def test_terminal_rows_follow_the_screen_height(
    lines: int, rows: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A screen keeps six lines for the title, head and prompt; 0 lines means unknown (24)."""
    import fcntl
    import os
    import pty
    import struct
    import termios

    main, child = pty.openpty()
    try:
        fcntl.ioctl(child, termios.TIOCSWINSZ, struct.pack("HHHH", lines, 80, 0, 0))
        with os.fdopen(child, "w", closefd=False) as terminal:
            monkeypatch.setattr(sys, "stdout", terminal)
            assert output._terminal_rows() == rows
    finally:
        os.close(main)
        os.close(child)
