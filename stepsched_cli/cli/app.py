"""The ``stepsched`` application: commands, ``--version``, and errors turned into exit codes.

Exit codes: 0 success; 1 an invalid file or a failed check (any
:class:`~stepsched_cli.errors.StepschedError`); 2 a usage error (bad option value,
unknown option, unsupported extension).  A closed output pipe (``stepsched table |
head -1``) ends the command quietly with 0: the reader chose to stop; a stdout the
process was started without (``>&-``) is an error, exit 1.  Every error
is one line on stderr, ``stepsched: error: ...``; no traceback reaches the user (set
``STEPSCHED_DEBUG=1`` to see one for an unexpected error).
"""

from __future__ import annotations

import contextlib
import errno
import functools
import importlib
import io
import os
import sys
from collections.abc import Iterable, Sequence
from typing import Annotated, Any

import typer

# Typer >= 0.28 vendors click as typer._click; the version is pinned below 0.29.
from typer._click import exceptions as click_exceptions
from typer.core import TyperGroup

from stepsched_cli import __version__
from stepsched_cli.cli.help_text import readable_help
from stepsched_cli.cli.number_types import ascii_numbers
from stepsched_cli.cli.output import print_error
from stepsched_cli.errors import EXIT_INVALID, EXIT_USAGE, StepschedError

PROGRAM = "stepsched"

EXIT_OK = 0

DEBUG_VARIABLE = "STEPSCHED_DEBUG"


class StepschedGroup(TyperGroup):
    """The command group, running every command under one error policy.

    Click's own standalone handling prints usage errors as a box; here every error,
    whether raised by click or by the library, becomes one line and an exit code,
    the same under ``CliRunner`` as from the shell.
    """

    def main(
        self,
        args: Sequence[str] | None = None,
        prog_name: str | None = None,
        complete_var: str | None = None,
        standalone_mode: bool = True,
        windows_expand_args: bool = True,
        **extra: Any,
    ) -> Any:
        ensure_standard_streams()
        ascii_numbers(self)
        readable_help(self)
        arguments = sys.argv[1:] if args is None else args
        for parameter in self.params:
            if parameter.name == "show_completion":
                parameter.help = SHOW_COMPLETION_HELP  # type: ignore[attr-defined]

        def invoke() -> Any:
            if completion_script_requested(arguments):
                return EXIT_OK
            return super(StepschedGroup, self).main(
                args,
                prog_name,
                complete_var,
                standalone_mode=False,
                windows_expand_args=windows_expand_args,
                **extra,
            )

        code = run_guarded(invoke)
        if standalone_mode:
            sys.exit(code)
        return code


# The shells typer writes completion scripts for.
SHELLS = ("bash", "zsh", "fish", "powershell", "pwsh")
SHOW_COMPLETION = "--show-completion"
SHOW_COMPLETION_HELP = (
    "Show completion for the current shell, or for SHELL given after it (bash, zsh, fish, "
    "powershell), to copy it or customize the installation."
)


def completion_script_requested(arguments: Sequence[str]) -> bool:
    """Print the script ``--show-completion SHELL`` asks for; False when not asked.

    typer's ``--show-completion`` is a flag that detects the current shell; naming the
    shell after it (``--show-completion zsh``) prints that shell's script instead.

    Raises:
        typer.BadParameter: a SHELL typer has no script for (exit 2).
    """
    if len(arguments) != 2 or arguments[0] != SHOW_COMPLETION:
        return False
    if arguments[1] not in SHELLS:
        raise typer.BadParameter(
            f"expected a shell, one of {', '.join(SHELLS)}; got {arguments[1]!r}",
            param_hint=f"'{SHOW_COMPLETION}'",
        )
    from typer._completion_shared import get_completion_script

    script = get_completion_script(
        prog_name=PROGRAM, complete_var=f"_{PROGRAM.upper()}_COMPLETE", shell=arguments[1]
    )
    sys.stdout.write(script + "\n")
    return True


class ClosedOutput(io.TextIOBase):
    """Stands in for standard output when the process was started without one (``>&-``).

    Python leaves ``sys.stdout`` as None then; every write to this stand-in raises an
    :class:`OSError` that names the stream, which the error policy reports in one line.
    """

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        raise _closed_output_error()

    @property
    def buffer(self) -> io.RawIOBase:
        return _ClosedBytes()


class _ClosedBytes(io.RawIOBase):
    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        raise _closed_output_error()


def _closed_output_error() -> OSError:
    return OSError(errno.EBADF, "cannot write the output: standard output is closed")


class DiscardedMessages(io.TextIOBase):
    """Stands in for standard error when it was closed (``2>&-``): messages go nowhere."""

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        return len(text)


