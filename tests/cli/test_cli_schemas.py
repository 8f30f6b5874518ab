"""The shipped JSON Schemas (``stepsched_cli/schemas/COMMAND.schema.json``) describe real output.

Every command with ``--json`` has a schema; each is checked against the command's
actual output over a table of option sets (units, warmups, pipelines, empty answers),
and must refuse what the command never prints.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from typer.testing import Result

from stepsched_cli.cli.app import app

Invoke = Callable[..., Result]

DATA = Path(__file__).resolve().parents[1] / "data"
CHECKPOINT = str(DATA / "checkpoints" / "lightning.ckpt")
BAD_LOG = str(DATA / "logs" / "grad_accum_4.jsonl")
IMAGENET = ["--dataset-size", "1281167"]


def schema(command: str) -> dict[str, Any]:
    text = resources.files("stepsched_cli").joinpath(f"schemas/{command}.schema.json").read_text()
    loaded: dict[str, Any] = json.loads(text)
    jsonschema.Draft202012Validator.check_schema(loaded)
    return loaded


def test_every_command_with_json_output_has_a_schema(run: Invoke) -> None:
    commands = [info.name for info in app.registered_commands]
    with_json = [command for command in commands if "--json" in run(command, "--help").stdout]
    assert with_json == [
        "table",
        "at",
        "boundaries",
        "inspect",
        "validate",
        "steps-per-epoch",
        "check",
        "solve",
        "diff",
    ]
    for command in with_json:
        assert schema(command)["title"] == f"stepsched {command} --json"


def output(run: Invoke, *args: str, exit_code: int = 0) -> Any:
    result = run(*args)
    assert result.exit_code == exit_code, result.stderr
    return json.loads(result.stdout)


@pytest.mark.parametrize(
    ("command", "args"),
    [
        ("table", []),
        ("table", ["--total", "65"]),
        ("table", ["--mode", "epoch", "--steps-per-epoch", "5005", "--epochs", "90"]),
        ("table", ["--warmup-steps", "5", "--milestones", "30,80"]),
        ("table", ["--every", "10", "--steps-per-epoch", "20"]),
        ("table", ["--mode", "epoch", "--every", "7"]),
        ("at", ["45"]),
        ("at", ["45", "--mode", "epoch"]),
        ("at", ["45", "--mode", "epoch", *IMAGENET, "--global-batch-size", "256"]),
        ("at", ["100", "--milestones", "30,80"]),
        ("boundaries", []),
        ("boundaries", ["--mode", "epoch", "--steps-per-epoch", "3", "--count", "5"]),
        ("boundaries", ["--milestones", "30,60,80", "--below", "1e-4"]),
        ("steps-per-epoch", [*IMAGENET, "--batch-size", "32", "--world-size", "8"]),
        ("steps-per-epoch", [*IMAGENET, "--global-batch-size", "256", "--world-size", "8"]),
        ("diff", ["gamma=0.5,step_size=20", "--total", "90"]),
        ("diff", ["lr=0.1"]),
        ("diff", ["warmup_steps=5", "--mode", "epoch", "--steps-per-epoch", "4"]),
        ("solve", ["--lr", "0.1", "--final-lr", "0.0001", "--total", "90", "--decays", "3"]),
        ("inspect", [CHECKPOINT]),
        ("validate", [CHECKPOINT, "missing.json"]),
        ("check", [BAD_LOG, "--step-size", "20", "--gamma", "0.5"]),
    ],
)
def test_real_output_matches_its_schema(run: Invoke, command: str, args: list[str]) -> None:
    exit_code = 1 if command in ("validate", "check") else 0
    document = output(run, command, *args, "--json", exit_code=exit_code)
    jsonschema.validate(document, schema(command))


def test_the_never_below_answer_is_an_empty_list(run: Invoke) -> None:
    document = output(run, "boundaries", "--milestones", "30,60,80", "--below", "1e-4", "--json")
    assert document == []


@pytest.mark.parametrize(
    ("command", "document"),
    [
        # A key the command never prints.
        ("table", [{"start_step": 0, "end_step": 29, "lr": 0.1, "gamma": 0.1}]),
        # A row without any position.
        ("table", [{"lr": 0.1}]),
        ("at", {"step": 45, "lr": 0.01, "next_boundary": 60, "next_lr": 0.001}),
        (
            "at",
            {
                "step": 45,
                "epoch": None,
                "mode": "batch",
                "lr": 0.01,
                "next_boundary": 60,
                "next_lr": 0.001,
            },
        ),
        ("boundaries", [{"step": -1, "lr_before": 0.1, "lr_after": 0.01}]),
        ("diff", [{"start_step": 0, "end_step": 9, "lr_a": 0.1, "lr_b": 0.05}]),
        ("validate", [{"file": "a.json", "valid": True}]),
        ("steps-per-epoch", {"steps_per_epoch": 5005}),
    ],
)
def test_schemas_refuse_what_the_commands_never_print(command: str, document: Any) -> None:
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(document, schema(command))
