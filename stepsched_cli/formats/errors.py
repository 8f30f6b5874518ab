"""The errors raised while reading foreign checkpoint files.

They are :class:`ValueError` subclasses because a bad checkpoint is bad input, and
:class:`~stepsched_cli.errors.StepschedError` subclasses so that the command line
reports them like any other bad input (exit 1, one line).  Each message is one line
that names the file and says what was wrong with it.
"""

from __future__ import annotations

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
