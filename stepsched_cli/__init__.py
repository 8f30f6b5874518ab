"""stepsched: exact step-decay learning-rate schedules.

    lr(t) = initial_lr * gamma ** (t // step_size)

The core (this package's top level) imports only the standard library; the command
line lives in :mod:`stepsched_cli.cli` and pictures in :mod:`stepsched_cli.plot`.
The names below are imported on first use, so a command that needs only the schedule
does not pay for the rest at start-up.

Example:
    >>> from stepsched_cli import StepScheduler
    >>> scheduler = StepScheduler(initial_lr=0.1, step_size=30, gamma=0.1)
    >>> [scheduler.lr_at(t) for t in (0, 29, 30, 60, 90)]
    [0.1, 0.1, 0.01, 0.001, 0.0001]
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

# Public name -> the module that defines it.
_EXPORTS = {
    "ConversionError": "errors",
    "ScheduleError": "errors",
    "StateError": "errors",
    "StateFileError": "errors",
    "StepschedError": "errors",
    "Mode": "schedule",
    "Segment": "schedule",
    "StepSchedule": "schedule",
    "SchedulerState": "scheduler",
    "StepOrder": "scheduler",
    "StepScheduler": "scheduler",
    "read_state_file": "state",
    "write_state_file": "state",
    "convert_state": "units",
    "steps_per_epoch": "units",
    "to_mode": "units",
}

__all__ = [
    "ConversionError",
    "Mode",
    "ScheduleError",
    "SchedulerState",
    "Segment",
    "StateError",
    "StateFileError",
    "StepOrder",
    "StepSchedule",
    "StepScheduler",
    "StepschedError",
    "__version__",
    "convert_state",
    "read_state_file",
    "steps_per_epoch",
    "to_mode",
    "write_state_file",
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'stepsched_cli' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"stepsched_cli.{module}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))


if TYPE_CHECKING:
    from stepsched_cli.errors import (
        ConversionError,
        ScheduleError,
        StateError,
        StateFileError,
        StepschedError,
    )
    from stepsched_cli.schedule import Mode, Segment, StepSchedule
    from stepsched_cli.scheduler import SchedulerState, StepOrder, StepScheduler
    from stepsched_cli.state import read_state_file, write_state_file
    from stepsched_cli.units import convert_state, steps_per_epoch, to_mode
