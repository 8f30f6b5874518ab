"""A checkpoint read, one way: container -> search -> choice (choose, parse, check) -> view.

:func:`read_checkpoint` is the entry for a ``torch.save`` file: the container
(:mod:`.container`) loads its object, the search (:mod:`.search`) finds the scheduler
and optimizer states in it and records each state's kind, and :mod:`.choice` chooses
one, parses it by that kind (:mod:`.scheduler_states`) and only then checks the
optimizer that drives it (:mod:`.optimizer_check`).  The format table loads a
checkpoint once and offers it to what can hold a schedule (torch's states here, then
other frameworks'), so it calls the steps itself: the container, the search, then
:func:`read_found` (the choice, the view, and the ``optimizer`` hint's file).

The hints a torch state takes (:mod:`.state_dict`): ``TorchHints`` for a state dict as
JSON (an optimizer saved apart), ``CheckpointHints`` for checkpoints (which state, and
an optimizer saved apart).
"""

from __future__ import annotations

import dataclasses
import os

from stepsched_cli.errors import StateError, StateFileError
from stepsched_cli.formats.reading import Reading, Request, request_data
from stepsched_cli.formats.torch import state_dict
from stepsched_cli.formats.torch.choice import CheckpointReading, read_found_states
from stepsched_cli.formats.torch.container import load_checkpoint
from stepsched_cli.formats.torch.search import FoundSchedulers, find_schedulers
from stepsched_cli.formats.torch.state_dict import CheckpointHints, TorchHints
from stepsched_cli.formats.torch.views import found_reading, torch_reading
from stepsched_cli.state import parse_json_bytes

__all__ = [
    "read_checkpoint",
    "read_found",
    "read_torch",
    "select_scheduler",
]


def read_checkpoint(path: str | os.PathLike[str], key: str | None = None) -> CheckpointReading:
    """Load a checkpoint, then find, choose, parse and cross-check its LR scheduler state.

    Args:
        path: A ``torch.save`` file (zip or legacy; ``.pt``, ``.pth``, Lightning ``.ckpt``).
        key: The key path of the scheduler state to use (as listed by the error for an
            ambiguous file, e.g. ``lr_schedulers[0]``); needed when there are several.

    Raises:
        UnsafeCheckpointError: the pickle references a global outside the allowlist.
        AmbiguousCheckpointError: several scheduler states and no ``key``, or ``key``
            names none of them.
        CheckpointError: unreadable, or no scheduler state in it.
        StateError: the chosen state is not a valid scheduler state; the message starts
            with the file and key.
    """
    checkpoint = load_checkpoint(path)
    found = find_schedulers(checkpoint)
    return read_found_states(found, os.fspath(path), key)


def select_scheduler(checkpoint: object, source: str, key: str | None = None) -> CheckpointReading:
    """Find, choose, parse and cross-check the scheduler state in a loaded checkpoint (or a
    JSON document); raises as :func:`read_checkpoint`."""
    found = find_schedulers(checkpoint)
    return read_found_states(found, source, key)


def read_found(found: FoundSchedulers, format: str, source: str, hints: CheckpointHints) -> Reading:
    """The reading of the scheduler states a search found, as ``format``."""
    chosen = read_found_states(found, source, hints.key)
    reading = found_reading(chosen, format, source)
    return _with_optimizer_file(reading, hints.optimizer)


def read_torch(request: Request[TorchHints]) -> Reading:
    """A StepLR/MultiStepLR ``state_dict()`` saved as JSON."""
    document = parse_json_bytes(request_data(request), request.source)
    try:
        torch_state = state_dict.parse(document)
    except StateError as error:
        raise StateFileError(f"{request.source}: {error}", parameter=error.parameter) from None
    reading = torch_reading(torch_state, state_dict.FORMAT_NAME, request.source)
    return _with_optimizer_file(reading, request.hints.optimizer)


def _with_optimizer_file(reading: Reading, optimizer: str | None) -> Reading:
    if optimizer is None:
        return reading
    from stepsched_cli.formats.torch.optimizer_file import optimizer_file_warnings

    warnings = optimizer_file_warnings(reading.view, optimizer)
    return dataclasses.replace(reading, warnings=reading.warnings + warnings)
