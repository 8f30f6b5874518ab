"""The error every run-log reader and checker raises."""

from __future__ import annotations

from stepsched_cli.errors import StepschedError


class RunLogError(StepschedError, ValueError):
    """A log could not be read; the message names the source and, for a bad row, its line.

    An error that the caller can mend by naming a column carries that parameter
    (``step_column`` or ``lr_column``) and ends with "choose one with PARAMETER";
    :meth:`naming` gives the same message with the caller's own name for it (the
    command line's ``--lr-column``), so nobody rewrites the text.
    """

    def __init__(self, message: str, *, parameter: str | None = None) -> None:
        self.detail = message
        if parameter is not None:
            message = f"{message}; choose one with {parameter}"
        super().__init__(message, parameter=parameter)

    def naming(self, name: str) -> str:
        """The message with the parameter called ``name`` (unchanged without one)."""
        if self.parameter is None:
            return str(self)
        return f"{self.detail}; choose one with {name}"


__all__ = ["RunLogError"]
