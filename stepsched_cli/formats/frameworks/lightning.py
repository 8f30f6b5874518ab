"""Lightning checkpoints: which unit a scheduler's ``last_epoch`` counts, and where the run is.

A Lightning ``.ckpt`` holds ``epoch``, ``global_step`` (optimizer steps), the schedulers'
state dicts in ``lr_schedulers`` and the optimizers' in ``optimizer_states``, but not
the ``interval`` each scheduler was configured with (``configure_optimizers``'
``{"scheduler": ..., "interval": "epoch" | "step"}``).  The counts tell it
(lightning 2.6, ``ModelCheckpoint`` at an epoch's end):

- ``"interval": "step"``: the scheduler steps after every optimizer step, so its
  ``last_epoch`` equals ``global_step``;
- ``"interval": "epoch"``: it steps at every epoch's end, before the checkpoint is saved
  there, so its ``last_epoch`` is ``epoch + 1`` (``epoch``: a checkpoint saved inside an
  epoch).

When both fit (one batch per epoch) the unit does not matter; when neither does (a
``frequency`` above 1, a scheduler stepped by hand) it is not established and the
position is its ``last_epoch`` alone.

Example:
    >>> position({"epoch": 2, "global_step": 9, "lr_schedulers": [{}]}, 3)
    LightningPosition(unit='epoch', epoch=2, global_step=9)
    >>> position({"epoch": 2, "global_step": 9, "lr_schedulers": [{}]}, 9).unit
    'step'
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any, Literal

from stepsched_cli.formats.reading import Reading, state_view

__all__ = [
    "FoundLightning",
    "LightningPosition",
    "find_lightning",
    "is_lightning_checkpoint",
    "position",
    "read_lightning",
]


def is_lightning_checkpoint(checkpoint: object) -> bool:
    """Whether a loaded checkpoint is Lightning's: ``epoch``, ``global_step``, ``lr_schedulers``.

    Example:
        >>> is_lightning_checkpoint({"epoch": 0, "global_step": 3, "lr_schedulers": []})
        True
    """
    return (
        isinstance(checkpoint, Mapping)
        and _count(checkpoint.get("epoch")) is not None
        and _count(checkpoint.get("global_step")) is not None
        and isinstance(checkpoint.get("lr_schedulers"), list)
    )


def _count(value: object) -> int | None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        return None
    return value


@dataclass(frozen=True)
class LightningPosition:
    """Where a Lightning run is, and what its scheduler's position counts.

    Attributes:
        unit: ``"step"`` (``interval="step"``), ``"epoch"`` (``interval="epoch"``), or
            None when the counts do not establish it.
        epoch: The checkpoint's ``epoch``.
        global_step: The checkpoint's ``global_step`` (optimizer steps).
    """

    unit: Literal["step", "epoch"] | None
    epoch: int
    global_step: int

    def describe(self) -> str:
        """The checkpoint's own counts: ``Lightning epoch 2, global_step 9``."""
        return f"Lightning epoch {self.epoch}, global_step {self.global_step}"

    def note(self, last_epoch: int) -> str:
        """What the scheduler's position counts, in the user's terms."""
        if self.unit == "epoch":
            return 'the scheduler counts epochs (interval="epoch"), not optimizer steps'
        if self.unit == "step":
            return 'the scheduler counts optimizer steps (interval="step")'
        return (
            f"last_epoch {last_epoch} is neither the global_step ({self.global_step}) nor the "
            f"epochs done ({self.epoch} or {self.epoch + 1}): its unit (interval, frequency) "
            "is not established"
        )


def position(checkpoint: Mapping[str, object], last_epoch: int) -> LightningPosition:
    """The unit a scheduler at ``last_epoch`` counts in a Lightning checkpoint.

    ``checkpoint`` must be one :func:`is_lightning_checkpoint` accepted.
    """
    epoch = _count(checkpoint.get("epoch")) or 0
    global_step = _count(checkpoint.get("global_step")) or 0
    steps = last_epoch == global_step
    epochs = last_epoch in (epoch, epoch + 1)
    unit: Literal["step", "epoch"] | None = None
    if steps:
        unit = "step"
    elif epochs:
        unit = "epoch"
    return LightningPosition(unit, epoch, global_step)


@dataclass(frozen=True)
class FoundLightning:
    """A Lightning checkpoint and the torch scheduler states found in it.

    Attributes:
        checkpoint: The loaded checkpoint.
        found: What the torch search found in it.
    """

    checkpoint: Mapping[str, object]
    found: Any


def find_lightning(checkpoint: object) -> FoundLightning | None:
    """A Lightning checkpoint holding torch scheduler states, None otherwise."""
    if not is_lightning_checkpoint(checkpoint) or not isinstance(checkpoint, Mapping):
        return None
    from stepsched_cli.formats import torch

    found = torch.find_schedulers(checkpoint)
    return None if found is None else FoundLightning(checkpoint, found)


def read_lightning(found: FoundLightning, format: str, source: str, hints: Any) -> Reading:
    """The torch reading of the scheduler chosen, in the unit it counts, with the
    checkpoint's epoch and global step beside its position."""
    from stepsched_cli.formats import torch

    reading = torch.read_found(found.found, format, source, hints)
    view = reading.view
    where = position(found.checkpoint, view.position)
    state = reading.state
    if where.unit == "epoch" and state is not None:
        state = replace(state, schedule=replace(state.schedule, mode="epoch"))
        view = state_view(state, described=view.described, details=view.details)
    elif where.unit == "epoch":
        view = replace(view, unit="epoch")
    unit = where.unit or "last_epoch"
    view = replace(
        view,
        position_text=f"{unit} {view.position} ({where.describe()})",
        notes=(*view.notes, where.note(view.position)),
        details=(
            *view.details,
            ("lightning_unit", where.unit),
            ("lightning_epoch", where.epoch),
            ("lightning_global_step", where.global_step),
        ),
    )
    return replace(reading, view=view, state=state)
