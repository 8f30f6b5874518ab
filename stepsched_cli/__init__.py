"""stepsched: exact step-decay learning-rate schedules.

    lr(t) = initial_lr * gamma ** (t // step_size)

The core (this package's top level) imports only the standard library; the command
line lives in :mod:`stepsched_cli.cli` and pictures in :mod:`stepsched_cli.plot`.

Example:
    >>> from stepsched_cli import StepScheduler
    >>> scheduler = StepScheduler(initial_lr=0.1, step_size=30, gamma=0.1)
    >>> [scheduler.lr_at(t) for t in (0, 29, 30, 60, 90)]
    [0.1, 0.1, 0.01, 0.001, 0.0001]
"""

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

__version__ = "0.1.0"

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
