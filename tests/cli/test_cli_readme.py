"""The README's ``console`` examples, run in order in one folder, give the output shown.

Every example exits 0, unless the line after its output is ``$ echo $?`` followed by
the exit code it must give (``stepsched check`` on a bad log exits 1).
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from stepsched_cli.cli.app import app

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
# Files the examples read, copied into the folder they run in.
EXAMPLE_FILES = [Path(__file__).resolve().parents[1] / "data" / "checkpoints" / "lightning.ckpt"]
# Folders the examples read by their path in the repository (as run from a clone's
# root), copied to the same relative path.
EXAMPLE_FOLDERS = [Path("tests") / "data" / "logs", Path("tests") / "data" / "real"]
EXIT_CODE_COMMAND = "echo $?"
FENCE = re.compile(r"^```console\n(.*?)^```$", re.MULTILINE | re.DOTALL)


def examples_with_exit_codes() -> list[tuple[str, str, int]]:
    """Every ``$ stepsched ...`` line of the README, the output under it and its exit code."""
    found: list[tuple[str, str, int]] = []
    for block in FENCE.findall(README.read_text(encoding="utf-8")):
        command: str | None = None
        output: list[str] = []
        for line in block.splitlines():
            if line.startswith("$ "):
                if command == EXIT_CODE_COMMAND:
                    previous, shown, _ = found.pop()
                    found.append((previous, shown, int("".join(output).strip())))
                elif command is not None:
                    found.append((command, "\n".join(output), 0))
                command, output = line[2:], []
            else:
                output.append(line)
        if command == EXIT_CODE_COMMAND:
            previous, shown, _ = found.pop()
            found.append((previous, shown, int("".join(output).strip())))
        elif command is not None:
            found.append((command, "\n".join(output), 0))
    return found


def examples() -> list[tuple[str, str]]:
    """Every ``$ stepsched ...`` line of the README with the output under it."""
    return [(command, output) for command, output, _ in examples_with_exit_codes()]


def normalise(text: str) -> str:
    return "\n".join(line.rstrip() for line in text.splitlines()).strip("\n")


def test_readme_has_usage_examples() -> None:
    commands = {command.split()[1] for command, _ in examples()}
    assert commands >= {
        "table",
        "at",
        "boundaries",
        "plot",
        "init",
        "inspect",
        "validate",
        "convert",
        "steps-per-epoch",
        "check",
        "solve",
        "diff",
    }


def copy_example_files(folder: Path) -> None:
    for path in EXAMPLE_FILES:
        shutil.copy(path, folder / path.name)
    for tree in EXAMPLE_FOLDERS:
        shutil.copytree(ROOT / tree, folder / tree)


def test_exit_codes_are_read_from_echo_lines() -> None:
    codes = {command.split()[1]: code for command, _, code in examples_with_exit_codes()}
    assert codes["check"] == 1
    assert codes["table"] == 0


def test_readme_examples_are_true(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    copy_example_files(tmp_path)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("NO_COLOR", "1")
    monkeypatch.setenv("COLUMNS", "100")
    runner = CliRunner()
    for command, expected, code in examples_with_exit_codes():
        program, *args = shlex.split(command)
        assert program == "stepsched"
        result = runner.invoke(app, args, prog_name="stepsched")
        assert result.exit_code == code, (command, result.output)
        assert normalise(result.output) == normalise(expected), command


@pytest.mark.smoke
def test_readme_examples_from_the_installed_console_script(tmp_path: Path) -> None:
    """The smoke test CI relies on: the real ``stepsched`` program, as a user runs it."""
    program = shutil.which("stepsched", path=str(Path(sys.executable).parent))
    assert program is not None, "the stepsched console script is not installed beside python"
    copy_example_files(tmp_path)
    environment = {**os.environ, "NO_COLOR": "1", "COLUMNS": "100"}
    for command, expected, code in examples_with_exit_codes():
        _, *args = shlex.split(command)
        result = subprocess.run(
            [program, *args],
            cwd=tmp_path,
            env=environment,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert result.returncode == code, (command, result.stderr)
        assert "Traceback" not in result.stderr
        assert normalise(result.stdout + result.stderr) == normalise(expected), command
