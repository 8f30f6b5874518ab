"""The command line on timm, Keras and optax schedule documents: inspect, validate, convert.

The documents are the committed parity fixtures (tests/data/frameworks, recorded with
the real libraries) and documents written by each module's ``from_schedule``.  They
hold no position: ``--position`` gives one (default 0).  Contract: ``inspect`` reports
the framework's own lr and notes, and the stepsched schedule when there is an exact
one; ``convert`` refuses, exit 1 and nothing written, whatever is not representable.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from typer.testing import Result

from stepsched_cli.errors import ConversionError
from stepsched_cli.formats.frameworks.keras import schedule as keras
from stepsched_cli.formats.frameworks.optax import schedule as optax
from stepsched_cli.formats.frameworks.timm import schedule as timm
from stepsched_cli.formats.registry import dump_state
from stepsched_cli.schedule import StepSchedule
from stepsched_cli.scheduler import SchedulerState

Invoke = Callable[..., Result]

FRAMEWORKS_DATA = Path(__file__).resolve().parent.parent / "data" / "frameworks"
MODULES = {"timm": timm, "keras": keras, "optax": optax}
# Keras and optax compute in float32; timm in float64, bit for bit.
TOLERANCE = {"timm": 0.0, "keras": 1e-6, "optax": 1e-6}


def parity_cases() -> list[tuple[str, int, dict[str, Any]]]:
    cases = []
    for name in MODULES:
        recorded = json.loads((FRAMEWORKS_DATA / f"{name}_parity.json").read_text())
        cases += [(name, index, case) for index, case in enumerate(recorded["cases"])]
    return cases


PARITY = parity_cases()


def write_json(path: Path, document: object) -> Path:
    path.write_text(json.dumps(document), encoding="utf-8")
    return path


def write_state(path: Path, schedule: StepSchedule, position: int = 0, **fields: Any) -> Path:
    path.write_bytes(dump_state(SchedulerState(schedule, position=position, **fields)))
    return path


def inspect_json(run: Invoke, path: Path, *args: str) -> dict[str, Any]:
    result = run("inspect", str(path), "--json", *args)
    assert result.exit_code == 0, result.stderr
    record: dict[str, Any] = json.loads(result.stdout)
    return record


# -- inspect -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "case"),
    [(name, case) for name, _, case in PARITY],
    ids=[f"{name}-{index}" for name, index, _ in PARITY],
)
def test_inspect_gives_the_recorded_lr_at_each_run_start(
    run: Invoke, tmp_path: Path, name: str, case: dict[str, Any]
) -> None:
    path = write_json(tmp_path / "schedule.json", case["document"])
    parsed = MODULES[name].parse(case["document"])
    try:
        parsed.to_schedule()
        reason = None
    except ConversionError as error:
        reason = str(error)
    for first, _, recorded in case["runs"][:4]:
        record = inspect_json(run, path, "--position", str(first))
        assert record["format"] == name
        assert record["step"] == first
        assert record["framework_lr"] == parsed.lr_at(first)
        assert math.isclose(record["framework_lr"], recorded, rel_tol=TOLERANCE[name])
        assert record["notes"] == list(parsed.notes)
        assert record["convertible"] is (reason is None)
        assert record["reason"] == reason
        if reason is None:
            assert math.isclose(record["lr"], recorded, rel_tol=max(TOLERANCE[name], 1e-12))
            assert "next_boundary" in record
        else:
            assert record["lr"] == record["framework_lr"]
            assert "next_boundary" not in record


def test_position_defaults_to_zero(run: Invoke, tmp_path: Path) -> None:
    path = write_json(tmp_path / "k.json", keras.from_schedule(StepSchedule(0.1, step_size=30)))
    assert inspect_json(run, path)["step"] == 0


@pytest.mark.parametrize("position", [str(2**63), str(10**400)])
def test_position_is_bounded_by_the_largest_framework_counter(
    run: Invoke, tmp_path: Path, position: str
) -> None:
    path = write_json(tmp_path / "k.json", keras.from_schedule(StepSchedule(0.1, step_size=30)))
    result = run("inspect", str(path), "--position", position)
    assert result.exit_code == 2
    assert result.stderr.startswith(f"stepsched: error: Invalid value for '--position': {position}")
    assert "is not in the range 0<=x<=9223372036854775807." in result.stderr
    assert inspect_json(run, path, "--position", str(2**63 - 1))["lr"] == 0.0


def test_optax_count_beyond_its_int32_is_refused_naming_the_file(
    run: Invoke, tmp_path: Path
) -> None:
    path = write_json(tmp_path / "o.json", optax.from_schedule(StepSchedule(0.1, step_size=30)))
    result = run("inspect", str(path), "--position", str(2**31))
    assert result.exit_code == 1
    assert result.stderr == (
        f"stepsched: error: {path}: count must be at most 2147483647 (optax counts updates "
        "in an int32, which stops there), got 2147483648\n"
    )


def test_validate_accepts_every_recorded_document(run: Invoke, tmp_path: Path) -> None:
    paths = [
        str(write_json(tmp_path / f"{name}-{index}.json", case["document"]))
        for name, index, case in PARITY
    ]
    result = run("validate", *paths)
    assert result.exit_code == 0, result.stderr
    assert result.stdout.splitlines() == [f"{path}: ok" for path in paths]


@pytest.mark.parametrize("name", list(MODULES))
def test_detected_and_forced(run: Invoke, tmp_path: Path, name: str) -> None:
    document = MODULES[name].from_schedule(StepSchedule(0.1, milestones=(30, 60)))
    path = write_json(tmp_path / "schedule.json", document)
    assert inspect_json(run, path)["format"] == name
    assert inspect_json(run, path, "--from", name)["format"] == name
    assert run("validate", str(path), "--from", name).exit_code == 0


def test_forcing_the_wrong_framework_says_what_is_wrong(run: Invoke, tmp_path: Path) -> None:
    path = write_json(tmp_path / "t.json", {"timm": "StepLRScheduler", "lr": 0.1, "decay_t": 30})
    result = run("inspect", str(path), "--from", "optax")
    assert result.exit_code == 1
    assert result.stderr == (
        f"stepsched: error: {path}: an optax document holds the keyword arguments of "
        "exponential_decay (init_value, transition_steps, decay_rate, ...) or of "
        "piecewise_constant_schedule (init_value, boundaries_and_scales), with an optional "
        '"optax" key naming the function; got keys decay_t, lr, timm\n'
    )


def test_timm_multistep_decays_one_position_early_and_says_so(run: Invoke, tmp_path: Path) -> None:
    """timm bisects on t + 1: decay_t entry 30 decays at t = 29, reported, never corrected."""
    document = {"timm": "MultiStepLRScheduler", "lr": 0.1, "decay_t": [30, 60], "decay_rate": 0.1}
    path = write_json(tmp_path / "t.json", document)
    before, at = (inspect_json(run, path, "--position", str(t)) for t in (28, 29))
    assert (before["framework_lr"], at["framework_lr"]) == (0.1, 0.010000000000000002)
    assert (before["lr"], at["lr"]) == (0.1, 0.01)
    assert at["milestones"] == [29, 59]
    assert at["mode"] == "epoch"
    assert at["notes"] == [
        "timm's MultiStepLRScheduler decays one position before each decay_t entry "
        "(bisect on t + 1): decay_t=[30, 60] decays at t=[29, 59]"
    ]
    human = run("inspect", str(path), "--position", "29")
    assert human.exit_code == 0
    text = " ".join(human.stdout.split())
    assert "timm MultiStepLRScheduler(lr=0.1, decay_t=[30, 60], decay_rate=0.1," in text
    assert "position epoch 29 lr 0.01 next decay epoch 59 (in 30): lr 0.001" in text
    assert "note timm's MultiStepLRScheduler decays one position before each" in text


def test_keras_boundary_belongs_to_the_left_interval(run: Invoke, tmp_path: Path) -> None:
    document = {"boundaries": [30, 60], "values": [0.1, 0.01, 0.001]}
    path = write_json(tmp_path / "k.json", document)
    at, after = (inspect_json(run, path, "--position", str(t)) for t in (30, 31))
    assert (at["lr"], after["lr"]) == (0.1, 0.01)
    assert at["next_boundary"] == 31
    assert at["framework_lr"] == keras.float32(0.1)
    assert at["notes"][0] == (
        "Keras PiecewiseConstantDecay keeps a boundary's step in the interval on its "
        "left: boundaries=[30, 60] decay at steps [31, 61]"
    )


def test_inspect_a_schedule_without_a_stepsched_form(run: Invoke, tmp_path: Path) -> None:
    """Keras's continuous decay: its own lr at the position, and why it cannot convert."""
    document = {
        "class_name": "ExponentialDecay",
        "config": {"initial_learning_rate": 0.1, "decay_steps": 100, "decay_rate": 0.5},
    }
    path = write_json(tmp_path / "continuous.json", document)
    result = run("inspect", str(path), "--position", "50")
    assert result.exit_code == 0, result.stderr
    assert " ".join(result.stdout.split()) == " ".join(
        f"""
        file {path} (keras format)
        keras ExponentialDecay(initial_learning_rate=0.1, decay_steps=100, decay_rate=0.5,
        staircase=false)
        position step 50
        lr 0.0707107
        note Keras computes ExponentialDecay in float32
        stepsched not convertible: Keras ExponentialDecay with staircase=false decays
        continuously; stepsched needs staircase=true
        """.split()
    )
    record = inspect_json(run, path, "--position", "50")
    assert record["convertible"] is False
    assert record["lr"] == record["framework_lr"] == keras.parse(document).lr_at(50)
    assert run("validate", str(path)).exit_code == 0


