"""The application: help, version, exit codes, error format, start-up imports."""

from __future__ import annotations

import errno
import json
import os
import shlex
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from typer.testing import Result

from stepsched_cli import __version__
from stepsched_cli.cli.app import app

Invoke = Callable[..., Result]

COMMANDS = [
    "table",
    "at",
    "boundaries",
    "plot",
    "init",
    "inspect",
    "validate",
    "convert",
    "code",  # issue 4
    "steps-per-epoch",  # issue 5
    "check",
    "solve",
    "diff",
]


def registered_commands() -> list[str]:
    return [command.name or command.callback.__name__ for command in app.registered_commands]  # type: ignore[union-attr]


def test_every_command_of_issue_3_is_registered() -> None:
    assert registered_commands() == COMMANDS


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_has_help_and_an_example(run: Invoke, command: str) -> None:
    result = run(command, "--help")
    assert result.exit_code == 0, result.stderr
    assert result.stderr == ""
    assert "Usage: stepsched " + command in result.stdout
    assert "Examples:" in result.stdout
    assert f"stepsched {command} " in result.stdout.split("Examples:")[1]
    info = next(c for c in app.registered_commands if c.name == command)
    assert info.callback is not None
    assert info.callback.__doc__


def test_short_help_flag(run: Invoke) -> None:
    assert run("table", "-h").stdout == run("table", "--help").stdout


@pytest.mark.parametrize("flag", ["--version", "-V"])
def test_version(run: Invoke, flag: str) -> None:
    result = run(flag)
    assert (result.exit_code, result.stdout, result.stderr) == (0, f"stepsched {__version__}\n", "")


@pytest.mark.parametrize(
    ("shell", "first_line"),
    [
        ("zsh", "#compdef stepsched"),
        ("fish", "complete --command stepsched --no-files --arguments "
                 '"(env _STEPSCHED_COMPLETE=complete_fish'),
        ("bash", "_stepsched_completion() {"),
        ("powershell", "Import-Module PSReadLine"),
    ],
)  # fmt: skip
def test_show_completion_prints_the_named_shells_script(
    run: Invoke, shell: str, first_line: str
) -> None:
    result = run("--show-completion", shell)
    assert result.exit_code == 0, result.stderr
    assert result.stderr == ""
    assert result.stdout.startswith(first_line)


def test_show_completion_refuses_an_unknown_shell(run: Invoke) -> None:
    result = run("--show-completion", "tcsh")
    assert result.exit_code == 2
    assert result.stdout == ""
    assert result.stderr == (
        "stepsched: error: Invalid value for '--show-completion': expected a shell, one of "
        "bash, zsh, fish, powershell, pwsh; got 'tcsh'\n"
    )


def test_show_completion_help_names_the_shells(
    run: Invoke, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "400")
    text = " ".join(run("--help").stdout.split())
    assert "or for SHELL given after it (bash, zsh, fish, powershell)" in text


def test_validate_help_says_what_it_prints(run: Invoke, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "400")
    text = " ".join(run("validate", "--help").stdout.split())
    assert 'Prints "FILE: ok" on stdout for each valid file' in text
    assert '{"file", "valid", "format", "error"}' in text


def test_no_arguments_shows_help_and_exits_2(run: Invoke) -> None:
    result = run()
    assert result.exit_code == 2
    assert "Usage: stepsched" in result.stdout + result.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["nonsense"], "stepsched: error: No such command 'nonsense'."),
        (["table", "--lr", "0.1", "--bogus"], "stepsched: error: No such option: --bogus"),
        # The closest suggestion first, not the alphabetical order click gives them in.
        (
            ["table", "--stepsize", "30"],
            "stepsched: error: No such option: --stepsize (Possible options: --step-size, "
            "--dataset-size, --batch-size) (see 'stepsched table --help')\n",
        ),
        (
            ["table", "--lr", "abc"],
            "stepsched: error: Invalid value for '--lr': 'abc' is not a valid float.",
        ),
        (
            ["table", "--lr", "0.1", "-f", "xml"],
            "stepsched: error: Invalid value for '--format' / '-f'",
        ),
    ],
)
def test_usage_errors_are_one_line_and_exit_2(run: Invoke, args: list[str], message: str) -> None:
    result = run(*args)
    assert result.exit_code == 2
    assert result.stdout == ""
    assert result.stderr.startswith(message)
    assert result.stderr.count("\n") == 1
    assert "Traceback" not in result.stderr


