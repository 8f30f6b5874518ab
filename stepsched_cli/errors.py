"""The exceptions stepsched raises.

Every error a user can cause is a :class:`StepschedError`, and the command line turns
those into one-line messages.  An error about one parameter or field carries its name
as :attr:`StepschedError.parameter`; the command line maps that attribute to the option
(``step_size`` to ``--step-size``), never the message's text.  Invalid parameters are
also :class:`ValueError`, so code written against torch-style schedulers, which raise
``ValueError``, keeps working.
"""

from __future__ import annotations

EXIT_INVALID = 1
"""The exit code for invalid data (a bad file, a schedule that cannot be written)."""

EXIT_USAGE = 2
"""The exit code for bad usage (an option out of range, options that conflict)."""


class StepschedError(Exception):
    """Base class of every error caused by bad input rather than by a bug.

    Attributes:
        parameter: The parameter or field the error is about (``"step_size"``,
            ``"last_epoch"``), None when it is about no single one.
    """

    def __init__(self, *args: object, parameter: str | None = None) -> None:
        super().__init__(*args)
        self.parameter = parameter


class ScheduleError(StepschedError, ValueError):
    """A schedule parameter or position is outside its accepted range."""


class ConversionError(StepschedError, ValueError):
    """A schedule or position cannot be expressed exactly in the requested unit or format."""


class StateError(StepschedError, ValueError):
    """A state dict or state file is malformed, inconsistent or unsupported.

    Attributes:
        field: The field the error is about (the same as ``parameter``).
    """

    @property
    def field(self) -> str | None:
        """The state field the error is about, None when it is about no single one."""
        return self.parameter


class StateFileError(StateError):
    """A state file could not be read or written; the message names the file."""