def test_position_is_refused_for_files_that_record_one(run: Invoke, tmp_path: Path) -> None:
    path = write_state(tmp_path / "run.json", StepSchedule(0.1, step_size=30), position=7)
    result = run("inspect", str(path), "--position", "3")
    assert result.exit_code == 2
    assert "run.json records its own position (stepsched format); --position is for " in (
        result.stderr
    )


REAL_TIMM = FRAMEWORKS_DATA.parent / "real" / "timm"
PER_UPDATE = REAL_TIMM / "train_multistep_updates"


def test_a_per_update_timm_checkpoint_is_read_with_the_updates_per_epoch(run: Invoke) -> None:
    """CheckpointSaver's last.pth.tar of a --sched-on-updates run (4 updates per epoch):
    train.py resumes at update 24, where timm's lr is 0.002 (the manifest's values)."""
    path = PER_UPDATE / "last.pth.tar"
    refused = run("inspect", str(path))
    assert refused.exit_code == 1
    assert refused.stderr.endswith("give it (--updates-per-epoch N)\n")
    record = inspect_json(run, path, "--updates-per-epoch", "4")
    assert (record["format"], record["step"], record["lr"]) == ("torch-checkpoint", 24, 0.002)
    converted = run("convert", str(path), "--updates-per-epoch", "4", "-o", "-")
    assert converted.exit_code == 0, converted.stderr
    state = json.loads(converted.stdout)
    assert (state["step"], state["lr"], state["steps_per_epoch"]) == (24, 0.002, 4)
    assert run("validate", str(path), "--updates-per-epoch", "4").stdout == f"{path}: ok\n"


