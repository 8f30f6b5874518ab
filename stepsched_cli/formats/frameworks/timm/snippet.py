"""``code --framework timm``: StepLRScheduler or MultiStepLRScheduler, the position passed
explicitly, with the parameters :func:`~.schedule.from_schedule` writes."""

from __future__ import annotations

from typing import Any

from stepsched_cli.formats.frameworks.timm import schedule as timm_format
from stepsched_cli.formats.snippet import Snippet
from stepsched_cli.schedule import StepSchedule

__all__ = ["SNIPPET", "timm_snippet"]


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


SNIPPET = Snippet("timm", "timm", timm_snippet)
"""``code --framework timm``."""
