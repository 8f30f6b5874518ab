"""A checkpoint read, one way: container -> search -> state dict -> optimizer check -> view.

:func:`read_checkpoint` is the entry for a ``torch.save`` file: the container
(:mod:`.container`) loads its object, the search (:mod:`.search`) finds and chooses a
scheduler state with the optimizer beside it, the chosen state is parsed by its kind
(:mod:`.scheduler_states`), and only then is the optimizer checked against the parsed
state (:mod:`.optimizer_check`).  The format table loads a checkpoint once and offers
it to what can hold a schedule (torch's states here, then other frameworks'), so it
calls the steps itself: :func:`~.container.load_checkpoint`, :func:`find_schedulers`,
then :func:`read_found` (choose, parse, check, view, and the ``optimizer`` hint's file).

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
from stepsched_cli.formats.torch.container import load_checkpoint
from stepsched_cli.formats.torch.optimizer_check import optimizer_mismatches
from stepsched_cli.formats.torch.scheduler_states import CheckpointReading, parse_scheduler
from stepsched_cli.formats.torch.search import (
    FoundSchedulers,
    choose_scheduler,
    find_schedulers,
)
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
    return select_scheduler(load_checkpoint(path), os.fspath(path), key)


def select_scheduler(checkpoint: object, source: str, key: str | None = None) -> CheckpointReading:
    """Find, choose, parse and cross-check the scheduler state in a loaded checkpoint (or a
    JSON document); raises as :func:`read_checkpoint`."""
    from stepsched_cli.formats.torch.search import no_scheduler_state

    found = find_schedulers(checkpoint)
    if found is None:
        raise no_scheduler_state(checkpoint, source)
    return _checked(found, source, key)


def _checked(found: FoundSchedulers, source: str, key: str | None) -> CheckpointReading:
    """Choose, parse, then check the optimizer against the parsed state: in that order."""
    chosen = choose_scheduler(found, source, key)
    try:
        state = parse_scheduler(chosen.state)
    except StateError as error:
        raise StateError(f"{source} [{chosen.key}]: {error}", parameter=error.parameter) from None
    if chosen.optimizer_key is None:
        return CheckpointReading(chosen.key, state)
    mismatches = optimizer_mismatches(state, chosen.param_groups, chosen.optimizer_key, chosen.key)
    return CheckpointReading(chosen.key, state, chosen.optimizer_key, mismatches)


def read_found(found: FoundSchedulers, format: str, source: str, hints: CheckpointHints) -> Reading:
    """The reading of the scheduler states a search found, as ``format``."""
    reading = found_reading(_checked(found, source, hints.key), format, source)
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
