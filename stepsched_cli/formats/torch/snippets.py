"""``code --framework torch`` and ``lightning``: StepLR or MultiStepLR, built, saved, resumed.

What StepLR and MultiStepLR cannot hold is refused by the torch writer's own rule
(:func:`~stepsched_cli.formats.torch.state_dict.check_writable`), never approximated.
"""

from __future__ import annotations

from stepsched_cli.errors import ConversionError
from stepsched_cli.formats.snippet import Snippet
from stepsched_cli.formats.torch.state_dict import check_writable
from stepsched_cli.schedule import StepSchedule

__all__ = [
    "SNIPPETS",
    "exact_timm_snippet",
    "exact_torch_snippet",
    "lightning_run",
    "lightning_snippet",
    "torch_run",
    "torch_snippet",
]


def _torch_scheduler(schedule: StepSchedule, framework: str) -> str:
    """The torch constructor call; what StepLR cannot hold is refused by the torch writer."""
    try:
        check_writable(schedule)
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


def torch_snippet(schedule: StepSchedule, steps_per_epoch: int | None) -> str:
    """torch: build, save, and two correct ways to resume."""
    constructor = _torch_scheduler(schedule, "torch")
    unit = "optimizer step (batch)" if schedule.mode == "step" else "epoch"
    lr = repr(schedule.initial_lr)
    gamma = repr(schedule.gamma)
    return f"""import torch
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


def lightning_snippet(schedule: StepSchedule, steps_per_epoch: int | None) -> str:
    """Lightning: configure_optimizers with the scheduler dict; resume through the Trainer."""
    constructor = _torch_scheduler(schedule, "lightning")
    interval = schedule.mode
    interval_unit = "optimizer step" if interval == "step" else "epoch"
    return f"""import lightning.pytorch as pl
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


def exact_torch_snippet(schedule: StepSchedule, steps_per_epoch: int | None) -> str:
    """stepsched_cli.torch: the same constructor and state dict, exact lrs."""
    constructor = _torch_scheduler(schedule, "torch")
    kind = constructor.split("(")[0]
    return f"""
# Exact drop-in: stepsched_cli.torch's {kind} is a torch LRScheduler with
# the same constructor and state dict (it loads torch's and torch's loads it), and every
# lr is the float nearest to the exact product, where torch's multiplication drifts.
from stepsched_cli.torch import {kind}

scheduler = {constructor}
"""


def exact_timm_snippet(schedule: StepSchedule, steps_per_epoch: int | None) -> str:
    """stepsched_cli.torch for timm's train.py: torch's constructor, timm's unit."""
    constructor = _torch_scheduler(schedule, "timm")
    kind = constructor.split("(")[0]
    in_epochs = schedule.mode == "epoch"
    counted = (
        "epochs, and step sets the position"
        if in_epochs
        else "updates, and step_update sets the position"
    )
    milestones = (
        "# Its milestones are torch's (the decay takes effect at each), not timm's decay_t.\n"
        if schedule.milestones is not None
        else ""
    )
    return f"""
# Exact drop-in for timm's train.py, built where it calls create_scheduler_v2:
# stepsched_cli.torch's {kind} takes the loop's step(epoch, metric) and
# step_update(num_updates, metric). With t_in_epochs={in_epochs} it counts
# {counted}.
{milestones}from stepsched_cli.torch import {kind}

scheduler = {constructor[:-1]}, t_in_epochs={in_epochs})
"""


def torch_run(schedule: StepSchedule, steps_per_epoch: int | None, length: int) -> str:
    """torch: the training loop of a run of ``length`` steps or epochs (the schedule's unit)."""
    if schedule.mode == "epoch":
        return f"""
# The run: {length} epochs, one scheduler.step() at the end of each.
for epoch in range({length}):
    for batch in loader:  # your DataLoader
        ...  # forward and backward
        optimizer.step()
        optimizer.zero_grad()
    scheduler.step()
"""
    return f"""
# The run: {length} optimizer steps, one scheduler.step() after each.
for step in range({length}):
    ...  # forward and backward on the next batch
    optimizer.step()
    optimizer.zero_grad()
    scheduler.step()
"""


def lightning_run(schedule: StepSchedule, steps_per_epoch: int | None, length: int) -> str:
    """Lightning: the Trainer of a run of ``length`` steps or epochs (the schedule's unit)."""
    if schedule.mode == "epoch":
        limit, unit = f"max_epochs={length}", f"{length} epochs"
    else:
        # max_steps counts optimizer steps (trainer.global_step); max_epochs is then unbounded.
        limit, unit = f"max_steps={length}", f"{length} optimizer steps"
    return f"""
# The run: {unit}.
trainer = pl.Trainer({limit})
trainer.fit(Model(), train_dataloaders=loader)  # your DataLoader
"""


SNIPPETS = (
    Snippet("torch", "torch", torch_snippet, exact_torch_snippet, torch_run),
    Snippet("lightning", "Lightning", lightning_snippet, exact_torch_snippet, lightning_run),
)
"""The snippets that build a torch state dict's schedule, in ``--framework`` order."""
