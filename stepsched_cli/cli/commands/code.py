"""``stepsched code``: a short runnable snippet building the schedule in another framework.

The parameters come from the format modules' ``from_schedule`` (timm, Keras, optax) and
from the torch writer's rules, so a snippet says exactly what ``convert --to`` would
write, and what a framework cannot express is refused with the reason, never
approximated.  Each snippet shows how to resume from a checkpoint correctly.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any, cast

import typer

from stepsched_cli.cli.options.parameters import usage_error
from stepsched_cli.cli.options.schedule import (
    ScheduleOptions,
    resolve_plan,
    schedule_options,
    warn_if_implausible,
)
from stepsched_cli.cli.output import describe_schedule
from stepsched_cli.errors import ConversionError
from stepsched_cli.formats.registry import snippet_frameworks
from stepsched_cli.planning import Plan
from stepsched_cli.schedule import StepSchedule

# The choices come from the format table: each format names the snippets that build it.
FRAMEWORKS: tuple[str, ...] = tuple(snippet_frameworks())

CODE_EPILOG = """\
Examples:

  stepsched code --framework torch --lr 0.1 --step-size 30

  stepsched code --framework lightning --lr 0.1 --milestones 30,80 --mode epoch

  stepsched code --framework optax --state run.json
"""


def register(app: typer.Typer) -> None:
    """Add ``code`` to ``app``."""
    app.command("code", epilog=CODE_EPILOG)(code)


@schedule_options
def code(
    schedule: ScheduleOptions,
    framework: Annotated[
        str,
        typer.Option(
            "--framework",
            metavar="NAME",
            help=f"The framework to write the snippet for: {', '.join(FRAMEWORKS)}.",
            show_default=False,
        ),
    ],
) -> None:
    """Print a runnable snippet that builds the same schedule in another framework.

    It includes how to resume the schedule from a checkpoint.  What the framework
    cannot express exactly (a warmup or lr floor in torch's StepLR, say) is refused
    with the reason: use stepsched's own StepScheduler for those.
    """
    if framework not in SNIPPETS:
        raise usage_error(
            "--framework", f"unknown framework {framework!r} (known: {', '.join(FRAMEWORKS)})"
        )
    plan = resolve_plan(schedule)
    # The snippet becomes a real run: the same warnings as table and plot, on stderr.
    warn_if_implausible(plan, total=None)
    typer.echo(SNIPPETS[framework](plan), nl=False)


def _header(plan: Plan, framework: str) -> str:
    return f"# stepsched: {describe_schedule(plan.schedule)}, as {framework}\n"


def _torch_scheduler(schedule: StepSchedule, framework: str) -> str:
    """The torch constructor call; what StepLR cannot hold is refused by the torch writer."""
    from stepsched_cli.formats import torch as torch_format

    try:
        torch_format.check_writable(schedule)
    except ConversionError as error:
        raise ConversionError(f"{framework}: {error}", parameter=error.parameter) from None
    if schedule.milestones is None:
        return f"StepLR(optimizer, step_size={schedule.step_size}, gamma={schedule.gamma!r})"
    milestones = ", ".join(str(m) for m in schedule.milestones)
    return f"MultiStepLR(optimizer, milestones=[{milestones}], gamma={schedule.gamma!r})"


def _decays_expression(schedule: StepSchedule, position: str) -> str:
    if schedule.milestones is None:
        return f"({position}) // {schedule.step_size}"
    milestones = ", ".join(str(m) for m in schedule.milestones)
    return f"sum(m <= {position} for m in [{milestones}])"


def torch_snippet(plan: Plan) -> str:
    """torch: build, save, and two correct ways to resume."""
    schedule = plan.schedule
    constructor = _torch_scheduler(schedule, "torch")
    unit = "optimizer step (batch)" if schedule.mode == "step" else "epoch"
    lr = repr(schedule.initial_lr)
    gamma = repr(schedule.gamma)
    return f"""{_header(plan, "torch")}import torch
from torch.optim.lr_scheduler import {constructor.split("(")[0]}


def build(parameters):
    optimizer = torch.optim.SGD(parameters, lr={lr})
    scheduler = {constructor}
    return optimizer, scheduler


def save(path, optimizer, scheduler):
    state = {{"optimizer": optimizer.state_dict(), "lr_scheduler": scheduler.state_dict()}}
    torch.save(state, path)


def resume(path, parameters):
    # Build first (the constructor resets every group's lr), then load BOTH states:
    # torch computes each new lr from the optimizer's current one, so a scheduler
    # state alone, over a fresh optimizer, continues from the wrong lr.
    optimizer, scheduler = build(parameters)
    checkpoint = torch.load(path, weights_only=True)
    optimizer.load_state_dict(checkpoint["optimizer"])
    scheduler.load_state_dict(checkpoint["lr_scheduler"])
    return optimizer, scheduler


def resume_at(position, parameters):
    # Only the position known: torch's constructor with last_epoch=N steps once, to N + 1,
    # from each group's lr, which must be the lr at N; "initial_lr" must be set.
    optimizer = torch.optim.SGD(parameters, lr={lr})
    if position == 0:
        return optimizer, {constructor}
    for group in optimizer.param_groups:
        group["initial_lr"] = {lr}
        group["lr"] = {lr} * {gamma} ** ({_decays_expression(schedule, "position - 1")})
    return optimizer, {constructor[:-1]}, last_epoch=position - 1)


