"""Files of the torch training stacks, read through ``read_state`` as their library meant them.

Every expected value is from a ``manifest.json`` under ``tests/data/real`` (what torch 2.13,
transformers 5.25, lightning 2.6, mmengine 0.10 and ignite 0.5 reported when they wrote
the file); refusals are compared whole: one line naming what the file is.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from stepsched_cli.errors import StepschedError
from stepsched_cli.formats import registry
from stepsched_cli.formats.checkpoint_errors import UnsafeCheckpointError
from stepsched_cli.formats.hints import HintRefused, Hints
from stepsched_cli.formats.reading import inspect_record
from stepsched_cli.validate import lrs_agree

REAL = Path(__file__).resolve().parents[2] / "data" / "real"


def manifest(framework: str) -> dict[str, dict[str, Any]]:
    files: dict[str, dict[str, Any]] = json.loads((REAL / framework / "manifest.json").read_text())[
        "files"
    ]
    return files


def read(relative: str, **hints: Any) -> Any:
    return registry.read_state(str(REAL / relative), hints=Hints(**hints))


def agree(ours: tuple[float, ...], theirs: list[float]) -> bool:
    return len(ours) == len(theirs) and all(map(lrs_agree, ours, theirs))


# -- torch ChainedScheduler ----------------------------------------------------------

TORCH = manifest("torch_schedulers")
CHAINS = [
    "step_multistep_27",
    "step_multistep_12",
    "linear_multistep_groups",
    "constant_step_warmup",
]


@pytest.mark.parametrize("name", CHAINS)
def test_a_chained_scheduler_is_one_schedule_at_torch_lr(name: str) -> None:
    reported = TORCH[f"chained/{name}.pt"]["reported"]
    reading = read(f"torch_schedulers/chained/{name}.pt")
    assert (reading.key, reading.view.position) == ("lr_scheduler", reported["position"])
    assert agree(reading.view.lrs, reported["get_last_lr"])
    assert reading.view.framework_lr == reported["get_last_lr"][0]
    assert reading.warnings == ()  # the optimizer agrees with the chain
    record = inspect_record(reading)
    assert record["members"] == reported["members"]
    applied = reported["lrs_by_position"]
    for t, lrs in record["next_changes"]:
        if t < len(applied):
            assert lrs_agree(lrs[0], applied[t])
            assert applied[t] != applied[t - 1]
    assert reading.state is None
    assert reading.reason is not None
    assert reading.reason.startswith("this torch ChainedScheduler cannot be a stepsched state")


def test_no_member_of_a_chain_is_offered_as_the_schedule() -> None:
    with pytest.raises(StepschedError) as raised:
        read("torch_schedulers/chained/step_multistep_12.pt", key="lr_scheduler._schedulers[0]")
    assert str(raised.value).endswith(
        "no LR scheduler state at key 'lr_scheduler._schedulers[0]' (found: lr_scheduler)"
    )


REFUSED = [
    (
        "chained/cosine_step.pt",
        "[lr_scheduler]: a ChainedScheduler whose member _schedulers[0] is a CosineAnnealingLR, "
        "not a step decay or a warmup; stepsched reads a ChainedScheduler of StepLR, "
        "MultiStepLR, ConstantLR and LinearLR",
    ),
    (
        "chained/sequential_inside.pt",
        "[lr_scheduler]: a ChainedScheduler whose member _schedulers[0] is a SequentialLR (a "
        "scheduler nested in the chain), not a step decay or a warmup; stepsched reads a "
        "ChainedScheduler of StepLR, MultiStepLR, ConstantLR and LinearLR",
    ),
    (
        "refused/plateau.pt",
        "[lr_scheduler]: not a step-decay scheduler: it looks like a ReduceLROnPlateau, whose lr "
        "follows a metric, not the position (it has factor, default_min_lr, min_lrs, patience, "
        "cooldown, eps, last_epoch, mode_worse and 6 more); stepsched reads torch StepLR and "
        "MultiStepLR",
    ),
    (
        "refused/onecycle.pt",
        "[lr_scheduler]: not a step-decay scheduler: it looks like a OneCycleLR, a one-cycle "
        "schedule (it has total_steps, cycle_momentum, use_beta1, last_epoch); stepsched reads "
        "torch StepLR and MultiStepLR",
    ),
    (
        "refused/cosine.pt",
        "[lr_scheduler]: not a step-decay scheduler: it looks like a CosineAnnealingLR (it has "
        "T_max, eta_min, last_epoch); stepsched reads torch StepLR and MultiStepLR",
    ),
    (
        "refused/lambda.pt",
        "[lr_scheduler]: not a step-decay scheduler: it looks like a LambdaLR or "
        "MultiplicativeLR, whose lr is a Python function torch does not save (it has "
        "last_epoch, lr_lambdas); stepsched reads torch StepLR and MultiStepLR",
    ),
]


@pytest.mark.parametrize(("name", "message"), REFUSED, ids=[name for name, _ in REFUSED])
def test_a_non_step_scheduler_is_refused_by_name_in_one_line(name: str, message: str) -> None:
    path = REAL / "torch_schedulers" / name
    with pytest.raises(StepschedError) as raised:
        registry.read_state(str(path))
    assert str(raised.value) == f"{path} {message}"


@pytest.mark.parametrize("name", ["steplr_object.pt", "object_in_checkpoint.pt"])
def test_a_whole_scheduler_object_is_told_to_save_its_state_dict(name: str) -> None:
    path = REAL / "torch_schedulers" / "refused" / name
    with pytest.raises(UnsafeCheckpointError) as raised:
        registry.read_state(str(path))
    assert str(raised.value) == (
        f"refusing to load {str(path)!r}: its pickle references torch.optim.lr_scheduler.StepLR, "
        "which is not on the allowlist of inert types: a whole StepLR object was saved "
        "(torch.save(scheduler)); save scheduler.state_dict() instead, which stepsched reads"
    )


# -- Hugging Face Trainer folders ----------------------------------------------------

TRANSFORMERS = manifest("transformers")
TRAINER_CHECKPOINTS = ["steplr/checkpoint-10", "steplr/checkpoint-20", "steplr/checkpoint-25"]


@pytest.mark.parametrize("folder", TRAINER_CHECKPOINTS)
def test_a_trainer_checkpoint_folder_reads_its_scheduler(folder: str) -> None:
    reported = TRANSFORMERS[f"{folder}/scheduler.pt"]["reported"]
    reading = read(f"transformers/{folder}")
    assert reading.format == "training-folder"
    assert reading.source == str(REAL / "transformers" / folder / "scheduler.pt")
    assert reading.view.position == reported["last_epoch"] == reported["global_step"]
    assert reading.view.lrs == tuple(reported["get_last_lr"]) == tuple(reported["optimizer_lrs"])
    assert reading.warnings == ()
    assert reading.view.position_text == (
        f"step {reported['global_step']} (Trainer global_step {reported['global_step']}, "
        f"epoch {reported['epoch']})"
    )
    record = inspect_record(reading)
    assert (record["trainer_global_step"], record["trainer_epoch"]) == (
        reported["global_step"],
        reported["epoch"],
    )


def test_a_trainer_checkpoint_whose_counts_disagree_is_warned(tmp_path: Path) -> None:
    source = REAL / "transformers" / "steplr" / "checkpoint-20"
    for name in ("scheduler.pt", "optimizer.pt"):
        (tmp_path / name).write_bytes((source / name).read_bytes())
    stale = REAL / "transformers" / "steplr" / "checkpoint-10" / "trainer_state.json"
    (tmp_path / "trainer_state.json").write_bytes(stale.read_bytes())
    reading = registry.read_state(str(tmp_path))
    assert reading.warnings == (
        "trainer_state.json's global_step is 10 but the scheduler's position is 20: they were "
        "not saved together",
    )


def test_a_stale_optimizer_in_a_trainer_folder_is_warned(tmp_path: Path) -> None:
    source = REAL / "transformers" / "steplr"
    for name in ("scheduler.pt", "trainer_state.json"):
        (tmp_path / name).write_bytes((source / "checkpoint-25" / name).read_bytes())
    (tmp_path / "optimizer.pt").write_bytes(
        (source / "checkpoint-10" / "optimizer.pt").read_bytes()
    )
    reading = registry.read_state(str(tmp_path))
    assert [line.split(": ", 1)[1] for line in reading.warnings] == [
        "param_groups[0] lr is 0.05 but the scheduler gives 0.025"
    ]


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        ("{", "not read ("),
        ('{"global_step": -1}', "global_step must be an integer >= 0, got -1"),
    ],
)
def test_a_broken_trainer_state_is_a_warning(tmp_path: Path, content: str, problem: str) -> None:
    source = REAL / "transformers" / "steplr" / "checkpoint-20"
    (tmp_path / "scheduler.pt").write_bytes((source / "scheduler.pt").read_bytes())
    (tmp_path / "trainer_state.json").write_text(content)
    reading = registry.read_state(str(tmp_path))
    assert reading.view.position == 20
    assert len(reading.warnings) == 1
    assert reading.warnings[0].startswith(f"{tmp_path / 'trainer_state.json'}: {problem}")


def test_the_trainers_own_schedule_is_refused_by_name() -> None:
    folder = REAL / "transformers" / "default" / "checkpoint-6"
    assert TRANSFORMERS["default/checkpoint-6/scheduler.pt"]["reported"]["scheduler"] == "LambdaLR"
    with pytest.raises(StepschedError) as raised:
        registry.read_state(str(folder))
    assert str(raised.value) == (
        f"{folder / 'scheduler.pt'} [(top level)]: not a step-decay scheduler: it looks like a "
        "LambdaLR or MultiplicativeLR, whose lr is a Python function torch does not save (it "
        "has last_epoch, lr_lambdas); stepsched reads torch StepLR and MultiStepLR"
    )


def test_an_accelerate_folder_reads_scheduler_bin_with_optimizer_bin() -> None:
    reported = manifest("accelerate")["save_state/scheduler.bin"]["reported"]
    reading = read("accelerate/save_state")
    assert reading.view.position == reported["last_epoch"] == 25
    assert reading.view.lrs == tuple(reported["get_last_lr"])
    assert reading.warnings == ()


def test_a_training_folder_takes_no_hints() -> None:
    with pytest.raises(HintRefused):
        read("transformers/steplr/checkpoint-20", key="lr_scheduler")


# -- Lightning -----------------------------------------------------------------------

LIGHTNING = manifest("lightning")


@pytest.mark.parametrize("name", sorted(LIGHTNING))
def test_a_lightning_checkpoint_says_which_unit_its_scheduler_counts(name: str) -> None:
    reported = LIGHTNING[name]["reported"]
    reading = read(f"lightning/{name}")
    view = reading.view
    assert view.position == reported["last_epoch"]
    assert view.lrs == tuple(reported["get_last_lr"]) == tuple(reported["optimizer_lrs"])
    assert view.unit == reported["interval"]
    assert view.position_text == (
        f"{reported['interval']} {reported['last_epoch']} (Lightning epoch "
        f"{reported['checkpoint_epoch']}, global_step {reported['checkpoint_global_step']})"
    )
    state = reading.require_state()
    assert state.schedule.mode == reported["interval"]


def test_the_epoch_interval_checkpoint_of_the_issue() -> None:
    reading = read("lightning/epoch_interval/epoch=2-step=9.ckpt")
    decays = reading.view.decays
    assert decays is not None
    assert (reading.view.position, decays.next_boundary) == (3, 4)
    assert reading.view.notes == (
        'the scheduler counts epochs (interval="epoch"), not optimizer steps',
    )


# -- MMEngine ------------------------------------------------------------------------

MMENGINE = manifest("mmengine")
RUNNERS = sorted(name for name in MMENGINE if not name.startswith("state/"))


@pytest.mark.parametrize("name", RUNNERS)
def test_a_runner_checkpoint_is_read_at_its_saved_position(name: str) -> None:
    reported = MMENGINE[name]["reported"]
    reading = read(f"mmengine/{name}")
    assert agree(reading.view.lrs, reported["optimizer_lrs"])
    assert reading.warnings == ()
    assert reading.key == "param_schedulers"
    if name.startswith("epoch_based/"):
        assert reading.view.position == reported["meta_epoch"]
        assert reading.view.position_text == (
            f"epoch {reported['meta_epoch']} (iteration {reported['meta_iter']})"
        )
    else:
        assert reading.view.position == reported["meta_iter"]


def test_a_runner_lists_its_next_decay_in_epochs() -> None:
    reading = read("mmengine/epoch_based/epoch_1.pth")
    later = MMENGINE["epoch_based/epoch_2.pth"]["reported"]
    record = inspect_record(reading)
    assert record["next_changes"][0][0] == 2
    assert lrs_agree(record["next_changes"][0][1][0], later["optimizer_lrs"][0])


@pytest.mark.parametrize(
    ("name", "position", "text"),
    [
        ("state/steplr_begin.pth", 9, "iteration 9"),
        ("state/steplr_begin.json", 9, "iteration 9"),
        ("state/multistep_epoch.pth", 6, "epoch 6"),
    ],
)
def test_a_param_scheduler_state_is_read_at_its_global_step(
    name: str, position: int, text: str
) -> None:
    reported = MMENGINE[name]["reported"]
    reading = read(f"mmengine/{name}")
    assert (reading.view.position, reading.view.position_text) == (position, text)
    assert agree(reading.view.lrs, reported["get_last_value"])
    assert lrs_agree(reading.view.lrs[0], reported["lrs_by_position"][position])


def test_a_by_epoch_multistep_state_converts_in_epochs() -> None:
    state = read("mmengine/state/multistep_epoch.pth").require_state()
    assert (state.schedule.mode, state.schedule.milestones, state.position) == ("epoch", (3, 5), 6)


# -- Ignite --------------------------------------------------------------------------

IGNITE = manifest("ignite")


@pytest.mark.parametrize("name", sorted(IGNITE))
def test_an_ignite_checkpoint_is_read_at_its_own_counter(name: str) -> None:
    reported = IGNITE[name]["reported"]
    reading = read(f"ignite/{name}")
    assert reading.view.position == reported["iteration"]
    assert reading.view.lrs == (reported["wrapper_get_param"],)
    assert reading.warnings == ()  # its optimizer agrees with the schedule
    assert reading.view.position_text == (
        f"step {reported['iteration']} (Ignite iteration {reported['iteration']}, epoch "
        f"{reported['epoch']} of 3 iterations)"
    )