def test_scheduler_kwargs_take_the_optimizer_lr(run: Invoke) -> None:
    path = PER_UPDATE / "scheduler_kwargs.json"
    record = inspect_json(run, path, "--lr", "0.2", "--updates-per-epoch", "4", "--position", "11")
    assert (record["step"], record["lr"], record["milestones"]) == (11, 0.02, [7, 15])


@pytest.mark.parametrize("option", [("--lr", "0.1"), ("--updates-per-epoch", "4")])
def test_timm_completions_are_refused_for_other_files(
    run: Invoke, tmp_path: Path, option: tuple[str, str]
) -> None:
    path = write_state(tmp_path / "run.json", StepSchedule(0.1, step_size=30))
    assert run("validate", str(path), *option).exit_code == 2
    result = run("inspect", str(path), *option)
    assert result.exit_code == 2
    assert (
        f"Invalid value for '{option[0]}': applies to timm's train.py files only (args.yaml, "
        f"scheduler_kwargs(), CheckpointSaver files); {path} is a stepsched file"
    ) in " ".join(result.stderr.split())


# -- convert -----------------------------------------------------------------

ROUND_TRIPS = [
    ("timm", StepSchedule(0.1, step_size=30)),
    ("timm", StepSchedule(0.1, milestones=(30, 80), gamma=0.5, mode="epoch")),
    ("timm", StepSchedule(0.1, step_size=30, warmup_steps=5, warmup_start_lr=0.001)),
    ("keras", StepSchedule(0.1, step_size=30)),
    ("keras", StepSchedule(3e-4, step_size=7, gamma=0.97)),
    ("keras", StepSchedule(0.05, milestones=(100, 250, 400), gamma=0.3333)),
    ("optax", StepSchedule(0.1, step_size=30, min_lr=1e-4)),
    ("optax", StepSchedule(0.1, milestones=(30, 80))),
    (
        "optax",
        StepSchedule(0.1, step_size=30, warmup_steps=10, warmup_start_lr=0.1, warmup_prefix=True),
    ),
]


