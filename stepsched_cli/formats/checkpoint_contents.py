"""What a loaded ``torch.save`` checkpoint may hold a schedule as, in the order it is offered.

The format table (:mod:`~stepsched_cli.formats.registry`) loads a checkpoint once and
offers the object to each :class:`CheckpointContent` of :data:`CHECKPOINT_CONTENTS` in
turn: the first whose ``find`` finds something reads it, with the hints it declares.
MMEngine, Ignite and Lightning come before torch's own scheduler states, since their
checkpoints hold torch states that only their own counters place; timm's training
state comes last.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from stepsched_cli.formats import frameworks, torch
from stepsched_cli.formats.hints import HintRecord, NoHints
from stepsched_cli.formats.reading import Reading

__all__ = ["CHECKPOINT_CONTENTS", "CheckpointContent"]


@dataclass(frozen=True)
class CheckpointContent:
    """What a loaded ``torch.save`` checkpoint may hold a schedule as, and its reader.

    Attributes:
        name: What it is, for the documentation.
        find: What the checkpoint holds of it, None when nothing.
        read: The reading of what ``find`` found (the format's name, the file's name
            for messages, and the hints as ``hints`` declares them).
        hints: The hints it takes.
    """

    name: str
    find: Callable[[object], Any]
    read: Callable[[Any, str, str, Any], Reading]
    hints: type[HintRecord]


CHECKPOINT_CONTENTS: tuple[CheckpointContent, ...] = (
    CheckpointContent(
        "an MMEngine Runner checkpoint (param_schedulers) or param scheduler state",
        frameworks.find_mmengine,
        frameworks.read_mmengine,
        NoHints,
    ),
    CheckpointContent(
        "an Ignite checkpoint: LRScheduler wrappers around torch schedulers",
        frameworks.find_ignite,
        frameworks.read_ignite,
        torch.CheckpointHints,
    ),
    CheckpointContent(
        "a Lightning checkpoint's torch schedulers, in the unit each counts",
        frameworks.find_lightning,
        frameworks.read_lightning,
        torch.CheckpointHints,
    ),
    CheckpointContent(
        "torch StepLR/MultiStepLR/SequentialLR/ChainedScheduler or stepsched scheduler states",
        torch.find_schedulers,
        torch.read_found,
        torch.CheckpointHints,
    ),
    CheckpointContent(
        "a timm scheduler state, or CheckpointSaver's args and epoch",
        frameworks.find_training,
        frameworks.read_training,
        frameworks.TimmHints,
    ),
)
"""What a checkpoint is offered to, in order, once loaded: the first that finds something
reads it; a checkpoint none of them finds anything in is refused by torch's terms."""
