"""``stepsched code``: snippets building the schedule in torch, Lightning, timm, Keras, optax.

The torch snippet is run with real torch (marked ``torch``); the others must compile
and carry the exact parameters their format modules compute.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable

import pytest
from typer.testing import Result

from stepsched_cli.schedule import StepSchedule

Invoke = Callable[..., Result]

SCHEDULES = [
    (["--lr", "0.1", "--step-size", "30"], StepSchedule(0.1, 30)),
    (["--lr", "0.05", "--step-size", "7", "--gamma", "0.5"], StepSchedule(0.05, 7, 0.5)),
    (["--lr", "0.1", "--milestones", "30,80"], StepSchedule(0.1, milestones=(30, 80))),
    (
        ["--lr", "0.3", "--milestones", "1,100,101", "--gamma", "0.3333"],
        StepSchedule(0.3, milestones=(1, 100, 101), gamma=0.3333),
    ),
]


def snippet(run: Invoke, framework: str, *options: str) -> str:
    result = run("code", "--framework", framework, *options)
    assert result.exit_code == 0, result.stderr
    assert result.stderr == ""
    return result.stdout


@pytest.mark.parametrize("framework", ["torch", "lightning", "timm", "keras", "optax"])
@pytest.mark.parametrize(("options", "schedule"), SCHEDULES, ids=lambda x: str(x))
def test_every_snippet_compiles(
    run: Invoke, framework: str, options: list[str], schedule: StepSchedule
) -> None:
    text = snippet(run, framework, *options)
    compile(text, f"<{framework} snippet>", "exec")
    assert text.startswith("# stepsched: ")
    assert "resume" in text.lower() or "Resume" in text


def test_torch_parameters(run: Invoke) -> None:
    text = snippet(run, "torch", "--lr", "0.1", "--step-size", "30")
    assert "StepLR(optimizer, step_size=30, gamma=0.1)" in text
    assert 'optimizer.load_state_dict(checkpoint["optimizer"])' in text
    assert "StepScheduler" in text


def test_lightning_interval_follows_the_mode(run: Invoke) -> None:
    steps = snippet(run, "lightning", "--lr", "0.1", "--milestones", "30,80")
    assert "MultiStepLR(optimizer, milestones=[30, 80], gamma=0.1)" in steps
    assert '"interval": "step"' in steps
    epochs = snippet(run, "lightning", "--lr", "0.1", "--step-size", "30", "--mode", "epoch")
    assert '"interval": "epoch"' in epochs
    assert 'ckpt_path="last.ckpt"' in epochs


def test_timm_parameters(run: Invoke) -> None:
    text = snippet(run, "timm", "--lr", "0.1", "--milestones", "30,80")
    assert "MultiStepLRScheduler(optimizer, decay_t=[31, 81], decay_rate=0.1" in text
    assert "step_update(num_updates)" in text
    epochs = snippet(run, "timm", "--lr", "0.1", "--step-size", "30", "--mode", "epoch")
    assert "StepLRScheduler(optimizer, decay_t=30, decay_rate=0.1" in epochs
    assert "t_in_epochs=True" in epochs
    assert "scheduler.step(epoch + 1)" in epochs


def test_keras_parameters(run: Invoke) -> None:
    text = snippet(run, "keras", "--lr", "0.1", "--step-size", "30")
    assert (
        "ExponentialDecay(initial_learning_rate=0.1, decay_steps=30, decay_rate=0.1, "
        "staircase=True)" in text
    )
    text = snippet(run, "keras", "--lr", "0.1", "--milestones", "30,80")
    assert "PiecewiseConstantDecay(boundaries=[29, 79], values=[0.1, 0.01, 0.001])" in text
    text = snippet(
        run, "keras", "--lr", "0.1", "--step-size", "2", "--mode", "epoch",
        "--steps-per-epoch", "100",
    )  # fmt: skip
    assert "decay_steps=200" in text


def test_optax_parameters(run: Invoke) -> None:
    text = snippet(run, "optax", "--lr", "0.1", "--step-size", "30")
    assert "optax.exponential_decay(init_value=0.1, transition_steps=30, decay_rate=0.1" in text
    assert "staircase=True" in text
    text = snippet(run, "optax", "--lr", "0.1", "--milestones", "30,80")
    assert "boundaries_and_scales={30: 0.1, 80: 0.1}" in text
    assert "opt_state" in text


@pytest.mark.parametrize(
    ("framework", "options", "message"),
    [
        ("torch", ["--warmup-steps", "5"], "torch StepLR has no warmup"),
        ("lightning", ["--min-lr", "0.001"], "torch StepLR has no lr floor"),
        ("keras", ["--warmup-steps", "5"], "cannot be written for Keras"),
        ("timm", ["--min-lr", "0.001"], "cannot be written for timm"),
    ],
)
def test_what_a_framework_cannot_express_is_refused(
    run: Invoke, framework: str, options: list[str], message: str
) -> None:
    result = run("code", "--framework", framework, "--lr", "0.1", "--step-size", "30", *options)
    assert result.exit_code == 1
    assert result.stdout == ""
    assert message in result.stderr


EXACT_KERAS = """
# Exact drop-in: stepsched_cli.keras.StepDecay decides each decay by integer arithmetic on
# optimizer.iterations (no early decay past 2**24) and gives the correctly rounded lr;
# the decay takes effect AT each boundary. Import it before keras.models.load_model.
from stepsched_cli.keras import StepDecay