model = torch.nn.Linear(4, 1)
optimizer, scheduler = build(model.parameters())
# Training: one scheduler.step() per {unit}, after optimizer.step():
#     optimizer.step()
#     scheduler.step()
# stepsched_cli.StepScheduler is a drop-in alternative whose lrs never drift and whose
# state also holds warmup and floors: StepScheduler.from_schedule(..., optimizer=optimizer).
"""


def lightning_snippet(plan: Plan) -> str:
    """Lightning: configure_optimizers with the scheduler dict; resume through the Trainer."""
    schedule = plan.schedule
    constructor = _torch_scheduler(schedule, "lightning")
    interval = schedule.mode
    interval_unit = "optimizer step" if interval == "step" else "epoch"
    return f"""{_header(plan, "Lightning")}import lightning.pytorch as pl
import torch
from torch.optim.lr_scheduler import {constructor.split("(")[0]}


class Model(pl.LightningModule):
    def __init__(self):
        super().__init__()
        self.layer = torch.nn.Linear(4, 1)

    def configure_optimizers(self):
        optimizer = torch.optim.SGD(self.parameters(), lr={schedule.initial_lr!r})
        scheduler = {constructor}
        # "interval": "{interval}" steps the scheduler once per {interval_unit}.
        return {{
            "optimizer": optimizer,
            "lr_scheduler": {{"scheduler": scheduler, "interval": "{interval}", "frequency": 1}},
        }}


# Resume with trainer.fit(model, ckpt_path="last.ckpt"): Lightning restores
# optimizer_states and lr_schedulers together, after configure_optimizers() has built
# them. Do not load either by hand, and do not rebuild the scheduler with last_epoch.
"""


def timm_snippet(plan: Plan) -> str:
    """timm: StepLRScheduler / MultiStepLRScheduler with the position passed explicitly."""
    from stepsched_cli.formats import timm as timm_format

    document: dict[str, Any] = timm_format.from_schedule(plan.schedule)
    kind = document.pop(timm_format.MARKER)
    lr = document.pop("lr")
    arguments = ", ".join(f"{name}={value!r}" for name, value in document.items())
    note = (
        "# timm's MultiStepLRScheduler decays one position before each decay_t entry, so\n"
        "# decay_t is the milestones plus one.\n"
        if kind == "MultiStepLRScheduler"
        else ""
    )
    if document["t_in_epochs"]:
        drive = (
            "# At the end of each epoch: scheduler.step(epoch + 1)\n"
            "# Resume: timm's state holds no position; call scheduler.step(epoch) with the\n"
            "# restored epoch before training on.\n"
        )
    else:
        drive = (
            "# After each optimizer step: num_updates += 1; scheduler.step_update(num_updates)\n"
            "# Resume: timm's state holds no position; restore num_updates from your checkpoint\n"
            "# and call scheduler.step_update(num_updates) before training on.\n"
        )
    return f"""{_header(plan, "timm")}import torch
from timm.scheduler import {kind}

model = torch.nn.Linear(4, 1)
optimizer = torch.optim.SGD(model.parameters(), lr={lr!r})
scheduler = {kind}(optimizer, {arguments})
{note}{drive}"""


def keras_snippet(plan: Plan) -> str:
    """Keras: ExponentialDecay(staircase=True) or PiecewiseConstantDecay on the step count."""
    from stepsched_cli.formats import keras as keras_format

    config: dict[str, Any] = keras_format.from_schedule(
        plan.schedule, plan.steps_per_epoch, style="config"
    )
    config.pop("name", None)
    if "boundaries" in config:
        kind = "PiecewiseConstantDecay"
        note = (
            "# Keras's boundary value belongs to the interval on its left, so the boundaries\n"
            "# are one step before stepsched's decays.\n"
        )
    else:
        kind = "ExponentialDecay"
        note = ""
    arguments = ", ".join(f"{key}={value!r}" for key, value in config.items())
    return f"""{_header(plan, "Keras")}import keras

schedule = keras.optimizers.schedules.{kind}({arguments})
optimizer = keras.optimizers.SGD(learning_rate=schedule)
{note}# Keras evaluates the schedule at optimizer.iterations (updates done, in float32).
# Resume: restore the optimizer's variables with the model (keras.saving.load_model, or
# a checkpoint that includes the optimizer) so that optimizer.iterations continues.
"""


def optax_snippet(plan: Plan) -> str:
    """optax: exponential_decay(staircase=True) or piecewise_constant_schedule."""
    from stepsched_cli.formats import optax as optax_format

    document: dict[str, Any] = optax_format.from_schedule(plan.schedule, plan.steps_per_epoch)
    kind = cast(str, document.pop(optax_format.MARKER))
    if "boundaries_and_scales" in document:
        document["boundaries_and_scales"] = {
            int(boundary): scale for boundary, scale in document["boundaries_and_scales"].items()
        }
    arguments = ", ".join(f"{key}={value!r}" for key, value in document.items())
    return f"""{_header(plan, "optax")}import optax

schedule = optax.{kind}({arguments})
optimizer = optax.sgd(learning_rate=schedule)
# optax evaluates the schedule at the update count kept in the optimizer state.
# Resume: checkpoint and restore opt_state (e.g. with orbax) together with the params,
# so that its count continues; a fresh optimizer.init() starts again from count 0.
"""


SNIPPETS: dict[str, Callable[[Plan], str]] = {
    "torch": torch_snippet,
    "lightning": lightning_snippet,
    "timm": timm_snippet,
    "keras": keras_snippet,
    "optax": optax_snippet,
}
"""The snippet writer of each ``code --framework`` choice (a test checks they match)."""
