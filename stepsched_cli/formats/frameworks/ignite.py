"""Ignite's ``LRScheduler`` wrapper around a torch scheduler, and its trainer's counters.

``ignite.handlers.param_scheduler.LRScheduler(StepLR(...))`` saves ``{"event_index",
"param_name", "save_history", "param_group_index", "lr_scheduler": the torch state
dict}``.  Ignite (0.5) advances the torch scheduler's ``last_epoch`` itself and asks it
for the lr, never calling its ``step()``: the saved ``_step_count`` stays 1 and
``_last_lr`` stays the initial lr while the optimizer's lr decays.  The torch state is
read without that stale ``_last_lr``, at its ``last_epoch``, which must equal the
wrapper's own counter, ``event_index``.  Ignite's ``Checkpoint`` saves the trainer
``Engine`` as ``{"epoch_length", "iteration", "max_epochs"}``.

Example:
    >>> wrapper = {"event_index": 9, "param_name": "lr", "save_history": False,
    ...     "lr_scheduler": {"step_size": 4, "gamma": 0.5, "base_lrs": [0.1],
    ...                      "last_epoch": 9, "_last_lr": [0.1]}}
    >>> is_wrapper(wrapper), sorted(unwrap(wrapper))
    (True, ['base_lrs', 'gamma', 'last_epoch', 'step_size'])
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from stepsched_cli.errors import StateError
from stepsched_cli.formats.reading import Reading
from stepsched_cli.validate import shown

__all__ = [
    "NOTE",
    "FoundIgnite",
    "engine_text",
    "find_ignite",
    "is_wrapper",
    "read_ignite",
    "unwrap",
]

NOTE = (
    "Ignite's LRScheduler advances the torch scheduler's last_epoch itself (its "
    "event_index); the torch _last_lr it saved is stale and not used"
)


def is_wrapper(value: object) -> bool:
    """Whether ``value`` is an Ignite ``LRScheduler.state_dict()`` holding a torch state."""
    return (
        isinstance(value, Mapping)
        and "event_index" in value
        and "param_name" in value
        and isinstance(value.get("lr_scheduler"), Mapping)
    )


def unwrap(wrapper: Mapping[str, object]) -> dict[str, object]:
    """The torch state dict inside, without its stale ``_last_lr``.

    Raises:
        StateError: the wrapper schedules another parameter than the lr, or its
            ``event_index`` is not the torch scheduler's ``last_epoch``.
    """
    inner = wrapper.get("lr_scheduler")
    if not isinstance(inner, Mapping):
        raise StateError("an Ignite LRScheduler without a torch state", parameter="lr_scheduler")
    if wrapper.get("param_name") != "lr":
        raise StateError(
            f"an Ignite LRScheduler of {shown(wrapper.get('param_name'))}, not of the lr",
            parameter="param_name",
        )
    index, last_epoch = wrapper.get("event_index"), inner.get("last_epoch")
    if index != last_epoch:
        raise StateError(
            f"Ignite's event_index is {shown(index)} but its torch scheduler's last_epoch is "
            f"{shown(last_epoch)}: the position is not established",
            parameter="event_index",
        )
    return {key: value for key, value in inner.items() if key != "_last_lr"}


def engine_text(checkpoint: Mapping[str, object]) -> str | None:
    """The trainer's counters, ``Ignite iteration 9, epoch 3 of 3 iterations``, if saved."""
    for value in checkpoint.values():
        if isinstance(value, Mapping) and {"epoch_length", "iteration", "max_epochs"} <= set(value):
            iteration, length = value["iteration"], value["epoch_length"]
            if isinstance(iteration, int) and isinstance(length, int) and length > 0:
                return (
                    f"Ignite iteration {iteration}, epoch {iteration // length} of {length} "
                    "iterations"
                )
    return None


@dataclass(frozen=True)
class FoundIgnite:
    """An Ignite checkpoint and the keys of its ``LRScheduler`` wrappers.

    Attributes:
        checkpoint: The loaded checkpoint.
        wrappers: The top-level keys holding an ``LRScheduler`` state.
    """

    checkpoint: Mapping[str, object]
    wrappers: tuple[str, ...]


def find_ignite(checkpoint: object) -> FoundIgnite | None:
    """An Ignite checkpoint holding ``LRScheduler`` wrappers at its top level, else None."""
    if not isinstance(checkpoint, Mapping):
        return None
    wrappers = tuple(key for key, value in checkpoint.items() if is_wrapper(value))
    return FoundIgnite(checkpoint, wrappers) if wrappers else None


def read_ignite(found: FoundIgnite, format: str, source: str, hints: Any) -> Reading:
    """The torch reading of the wrapped scheduler, at Ignite's counter (the wrapper's
    own key names it, as ``lr_scheduler``)."""
    from stepsched_cli.errors import StateFileError
    from stepsched_cli.formats import torch

    try:
        unwrapped = {
            key: unwrap(value) if key in found.wrappers else value  # type: ignore[arg-type]
            for key, value in found.checkpoint.items()
        }
    except StateError as error:
        raise StateFileError(f"{source}: {error}", parameter=error.parameter) from None
    states = torch.find_schedulers(unwrapped)
    if states is None:  # pragma: no cover - a wrapper holds a torch state
        raise torch.no_scheduler_state(unwrapped, source)
    reading = torch.read_found(states, format, source, hints)
    view = reading.view
    engine = engine_text(found.checkpoint)
    text = view.position_text if engine is None else f"{view.position_text} ({engine})"
    view = replace(view, position_text=text, notes=(*view.notes, NOTE))
    return replace(reading, view=view)