schedule = StepDecay(0.1, decay_steps=1000000, decay_rate=0.1)
optimizer = keras.optimizers.SGD(learning_rate=schedule)
"""


def test_exact_prints_our_class_after_the_frameworks_own(run: Invoke) -> None:
    options = ["--lr", "0.1", "--step-size", "1000000"]
    own = snippet(run, "keras", *options)
    both = snippet(run, "keras", *options, "--exact")
    assert both == own + EXACT_KERAS
    assert "ExponentialDecay(initial_learning_rate=0.1, decay_steps=1000000" in both


@pytest.mark.parametrize(
    ("framework", "options", "lines"),
    [
        (
            "torch",
            ["--lr", "0.1", "--step-size", "30"],
            [
                "from stepsched_cli.torch import StepLR",
                "scheduler = StepLR(optimizer, step_size=30, gamma=0.1)",
            ],
        ),
        (
            "lightning",
            ["--lr", "0.1", "--milestones", "30,80"],
            [
                "from stepsched_cli.torch import MultiStepLR",
                "scheduler = MultiStepLR(optimizer, milestones=[30, 80], gamma=0.1)",
            ],
        ),
        (
            "optax",
            ["--lr", "0.1", "--step-size", "3", "--mode", "epoch", "--steps-per-epoch", "100"],
            ["schedule = step_decay(0.1, decay_steps=300, decay_rate=0.1)"],
        ),
        (
            "optax",
            ["--lr", "0.3", "--milestones", "1,100,101", "--gamma", "0.3333"],
            ["schedule = step_decay(0.3, boundaries=[1, 100, 101], decay_rate=0.3333)"],
        ),
        (
            "keras",
            ["--lr", "0.1", "--milestones", "30,80"],
            ["schedule = StepDecay(0.1, boundaries=[30, 80], decay_rate=0.1)"],
        ),
    ],
)
def test_exact_snippets_carry_the_schedule_in_updates_and_compile(
    run: Invoke, framework: str, options: list[str], lines: list[str]
) -> None:
    own = snippet(run, framework, *options)
    text = snippet(run, framework, *options, "--exact")
    exact = text.removeprefix(own)
    assert exact != text
    compile(text, f"<{framework} --exact snippet>", "exec")
    for line in lines:
        assert f"\n{line}\n" in exact


def test_exact_for_a_framework_without_a_drop_in_is_a_usage_error(run: Invoke) -> None:
    result = run("code", "--framework", "timm", "--exact")
    assert result.exit_code == 2
    assert result.stdout == ""
    assert "'--exact': stepsched has no drop-in for timm (it has one for torch, lightning," in (
        result.stderr
    )


def test_exact_refuses_a_floor_and_prints_nothing(run: Invoke) -> None:
    result = run("code", "--framework", "optax", "--lr", "0.1", "--min-lr", "0.001", "--exact")
    assert result.exit_code == 1
    assert result.stdout == ""
    assert result.stderr == (
        "stepsched: error: optax: stepsched's exact drop-in has no warmup or lr floor; "
        "use stepsched_cli.StepScheduler for those\n"
    )


def test_unknown_framework_is_a_usage_error(run: Invoke) -> None:
    result = run("code", "--framework", "jax", "--lr", "0.1")
    assert result.exit_code == 2


CHECK = r"""
import json, math, os, sys, tempfile
import torch
from stepsched_cli.schedule import StepSchedule

snippet, arguments = sys.stdin.read(), json.loads(sys.argv[1])
namespace = {}
exec(compile(snippet, "<snippet>", "exec"), namespace)
ours = StepSchedule(*arguments["args"], **arguments["kwargs"])
optimizer, scheduler = namespace["optimizer"], namespace["scheduler"]
build, resume, resume_at = namespace["build"], namespace["resume"], namespace["resume_at"]

def same(torch_lr, t):
    assert math.isclose(torch_lr, ours.lr_at(t), rel_tol=1e-12), (t, torch_lr, ours.lr_at(t))

path = os.path.join(tempfile.mkdtemp(), "ckpt.pt")
history = []
for t in range(400):
    same(optimizer.param_groups[0]["lr"], t)
    history.append(optimizer.param_groups[0]["lr"])
    if t == 150:
        namespace["save"](path, optimizer, scheduler)
    optimizer.step()
    scheduler.step()

resumed_optimizer, resumed = resume(path, torch.nn.Linear(4, 1).parameters())
for t in range(150, 400):
    assert resumed_optimizer.param_groups[0]["lr"] == history[t], t  # bit for bit
    resumed_optimizer.step()
    resumed.step()

for position in (0, 1, 29, 30, 31, 99, 100, 101, 250):
    at_optimizer, at_scheduler = resume_at(position, torch.nn.Linear(4, 1).parameters())
    assert at_scheduler.last_epoch == position
    for t in range(position, position + 60):
        same(at_optimizer.param_groups[0]["lr"], t)
        at_optimizer.step()
        at_scheduler.step()
print("ok")
"""


@pytest.mark.torch
@pytest.mark.parametrize(("options", "schedule"), SCHEDULES, ids=lambda x: str(x))
def test_torch_snippet_runs_the_same_schedule_and_resumes(
    run: Invoke, options: list[str], schedule: StepSchedule
) -> None:
    pytest.importorskip("torch")
    text = snippet(run, "torch", *options)
    arguments = {
        "args": [schedule.initial_lr],
        "kwargs": {
            "step_size": schedule.step_size,
            "gamma": schedule.gamma,
            "milestones": schedule.milestones,
        },
    }
    result = subprocess.run(
        [sys.executable, "-c", CHECK, json.dumps(arguments)],
        input=text,
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"
