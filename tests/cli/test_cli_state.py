"""``init``, ``inspect``, ``validate`` and ``convert`` over native state files."""

from __future__ import annotations

import json
import shlex
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from typer.testing import Result

from stepsched_cli.schedule import StepSchedule
from stepsched_cli.scheduler import SchedulerState
from stepsched_cli.state import dumps_state, read_state_file, write_state_file

from .conftest import RUN_LENGTH_USAGE_ERRORS

Invoke = Callable[..., Result]

SEED = ["--lr", "0.1", "--step-size", "30"]


def make_state(path: Path, **fields: Any) -> Path:
    schedule = StepSchedule(
        0.1, step_size=fields.pop("step_size", 30), mode=fields.pop("mode", "step")
    )
    write_state_file(path, SchedulerState(schedule=schedule, **fields))
    return path


# -- init --------------------------------------------------------------------


def test_init_writes_a_state_at_position_zero(run: Invoke, tmp_path: Path) -> None:
    target = tmp_path / "run.json"
    result = run("init", *SEED, "--steps-per-epoch", "10", "-o", str(target))
    assert result.exit_code == 0, result.stderr
    assert result.stdout == ""
    assert result.stderr == f"wrote {target}: lr=0.1, step_size=30, gamma=0.1, at step 0\n"
    state = read_state_file(target)
    assert (state.position, state.lr, state.steps_per_epoch) == (0, 0.1, 10)
    assert state.schedule == StepSchedule(0.1, step_size=30)


@pytest.mark.parametrize(
    ("options", "warning", "message"),
    [
        (
            ["--milestones", "30ep,60ep,80ep", "--steps-per-epoch", "5005", "--epochs", "90"],
            "",
            "lr=0.1, milestones=150150,300300,400400, gamma=0.1, at step 0, for a run of "
            "90 epochs = 450450 steps",
        ),
        (
            ["--milestones", "30,60,80", "--mode", "epoch", "--total", "70"],
            "stepsched: warning: milestone 80 at or beyond the horizon (70 epochs) is never "
            "reached\n",
            "lr=0.1, milestones=30,60,80, gamma=0.1, mode=epoch, at epoch 0, for a run of "
            "70 epochs",
        ),
        (
            ["--step-size", "30", "--steps-per-epoch", "7", "--total", "100st"],
            "",
            "lr=0.1, step_size=30, gamma=0.1, at step 0, for a run of 100 steps = 14 epochs + "
            "2 steps",
        ),
        (
            ["--step-size", "300", "--total", "3e2"],
            "stepsched: warning: step_size 300: the first decay at step 300 is beyond the "
            "horizon (300 steps); the lr never decays\n",
            "lr=0.1, step_size=300, gamma=0.1, at step 0, for a run of 300 steps",
        ),
    ],
)
def test_init_checks_the_schedule_against_the_run_length(
    run: Invoke, tmp_path: Path, options: list[str], warning: str, message: str
) -> None:
    target = tmp_path / "run.json"
    result = run("init", *options, "-o", str(target))
    assert result.exit_code == 0, result.stderr
    assert result.stderr == f"{warning}wrote {target}: {message}\n"
    # The state file records no run length: the same file as without one.
    plain = tmp_path / "plain.json"
    length = options.index("--total" if "--total" in options else "--epochs")
    assert run("init", *options[:length], "-o", str(plain)).exit_code == 0
    assert target.read_bytes() == plain.read_bytes()


@pytest.mark.parametrize(("options", "message"), RUN_LENGTH_USAGE_ERRORS)
def test_init_run_length_usage_errors_write_nothing(
    run: Invoke, tmp_path: Path, options: list[str], message: str
) -> None:
    target = tmp_path / "run.json"
    result = run("init", *SEED, *options, "-o", str(target))
    assert result.exit_code == 2
    assert result.stderr == f"stepsched: error: {message} (see 'stepsched init --help')\n"
    assert not target.exists()


def test_init_refuses_to_overwrite_without_force(run: Invoke, tmp_path: Path) -> None:
    target = tmp_path / "run.json"
    target.write_text("keep")
    result = run("init", *SEED, "-o", str(target))
    assert result.exit_code == 1
    assert result.stderr == (
        f"stepsched: error: {target}: already exists; refusing to overwrite it "
        "(use --force to replace it)\n"
    )
    assert target.read_text() == "keep"
    assert run("init", *SEED, "-o", str(target), "--force").exit_code == 0
    assert read_state_file(target).position == 0


