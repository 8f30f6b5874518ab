"""Issue 12 items 15-18: values that overflow, flood stderr or pass as numbers by accident.

Every case must end in one short line on stderr and exit 1 (bad data) or 2 (bad usage),
never an internal error, never "ok".
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.cli.conftest import Invoke

KERAS_MODULE = "keras.optimizers.schedules"


def _keras(**config: object) -> dict[str, object]:
    base: dict[str, object] = {"initial_learning_rate": 0.1, "decay_steps": 30, "decay_rate": 0.5}
    return {
        "module": KERAS_MODULE,
        "class_name": "ExponentialDecay",
        "config": {**base, **config},
        "registered_name": None,
    }


def _optax(**fields: object) -> dict[str, object]:
    return {"optax": "exponential_decay", "init_value": 0.1, "transition_steps": 30,
            "decay_rate": 0.5, **fields}  # fmt: skip


def _optax_piecewise(scales: dict[str, float]) -> dict[str, object]:
    return {"optax": "piecewise_constant_schedule", "init_value": 0.1,
            "boundaries_and_scales": scales}  # fmt: skip


def _one_line_refusal(run: Invoke, *args: str) -> str:
    result = run(*args)
    assert result.exit_code == 1, (result.stdout, result.stderr)
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr[:500]
    assert "internal error" not in lines[0]
    assert len(lines[0]) <= 300
    return lines[0]


@pytest.mark.parametrize(
    ("document", "expected"),
    [
        (_keras(decay_steps=1e-300), "decay_steps 1e-300 is 0 in float32, which Keras computes in"),
        (_keras(decay_steps=1e-46), "decay_steps 1e-46 is 0 in float32"),
        (_keras(decay_steps=1.7e308), "decay_steps 1.7e+308 is infinite in float32"),
        (_keras(initial_learning_rate=1e39),
         "initial_learning_rate 1e+39 is infinite in float32, which Keras computes in "
         "(the largest float32 is 3.4028235e+38)"),
        ({"module": KERAS_MODULE, "class_name": "PiecewiseConstantDecay",
          "config": {"boundaries": [10], "values": [0.1, 1e39]}, "registered_name": None},
         "values[1] 1e+39 is infinite in float32"),
        (_optax(init_value=1.7e308), "init_value 1.7e+308 is infinite in float32, which optax"),
        (_optax(transition_steps=1e-300), "transition_steps 1e-300 is 0 in float32"),
        (_optax(end_value=1e39), "end_value 1e+39 is infinite in float32"),
        (_optax_piecewise({"10": 1e39}), "boundaries_and_scales['10'] 1e+39 is infinite"),
    ],
)  # fmt: skip
@pytest.mark.parametrize("command", [("validate",), ("inspect", "--json"), ("inspect",)])
def test_a_framework_value_that_is_not_finite_in_float32_is_invalid(
    run: Invoke, tmp_path: Path, document: object, expected: str, command: tuple[str, ...]
) -> None:
    path = tmp_path / "schedule.json"
    path.write_text(json.dumps(document))
    line = _one_line_refusal(run, *command, str(path))
    assert str(path) in line
    assert expected in line


def test_an_lr_that_overflows_float32_at_the_position_is_invalid(
    run: Invoke, tmp_path: Path
) -> None:
    """Scales within float32 can still multiply the lr past it: 0.1 * 1e38 * 1e38."""
    path = tmp_path / "schedule.json"
    path.write_text(json.dumps(_optax_piecewise({"10": 1e38, "20": 1e38})))
    assert run("validate", str(path)).exit_code == 0  # position 0: lr 0.1
    line = _one_line_refusal(run, "inspect", "--json", "--position", "20", str(path))
    assert line.endswith(
        "the optax lr at position 20 is inf in float32; a schedule must stay finite"
    )


_SCHEDULE_COMMANDS = [("at", "10"), ("table",), ("boundaries",)]


@pytest.mark.parametrize(
    ("option", "text", "kind"),
    [
        ("--lr", "0_1", "float"),
        ("--lr", "1_0.0_1", "float"),
        ("--lr", "\uff10.\uff11", "float"),  # full-width 0.1
        ("--lr", "in_f", "float"),
        ("--lr", "1e1_0", "float"),
        ("--gamma", "0.\u0665", "float"),  # an Arabic-Indic 5
        ("--step-size", "\u0663\u0660", "int"),  # Arabic-Indic 30
        ("--step-size", "3_0", "int"),
        ("--step-size", "\uff13\uff10", "int"),
        ("--warmup-steps", "1_0", "int"),
    ],
)
@pytest.mark.parametrize("command", _SCHEDULE_COMMANDS)
def test_number_options_take_ascii_digits_only(
    run: Invoke, option: str, text: str, kind: str, command: tuple[str, ...]
) -> None:
    """Issue 12 item 17: ``int()``/``float()`` read these; the file readers refuse them."""
    result = run(command[0], option, text, *command[1:])
    assert result.exit_code == 2
    assert result.stdout == ""
    # Positions and lengths are times (30, 30ep, 150150st), read by the core's one parser.
    refusal = (
        f"{option[2:].replace('-', '_')} must be a whole number, optionally with a unit (30, "
        f"30ep for epochs, 150150st for steps), got {text!r}"
        if kind == "int"
        else f"{text!r} is not a valid {kind}."
    )
    assert result.stderr.splitlines() == [
        f"stepsched: error: Invalid value for '{option}': {refusal} "
        f"(see 'stepsched {command[0]} --help')"
    ]


@pytest.mark.parametrize("text", ["\u0663\u0660", "3_0", "+\uff13"])
def test_a_position_argument_takes_ascii_digits_only(run: Invoke, text: str) -> None:
    result = run("at", text)
    assert result.exit_code == 2
    assert (
        "T must be a whole number, optionally with a unit (30, 30ep for epochs, 150150st for "
        f"steps), got {text!r}" in result.stderr
    )


@pytest.mark.parametrize(
    ("arguments", "expected"),
    [
        (("--lr", "0.1", "--step-size", "30"), "step 10: lr 0.1"),
        (("--lr", " 1e-1 ", "--step-size", "+30", "--gamma", ".5"), "step 10: lr 0.1"),
        (("--lr", "1E-1", "--step-size", "5", "--gamma", "5e-1"), "step 10: lr 0.025"),
    ],
)
def test_ascii_numbers_in_every_written_form_are_read(
    run: Invoke, arguments: tuple[str, ...], expected: str
) -> None:
    result = run("at", *arguments, "10")
    assert result.exit_code == 0, result.stderr
    assert expected in result.stdout


@pytest.mark.parametrize("key", ["\u0663\u0660", "3_0", "\uff13\uff10", "30.0", " 30x"])
def test_a_torch_milestone_key_takes_ascii_digits_only(
    run: Invoke, tmp_path: Path, key: str
) -> None:
    """Issue 12 item 18: a MultiStepLR milestone key ``"٣٠"`` was read as 30."""
    path = tmp_path / "multistep.json"
    document = {"milestones": {key: 1}, "gamma": 0.1, "base_lrs": [0.1], "last_epoch": 3}
    path.write_text(json.dumps(document))
    line = _one_line_refusal(run, "validate", str(path))
    assert "field 'milestones' must have integer keys >= 0, got " in line


@pytest.mark.parametrize("version", ["1.0", "1e0", '"1"'])
def test_a_state_version_must_be_the_integer_1(run: Invoke, tmp_path: Path, version: str) -> None:
    """Issue 12 item 18: ``"version": 1.0`` was accepted; 30.0 is not an integer either."""
    assert run("init", "-o", str(tmp_path / "run.json")).exit_code == 0
    text = (tmp_path / "run.json").read_text()
    assert '"version": 1,' in text
    path = tmp_path / "changed.json"
    path.write_text(text.replace('"version": 1,', f'"version": {version},'))
    line = _one_line_refusal(run, "validate", str(path))
    assert f"field 'version' must be 1, got {json.loads(version)!r}" in line
