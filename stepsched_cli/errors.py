"""The exceptions stepsched raises.

Every error a user can cause is a :class:`StepschedError`, and the command line turns
those into one-line messages.  Invalid parameters are also :class:`ValueError`, so code
written against torch-style schedulers, which raise ``ValueError``, keeps working.
"""

from __future__ import annotations


class StepschedError(Exception):
    """Base class of every error caused by bad input rather than by a bug."""


class ScheduleError(StepschedError, ValueError):
    """A schedule parameter or position is outside its accepted range."""


class ConversionError(StepschedError, ValueError):
    """A schedule or position cannot be expressed exactly in the requested unit or format."""


class StateError(StepschedError, ValueError):
    """A state dict or state file is malformed, inconsistent or unsupported."""


class StateFileError(StateError):
    """A state file could not be read or written; the message names the file."""