def test_init_to_stdout(run: Invoke) -> None:
    result = run("init", "--lr", "0.1", "--milestones", "30,80", "-o", "-")
    assert result.exit_code == 0
    document = json.loads(result.stdout)
    assert document["milestones"] == [30, 80]
    assert result.stderr == ""


def test_init_from_a_state_restarts_it(run: Invoke, tmp_path: Path) -> None:
    source = make_state(tmp_path / "a.json", position=75)
    result = run("init", "--state", str(source), "-o", "-")
    assert json.loads(result.stdout)["step"] == 0


def test_init_usage_errors(run: Invoke, tmp_path: Path) -> None:
    result = run("init", "--lr", "2", "--min-lr", "3", "-o", str(tmp_path / "x.json"))
    assert result.exit_code == 2
    assert result.stderr.startswith("stepsched: error: Invalid value for '--min-lr'")
    assert not (tmp_path / "x.json").exists()


# -- --state on the planning commands ------------------------------------------


def test_state_option_gives_schedule_and_position(run: Invoke, tmp_path: Path) -> None:
    source = make_state(tmp_path / "a.json", position=45, steps_per_epoch=20)
    result = run("at", "--state", str(source), "--json")
    assert json.loads(result.stdout) == {
        "step": 45,
        "epoch": 2,
        "mode": "step",
        "lr": 0.01,
        "next_boundary": 60,
        "next_lr": 0.001,
    }


def test_state_option_from_stdin(run: Invoke, tmp_path: Path) -> None:
    data = dumps_state(SchedulerState(StepSchedule(0.1, step_size=30), position=61))
    result = run("at", "--state", "-", "--json", input=data)
    assert json.loads(result.stdout)["lr"] == 0.001


def test_state_option_refuses_schedule_options(run: Invoke, tmp_path: Path) -> None:
    source = make_state(tmp_path / "a.json")
    result = run("table", "--state", str(source), "--gamma", "0.5")
    assert result.exit_code == 2
    assert result.stderr.startswith(
        "stepsched: error: Invalid value for '--gamma': cannot be combined with --state"
    )


def test_state_option_with_a_bad_file_exits_1(run: Invoke, tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text("{")
    result = run("table", "--state", str(bad))
    assert result.exit_code == 1
    assert result.stderr.startswith(f"stepsched: error: {bad}: is not valid JSON")


# -- inspect -----------------------------------------------------------------


def test_inspect_json(run: Invoke, tmp_path: Path) -> None:
    source = make_state(tmp_path / "a.json", position=45, group_initial_lrs=(0.1, 0.02))
    result = run("inspect", str(source), "--json")
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout) == {
        "file": str(source),
        "format": "stepsched",
        "step": 45,
        "mode": "step",
        "lr": 0.01,
        "lrs": [0.01, 0.002],
        "initial_lr": 0.1,
        "initial_lrs": [0.1, 0.02],
        "gamma": 0.1,
        "step_size": 30,
        "warmup_steps": 0,
        "warmup_start_lr": 0.0,
        "min_lr": 0.0,
        "steps_per_epoch": None,
        "next_boundary": 60,
        "next_lr": 0.001,
        "next_lrs": [0.001, 0.0002],
    }


def test_inspect_json_milestones_after_the_last(run: Invoke, tmp_path: Path) -> None:
    path = tmp_path / "m.json"
    write_state_file(path, SchedulerState(StepSchedule(0.1, milestones=(3,)), position=9))
    record = json.loads(run("inspect", str(path), "--json").stdout)
    assert record["milestones"] == [3]
    assert "step_size" not in record
    assert (record["lr"], record["next_boundary"], record["next_lr"]) == (0.01, None, None)


