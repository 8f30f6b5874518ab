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

from .conftest import RUN_LENGTH_USAGE_ERRORS

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
            "timm",
            ["--lr", "0.1", "--step-size", "30"],
            [
                "from stepsched_cli.torch import StepLR",
                "scheduler = StepLR(optimizer, step_size=30, gamma=0.1, t_in_epochs=False)",
            ],
        ),
        (
            "timm",
            ["--lr", "0.1", "--milestones", "30,60", "--mode", "epoch"],
            [
                "# Its milestones are torch's (the decay takes effect at each), not timm's"
                " decay_t.",
                "scheduler = MultiStepLR(optimizer, milestones=[30, 60], gamma=0.1,"
                " t_in_epochs=True)",
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


RUN_LOOPS = [
    (
        ["--framework", "torch", "--milestones", "30,60,80", "--mode", "epoch", "--epochs", "90"],
        "\n# The run: 90 epochs, one scheduler.step() at the end of each.\n"
        "for epoch in range(90):\n"
        "    for batch in loader:  # your DataLoader\n"
        "        ...  # forward and backward\n"
        "        optimizer.step()\n"
        "        optimizer.zero_grad()\n"
        "    scheduler.step()\n",
    ),
    (
        ["--framework", "torch", "--step-size", "30", "--total", "1e3"],
        "\n# The run: 1000 optimizer steps, one scheduler.step() after each.\n"
        "for step in range(1000):\n"
        "    ...  # forward and backward on the next batch\n"
        "    optimizer.step()\n"
        "    optimizer.zero_grad()\n"
        "    scheduler.step()\n",
    ),
    (
        ["--framework", "lightning", "--milestones", "30ep,60ep,80ep", "--steps-per-epoch",
         "5005", "--epochs", "90"],
        "\n# The run: 450450 optimizer steps.\n"
        "trainer = pl.Trainer(max_steps=450450)\n"
        "trainer.fit(Model(), train_dataloaders=loader)  # your DataLoader\n",
    ),
    (
        ["--framework", "lightning", "--step-size", "30", "--mode", "epoch", "--total", "90"],
        "\n# The run: 90 epochs.\n"
        "trainer = pl.Trainer(max_epochs=90)\n"
        "trainer.fit(Model(), train_dataloaders=loader)  # your DataLoader\n",
    ),
    (
        ["--framework", "timm", "--milestones", "30,60,80", "--mode", "epoch", "--epochs", "90"],
        "\n# The run: 90 epochs, the next epoch passed at the end of each.\n"
        "for epoch in range(90):\n"
        "    ...  # one epoch of training\n"
        "    scheduler.step(epoch + 1)\n",
    ),
    (
        ["--framework", "timm", "--step-size", "30", "--total", "90ep", "--steps-per-epoch", "10"],
        "\n# The run: 900 updates, the update count passed after each.\n"
        "num_updates = 0\n"
        "for _ in range(900):\n"
        "    ...  # forward and backward on the next batch\n"
        "    optimizer.step()\n"
        "    optimizer.zero_grad()\n"
        "    num_updates += 1\n"
        "    scheduler.step_update(num_updates)\n",
    ),
    (
        # Keras counts optimizer steps: its epochs when the run is a whole number of them.
        ["--framework", "keras", "--milestones", "30,60,80", "--mode", "epoch",
         "--steps-per-epoch", "5005", "--epochs", "90"],
        "\n# The run: 450450 optimizer steps (optimizer.iterations 0 to 450449).\n"
        "model.compile(optimizer=optimizer, loss=...)  # your model and loss\n"
        "model.fit(dataset.repeat(), epochs=90, steps_per_epoch=5005)  # your tf.data dataset\n",
    ),
    (
        ["--framework", "keras", "--step-size", "30", "--steps-per-epoch", "7", "--total", "100"],
        "\n# The run: 100 optimizer steps (optimizer.iterations 0 to 99).\n"
        "model.compile(optimizer=optimizer, loss=...)  # your model and loss\n"
        "model.fit(dataset.repeat(), epochs=1, steps_per_epoch=100)  # your tf.data dataset\n",
    ),
    (
        ["--framework", "optax", "--step-size", "3", "--mode", "epoch", "--steps-per-epoch",
         "10", "--total", "9", "--exact"],
        "\n# The run: 90 updates (the schedule is read at counts 0 to 89).\n"
        "opt_state = optimizer.init(params)  # your params\n"
        "for step in range(90):\n"
        "    grads = ...  # jax.grad of your loss at params, on the next batch\n"
        "    updates, opt_state = optimizer.update(grads, opt_state, params)\n"
        "    params = optax.apply_updates(params, updates)\n",
    ),
]  # fmt: skip


def _code(run: Invoke, options: list[str]) -> Result:
    result = run("code", *options)
    assert result.exit_code == 0, result.stderr
    return result


@pytest.mark.parametrize(("options", "loop"), RUN_LOOPS, ids=lambda x: str(x)[:60])
def test_a_run_length_ends_the_snippet_with_its_training_loop(
    run: Invoke, options: list[str], loop: str
) -> None:
    text = _code(run, options).stdout
    length = options.index("--total" if "--total" in options else "--epochs")
    without = _code(run, options[:length] + options[length + 2 :]).stdout
    # Everything the snippet says without a run length (--exact's drop-in too), then the loop.
    assert text == without + loop
    compile(text, "snippet.py", "exec")


def test_a_run_length_warns_about_decays_it_never_reaches(run: Invoke) -> None:
    result = _code(run, ["--framework", "torch", "--milestones", "30,60,80", "--total", "70"])
    assert result.stderr == (
        "stepsched: warning: milestone 80 at or beyond the horizon (70 steps) is never reached\n"
    )
    assert "\nfor step in range(70):\n" in result.stdout


@pytest.mark.parametrize(("options", "message"), RUN_LENGTH_USAGE_ERRORS)
def test_a_run_length_that_cannot_be_counted_is_a_usage_error(
    run: Invoke, options: list[str], message: str
) -> None:
    result = run("code", "--framework", "torch", "--step-size", "30", *options)
    assert (result.exit_code, result.stdout) == (2, "")
    assert result.stderr == f"stepsched: error: {message} (see 'stepsched code --help')\n"
