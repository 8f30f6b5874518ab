"""torch files written by real torch (tests/data/real/torch, accelerate): read as torch meant them.

Every value compared here is what torch reported when it wrote the file
(``manifest.json``): the position, ``get_last_lr()``, the optimizer's lrs and the lrs
along the schedule.  stepsched's lrs are exact (closed form), torch's are multiplied
step by step, so lrs agree to the relative 1e-9 the readers use; positions, keys and
torch's own stored lr are compared exactly.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from stepsched_cli.errors import StepschedError
from stepsched_cli.formats import registry
from stepsched_cli.formats.hints import Hints
from stepsched_cli.formats.reading import inspect_record
from stepsched_cli.validate import lrs_agree

REAL = Path(__file__).resolve().parents[2] / "data" / "real"
TORCH = REAL / "torch"
ACCELERATE = REAL / "accelerate"
MANIFEST: dict[str, dict[str, Any]] = json.loads((TORCH / "manifest.json").read_text())["files"]

OURS = sorted(name for name in MANIFEST if name.startswith("ours/"))
SEQUENTIAL = sorted(name for name in MANIFEST if name.startswith("sequential/"))
TORCH_JSON = ["json/steplr_checkpoint.json", "json/multisteplr_checkpoint.json"]


def agree(ours: float, theirs: float) -> bool:
    return lrs_agree(ours, theirs)


@pytest.mark.parametrize("name", OURS)
def test_our_state_is_read_wherever_it_was_saved(name: str) -> None:
    reported = MANIFEST[name]["reported"]
    reading = registry.read_state(str(TORCH / name))
    state = reading.require_state()
    assert reading.view.position == state.position == reported["step"] == 65
    assert reading.view.lrs == tuple(reported["get_last_lr"]) == (0.001,)
    assert {int(t): state.schedule.lr_at(int(t)) for t in reported["lr_at"]} == {
        int(t): lr for t, lr in reported["lr_at"].items()
    }
    expected_key = ".".join(reported.get("scheduler_key", ["scheduler"]))
    assert reading.key == (expected_key if name.count("checkpoint") else "(top level)")
    expected_format = "json-checkpoint" if name.endswith(".json") else "torch-checkpoint"
    assert reading.format == expected_format


def test_a_stale_optimizer_beside_our_state_is_reported() -> None:
    reported = MANIFEST["ours/checkpoint_stale_optimizer.pt"]["reported"]
    reading = registry.read_state(str(TORCH / "ours/checkpoint_stale_optimizer.pt"))
    assert reported["optimizer_lrs"] == [0.01]
    assert reading.warnings == (
        "the optimizer at optimizer disagrees with the scheduler at scheduler (step 65): "
        "param_groups[0] lr is 0.01 but the scheduler gives 0.001",
    )


@pytest.mark.parametrize("name", [n for n in OURS if n != "ours/checkpoint_stale_optimizer.pt"])
def test_a_consistent_optimizer_beside_our_state_gives_no_warning(name: str) -> None:
    assert registry.read_state(str(TORCH / name)).warnings == ()


@pytest.mark.parametrize("name", TORCH_JSON)
def test_torch_json_checkpoints_are_searched_like_pickles(name: str) -> None:
    reported = MANIFEST[name]["reported"]
    reading = registry.read_state(str(TORCH / name))
    state = reading.require_state()
    assert reading.format == "json-checkpoint"
    assert reading.key == ".".join(reported["scheduler_key"])
    assert reading.view.position == reported["last_epoch"]
    assert agree(reading.view.lrs[0], reported["get_last_lr"][0])
    assert all(
        agree(state.schedule.lr_at(t), lr) for t, lr in enumerate(reported["lrs_by_position"])
    )
    assert reading.warnings == ()  # the optimizer's lrs (torch's, drift and all) agree


@pytest.mark.parametrize("key", ["generator_scheduler", "discriminator_scheduler"])
def test_key_chooses_among_the_schedulers_of_a_json_checkpoint(key: str) -> None:
    reported = MANIFEST["json/two_schedulers.json"]["reported"][key]
    reading = registry.read_state(str(TORCH / "json/two_schedulers.json"), hints=Hints(key=key))
    assert (reading.key, reading.view.position) == (key, reported["last_epoch"])
    assert agree(reading.view.lrs[0], reported["get_last_lr"][0])
    assert reading.warnings == ()  # each is checked against its own optimizer
    schedule = reading.require_state().schedule
    assert all(agree(schedule.lr_at(t), lr) for t, lr in enumerate(reported["lrs_by_position"]))


def test_a_json_checkpoint_with_two_schedulers_needs_key() -> None:
    with pytest.raises(StepschedError, match=r"2 LR scheduler states found \(generator_sch"):
        registry.read_state(str(TORCH / "json/two_schedulers.json"))


@pytest.mark.parametrize("name", SEQUENTIAL)
def test_sequential_warmup_is_one_schedule_at_the_outer_position(name: str) -> None:
    reported = MANIFEST[name]["reported"]
    reading = registry.read_state(str(TORCH / name))
    record = inspect_record(reading)
    assert reading.view.position == record["step"] == reported["last_epoch"]
    assert reading.view.framework_lr == reported["get_last_lr"][0]  # torch's own, exactly
    assert agree(reading.view.lrs[0], reported["get_last_lr"][0])
    assert record["torch_scheduler"] == "SequentialLR"
    assert record["torch_lrs"] == reported["get_last_lr"]
    assert reading.warnings == ()
    if name.startswith("sequential/constant"):
        assert reading.state is None
        assert reading.reason is not None
        assert "ConstantLR warmup (factor 0.25 for 5 positions) is not a linear ramp" in (
            reading.reason
        )
        return
    schedule = reading.require_state().schedule
    assert schedule.warmup_steps == 5
    assert all(agree(schedule.lr_at(t), lr) for t, lr in enumerate(reported["lrs_by_position"]))


@pytest.mark.parametrize(
    ("name", "warmup_start_lr", "decay"),
    [
        ("linear_steplr_at_milestone.pt", 0.01, {"step_size": 10, "gamma": 0.5}),
        ("linear_multisteplr_at_milestone.pt", 0.001, {"milestones": [8, 20], "gamma": 0.1}),
    ],
)
def test_sequential_linear_warmup_converts_with_a_shifted_decay_clock(
    name: str, warmup_start_lr: float, decay: dict[str, Any]
) -> None:
    record = inspect_record(registry.read_state(str(TORCH / "sequential" / name)))
    assert record["warmup_steps"] == 5
    assert record["warmup_start_lr"] == warmup_start_lr
    assert {key: record[key] for key in decay} == decay
    assert record["next_boundary"] == 5 + (decay.get("step_size") or decay["milestones"][0])


@pytest.mark.parametrize(
    ("optimizer", "warnings"),
    [
        ("plain/optimizer.pt", ()),
        (
            "plain/optimizer_stale.pt",
            (
                "the optimizer in {path} disagrees with the scheduler (step 45): "
                "param_groups[0] lr is 0.1 but the scheduler gives 0.01",
            ),
        ),
    ],
)
def test_optimizer_in_a_separate_file_is_cross_checked(
    optimizer: str, warnings: tuple[str, ...]
) -> None:
    path = str(ACCELERATE / optimizer)
    reading = registry.read_state(
        str(ACCELERATE / "plain/scheduler.pt"), hints=Hints(optimizer=path)
    )
    assert reading.warnings == tuple(line.format(path=path) for line in warnings)


def test_accelerate_save_state_optimizer_agrees_with_its_scheduler() -> None:
    folder = ACCELERATE / "save_state"
    reading = registry.read_state(
        str(folder / "scheduler.bin"), hints=Hints(optimizer=str(folder / "optimizer.bin"))
    )
    assert (reading.view.position, reading.view.lrs, reading.warnings) == (25, (0.025,), ())


def test_optimizer_file_from_json_and_its_refusals(tmp_path: Path) -> None:
    scheduler = str(ACCELERATE / "plain/scheduler.pt")
    groups = [{"lr": 0.01, "initial_lr": 0.1, "params": [0]}]
    good = tmp_path / "optimizer.json"
    good.write_text(json.dumps({"state": {}, "param_groups": groups}))
    assert registry.read_state(scheduler, hints=Hints(optimizer=str(good))).warnings == ()
    two = tmp_path / "two.json"
    two.write_text(
        json.dumps(
            {"a": {"state": {}, "param_groups": groups}, "b": {"state": {}, "param_groups": groups}}
        )
    )
    with pytest.raises(StepschedError, match=r"2 optimizer states found \(a, b\)"):
        registry.read_state(scheduler, hints=Hints(optimizer=str(two)))
    with pytest.raises(StepschedError, match="no optimizer state found"):
        registry.read_state(scheduler, hints=Hints(optimizer=scheduler))
    broken = tmp_path / "broken.json"
    broken.write_text("{")
    with pytest.raises(StepschedError, match="must be a torch.save file or JSON; it is not valid"):
        registry.read_state(scheduler, hints=Hints(optimizer=str(broken)))
