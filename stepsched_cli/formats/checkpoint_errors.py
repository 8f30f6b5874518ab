"""The errors raised while reading foreign checkpoint files.

They are :class:`ValueError` subclasses because a bad checkpoint is bad input, and
:class:`~stepsched_cli.errors.StepschedError` subclasses so that the command line
reports them like any other bad input (exit 1, one line).  Each message is one line
that names the file and says what was wrong with it.
"""

from __future__ import annotations

from dataclasses import dataclass

from stepsched_cli.errors import StepschedError


class CheckpointError(StepschedError, ValueError):
    """A checkpoint file cannot be read: missing, truncated, malformed or too large."""


class UnsafeCheckpointError(CheckpointError):
    """A checkpoint's pickle references a global that is not an inert, allowlisted type.

    Attributes:
        global_name: The fully qualified name the pickle asked for, e.g. ``"os.system"``.
    """

    def __init__(self, message: str, global_name: str) -> None:
        super().__init__(message)
        self.global_name = global_name


@dataclass(frozen=True)
class SchedulerCandidate:
    """One scheduler state found in a checkpoint, as listed when the choice is ambiguous.

    Attributes:
        key: Its key path, as the search renders it (the ``key`` hint's value).
        kind: The torch class it most likely came from (``StepLR``, ...).
        last_epoch: Its position.
    """

    key: str
    kind: str
    last_epoch: int

    def describe(self) -> str:
        """``lr_scheduler  StepLR  last_epoch 75``."""
        return f"{self.key}  {self.kind}  last_epoch {self.last_epoch}"


class AmbiguousCheckpointError(CheckpointError):
    """Several scheduler states are in a checkpoint and none was chosen, or ``key`` named none.

    Defined here, beside the other checkpoint errors, so that the command line can catch
    it without importing the checkpoint readers.

    Attributes:
        candidates: Every scheduler state found, in the reader's order.
        requested: The key asked for, None when none was given.
    """

    def __init__(
        self, message: str, candidates: tuple[SchedulerCandidate, ...], requested: str | None
    ) -> None:
        super().__init__(message)
        self.candidates = candidates
        self.requested = requested


def no_scheduler_state_error(source: str, optimizer_key: str | None) -> CheckpointError:
    """The error for a checkpoint that holds no scheduler state any format reads
    (``optimizer_key``: where its first optimizer is, None when it has none)."""
    hint = f" (it has an optimizer at {optimizer_key}, but no scheduler)" if optimizer_key else ""
    return CheckpointError(
        f"{source}: no LR scheduler state found: no dict with last_epoch and base_lrs "
        f"(torch), _schedulers (SequentialLR) or format 'stepsched.state' anywhere in the "
        f"checkpoint{hint}"
    )
