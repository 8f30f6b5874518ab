"""``check`` on real logs that count their steps from 1, and on TensorFlow-written runs.

The Hugging Face Trainer (``trainer_state.json``, its TensorBoard tag
``train/learning_rate``) and MMEngine (``vis_data/scalars.json``) log at step s the lr
of position s - 1: ``check`` recognises them, passes without options and says why on
stderr.  A generic log passes with ``--steps-from 1``.  The Keras TensorBoard callback on
TensorFlow writes tensor summaries: read as TensorBoard reads them.  Expected values are
the manifests' (what the libraries reported).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from typer.testing import Result

from stepsched_cli.runlog import tensorboard as tensorboard_log

Invoke = Callable[..., Result]

REAL = Path(__file__).resolve().parent.parent / "data" / "real"
STEP10 = ("--lr", "0.1", "--step-size", "10", "--gamma", "0.5")
HF_TB_NOTE = (
    "logged steps count from 1: the Hugging Face Trainer's TensorBoard tag "
    "train/learning_rate logs at step s the lr of position s - 1\n"
)


def manifest(framework: str) -> dict[str, Any]:
    files: dict[str, Any] = json.loads((REAL / framework / "manifest.json").read_text())["files"]
    return files


@pytest.mark.parametrize(
    ("log", "options", "note"),
    [
        (
            "transformers_logs/trainer_state.json",
            STEP10,
            "the Hugging Face Trainer's trainer_state.json (log_history)",
        ),
        ("mmengine_logs/iter_based/vis_data/scalars.json", STEP10,
         "MMEngine's vis_data/scalars.json"),
        (
            "mmengine_logs/epoch_based/vis_data/scalars.json",
            ("--lr", "0.1", "--step-size", "2", "--gamma", "0.5", "--mode", "epoch",
             "--steps-per-epoch", "4"),
            "MMEngine's vis_data/scalars.json",
        ),
    ],
)  # fmt: skip
def test_healthy_logs_counting_from_one_pass_without_options(
    run: Invoke, log: str, options: tuple[str, ...], note: str
) -> None:
    result = run("check", str(REAL / log), *options)
    assert result.exit_code == 0, result.stderr
    assert result.stderr == (
        f"logged steps count from 1: {note} logs at step s the lr of position s - 1\n"
    )
    points = 20 if "epoch_based" in log else 25
    assert result.stdout.startswith(f"ok: {points} points match ")


def test_steps_from_0_overrides_the_recognised_counting(run: Invoke) -> None:
    result = run("check", str(REAL / "transformers_logs" / "trainer_state.json"), *STEP10,
                 "--steps-from", "0")  # fmt: skip
    assert result.exit_code == 1
    assert result.stderr == ""
    lines = result.stdout.splitlines()
    assert lines[0] == "mismatch at step 10: expected lr 0.05, logged 0.1 (2 of 25 points differ)"
    assert lines[3] == (
        "hint: if the log's steps count from 1 (step s holds the lr update s used), check it "
        "with --steps-from 1"
    )
    # The decays as the log shows them: each one step after the plan.
    assert lines[8:10] == [
        "               10            11           +1     0.1 -> 0.05     0.1 -> 0.05",
        "               20            21           +1   0.05 -> 0.025   0.05 -> 0.025",
    ]


def test_a_generic_log_from_one_passes_with_steps_from_1(run: Invoke, tmp_path: Path) -> None:
    pairs = manifest("transformers_logs")["trainer_state.json"]["reported"]["log_history_lr"]
    path = tmp_path / "train_log.csv"
    path.write_text("step,lr\n" + "".join(f"{step},{lr!r}\n" for step, lr in pairs))
    result = run("check", str(path), *STEP10, "--steps-from", "1", "--json")
    assert result.exit_code == 0, result.stderr
    report = json.loads(result.stdout)
    assert (report["ok"], report["points_checked"], report["steps_from"]) == (True, 25, 1)
    assert report["counting_note"] is None
    assert run("check", str(path), *STEP10).exit_code == 1


@pytest.mark.parametrize("value", ["2", "-1", "one"])
def test_steps_from_takes_0_or_1(run: Invoke, tmp_path: Path, value: str) -> None:
    path = tmp_path / "log.csv"
    path.write_text("step,lr\n0,0.1\n")
    result = run("check", str(path), "--steps-from", value)
    assert result.exit_code == 2
    assert "--steps-from" in result.stderr


def test_a_step_0_in_a_log_from_one_names_the_option(run: Invoke, tmp_path: Path) -> None:
    path = tmp_path / "log.csv"
    path.write_text("step,lr\n0,0.1\n1,0.1\n")
    result = run("check", str(path), "--steps-from", "1")
    assert result.exit_code == 1
    assert result.stderr == (
        f"stepsched: error: {path} line 2: step 0 in a log whose steps count from 1; choose "
        "one with --steps-from\n"
    )


def test_the_trainers_tensorboard_run_passes_without_options(run: Invoke) -> None:
    pytest.importorskip("tensorboard")
    runs = REAL / "transformers_logs" / "runs"
    (event,) = [name for name in manifest("transformers_logs") if name.startswith("runs/")]
    read_back = manifest("transformers_logs")[event]["reported"]["read_back"]
    read = tensorboard_log.read_run(str(runs))
    assert [[point.step, point.lr] for point in read.points] == read_back
    result = run("check", str(runs), *STEP10)
    assert (result.exit_code, result.stderr) == (0, HF_TB_NOTE)
    assert result.stdout == "ok: 25 points match lr=0.1, step_size=10, gamma=0.5\n"


TF_RUNS = [
    (framework, relative, entry["reported"])
    for framework in ("keras3", "tfkeras")
    for relative, entry in sorted(manifest(framework).items())
    if "tensorboard/train/" in relative
]


@pytest.mark.parametrize(
    ("framework", "relative", "values"), TF_RUNS, ids=[f for f, _, _ in TF_RUNS]
)
def test_tensor_summaries_are_read_as_tensorboard_reads_them(
    framework: str, relative: str, values: dict[str, Any]
) -> None:
    pytest.importorskip("tensorboard")
    assert values["tags"]["scalars"] == []
    run_dir = REAL / framework / Path(relative).parent
    read = tensorboard_log.read_run(str(run_dir))
    assert (read.tag, read.tags) == ("epoch_learning_rate", ("epoch_loss", "epoch_learning_rate"))
    points = [[point.step, point.lr] for point in read.points]
    assert points == values["read_back"]["epoch_learning_rate"]
    # The callback logs at epoch e the lr at the end of epoch e (the optimizer's
    # iterations then), as Keras reported it.
    assert [lr for _, lr in points] == [lr for _, _, lr in values["epoch_iterations_lr"]]


def test_a_learning_rate_scheduler_run_checks_by_epoch(run: Invoke) -> None:
    pytest.importorskip("tensorboard")
    relative = next(
        name for name in manifest("keras3") if name.startswith("tensorflow/tensorboard_lr_")
    )
    values = manifest("keras3")[relative]["reported"]
    logged = values["read_back"]["epoch_learning_rate"]
    # LearningRateScheduler set each epoch's lr before it trained; the callback logged it.
    assert [lr for _, lr in logged] == values["lr_applied_per_epoch"]
    run_dir = REAL / "keras3" / Path(relative).parent
    result = run("check", str(run_dir), "--mode", "epoch", "--lr", "0.1", "--step-size", "2",
                 "--gamma", "0.5")  # fmt: skip
    assert (result.exit_code, result.stderr) == (0, "")
    assert result.stdout == "ok: 5 points match lr=0.1, step_size=2, gamma=0.5, mode=epoch\n"


def test_a_text_summary_is_not_an_lr_tag(run: Invoke) -> None:
    pytest.importorskip("tensorboard")
    run_dir = REAL / "tfkeras" / "tensorboard" / "train"
    result = run("check", str(run_dir), "--tag", "keras")
    assert result.exit_code == 1
    assert result.stderr == (
        f"stepsched: error: {run_dir}: no scalar tag 'keras' (scalar tags: epoch_loss, "
        "epoch_learning_rate)\n"
    )


@pytest.mark.parametrize("backend", ["jax", "tensorflow", "torch"])
def test_a_keras_csvlogger_log_without_lr_says_why(run: Invoke, backend: str) -> None:
    values = manifest("keras3")[f"{backend}/csvlogger_no_lr.csv"]["reported"]
    assert values["history_keys"] == ["loss"]
    path = REAL / "keras3" / backend / "csvlogger_no_lr.csv"
    result = run("check", str(path), "--mode", "epoch")
    assert result.exit_code == 1
    assert result.stderr == (
        f"stepsched: error: {path}: looks like a Keras CSVLogger log (columns 'epoch', 'loss', "
        "'val_loss') and holds no lr: Keras writes the lr only when a callback adds "
        "learning_rate to the epoch logs (LearningRateScheduler, ReduceLROnPlateau); choose "
        "one with --lr-column\n"
    )


@pytest.mark.parametrize("backend", ["jax", "tensorflow", "torch"])
def test_a_keras_csvlogger_log_with_the_schedulers_lr_checks_by_epoch(
    run: Invoke, backend: str
) -> None:
    values = manifest("keras3")[f"{backend}/csvlogger_lr_scheduler.csv"]["reported"]
    path = REAL / "keras3" / backend / "csvlogger_lr_scheduler.csv"
    result = run("check", str(path), "--step-column", "epoch", "--mode", "epoch",
                 "--lr", "0.1", "--step-size", "2", "--gamma", "0.5", "--json")  # fmt: skip
    assert result.exit_code == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["points_checked"] == len(values["lr_applied_per_epoch"]) == 5
