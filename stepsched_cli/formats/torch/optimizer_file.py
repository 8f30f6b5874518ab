"""Cross-check a scheduler state against an optimizer saved in a separate file.

Accelerate's ``save_state()`` writes ``scheduler.bin`` and ``optimizer.bin`` side by
side, and many training scripts save ``scheduler.pt`` and ``optimizer.pt`` apart.
``--optimizer FILE`` reads the optimizer file (a ``torch.save`` file, read without
torch like any checkpoint, or a JSON document), finds its one optimizer state, and
checks its param groups against the scheduler's lrs exactly as for an optimizer found
in the same checkpoint
(:func:`~stepsched_cli.formats.torch.optimizer_check.check_param_groups`):
a disagreement is the resume bug of an optimizer saved at another step.
"""

from __future__ import annotations

from stepsched_cli.fileio import loads_strict, read_bytes_bounded
from stepsched_cli.formats.checkpoint_errors import CheckpointError
from stepsched_cli.formats.reading import ScheduleView
from stepsched_cli.formats.torch.container import load_checkpoint, looks_like_checkpoint
from stepsched_cli.formats.torch.optimizer_check import check_param_groups
from stepsched_cli.formats.torch.search import (
    FoundGroups,
    find_optimizer_param_groups,
    format_key_path,
)
from stepsched_cli.formats.unknown import binary_kind
from stepsched_cli.state import MAX_STATE_BYTES

__all__ = ["find_optimizer", "optimizer_file_warnings"]


def _load(path: str) -> object:
    with open(path, "rb") as handle:
        head = handle.read(8)
    if looks_like_checkpoint(head, path):
        return load_checkpoint(path)
    data = read_bytes_bounded(path, MAX_STATE_BYTES, "optimizer file")
    try:
        return loads_strict(data)
    except ValueError as error:
        kind = binary_kind(data, path)
        what = f"it {error}" if kind is None else f"it is {kind}"
        raise CheckpointError(
            f"{path}: an optimizer file must be a torch.save file or JSON; {what}"
        ) from None


def find_optimizer(path: str) -> FoundGroups:
    """The one optimizer state in ``path``.

    Raises:
        CheckpointError: unreadable, no optimizer state (a dict with ``state`` and
            ``param_groups``), or several.
        FileReadError: the file cannot be read.
    """
    try:
        found = find_optimizer_param_groups(_load(path))
    except OSError as error:
        raise CheckpointError(f"cannot read {path!r}: {error.strerror or error}") from None
    if not found:
        raise CheckpointError(
            f"{path}: no optimizer state found (a dict with 'state' and 'param_groups', as "
            "optimizer.state_dict() returns)"
        )
    if len(found) > 1:
        listed = ", ".join(format_key_path(hit.path) for hit in found)
        raise CheckpointError(
            f"{path}: {len(found)} optimizer states found ({listed}); --optimizer needs a file "
            "with one"
        )
    return found[0]


def optimizer_file_warnings(view: ScheduleView, path: str) -> tuple[str, ...]:
    """A warning for every disagreement between ``view`` and the optimizer in ``path``."""
    optimizer = find_optimizer(path)
    base_lrs = None if view.decays is None else view.decays.initial_lrs
    where = format_key_path(optimizer.path)
    place = path if not optimizer.path else f"{path} [{where}]"
    lines = check_param_groups(view.lrs, base_lrs, optimizer.param_groups)
    count = len(optimizer.param_groups)
    if count != len(view.lrs):
        lines.insert(
            0,
            f"it has {count} param group{'' if count == 1 else 's'} but the scheduler drives "
            f"{len(view.lrs)}",
        )
    return tuple(
        f"the optimizer in {place} disagrees with the scheduler ({view.position_text}): {line}"
        for line in lines
    )