@pytest.mark.parametrize(("name", "schedule"), ROUND_TRIPS)
@pytest.mark.parametrize("position", [0, 75])
def test_round_trip_through_a_framework_is_identity(
    run: Invoke, tmp_path: Path, name: str, schedule: StepSchedule, position: int
) -> None:
    original = write_state(tmp_path / "run.json", schedule, position)
    framework = tmp_path / f"{name}.json"
    back = tmp_path / "back.json"
    result = run("convert", str(original), "--to", name, "-o", str(framework))
    assert result.exit_code == 0, result.stderr
    unit = schedule.mode
    assert result.stderr.startswith(
        f"wrote {framework}: {name} schedule counting {unit}s, no position"
    )
    assert json.loads(framework.read_text()) == MODULES[name].from_schedule(schedule)
    args = ["--position", str(position)] if position else []
    result = run("convert", str(framework), "-o", str(back), *args)
    assert result.exit_code == 0, result.stderr
    assert back.read_bytes() == original.read_bytes()


def test_convert_between_frameworks(run: Invoke, tmp_path: Path) -> None:
    schedule = StepSchedule(0.1, milestones=(30, 80))
    current = write_state(tmp_path / "run.json", schedule)
    for name in ("keras", "optax", "timm", "stepsched"):
        target = tmp_path / f"via-{name}.json"
        result = run("convert", str(current), "--to", name, "-o", str(target))
        assert result.exit_code == 0, result.stderr
        current = target
    assert current.read_bytes() == (tmp_path / "run.json").read_bytes()


def test_convert_to_stdout(run: Invoke, tmp_path: Path) -> None:
    path = write_state(tmp_path / "run.json", StepSchedule(0.1, milestones=(30, 60)))
    result = run("convert", str(path), "--to", "optax", "-o", "-")
    assert result.exit_code == 0
    assert json.loads(result.stdout) == {
        "optax": "piecewise_constant_schedule",
        "init_value": 0.1,
        "boundaries_and_scales": {"30": 0.1, "60": 0.1},
    }


def test_epoch_state_to_keras_uses_steps_per_epoch(run: Invoke, tmp_path: Path) -> None:
    path = write_state(tmp_path / "run.json", StepSchedule(0.1, step_size=30, mode="epoch"))
    result = run("convert", str(path), "--to", "keras", "--steps-per-epoch", "100", "-o", "-")
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["config"]["decay_steps"] == 3000