def test_unexpected_errors_are_one_line(run: Invoke, monkeypatch: pytest.MonkeyPatch) -> None:
    from stepsched_cli.cli.commands import plan

    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("boom")

    monkeypatch.setattr(plan, "emit_listing", broken)
    result = run("table", "--lr", "0.1")
    assert result.exit_code == 1
    assert result.stderr.startswith("stepsched: error: internal error: RuntimeError: boom")
    assert result.stderr.count("\n") == 1


def test_debug_variable_shows_unexpected_errors(
    run: Invoke, monkeypatch: pytest.MonkeyPatch
) -> None:
    from stepsched_cli.cli.commands import plan

    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("boom")

    monkeypatch.setattr(plan, "emit_listing", broken)
    monkeypatch.setenv("STEPSCHED_DEBUG", "1")
    result = run("table", "--lr", "0.1")
    assert isinstance(result.exception, RuntimeError)


def run_python(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, *args], capture_output=True, text=True, timeout=120, check=False
    )


def test_python_dash_m_help() -> None:
    result = run_python("-m", "stepsched_cli", "--help")
    assert result.returncode == 0, result.stderr
    assert "Usage: stepsched" in result.stdout
    for command in COMMANDS:
        assert command in result.stdout


def test_python_dash_m_error_has_no_traceback(tmp_path: object) -> None:
    result = run_python("-m", "stepsched_cli", "inspect", "/nonexistent/state.json")
    assert result.returncode == 1
    assert result.stdout == ""
    assert result.stderr.startswith("stepsched: error: /nonexistent/state.json: no such file;")
    assert result.stderr.count("\n") == 1


IMPORTS_AFTER = """
import sys
from stepsched_cli.cli.app import app
try:
    app(sys.argv[1:], prog_name="stepsched")
except SystemExit:
    pass
heavy = sorted(m for m in ("matplotlib", "numpy", "PIL", "pydantic") if m in sys.modules)
print(__import__("json").dumps(heavy), file=sys.stderr)
"""


@pytest.mark.parametrize(
    "args",
    [
        ["table", "--lr", "0.1", "--step-size", "30"],
        ["table", "--lr", "0.1", "-f", "json"],
        ["at", "45", "--lr", "0.1"],
        ["boundaries", "--lr", "0.1"],
        ["--help"],
        ["plot", "--help"],
        ["plot", "--lr", "0.1", "--log"],  # the terminal plot
    ],
)
def test_only_plot_imports_matplotlib(args: list[str]) -> None:
    result = run_python("-c", IMPORTS_AFTER, *args)
    assert json.loads(result.stderr.strip().splitlines()[-1]) == []


def test_plot_does_import_matplotlib(tmp_path: object) -> None:
    target = f"{tmp_path}/lr.png"
    result = run_python("-c", IMPORTS_AFTER, "plot", "--lr", "0.1", "-o", target)
    assert "matplotlib" in json.loads(result.stderr.strip().splitlines()[-1])


def test_every_command_is_mapped_to_the_module_that_registers_it() -> None:
    """`main` builds only the module of the command it runs: the map must be complete."""
    from typer.main import get_command

    from stepsched_cli.cli.app import COMMAND_MODULES, build_app

    full = get_command(build_app())
    assert sorted(full.commands) == sorted(COMMAND_MODULES)  # type: ignore[attr-defined]
    for module in set(COMMAND_MODULES.values()):
        alone = get_command(build_app({module}))
        mapped = sorted(name for name, owner in COMMAND_MODULES.items() if owner == module)
        assert sorted(alone.commands) == mapped  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("arguments", "modules"),
    [
        (["table", "--lr", "0.1"], {"plan"}),
        (["--version"], None),
        ([], None),
        (["nonsense"], None),
        (["inspect", "x.pt"], {"state"}),
        (["steps-per-epoch", "--dataset-size", "5"], {"steps_per_epoch"}),
    ],
)
def test_main_builds_only_the_command_it_runs(
    arguments: list[str], modules: set[str] | None, monkeypatch: pytest.MonkeyPatch
) -> None:
    from stepsched_cli.cli.app import _modules_for

    for variable in [name for name in os.environ if name.endswith("_COMPLETE")]:
        monkeypatch.delenv(variable)
    assert _modules_for(arguments) == modules
    monkeypatch.setenv("_STEPSCHED_COMPLETE", "bash_complete")
    assert _modules_for(arguments) is None


