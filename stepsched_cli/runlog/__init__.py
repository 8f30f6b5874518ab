"""Reading a logged learning-rate series and checking it against a schedule.

A training run logs ``(step, lr)`` pairs: a CSV file (a plain ``step,lr`` log,
TensorBoard's CSV export ``Wall time,Step,Value``, a Weights & Biases export with a
``_step`` and a ``train/learning_rate`` column, Lightning's ``lr-SGD`` ...) or JSON
lines (``{"step": 0, "lr": 0.1}``).  :func:`read_log` and :func:`parse_log` stream
such a log one row at a time, so a log of millions of rows costs constant memory.

:func:`check_log` compares every point with the schedule and, on a mismatch, names
the likely cause.

The package, data flowing one way:

* :mod:`.columns`: which columns hold the step and the lr; cells to numbers.
* :mod:`.log_error`: the one error every reader and checker raises.
* :mod:`.rows`: streaming points out of CSV and JSON lines, row by row.
* :mod:`.intervals`: integer interval sets and what one point admits.
* :mod:`.decays`: the decays a log shows beside the planned ones; a constant shift.
* :mod:`.sample`: a bounded sample of the points (:class:`LogSample`), to draw them.
* :mod:`.diagnosis`: the admitted sets turned into a cause for people.
* :mod:`.checking`: the comparison and the hypotheses narrowed as points stream.
* :mod:`.vector`, :mod:`.chunks`, :mod:`.fast`: :func:`check_log_file`, the same
  answer read in blocks and compared a block at a time (numpy).
* :mod:`.tensorboard`: the same points out of a TensorBoard run (optional extra).
* :mod:`.counting` and :mod:`.trainer_state`: where a log's steps start (logs
  recognised as counting from 1, ``steps_from``), and the Hugging Face Trainer's
  ``trainer_state.json``.

Example:
    >>> from stepsched_cli.schedule import StepSchedule
    >>> schedule = StepSchedule(0.1, step_size=30, gamma=0.1)
    >>> log = ["step,lr"] + [f"{t},{schedule.lr_at(4 * t)}" for t in range(40)]
    >>> result = check_log(parse_log(log), schedule)
    >>> result.ok, result.first_mismatch_step, result.expected_lr, result.logged_lr
    (False, 8, 0.1, 0.01)
    >>> result.diagnosis.kind, result.diagnosis.factor
    ('early', 4)
"""

from stepsched_cli.runlog.checking import DEFAULT_TOLERANCE, check_log
from stepsched_cli.runlog.columns import LR_COLUMN_NAMES, STEP_COLUMN_NAMES
from stepsched_cli.runlog.counting import COUNTING_FROM_ONE
from stepsched_cli.runlog.diagnosis import CheckResult, Diagnosis, DiagnosisKind
from stepsched_cli.runlog.fast import check_log_file
from stepsched_cli.runlog.log_error import RunLogError
from stepsched_cli.runlog.rows import (
    LOG_FORMATS,
    MAX_LINE_LENGTH,
    LogFormat,
    LogPoint,
    parse_log,
    read_log,
)
from stepsched_cli.runlog.sample import LogSample
from stepsched_cli.runlog.tensorboard import (
    EVENT_RUNS,
    EVENT_SOURCE,
    check_run,
    is_event_source,
    read_events,
)

__all__ = [
    "COUNTING_FROM_ONE",
    "DEFAULT_TOLERANCE",
    "EVENT_RUNS",
    "EVENT_SOURCE",
    "LOG_FORMATS",
    "LR_COLUMN_NAMES",
    "MAX_LINE_LENGTH",
    "STEP_COLUMN_NAMES",
    "CheckResult",
    "Diagnosis",
    "DiagnosisKind",
    "LogFormat",
    "LogPoint",
    "LogSample",
    "RunLogError",
    "check_log",
    "check_log_file",
    "check_run",
    "is_event_source",
    "parse_log",
    "read_events",
    "read_log",
]