def test_inspect_human(run: Invoke, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Named as typed where it is: a long temporary folder would wrap the first line."""
    make_state(tmp_path / "a.json", position=45, steps_per_epoch=20)
    monkeypatch.chdir(tmp_path)
    result = run("inspect", "a.json")
    assert result.exit_code == 0
    lines = [line.rstrip() for line in result.stdout.splitlines()]
    assert lines == [
        "file        a.json (stepsched format)",
        "schedule    lr=0.1, step_size=30, gamma=0.1",
        "position    step 45 (epoch 2, step 5 of 20)",
        "lr          0.01",
        "next decay  step 60 (in 15): lr 0.001",
        "then        step 90: 0.0001, step 120: 1e-05, step 150: 1e-06",
    ]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "is empty"),
        (b"[]", "no format stepsched reads recognises it: it is a JSON array of 0 items; tried"),
        (b'{"format": "x"}', "field 'format' must be 'stepsched.state', got 'x'"),
        (b'{"a": "\xff"}', "is not UTF-8 text (invalid byte at offset 7)"),
        (
            b"\xff",
            "no format stepsched reads recognises it: it is binary data (its first bytes "
            "are ff); tried",
        ),
        (b"\x89HDF\r\n\x1a\n", "no format stepsched reads recognises it: it is an HDF5 file"),
    ],
)
def test_inspect_invalid_files(run: Invoke, tmp_path: Path, content: bytes, message: str) -> None:
    path = tmp_path / "bad.json"
    path.write_bytes(content)
    result = run("inspect", str(path))
    assert result.exit_code == 1
    assert result.stdout == ""
    assert result.stderr.startswith(f"stepsched: error: {path}: {message}")
    assert result.stderr.count("\n") == 1


def test_inspect_unknown_format_is_a_usage_error(run: Invoke, tmp_path: Path) -> None:
    result = run("inspect", str(make_state(tmp_path / "a.json")), "--from", "nope")
    assert result.exit_code == 2
    assert "unknown format 'nope' (known: stepsched, " in result.stderr


def test_inspect_directory(run: Invoke, tmp_path: Path) -> None:
    result = run("inspect", str(tmp_path))
    assert result.exit_code == 1
    assert result.stderr == (
        f"stepsched: error: {tmp_path}: is a directory, not a state file; stepsched reads files, "
        "and of folders a Hugging Face Trainer checkpoint-N/ or an Accelerate save_state() folder\n"
    )


# -- validate ----------------------------------------------------------------


def test_validate_all_good(run: Invoke, tmp_path: Path) -> None:
    a, b = make_state(tmp_path / "a.json"), make_state(tmp_path / "b.json", position=3)
    result = run("validate", str(a), str(b))
    assert (result.exit_code, result.stdout, result.stderr) == (0, f"{a}: ok\n{b}: ok\n", "")


def test_validate_reports_each_bad_file(run: Invoke, tmp_path: Path) -> None:
    good = make_state(tmp_path / "a.json")
    bad = tmp_path / "bad.json"
    document = json.loads(dumps_state(SchedulerState(StepSchedule(0.1), position=30)))
    document["lr"] = 0.1
    bad.write_text(json.dumps(document))
    missing = tmp_path / "missing.json"
    result = run("validate", str(good), str(bad), str(missing))
    assert result.exit_code == 1
    assert result.stdout == f"{good}: ok\n"
    assert result.stderr.splitlines() == [
        f"stepsched: error: {bad}: field 'lr' is 0.1 but the schedule gives 0.01 at step 30: "
        "the state is inconsistent",
        f"stepsched: error: {missing}: no such file; a scheduler state is read from a "
        f"stepsched state file (stepsched init -o {shlex.quote(str(missing))} writes one) or "
        "from a file a "
        "framework wrote (torch, Lightning, Accelerate, timm, Keras, optax)",
    ]


def test_validate_json(run: Invoke, tmp_path: Path) -> None:
    good = make_state(tmp_path / "a.json")
    result = run("validate", str(good), str(tmp_path / "no.json"), "--json")
    assert result.exit_code == 1
    assert json.loads(result.stdout) == [
        {"file": str(good), "valid": True, "format": "stepsched", "error": None},
        {
            "file": str(tmp_path / "no.json"),
            "valid": False,
            "format": None,
            "error": f"{tmp_path / 'no.json'}: no such file; a scheduler state is read from "
            f"a stepsched state file (stepsched init -o {shlex.quote(str(tmp_path / 'no.json'))} "
            "writes one) or "
            "from a file a framework wrote (torch, Lightning, Accelerate, timm, Keras, optax)",
        },
    ]


def test_validate_needs_a_file(run: Invoke) -> None:
    result = run("validate")
    assert result.exit_code == 2
    assert result.stderr.startswith("stepsched: error: Missing argument 'FILE...'")


def test_validate_stdin(run: Invoke) -> None:
    data = dumps_state(SchedulerState(StepSchedule(0.1)))
    result = run("validate", "-", input=data)
    assert (result.exit_code, result.stdout) == (0, "-: ok\n")


def test_validate_reads_stdin_once(run: Invoke) -> None:
    data = dumps_state(SchedulerState(StepSchedule(0.1)))
    result = run("validate", "-", "-", input=data)
    assert (result.exit_code, result.stdout) == (2, "")
    assert result.stderr == (
        "stepsched: error: Invalid value for 'FILE...': - (standard input) can be given only "
        "once (see 'stepsched validate --help')\n"
    )


# -- convert -----------------------------------------------------------------


def test_convert_epochs_to_steps(run: Invoke, tmp_path: Path) -> None:
    source = make_state(tmp_path / "e.json", mode="epoch", position=31)
    target = tmp_path / "s.json"
    result = run(
        "convert", str(source), "--mode", "step", "--steps-per-epoch", "5005", "-o", str(target)
    )
    assert result.exit_code == 0, result.stderr
    state = read_state_file(target)
    assert (state.schedule.mode, state.schedule.step_size, state.position) == (
        "step",
        150150,
        155155,
    )
    assert state.steps_per_epoch == 5005
    assert (
        result.stderr == f"wrote {target}: step mode, at step 155155 (epoch 31, step 0 of 5005)\n"
    )


def test_convert_steps_to_epochs_uses_the_recorded_steps_per_epoch(
    run: Invoke, tmp_path: Path
) -> None:
    source = make_state(tmp_path / "s.json", step_size=60, position=40, steps_per_epoch=20)
    result = run("convert", str(source), "--mode", "epoch", "-o", "-")
    document = json.loads(result.stdout)
    assert (document["mode"], document["step_size"], document["step"]) == ("epoch", 3, 2)


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"step_size": 30, "position": 40}, "step_size 30 falls inside epoch 1"),
        ({"step_size": 40, "position": 30}, "the position (step) 30 falls inside epoch 1"),
    ],
)
def test_convert_refuses_inexact(
    run: Invoke, tmp_path: Path, fields: dict[str, int], message: str
) -> None:
    source = make_state(tmp_path / "s.json", **fields)
    target = tmp_path / "out.json"
    result = run(
        "convert", str(source), "--mode", "epoch", "--steps-per-epoch", "20", "-o", str(target)
    )
    assert result.exit_code == 1
    assert message in result.stderr
    assert not target.exists()


def test_convert_needs_steps_per_epoch(run: Invoke, tmp_path: Path) -> None:
    source = make_state(tmp_path / "s.json")
    result = run("convert", str(source), "--mode", "epoch", "-o", "-")
    assert result.exit_code == 2
    assert result.stderr.startswith("stepsched: error: Invalid value for '--steps-per-epoch'")


def test_convert_onto_itself_needs_force_and_is_safe(run: Invoke, tmp_path: Path) -> None:
    path = make_state(tmp_path / "e.json", mode="epoch", position=2)
    before = path.read_bytes()
    refused = run(
        "convert", str(path), "--mode", "step", "--steps-per-epoch", "10", "-o", str(path)
    )
    assert refused.exit_code == 1
    assert path.read_bytes() == before
    done = run(
        "convert",
        str(path),
        "--mode",
        "step",
        "--steps-per-epoch",
        "10",
        "-o",
        str(path),
        "--force",
    )
    assert done.exit_code == 0, done.stderr
    assert read_state_file(path).position == 20
    assert sorted(p.name for p in tmp_path.iterdir()) == ["e.json"]


def test_convert_same_mode_records_steps_per_epoch(run: Invoke, tmp_path: Path) -> None:
    source = make_state(tmp_path / "s.json", position=7)
    result = run("convert", str(source), "--steps-per-epoch", "9", "-o", "-")
    assert json.loads(result.stdout)["steps_per_epoch"] == 9


def test_convert_unknown_output_format(run: Invoke, tmp_path: Path) -> None:
    source = make_state(tmp_path / "s.json")
    result = run("convert", str(source), "--to", "nope", "-o", "-")
    assert result.exit_code == 2
    assert "Invalid value for '--to': unknown format 'nope'" in result.stderr
