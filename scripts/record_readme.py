"""Re-record the console blocks of the README and the docs (``DOCUMENTS``): every example
run as a user runs it, at 80 columns.

Each ``$ stepsched ...`` line of a document's ``console`` blocks is run in order, in one
fresh temporary folder per document that holds the shipped example files at their paths from the
repository's root (``tests/data/...``) and nothing else, so an example only works if
an earlier one made its input or it names a file a fresh clone has.  The installed
``stepsched`` console script runs with ``COLUMNS=80``, ``LINES=24`` (the terminal
default) and ``NO_COLOR=1``; what it prints, stdout then stderr, is written under the line,
exactly (trailing spaces included).  A ``$ echo $?`` line after an example records
its exit code; any example without one must exit 0.

The same is done for every document of ``DOCUMENTS`` (``docs/commands.md`` and
``docs/frameworks.md`` too).

Run: ``.venv/bin/python scripts/record_readme.py`` rewrites README.md and those;
``--check`` changes nothing and exits 1 when a block would change (what
``tests/cli/test_cli_readme.py`` asserts).
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
DOCUMENTS = (README, ROOT / "docs" / "commands.md", ROOT / "docs" / "frameworks.md")
"""Every document whose console blocks are recorded and checked."""
# The shipped files examples may read, by their path from the repository's root.
EXAMPLE_FOLDERS = (
    Path("tests") / "data" / "checkpoints",
    Path("tests") / "data" / "logs",
    Path("tests") / "data" / "real",
)
COLUMNS = 80
# An 80 x 24 terminal (plot fills the terminal's height, too), without colour.
ENVIRONMENT = {"COLUMNS": str(COLUMNS), "LINES": "24", "NO_COLOR": "1"}
EXIT_CODE_COMMAND = "echo $?"
FENCE = re.compile(r"^```console\n(.*?)^```$", re.MULTILINE | re.DOTALL)

# Runs ``stepsched ARGS`` and returns (exit code, stdout, stderr).
Runner = Callable[[Sequence[str]], tuple[int, str, str]]


@dataclass
class Example:
    """One ``$ stepsched ...`` line, the output lines under it and its exit code."""

    command: str
    output: list[str]
    exit_code: int = 0
    # Whether a ``$ echo $?`` line follows, stating the exit code.
    states_exit_code: bool = False

    def render(self) -> str:
        lines = [f"$ {self.command}", *self.output]
        if self.states_exit_code:
            lines += [f"$ {EXIT_CODE_COMMAND}", str(self.exit_code)]
        return "\n".join(lines) + "\n"


def parse_block(block: str) -> list[Example]:
    """The examples of one console block (its text between the fences)."""
    examples: list[Example] = []
    current: Example | None = None
    reading_exit_code = False
    for line in block.splitlines():
        if line == f"$ {EXIT_CODE_COMMAND}":
            if current is None:
                raise ValueError("README: '$ echo $?' with no example before it")
            current.states_exit_code, reading_exit_code = True, True
        elif line.startswith("$ "):
            current, reading_exit_code = Example(line[2:], []), False
            examples.append(current)
        elif reading_exit_code and current is not None:
            current.exit_code, reading_exit_code = int(line), False
        elif current is not None:
            current.output.append(line)
        else:
            raise ValueError(f"README: console block text before any command: {line!r}")
    return examples


def examples(text: str) -> list[Example]:
    """Every example of every console block of ``text``, in order."""
    return [example for block in FENCE.findall(text) for example in parse_block(block)]


def prepare_folder(folder: Path) -> None:
    """Put the shipped example files into ``folder`` at their paths from the root."""
    for tree in EXAMPLE_FOLDERS:
        shutil.copytree(ROOT / tree, folder / tree)


def recorded(example: Example, run: Runner) -> Example:
    """``example`` with the output and exit code that running it gives now."""
    program, *args = shlex.split(example.command)
    if program != "stepsched":
        raise ValueError(f"README: examples run stepsched only, got {example.command!r}")
    code, stdout, stderr = run(args)
    return Example(
        example.command,
        (stdout + stderr).splitlines(),
        exit_code=code,
        states_exit_code=example.states_exit_code or code != 0,
    )


def record(text: str, run: Runner) -> str:
    """``text`` (a README) with every console block's outputs recorded anew by ``run``."""

    def rerecord(match: re.Match[str]) -> str:
        block = "".join(recorded(example, run).render() for example in parse_block(match[1]))
        return f"```console\n{block}```"

    return FENCE.sub(rerecord, text)


def console_script_runner(folder: Path) -> Runner:
    """Run the installed ``stepsched`` beside this Python, in ``folder``, at 80 columns."""
    program = shutil.which("stepsched", path=str(Path(sys.executable).parent))
    if program is None:
        raise SystemExit("the stepsched console script is not installed beside python")
    environment = {**os.environ, **ENVIRONMENT}
    environment.pop("STEPSCHED_DEBUG", None)

    def run(args: Sequence[str]) -> tuple[int, str, str]:
        result = subprocess.run(
            [program, *args],
            cwd=folder,
            env=environment,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        return result.returncode, result.stdout, result.stderr

    return run


def main(arguments: Sequence[str]) -> int:
    check = list(arguments) == ["--check"]
    if arguments and not check:
        print("usage: record_readme.py [--check]", file=sys.stderr)
        return 2
    status = 0
    for document in DOCUMENTS:
        status = max(status, _record_document(document, check))
    return status


def _record_document(document: Path, check: bool) -> int:
    """Record one document's console blocks (or, with ``check``, compare them)."""
    name = document.relative_to(ROOT).as_posix()
    text = document.read_text(encoding="utf-8")
    with tempfile.TemporaryDirectory() as folder:
        prepare_folder(Path(folder))
        new_text = record(text, console_script_runner(Path(folder)))
    if new_text == text:
        print(f"{name}: every console block matches")
        return 0
    if check:
        print(f"{name}: console blocks differ; run scripts/record_readme.py", file=sys.stderr)
        return 1
    document.write_text(new_text, encoding="utf-8")
    print(f"{name}: console blocks re-recorded")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