REFUSALS = [
    (
        "keras",
        StepSchedule(0.1, step_size=30, warmup_steps=5),
        {},
        "warmup_steps=5 cannot be written for Keras: ExponentialDecay and "
        "PiecewiseConstantDecay have no warmup",
    ),
    (
        "optax",
        StepSchedule(0.1, step_size=30, warmup_steps=5, warmup_start_lr=0.01),
        {},
        "warmup from 0.01 to 0.1 cannot be written for optax exponential_decay or "
        "piecewise_constant_schedule: they hold init_value before the first decay (join a "
        "linear_schedule with optax.join_schedules instead)",
    ),
    (
        "timm",
        StepSchedule(0.1, step_size=30, min_lr=0.001),
        {},
        "min_lr=0.001 cannot be written for timm: its step schedulers have no floor",
    ),
    (
        "optax",
        StepSchedule(0.1, step_size=30, mode="epoch"),
        {},
        "optax schedules count updates; give steps_per_epoch to write an epoch-mode schedule",
    ),
    (
        "keras",
        StepSchedule(0.1, step_size=30),
        {"group_initial_lrs": (0.1, 0.01)},
        "the state drives 2 parameter groups with initial lrs 0.1, 0.01; a keras document "
        "holds one schedule, so the other groups would be lost",
    ),
]


@pytest.mark.parametrize(("name", "schedule", "fields", "message"), REFUSALS)
def test_convert_refuses_what_the_framework_cannot_express(
    run: Invoke,
    tmp_path: Path,
    name: str,
    schedule: StepSchedule,
    fields: dict[str, Any],
    message: str,
) -> None:
    path = write_state(tmp_path / "run.json", schedule, **fields)
    output = tmp_path / "out.json"
    result = run("convert", str(path), "--to", name, "-o", str(output))
    assert result.exit_code == 1
    assert result.stderr == f"stepsched: error: {message}\n"
    assert not output.exists()


@pytest.mark.parametrize(
    ("document", "message"),
    [
        (
            {"initial_learning_rate": 0.1, "decay_steps": 100, "decay_rate": 0.5},
            "Keras ExponentialDecay with staircase=false decays continuously; stepsched "
            "needs staircase=true",
        ),
        (
            {"timm": "MultiStepLRScheduler", "lr": 0.01, "decay_t": [10, 10, 20]},
            "timm decay_rate=1.0 never decays; stepsched needs 0 < gamma < 1",
        ),
        (
            {"timm": "MultiStepLRScheduler", "lr": 0.01, "decay_t": [10, 10], "decay_rate": 0.9},
            "timm decay_t repeats 10, decaying twice at once; stepsched milestones must be "
            "strictly increasing",
        ),
        (
            {
                "optax": "piecewise_constant_schedule",
                "init_value": 0.3,
                "boundaries_and_scales": {"400": 0.5, "1000": 0.25},
            },
            "optax scales [0.5, 0.25] cannot be converted: stepsched needs one factor gamma "
            "with 0 < gamma < 1 at every boundary",
        ),
    ],
)
@pytest.mark.parametrize("to", ["stepsched", "torch", "keras"])
def test_convert_refuses_a_schedule_without_a_stepsched_form(
    run: Invoke, tmp_path: Path, document: dict[str, Any], message: str, to: str
) -> None:
    path = write_json(tmp_path / "schedule.json", document)
    output = tmp_path / "out.json"
    result = run("convert", str(path), "--to", to, "-o", str(output))
    assert result.exit_code == 1
    assert result.stderr == f"stepsched: error: {path}: {message}\n"
    assert not output.exists()
    record = inspect_json(run, path)
    assert (record["convertible"], record["reason"]) == (False, message)


def test_timm_noise_is_inspected_with_a_note_but_not_converted(run: Invoke, tmp_path: Path) -> None:
    document = {"timm": "StepLRScheduler", "lr": 0.1, "decay_t": 30, "noise_range_t": 5}
    path = write_json(tmp_path / "noise.json", document)
    reason = (
        "timm noise_range_t=5 adds random noise drawn from "
        "torch's generator, which cannot be reproduced; set it to null"
    )
    record = inspect_json(run, path)
    assert (record["lr"], record["convertible"], record["reason"]) == (0.1, False, reason)
    assert record["notes"] == [
        "timm multiplies the lr by random noise from t=5 on (torch.Generator seeded with "
        "noise_seed + t), which stepsched cannot reproduce: the lrs shown are without it"
    ]
    result = run("convert", str(path), "-o", str(tmp_path / "out.json"))
    assert (result.exit_code, result.stderr) == (1, f"stepsched: error: {path}: {reason}\n")
