"""What a ``torch.save`` file holds for timm, as plain values for the timm schedule model.

timm users have two kinds of torch files:

- a scheduler's ``state_dict()`` saved with ``torch.save``, bare or under a key of a
  checkpoint (``{"epoch": 35, "lr_scheduler": scheduler.state_dict(), ...}``): the
  object's attributes (``base_values``, ``decay_t``, ``decay_rate``, ``warmup_t``, ...),
  with no position of its own;
- the files ``timm.utils.CheckpointSaver`` writes (``last.pth.tar``,
  ``checkpoint-N.pth.tar``, ``model_best.pth.tar``, ``recovery-E-B.pth.tar``): ``epoch``
  and ``train.py``'s ``args`` as an ``argparse.Namespace`` (unpickled as an inert
  stand-in whose attributes are its BUILD state), and no scheduler state at all.

:func:`find_timm_training` finds these in a loaded checkpoint and hands them on as
plain dicts and an int: the schedule itself, and timm's resume rule (training resumes at
``epoch + 1``, counted in updates when ``sched_on_updates``), belong to the timm
schedule model, which takes exactly these values.

Example:
    >>> found = find_timm_training({"epoch": 35, "lr_scheduler": {
    ...     "base_values": [0.1], "decay_t": 30, "decay_rate": 0.1, "warmup_t": 0}})
    >>> found.state_key, found.state["decay_t"], found.epoch, found.args
    ('lr_scheduler', 30, 35, None)
"""

from __future__ import annotations

from dataclasses import dataclass

from stepsched_cli.formats.frameworks.timm.files import STATE_KEYS, is_state
from stepsched_cli.formats.sandbox import InertObject
from stepsched_cli.formats.torch import find_dicts, format_key_path

__all__ = ["TIMM_STATE_KEYS", "TimmTraining", "find_timm_training", "is_timm_state", "namespace"]

# Keys every timm step/multistep scheduler state_dict() holds: the timm files' rule.
TIMM_STATE_KEYS = STATE_KEYS

NAMESPACE_TYPE = "argparse.Namespace"


def is_timm_state(value: object) -> bool:
    """Whether ``value`` is a timm step/multistep scheduler's ``state_dict()``.

    Example:
        >>> is_timm_state({"base_values": [0.1], "decay_t": 30, "decay_rate": 0.1,
        ...                "warmup_t": 0, "t_in_epochs": True})
        True
    """
    return isinstance(value, dict) and is_state(value)


def namespace(value: object) -> dict[str, object] | None:
    """The attributes of an unpickled ``argparse.Namespace`` (or a plain dict of args).

    None for anything else, or a Namespace whose attributes are not string-keyed.
    """
    if isinstance(value, InertObject) and value.type_name == NAMESPACE_TYPE:
        value = value.state
    if isinstance(value, dict) and all(isinstance(key, str) for key in value):
        return dict(value)
    return None


@dataclass(frozen=True)
class TimmTraining:
    """timm's training state found in a checkpoint, as plain values.

    Attributes:
        state_key: Where the scheduler's ``state_dict()`` is (``(top level)`` for a bare
            one), None when there is none (a CheckpointSaver file).
        state: The scheduler's ``state_dict()``, None when there is none.
        args: ``train.py``'s arguments (the checkpoint's ``args``), None when absent.
        epoch: The checkpoint's ``epoch`` (the last epoch finished), None when absent.
    """

    state_key: str | None
    state: dict[str, object] | None
    args: dict[str, object] | None
    epoch: int | None


def find_timm_training(checkpoint: object) -> TimmTraining | None:
    """timm's scheduler state, args and epoch in a loaded checkpoint, or None if it has none.

    The first timm scheduler state found is taken (a checkpoint holds one scheduler);
    ``args`` and ``epoch`` are read at the top level, where ``CheckpointSaver`` puts them.
    """
    found = find_dicts(checkpoint, is_timm_state)
    top = checkpoint if isinstance(checkpoint, dict) else {}
    args = namespace(top.get("args"))
    epoch = top.get("epoch")
    epoch = epoch if isinstance(epoch, int) and not isinstance(epoch, bool) else None
    if not found and args is None:
        return None
    state_key = format_key_path(found[0].path) if found else None
    return TimmTraining(state_key, found[0].state if found else None, args, epoch)
