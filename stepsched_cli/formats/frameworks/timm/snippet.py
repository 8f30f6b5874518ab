"""``code --framework timm``: StepLRScheduler or MultiStepLRScheduler, the position passed
explicitly, with the parameters :func:`~.schedule.from_schedule` writes; ``--exact``
adds stepsched_cli.torch's class as train.py takes it."""

from __future__ import annotations

from typing import Any

from stepsched_cli.formats.frameworks.timm import schedule as timm_format
from stepsched_cli.formats.snippet import Snippet
from stepsched_cli.formats.torch import exact_timm_snippet
from stepsched_cli.schedule import StepSchedule

__all__ = ["SNIPPET", "timm_run", "timm_snippet"]


def timm_snippet(schedule: StepSchedule, steps_per_epoch: int | None) -> str:
    """timm: StepLRScheduler / MultiStepLRScheduler with the position passed explicitly."""
    document: dict[str, Any] = timm_format.from_schedule(schedule)
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
    return f"""import torch
from timm.scheduler import {kind}

model = torch.nn.Linear(4, 1)
optimizer = torch.optim.SGD(model.parameters(), lr={lr!r})
scheduler = {kind}(optimizer, {arguments})
{note}{drive}"""


def timm_run(schedule: StepSchedule, steps_per_epoch: int | None, length: int) -> str:
    """timm: the training loop of a run of ``length`` epochs or updates (the schedule's
    unit: t_in_epochs for an epoch-mode schedule)."""
    if schedule.mode == "epoch":
        return f"""
# The run: {length} epochs, the next epoch passed at the end of each.
for epoch in range({length}):
    ...  # one epoch of training
    scheduler.step(epoch + 1)
"""
    return f"""
# The run: {length} updates, the update count passed after each.
num_updates = 0
for _ in range({length}):
    ...  # forward and backward on the next batch
    optimizer.step()
    optimizer.zero_grad()
    num_updates += 1
    scheduler.step_update(num_updates)
"""


SNIPPET = Snippet("timm", "timm", timm_snippet, exact_timm_snippet, timm_run)
"""``code --framework timm``."""
