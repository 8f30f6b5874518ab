"""The README's ``console`` examples, run in order in one folder, print exactly what is shown.

The folder holds only the shipped example files at their paths from a clone's root,
so every example either reads what an earlier one wrote or names a file a fresh
clone has.  Outputs are recorded at 80 columns by ``scripts/record_readme.py`` and
compared exactly, line by line (trailing spaces included).  Every example exits 0,
unless the line after its output is ``$ echo $?`` followed by the exit code it gives.
"""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType

import pytest
from typer.testing import CliRunner

from stepsched_cli.cli.app import app

ROOT = Path(__file__).resolve().parents[2]


def load_recorder() -> ModuleType:
    path = ROOT / "scripts" / "record_readme.py"
    spec = importlib.util.spec_from_file_location("record_readme", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


recorder = load_recorder()
README_TEXT = recorder.README.read_text(encoding="utf-8")
# The README tours; the command reference and the frameworks page hold the rest.
DOCUMENTS_TEXT = "\n".join(path.read_text(encoding="utf-8") for path in recorder.DOCUMENTS)


def test_readme_has_usage_examples() -> None:
    commands = {example.command.split()[1] for example in recorder.examples(DOCUMENTS_TEXT)}
    assert commands >= {
        "table",
        "at",
        "boundaries",
        "plot",
        "init",
        "inspect",
        "validate",
        "convert",
        "code",
        "steps-per-epoch",
        "check",
        "solve",
        "diff",
    }


def test_exit_codes_are_read_from_echo_lines() -> None:
    codes = {example.command.split()[1]: example.exit_code
             for example in recorder.examples(README_TEXT)}  # fmt: skip
    assert codes["check"] == 1
    assert codes["table"] == 0


def test_a_block_renders_back_to_its_text() -> None:
    block = "$ stepsched at 5\nline 1\n  \n$ stepsched check x\nbad\n$ echo $?\n1\n"
    assert "".join(example.render() for example in recorder.parse_block(block)) == block


@pytest.mark.parametrize(
    ("block", "message"),
    [
        ("$ echo $?\n1\n", "'$ echo $?' with no example before it"),
        ("output first\n$ stepsched at 5\n", "console block text before any command"),
    ],
)
def test_malformed_blocks_are_refused(block: str, message: str) -> None:
    with pytest.raises(ValueError, match=message.replace("$", r"\$").replace("?", r"\?")):
        recorder.parse_block(block)


def test_examples_name_only_files_a_fresh_clone_has(tmp_path: Path) -> None:
    # The files copied are the repository's own: a README path that works here works
    # from a clone's root, and nothing else is there (no file beside the README).
    recorder.prepare_folder(tmp_path)
    copied = sorted(path.relative_to(tmp_path) for path in tmp_path.rglob("*") if path.is_file())
    assert copied
    assert all((ROOT / path).is_file() for path in copied)
    assert all(path.parts[:2] == ("tests", "data") for path in copied)


def in_process_runner() -> recorder.Runner:  # type: ignore[name-defined]
    runner = CliRunner()

    def run(args: Sequence[str]) -> tuple[int, str, str]:
        result = runner.invoke(app, list(args), prog_name="stepsched")
        return result.exit_code, result.stdout, result.stderr

    return run


DOCUMENT_IDS = [path.relative_to(ROOT).as_posix() for path in recorder.DOCUMENTS]


@pytest.mark.parametrize("document", recorder.DOCUMENTS, ids=DOCUMENT_IDS)
def test_readme_examples_are_true(
    document: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    text = document.read_text(encoding="utf-8")
    recorder.prepare_folder(tmp_path)
    monkeypatch.chdir(tmp_path)
    for name, value in recorder.ENVIRONMENT.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("STEPSCHED_DEBUG", raising=False)
    run = in_process_runner()
    assert recorder.examples(text)
    for example in recorder.examples(text):
        actual = recorder.recorded(example, run)
        assert (actual.exit_code, actual.output) == (example.exit_code, example.output), (
            f"{example.command} (re-record with scripts/record_readme.py)"
        )


@pytest.mark.smoke
@pytest.mark.parametrize("document", recorder.DOCUMENTS, ids=DOCUMENT_IDS)
def test_readme_examples_from_the_installed_console_script(document: Path, tmp_path: Path) -> None:
    """The smoke test CI relies on: the real ``stepsched`` program, as a user runs it."""
    recorder.prepare_folder(tmp_path)
    run = recorder.console_script_runner(tmp_path)
    for example in recorder.examples(document.read_text(encoding="utf-8")):
        actual = recorder.recorded(example, run)
        assert "Traceback" not in "\n".join(actual.output)
        assert (actual.exit_code, actual.output) == (example.exit_code, example.output), (
            example.command
        )
