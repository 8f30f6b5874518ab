"""The error every run-log reader and checker raises."""

from __future__ import annotations

from stepsched_cli.errors import StepschedError


class RunLogError(StepschedError, ValueError):
    """A log could not be read; the message names the source and, for a bad row, its line."""


__all__ = ["RunLogError"]