def ensure_standard_streams() -> None:
    """Give a process started with stdout or stderr closed stand-ins for them.

    Data written to a missing stdout fails with a one-line error (exit 1); messages to a
    missing stderr are dropped, as the user asked.  The closed descriptor is held on
    ``/dev/null``, so that no file this process opens can land on it.
    """
    for descriptor in (1, 2):
        try:
            os.fstat(descriptor)
        except OSError:
            with contextlib.suppress(OSError):
                held = os.open(os.devnull, os.O_WRONLY)
                if held != descriptor:
                    os.dup2(held, descriptor)
                    os.close(held)
    if sys.stdout is None:
        sys.stdout = ClosedOutput()
    if sys.stderr is None:
        sys.stderr = DiscardedMessages()


def run_guarded(invoke: Any) -> int:
    """Run ``invoke()`` (a click ``main`` in non-standalone mode) and return its exit code."""
    try:
        result = invoke()
    except SystemExit as error:
        # Typer's main turns a closed pipe into sys.exit(1) itself; it is not a failure.
        if _is_closed_pipe(error.__context__):
            _silence_stdout()
            return EXIT_OK
        raise
    except Exception as error:
        return exit_code_of(error)
    return result if isinstance(result, int) and not isinstance(result, bool) else EXIT_OK


def exit_code_of(error: Exception) -> int:
    """Report ``error`` as one line on stderr and return its exit code.

    Under ``STEPSCHED_DEBUG`` an unexpected error (not a usage error, not a
    :class:`~stepsched_cli.errors.StepschedError`) is raised again, with its traceback.
    """
    if isinstance(error, click_exceptions.ClickException):
        return _click_exit_code(error)
    if isinstance(error, typer.Abort):
        print_error("aborted")
        return EXIT_INVALID
    if isinstance(error, StepschedError):
        print_error(str(error))
        return EXIT_INVALID
    if isinstance(error, OSError) and _is_closed_pipe(error):
        # The reader stopped reading (`| head`): its choice, not a failure.
        _silence_stdout()
        return EXIT_OK
    if os.environ.get(DEBUG_VARIABLE):
        raise error
    if isinstance(error, OSError):
        print_error(f"{error.strerror or error}")
    else:
        print_error(
            f"internal error: {type(error).__name__}: {_one_line(str(error))} "
            f"(please report it; {DEBUG_VARIABLE}=1 shows the traceback)"
        )
    return EXIT_INVALID


def _click_exit_code(error: click_exceptions.ClickException) -> int:
    if isinstance(error, click_exceptions.NoArgsIsHelpError):
        error.show()
        return EXIT_USAGE
    if isinstance(error, click_exceptions.UsageError):
        hint = f" (see '{error.ctx.command_path} --help')" if error.ctx is not None else ""
        print_error(_one_line(_usage_message(error)) + hint)
        return EXIT_USAGE
    print_error(_one_line(error.format_message()))
    return error.exit_code


def _usage_message(error: click_exceptions.UsageError) -> str:
    """The usage error's message; an unknown option's suggestions closest first (click
    lists difflib's matches, found best first, in alphabetical order)."""
    if isinstance(error, click_exceptions.NoSuchOption) and error.possibilities:
        return f"{error.message} (Possible options: {', '.join(error.possibilities)})"
    return error.format_message()


def _is_closed_pipe(error: BaseException | None) -> bool:
    return isinstance(error, OSError) and error.errno == errno.EPIPE


def _one_line(message: str) -> str:
    return " ".join(message.split())


