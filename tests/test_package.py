"""Packaging contracts: a light core, a shipped schema, typed, documented."""

from __future__ import annotations

import json
import subprocess
import sys
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema
import pytest

import stepsched_cli
from stepsched_cli import StepScheduler

ROOT = Path(__file__).resolve().parent.parent


LEFT_OUT = ("typer", "rich", "matplotlib", "click", "torch", "keras", "jax", "tensorflow", "optax")


def test_core_import_leaves_the_command_line_libraries_and_frameworks_out() -> None:
    """Importing the core (the drop-ins' tables included) imports no framework, even
    where the frameworks are installed."""
    code = (
        "import sys, stepsched_cli, stepsched_cli.units, stepsched_cli.state,"
        " stepsched_cli.decay_tables;"
        f"print(sorted(m for m in {LEFT_OUT!r} if m in sys.modules))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "[]"


def test_package_is_typed() -> None:
    assert resources.files("stepsched_cli").joinpath("py.typed").is_file()


def schema() -> dict[str, Any]:
    text = resources.files("stepsched_cli").joinpath("schemas/state-v1.schema.json").read_text()
    loaded: dict[str, Any] = json.loads(text)
    return loaded


class Groups:
    def __init__(self) -> None:
        self.param_groups: list[dict[str, float]] = [{"lr": 0.1}, {"lr": 0.0}]


@pytest.mark.parametrize(
    "scheduler",
    [
        StepScheduler(0.1),
        StepScheduler(0.1, milestones=[3, 9], mode="epoch", steps_per_epoch=10),
        StepScheduler(0.5, 7, 0.5, warmup_steps=3, warmup_start_lr=0.01, min_lr=0.001),
        StepScheduler(0.1, order="scheduler_first", optimizer=Groups()),
    ],
)
def test_state_dicts_validate_against_the_shipped_schema(scheduler: StepScheduler) -> None:
    for _ in range(11):
        scheduler.step()
    jsonschema.validate(scheduler.state_dict(), schema())


@pytest.mark.parametrize(
    "change",
    [{"version": 2}, {"gamma": 1}, {"milestones": [5]}, {"step": -1}, {"extra": 0}],
)
def test_schema_refuses_what_the_reader_refuses(change: dict[str, Any]) -> None:
    state = {**StepScheduler(0.1).state_dict(), **change}
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(state, schema())


def test_version_matches_pyproject() -> None:
    pyproject = (ROOT / "pyproject.toml").read_text()
    assert f'version = "{stepsched_cli.__version__}"' in pyproject


def test_public_api_is_documented() -> None:
    for name in stepsched_cli.__all__:
        item = getattr(stepsched_cli, name)
        if callable(item) and not isinstance(item, type(stepsched_cli.Mode)):
            assert item.__doc__, name


def test_every_lazy_export_resolves_and_is_listed() -> None:
    exports = stepsched_cli._EXPORTS  # type: ignore[attr-defined]
    assert sorted(stepsched_cli.__all__) == sorted([*exports, "__version__"])
    for name in exports:
        assert getattr(stepsched_cli, name) is not None
    with pytest.raises(AttributeError, match="has no attribute 'nothing'"):
        stepsched_cli.nothing  # noqa: B018
