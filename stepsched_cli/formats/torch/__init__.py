"""torch: scheduler state dicts as JSON and ``torch.save`` checkpoints; the wing's one entry.

A checkpoint read flows one way (:mod:`.checkpoint`): :mod:`.container` loads the
file's object through the sandbox, :mod:`.search` finds the scheduler and optimizer
states and records each state's kind, :mod:`.choice` chooses one, has
:mod:`.scheduler_states` parse it by its kind (:mod:`.state_dict` for StepLR and
MultiStepLR, :mod:`.sequential` for SequentialLR) and :mod:`.optimizer_check` check the
optimizer that drives it, and :mod:`.views` makes the reading.  :mod:`.chained` reads a
ChainedScheduler as one schedule over :mod:`.factors` (the chain arithmetic that
MMEngine's schedulers share, exported here).  :mod:`.writer` writes state
dicts, :mod:`.optimizer_file` reads an optimizer saved apart, :mod:`.snippets` writes
``code --framework torch`` and ``lightning``.

Nothing outside the wing imports the modules inside; this entry imports the checkpoint
readers (and with them the sandbox, :mod:`pickle` and :mod:`zipfile`) only when a
checkpoint is read, so start-up stays cheap.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import TYPE_CHECKING

from stepsched_cli.formats.torch.factors import FACTOR_KINDS, Factor, chain_lrs, parse_warmup
from stepsched_cli.formats.torch.snippets import SNIPPETS, exact_timm_snippet
from stepsched_cli.formats.torch.state_dict import (
    CHECKPOINT_FORMAT_NAME,
    FORMAT_NAME,
    CheckpointHints,
    TorchHints,
    detect,
    dumps_torch_state,
)

if TYPE_CHECKING:  # the checkpoint readers are imported when a checkpoint is read
    from stepsched_cli.formats.checkpoint_errors import CheckpointError
    from stepsched_cli.formats.reading import Reading, Request
    from stepsched_cli.formats.torch.choice import CheckpointReading
    from stepsched_cli.formats.torch.search import FoundSchedulers, FoundState, KeyPath

__all__ = [
    "CHECKPOINT_FORMAT_NAME",
    "FACTOR_KINDS",
    "FORMAT_NAME",
    "SNIPPETS",
    "CheckpointHints",
    "Factor",
    "TorchHints",
    "chain_lrs",
    "check_param_groups",
    "detect",
    "dumps_torch_state",
    "exact_timm_snippet",
    "find_dicts",
    "find_schedulers",
    "format_key_path",
    "holds_scheduler_states",
    "load_checkpoint",
    "no_scheduler_state",
    "parse_warmup",
    "read_checkpoint",
    "read_found",
    "read_torch",
]


def load_checkpoint(path: str) -> object:
    """The object a ``torch.save`` file holds, loaded without torch (see :mod:`.container`)."""
    from stepsched_cli.formats.torch import container

    return container.load_checkpoint(path)


def find_schedulers(checkpoint: object) -> FoundSchedulers | None:
    """The scheduler and optimizer states in a loaded checkpoint, None when it holds no
    scheduler state (then it may be another framework's: see the format table)."""
    from stepsched_cli.formats.torch import search

    found = search.find_schedulers(checkpoint)
    return found if found.states else None


def holds_scheduler_states(document: object) -> bool:
    """Whether a JSON object (a checkpoint is one; a bare list is not) holds scheduler states."""
    if not isinstance(document, dict):
        return False
    from stepsched_cli.formats.torch import search

    return bool(search.find_scheduler_states(document))


def read_found(found: FoundSchedulers, format: str, source: str, hints: CheckpointHints) -> Reading:
    """Choose, parse and cross-check the scheduler states found, as a reading of ``format``."""
    from stepsched_cli.formats.torch import checkpoint

    return checkpoint.read_found(found, format, source, hints)


def check_param_groups(
    expected_lrs: tuple[float, ...],
    base_lrs: tuple[float, ...] | None,
    param_groups: list[dict[str, object]],
) -> list[str]:
    """Where an optimizer's param groups disagree with the lrs a schedule gives, one line
    each (their ``lr`` and, unless ``base_lrs`` is None, their ``initial_lr``)."""
    from stepsched_cli.formats.torch import optimizer_check

    return optimizer_check.check_param_groups(expected_lrs, base_lrs, param_groups)


def no_scheduler_state(checkpoint: object, source: str) -> CheckpointError:
    """The error for a checkpoint holding no scheduler state any format reads."""
    from stepsched_cli.formats.torch import search

    return search.no_scheduler_state(checkpoint, source)


def read_torch(request: Request[TorchHints]) -> Reading:
    """A StepLR/MultiStepLR ``state_dict()`` saved as JSON."""
    from stepsched_cli.formats.torch import checkpoint

    return checkpoint.read_torch(request)


def read_checkpoint(path: str | os.PathLike[str], key: str | None = None) -> CheckpointReading:
    """A ``torch.save`` file's scheduler state, chosen, parsed and cross-checked."""
    from stepsched_cli.formats.torch import checkpoint

    return checkpoint.read_checkpoint(path, key)


def find_dicts(checkpoint: object, matches: Callable[[object], bool]) -> list[FoundState]:
    """Every dict ``matches`` accepts, searched as scheduler states are (for other
    frameworks' scheduler states in a checkpoint)."""
    from stepsched_cli.formats.torch import search

    return search.find_dicts(checkpoint, matches)


def format_key_path(path: KeyPath) -> str:
    """A key path for people: ``lr_schedulers[0]``, ``state.training.sched``."""
    from stepsched_cli.formats.torch import search

    return search.format_key_path(path)
