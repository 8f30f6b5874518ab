"""Names reach the terminal escaped on both streams; every list in a message is short.

A file named ``x\\nbroken.pt: ok`` once made ``validate`` print a line ``broken.pt: ok``
of its own, and ESC or BEL in a name drove the terminal; a CSV header of 100,000
columns was echoed whole on one stderr line (1 MB).  Every name goes through one
escaping (``one_line``) and every list through one helper (``validate.listed``: eight
names, then how many more).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from stepsched_cli.cli.app import app
from stepsched_cli.validate import MAX_LISTED, listed

STATE = Path(__file__).resolve().parents[1] / "data" / "checkpoints" / "steplr_state.json"
NAMES = {
    "x\nbroken.json: ok": "x\\nbroken.json: ok",
    "e\x1b[31mred\x07.json": "e\\x1b[31mred\\x07.json",
    "tab\tand\rreturn.json": "tab\\tand\\rreturn.json",
    "c1\x9bcsi.json": "c1\\x9bcsi.json",
}


def run(*arguments: str) -> Result:
    return CliRunner().invoke(app, list(arguments), env={"NO_COLOR": "1", "COLUMNS": "200"})


@pytest.fixture
def named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """A valid state under each hostile name, in the current folder."""
    monkeypatch.chdir(tmp_path)
    for name in NAMES:
        shutil.copy(STATE, tmp_path / name)
    return NAMES


def test_validate_escapes_names_on_stdout(named: dict[str, str]) -> None:
    result = run("validate", *named)
    assert result.exit_code == 0, result.stderr
    assert result.stdout.splitlines() == [f"{escaped}: ok" for escaped in named.values()]


def test_validate_escapes_names_on_stderr(named: dict[str, str], tmp_path: Path) -> None:
    for name in named:
        (tmp_path / name).write_text("{}")
    result = run("validate", *named)
    assert result.exit_code == 1
    lines = result.stderr.splitlines()
    assert len(lines) == len(named)
    for line, escaped in zip(lines, named.values(), strict=True):
        assert line.startswith(f"stepsched: error: {escaped}: ")


@pytest.mark.parametrize("name", sorted(NAMES))
def test_inspect_escapes_the_file_name(named: dict[str, str], name: str) -> None:
    result = run("inspect", name)
    assert result.exit_code == 0, result.stderr
    assert result.stdout.splitlines()[0] == f"file        {named[name]} (torch format)"
    assert not set(result.stdout) & {"\x1b", "\x07", "\x9b", "\r"}


def test_json_output_keeps_the_name_exact(named: dict[str, str]) -> None:
    result = run("validate", "--json", *named)
    assert [entry["file"] for entry in json.loads(result.stdout)] == list(named)


# -- floods ----------------------------------------------------------------------------

COLUMNS = 100_000
KEYS = 50_000  # a JSON line of 100,000 keys is over MAX_LINE_LENGTH


def _csv(path: Path, header: list[str]) -> Path:
    path.write_text(",".join(header) + "\n" + ",".join("0" for _ in header) + "\n")
    return path


def _jsonl(path: Path, record: dict[str, object]) -> Path:
    path = path.with_suffix(".jsonl")
    path.write_text(json.dumps(record) + "\n")
    return path


def _columns(count: int, prefix: str) -> list[str]:
    return [f"{prefix}{index}" for index in range(count)]


FLOODS = {
    "no-column": (
        lambda path: _csv(path, _columns(COLUMNS, "c")),
        [],
        "no step column recognised among 'c0', 'c1', 'c2', 'c3', 'c4', 'c5', 'c6', 'c7' "
        f"and {COLUMNS - 8} more (known names: step, global_step, global step, "
        "trainer/global_step, train/global_step, optimizer_step, iteration, iter, _step); "
        "choose one with --step-column",
    ),
    "many-lr-columns": (
        lambda path: _csv(path, ["step", *_columns(COLUMNS, "lr-")]),
        [],
        "several columns look like a learning rate ('lr-0', 'lr-1', 'lr-2', 'lr-3', 'lr-4', "
        f"'lr-5', 'lr-6', 'lr-7' and {COLUMNS - 8} more); choose one with --lr-column",
    ),
    "missing-explicit-column": (
        lambda path: _csv(path, ["step", *_columns(COLUMNS, "c")]),
        ["--lr-column", "nope"],
        "has no column 'nope' for the lr; columns are 'step', 'c0', 'c1', 'c2', 'c3', 'c4', "
        f"'c5', 'c6' and {COLUMNS - 7} more",
    ),
    "jsonl-no-step-key": (
        lambda path: _jsonl(path, {"lr": 0.1, **dict.fromkeys(_columns(KEYS, "k"), 1)}),
        [],
        "line 1: has no step key (expected one of step, global_step, global step, "
        "trainer/global_step, train/global_step, optimizer_step, iteration, iter, _step); "
        f"keys are 'lr', 'k0', 'k1', 'k2', 'k3', 'k4', 'k5', 'k6' and {KEYS - 7} more",
    ),
    "same-rank-columns": (
        lambda path: _csv(path, ["step", *(["lr", "LR", "Lr", "lR"] * 3)]),
        [],
        "several candidates for the lr ('lr', 'LR', 'Lr', 'lR', 'lr', 'LR', 'Lr', 'lR' and "
        "4 more); choose one with --lr-column",
    ),
}


@pytest.mark.parametrize("flood", sorted(FLOODS))
def test_every_list_in_a_message_is_eight_names_and_a_count(tmp_path: Path, flood: str) -> None:
    build, options, expected = FLOODS[flood]
    path = build(tmp_path / "wide.csv")
    result = run("check", str(path), "--lr", "0.1", *options)
    assert result.exit_code == 1
    assert result.stdout == ""
    assert result.stderr.startswith(f"stepsched: error: {path}")
    assert result.stderr.endswith(expected + "\n")
    assert len(result.stderr) < 600


@pytest.mark.parametrize(
    ("names", "expected"),
    [
        ([], ""),
        (["a"], "a"),
        ([f"n{i}" for i in range(MAX_LISTED)], "n0, n1, n2, n3, n4, n5, n6, n7"),
        ([f"n{i}" for i in range(MAX_LISTED + 1)], "n0, n1, n2, n3, n4, n5, n6, n7 and 1 more"),
        (["a\x1bb", "x" * 61], "'a\\x1bb', '" + "x" * 59 + "... (str of 61 characters)"),
        ([(1, 2), None, 2.5], "(1, 2), None, 2.5"),
    ],
)
def test_listed(names: list[object], expected: str) -> None:
    assert listed(names) == expected


def test_listed_renders_only_what_it_shows() -> None:
    """A generator of a million names is counted, never rendered past the eighth."""
    rendered = []

    def names() -> object:
        for index in range(1_000_000):
            rendered.append(index)
            yield "n" if index < 8 else object()

    assert listed(names()).endswith("and 999992 more")
    assert len(rendered) == 1_000_000