def _silence_stdout() -> None:
    """After a closed pipe (``stepsched table | head``), keep Python's exit flush quiet."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError, AttributeError):
        pass


# Each command: the module of stepsched_cli.cli.commands that registers it, and the
# summary `stepsched --help` lists (the first paragraph of the command's docstring).
# `main` builds an app with only the module of the command being run: building every
# command's options costs each run about 15 ms, and importing every module (the format
# readers among them) more.  `stepsched --help` lists the summaries without importing
# any command module; a test checks that they match the docstrings.
COMMANDS: dict[str, tuple[str, str]] = {
    "table": ("plan", "Show the schedule as one row per constant-lr interval."),
    "at": ("plan", "Show the lr at position T and when it next changes."),
    "boundaries": (
        "plan",
        "List the positions where the lr changes, with the lr before and after.",
    ),
    "plot": (
        "plot",
        "Draw the exact step curve in the terminal, or to a png, svg or pdf file (-o).",
    ),
    "init": ("state", "Write a new state file at position 0 for the schedule."),
    "inspect": (
        "state",
        "Show where a run is: its position, lr, next decay and the decays after it.",
    ),
    "validate": ("state", "Check state files: exit 0 when every one is valid, 1 otherwise."),
    "convert": (
        "state",
        "Convert a state file between steps and epochs, or to another format.",
    ),
    "code": (
        "code",
        "Print a runnable snippet that builds the same schedule in another framework.",
    ),
    "steps-per-epoch": (
        "steps_per_epoch",
        "Compute the optimizer steps in one epoch from the data pipeline.",
    ),
    "check": (
        "check",
        "Check a logged lr series against the schedule, and diagnose a mismatch.",
    ),
    "solve": (
        "solve",
        "Find the step size and gamma that take --lr to --final-lr within a run of T positions.",
    ),
    "diff": (
        "diff",
        "List the intervals where two schedules differ, with both lrs and their ratio.",
    ),
}
COMMAND_MODULES: dict[str, str] = {name: module for name, (module, _) in COMMANDS.items()}


def _show_version(value: bool) -> None:
    if value:
        sys.stdout.write(f"{PROGRAM} {__version__}\n")
        raise typer.Exit()


def _root(
    version: Annotated[
        bool,
        typer.Option(
            "--version",
            "-V",
            callback=_show_version,
            is_eager=True,
            help="Show the version and exit.",
        ),
    ] = False,
) -> None:
    """Exact step-decay learning-rate schedules: lr(t) = initial_lr * gamma ** (t // step_size).

    Plan a schedule (table, at, boundaries, plot), create, inspect, validate and convert
    scheduler state and checkpoints, and check a logged run against its plan.
    """


def _new_app() -> typer.Typer:
    application = typer.Typer(
        name=PROGRAM,
        cls=StepschedGroup,
        help="Exact step-decay learning-rate schedules: plan them, plot them, inspect and "
        "convert scheduler state.",
        epilog="Example: stepsched table (every schedule option has a default)",
        no_args_is_help=True,
        rich_markup_mode="markdown",
        pretty_exceptions_enable=False,
        context_settings={"help_option_names": ["-h", "--help"]},
    )
    application.callback()(_root)
    return application


def build_app(modules: Iterable[str] | None = None, *, command: str | None = None) -> typer.Typer:
    """The Typer app with the commands of ``modules`` (default: every command module).

    With ``command``, only that command of its module is kept: Typer turns each kept
    command's signature into click options when the app runs (about 2 ms a command,
    more for ``check``), and a run needs only its own.
    """
    application = _new_app()
    wanted = set(COMMAND_MODULES.values()) if modules is None else set(modules)
    for name in dict.fromkeys(COMMAND_MODULES.values()):  # a stable order for --help
        if name in wanted:
            importlib.import_module(f"stepsched_cli.cli.commands.{name}").register(application)
    if command is not None:
        application.registered_commands = [
            info for info in application.registered_commands if info.name == command
        ]
    return application


def build_index_app() -> typer.Typer:
    """The app as ``stepsched``, ``--help`` and ``--version`` see it: every command listed
    with its summary, no command module imported.

    :func:`main` uses it only when no command is named, so its commands never run.
    """
    application = _new_app()
    for name, (_, summary) in COMMANDS.items():
        application.command(name, help=summary)(_listed_only)
    return application


def _listed_only() -> None:
    """The body of a command in :func:`build_index_app`, which lists commands only."""
    raise RuntimeError("the command index ran a command; main() builds the command's module")


def _modules_for(arguments: Sequence[str]) -> set[str] | None:
    """Only the module of the command named on the command line; None means all of them."""
    command = _command_named(arguments)
    return None if command is None else {COMMAND_MODULES[command]}


def _command_named(arguments: Sequence[str]) -> str | None:
    """The command named on the command line; None for none, an unknown one or completion."""
    if _completing():
        return None  # shell completion lists every command
    for argument in arguments:
        if not argument.startswith("-"):
            return argument if argument in COMMAND_MODULES else None
    return None


def _completing() -> bool:
    """Whether the shell is asking for completions (Typer's ``_STEPSCHED_COMPLETE``)."""
    return any(variable.endswith("_COMPLETE") for variable in os.environ)


@functools.cache
def _full_app() -> typer.Typer:
    return build_app()


def __getattr__(name: str) -> Any:
    # `app` (every command) is built on first use, so the console script, which builds
    # only what it runs, never pays for it.
    if name == "app":
        return _full_app()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def main() -> None:
    """The ``stepsched`` console script and ``python -m stepsched_cli``."""
    command = _command_named(sys.argv[1:])
    if command is not None:
        build_app({COMMAND_MODULES[command]}, command=command)(prog_name=PROGRAM)
    elif _completing():
        build_app()(prog_name=PROGRAM)
    else:
        build_index_app()(prog_name=PROGRAM)  # no command named: list them
