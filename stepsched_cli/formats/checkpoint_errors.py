"""The errors raised while reading foreign checkpoint files.

They are :class:`ValueError` subclasses because a bad checkpoint is bad input, and
:class:`~stepsched_cli.errors.StepschedError` subclasses so that the command line
reports them like any other bad input (exit 1, one line).  Each message is one line
that names the file and says what was wrong with it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from stepsched_cli.errors import StepschedError

if TYPE_CHECKING:  # the search imports this module, never the reverse at run time
    from stepsched_cli.formats.torch.search import SchedulerCandidate


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
