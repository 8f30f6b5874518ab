"""The readers of timm files: schedule documents, train.py's args and training checkpoints.

- :func:`read_timm`: a scheduler's ``state_dict()``, a ``{"timm": ...}`` document,
  train.py's args (``args.yaml``, JSON) or ``scheduler_kwargs()``, read at the caller's
  position (they record none).
- :func:`find_training` and :func:`read_training`: what a loaded ``torch.save``
  checkpoint holds for timm (a scheduler state, or a ``CheckpointSaver`` file's args
  and epoch), read at timm's resume position; the format table offers a checkpoint to
  them when it holds no torch scheduler state.

What timm's files leave out comes from :class:`TimmHints`: the updates per epoch with
``sched_on_updates`` and scheduler_kwargs()'s lr.  :mod:`.files` and :mod:`.checkpoint`
are imported when a file needs them, so start-up stays cheap.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

from stepsched_cli.errors import ConversionError, StateError, StateFileError
from stepsched_cli.formats.frameworks.documents import framework_reader
from stepsched_cli.formats.frameworks.timm import schedule as timm_format
from stepsched_cli.formats.frameworks.timm.schedule import TimmSchedule
from stepsched_cli.formats.hints import HELP, PositionHints
from stepsched_cli.formats.reading import Reading, Request, position_text
from stepsched_cli.schedule import Mode

if TYPE_CHECKING:  # the checkpoint search is imported when a checkpoint is read
    from stepsched_cli.formats.frameworks.timm.checkpoint import TimmTraining

__all__ = [
    "TimmHints",
    "find_training",
    "read_timm",
    "read_training",
    "timm_detect",
    "timm_unit",
]


@dataclass(frozen=True)
class TimmHints:
    """What timm's files leave out, given by the caller.

    Attributes:
        position: Where to read a file that records no position (timm's ``t``).
        updates_per_epoch: For schedules stepped per update (``sched_on_updates``): the
            loader's updates per epoch, which train.py's args and checkpoints do not
            record; must agree with the file where it records them.
        lr: For ``scheduler_kwargs()``, which holds no lr: the optimizer's lr; must agree
            with the file where it holds one.
    """

    applies_to: ClassVar[str] = (
        "timm's train.py files only (args.yaml, scheduler_kwargs(), CheckpointSaver files)"
    )

    position: int = 0
    updates_per_epoch: int | None = dataclasses.field(
        default=None,
        metadata={
            HELP: "For timm runs stepped per update (sched_on_updates): the loader's updates "
            "per epoch (len(loader_train) // grad_accum_steps), which train.py's args and "
            "checkpoints do not record."
        },
    )
    lr: float | None = dataclasses.field(
        default=None,
        metadata={
            HELP: "For timm's scheduler_kwargs(), which holds no lr: the optimizer's lr "
            "(train.py's --lr)."
        },
    )


def timm_detect(document: object) -> bool:
    """Whether a JSON document is timm's: a state_dict(), a ``{"timm": ...}`` document,
    train.py's args or scheduler_kwargs()."""
    from stepsched_cli.formats.frameworks.timm import files

    return files.detect(document)


def read_timm(request: Request[TimmHints]) -> Reading:
    """A timm document; train.py's args are completed by the hints."""
    from stepsched_cli.formats.frameworks.timm import files

    hints = request.hints
    reader = framework_reader(
        timm_format.FORMAT_NAME,
        lambda document: files.parse(
            document, lr=hints.lr, updates_per_epoch=hints.updates_per_epoch
        ),
        timm_unit,
        files.load_document,
    )
    positioned = Request(request.path, request.source, request.data, PositionHints(hints.position))
    return _per_update(reader(positioned), hints.updates_per_epoch)


def timm_unit(schedule: object) -> Mode:
    """What a timm schedule's position counts: epochs with ``t_in_epochs``, else updates."""
    counts_epochs = isinstance(schedule, timm_format.TimmSchedule) and schedule.t_in_epochs
    return "epoch" if counts_epochs else "step"


def find_training(checkpoint: object) -> TimmTraining | None:
    """timm's scheduler state, args and epoch in a loaded checkpoint, None if it has none."""
    from stepsched_cli.formats.frameworks.timm.checkpoint import find_timm_training

    return find_timm_training(checkpoint)


def read_training(training: TimmTraining, format: str, source: str, hints: TimmHints) -> Reading:
    """A timm scheduler state or ``CheckpointSaver`` file, at timm's resume position, as
    a reading of ``format`` (the checkpoint's).

    timm's ``train.py`` resumes at ``epoch + 1`` (in updates with ``sched_on_updates``);
    a file without ``epoch`` is read at the hints' position.
    """
    from stepsched_cli.formats.frameworks.timm import files

    args, given = training.args or {}, hints.updates_per_epoch
    try:
        if training.state is not None:
            schedule: TimmSchedule = files.schedule_from_state(training.state)
            per_epoch = given
        else:
            schedule = files.schedule_from_args(args, given, lr=hints.lr)
            per_epoch = files.updates_per_epoch_of(args, given)
        position = (
            hints.position
            if training.epoch is None
            else files.resume_position(training.epoch, schedule, per_epoch)
        )
    except (StateError, ConversionError) as error:
        raise StateFileError(f"{source}: {error}", parameter=error.parameter) from None
    reader = framework_reader(
        timm_format.FORMAT_NAME, lambda _: schedule, timm_unit, lambda *_: None
    )
    reading = reader(Request(source, source, b"", PositionHints(position)))
    return dataclasses.replace(
        _per_update(reading, per_epoch),
        format=format,
        records_position=training.epoch is not None,
    )


def _per_update(reading: Reading, updates_per_epoch: int | None) -> Reading:
    """A timm reading stepped per update records the updates per epoch as its steps per
    epoch (one update is one optimizer step)."""
    state = reading.state
    if state is None or updates_per_epoch is None or state.schedule.mode != "step":
        return reading
    state = dataclasses.replace(state, steps_per_epoch=updates_per_epoch)
    view = dataclasses.replace(reading.view, position_text=position_text(state, state.position))
    return dataclasses.replace(reading, state=state, view=view)