@pytest.mark.parametrize("command", ["validate", "inspect"])
def test_control_characters_in_file_names_are_escaped(
    command: str, run: Callable[..., Result], tmp_path: Path
) -> None:
    """A newline or an escape sequence in a name keeps the error on one line, inert."""
    name = tmp_path / "bad\nname\x1b[31m.json"
    name.write_text("{")
    result = run(command, str(name))
    assert result.exit_code == 1
    assert result.stderr.count("\n") == 1
    assert "bad\\nname\\x1b[31m.json" in result.stderr
    assert "\x1b" not in result.stderr


@pytest.mark.parametrize("init_example", [0, 1])
def test_convert_help_examples_work_on_the_init_help_examples_file(
    run: Invoke, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, init_example: int
) -> None:
    """The help examples tell one story: each `convert` example that reads run.json
    works on the run.json that either `init` example writes."""
    from stepsched_cli.cli.commands.state import CONVERT_EPILOG, INIT_EPILOG

    def commands(epilog: str) -> list[list[str]]:
        return [shlex.split(line)[1:] for line in epilog.splitlines() if "stepsched " in line]

    monkeypatch.chdir(tmp_path)
    init = commands(INIT_EPILOG)[init_example]
    assert run(*init).exit_code == 0
    converts = [args for args in commands(CONVERT_EPILOG) if "run.json" in args]
    assert len(converts) == 3
    for args in converts:
        result = run(*args)
        assert result.exit_code == 0, (args, result.stderr)


def test_a_closed_pipe_exits_0_quietly() -> None:
    """`stepsched table ... | head -1`: the reader stopped; not an invalid file (exit 1)."""
    process = subprocess.Popen(
        [sys.executable, "-m", "stepsched_cli", "table", "--lr", "0.1", "--step-size", "300000",
         "--total", "1000000",
         "--every", "1", "--format", "csv"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )  # fmt: skip
    assert process.stdout is not None
    assert process.stderr is not None
    assert process.stdout.readline() == b"step,lr\n"
    process.stdout.close()
    assert process.wait(timeout=60) == 0
    assert process.stderr.read() == b""


def test_run_guarded_turns_typers_closed_pipe_exit_into_0(monkeypatch: pytest.MonkeyPatch) -> None:
    from stepsched_cli.cli import app as application

    silenced: list[bool] = []
    monkeypatch.setattr(application, "_silence_stdout", lambda: silenced.append(True))

    def closed_pipe() -> None:
        try:
            raise BrokenPipeError(errno.EPIPE, "Broken pipe")
        except OSError:
            sys.exit(1)  # what typer's main does

    def other_exit() -> None:
        sys.exit(3)

    assert application.run_guarded(closed_pipe) == 0
    assert (
        application.run_guarded(lambda: (_ for _ in ()).throw(BrokenPipeError(errno.EPIPE, "x")))
        == 0
    )
    assert silenced == [True, True]
    with pytest.raises(SystemExit):
        application.run_guarded(other_exit)


def test_the_design_lists_every_command_line_module() -> None:
    """docs/design.md's map of the command line names every module under cli/."""
    import re

    import stepsched_cli.cli

    package = Path(stepsched_cli.cli.__file__).parent
    design = (package.parents[1] / "docs" / "design.md").read_text()
    section = design.split("\n## The command line\n")[1].split("**Shared options.**")[0]
    modules, commands = section.split("commands/")
    found = [path.relative_to(package).as_posix() for path in package.rglob("[!_]*.py")]
    assert {"number_types.py", "options/units.py", "commands/plan.py"} <= set(found)
    missing = [
        name
        for name in found
        if not (
            re.search(rf"\b{name.removeprefix('commands/').removesuffix('.py')}\b", commands)
            if name.startswith("commands/")
            else re.search(rf"^ +{re.escape(name)} ", modules, re.MULTILINE)
        )
    ]
    assert missing == []
