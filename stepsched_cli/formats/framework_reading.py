"""Readers and writers of framework schedule files: timm, Keras and optax.

The format table (:mod:`~stepsched_cli.formats.registry`) names these; each builds one
:class:`~stepsched_cli.formats.reading.Reading` from what a framework's module parses:

- :func:`framework_reader` makes the reader of a framework's schedule documents, which
  hold no position (read at the caller's); :func:`framework_writer` the writer of one.
- timm: :func:`read_timm` (a state_dict, train.py's args, scheduler_kwargs()) and
  :func:`timm_training_reading` (a timm state or a ``CheckpointSaver`` file inside a
  torch.save checkpoint, at timm's resume position).  What timm's files leave out
  (the updates per epoch with ``sched_on_updates``, scheduler_kwargs()'s lr) comes
  from the request; the reading says it accepts them (``Reading.completions``).
- Keras: :func:`read_keras` (JSON documents) and :func:`read_keras_model` (``.keras``
  files, recognised by :func:`keras_file`).

The modules that read framework files (``timm_files``, ``keras_files``) are imported
when a file needs them, so start-up (``inspect run.json``, ``--help``) stays cheap.
"""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Callable
from types import ModuleType

from stepsched_cli.errors import ConversionError, ScheduleError, StateError, StateFileError
from stepsched_cli.formats import keras as keras_format
from stepsched_cli.formats import sniff
from stepsched_cli.formats import timm as timm_format
from stepsched_cli.formats import torch as torch_format
from stepsched_cli.formats.reading import (
    FrameworkSchedule,
    Reader,
    Reading,
    Request,
    Writer,
    framework_description,
    framework_details,
    framework_view,
    position_text,
    request_data,
    state_view,
)
from stepsched_cli.schedule import Mode, StepSchedule
from stepsched_cli.scheduler import SchedulerState
from stepsched_cli.state import parse_json_bytes
from stepsched_cli.validate import listed

KERAS_MODEL_FORMAT = "keras-model"
CHECKPOINT_FORMAT = torch_format.CHECKPOINT_FORMAT_NAME


def framework_reader(
    name: str,
    parse: Callable[[object], FrameworkSchedule],
    unit: Callable[[object], Mode],
    load: Callable[[bytes, str], object] = parse_json_bytes,
) -> Reader:
    """A reader of a framework's schedule documents, which hold no position; ``load``
    parses the bytes (JSON, or JSON and YAML for timm)."""

    def read(request: Request) -> Reading:
        source, position = request.source, request.position
        document = load(request_data(request), source)
        try:
            schedule = parse(document)
        except (StateError, ConversionError) as error:
            raise StateFileError(f"{source}: {error}", parameter=error.parameter) from None
        try:
            framework_lr = schedule.lr_at(position)  # beyond the framework's own counter?
        except ScheduleError as error:
            raise StateFileError(f"{source}: {error}", parameter=error.parameter) from None
        if not math.isfinite(framework_lr):  # scales above 1 can overflow float32
            raise StateFileError(
                f"{source}: the {name} lr at position {position} is {framework_lr} in "
                "float32; a schedule must stay finite"
            )
        try:
            state = SchedulerState(schedule=schedule.to_schedule(), position=position)
        except ConversionError as error:
            view = framework_view(name, schedule, position, unit(schedule), str(error))
            return Reading(name, source, view, None, str(error), records_position=False)
        lr = schedule.lr_at(position)
        view = state_view(
            state,
            described=((name, framework_description(schedule)),),
            framework_lr=lr,
            notes=schedule.notes,
            details=framework_details(schedule, lr, None),
        )
        return Reading(name, source, view, state, records_position=False)

    return read


def load_timm_files() -> ModuleType:
    """:mod:`~stepsched_cli.formats.timm_files`, imported when a file needs it."""
    from stepsched_cli.formats import timm_files

    return timm_files


def load_keras_files() -> ModuleType:
    """:mod:`~stepsched_cli.formats.keras_files`, imported when a file needs it."""
    from stepsched_cli.formats import keras_files

    return keras_files


def keras_file(head: bytes, name: str) -> bool:
    """A ``.keras`` file, by its name or, renamed, by its first zip member."""
    return name.lower().endswith(".keras") or sniff.looks_like_keras_model(head)


def _keras_parse(document: object) -> FrameworkSchedule:
    schedule: FrameworkSchedule = load_keras_files().parse(document)
    return schedule


def _keras_json(data: bytes, source: str) -> object:
    if data.startswith(b"PK"):
        raise StateFileError(
            f"{source}: is a zip; a .keras model file is read from its file as "
            f"--from {KERAS_MODEL_FORMAT}"
        )
    return parse_json_bytes(data, source)


def read_keras_model(request: Request) -> Reading:
    """A ``.keras`` file: the schedule in its config.json, at the optimizer's iterations."""
    from stepsched_cli.formats import keras_files

    document, iterations, note = keras_files.read_model_file(request.path)
    position = request.position if iterations is None else iterations
    read = framework_reader(KERAS_MODEL_FORMAT, _keras_parse, lambda _: "step", lambda *_: document)
    reading = read(Request(request.path, request.source, b"", position=position))
    if note is not None:
        reading = _noted(reading, note)
    return dataclasses.replace(reading, records_position=iterations is not None)


def _noted(reading: Reading, note: str) -> Reading:
    """``reading`` with one more note (in the view and in the record's ``notes``)."""
    view = reading.view
    details = tuple(
        (name, [*value, note] if name == "notes" else value) for name, value in view.details
    )
    view = dataclasses.replace(view, notes=(*view.notes, note), details=details)
    return dataclasses.replace(reading, view=view)


_keras_schedule_reader = framework_reader(
    keras_format.FORMAT_NAME, _keras_parse, lambda _: "step", _keras_json
)


def read_keras(request: Request) -> Reading:
    """A Keras JSON document; an optimizer's or model's config says where its position is."""
    reading = _keras_schedule_reader(request)
    if keras_format.detect(_keras_json(request_data(request), request.source)):
        return reading  # a bare schedule: the position is the caller's
    from stepsched_cli.formats.keras_files import CONFIG_POSITION_NOTE

    return _noted(reading, CONFIG_POSITION_NOTE)


def read_timm(request: Request) -> Reading:
    """A timm document; train.py's args are completed by ``--lr``/``--updates-per-epoch``."""
    timm_files = load_timm_files()
    reader = framework_reader(
        timm_format.FORMAT_NAME,
        lambda document: timm_files.parse(
            document, lr=request.lr, updates_per_epoch=request.updates_per_epoch
        ),
        timm_unit,
        timm_files.load_document,
    )
    return _with_completions(reader(request), request.updates_per_epoch)


def timm_unit(schedule: object) -> Mode:
    counts_epochs = isinstance(schedule, timm_format.TimmSchedule) and schedule.t_in_epochs
    return "epoch" if counts_epochs else "step"


def timm_training_reading(checkpoint: object, request: Request) -> Reading | None:
    """A timm scheduler state or ``CheckpointSaver`` file, at timm's resume position.

    timm's ``train.py`` resumes at ``epoch + 1`` (in updates with ``sched_on_updates``);
    a file without ``epoch`` is read at ``--position``.
    """
    from stepsched_cli.formats.timm_checkpoint import find_timm_training

    training = find_timm_training(checkpoint)
    if training is None:
        return None
    timm_files = load_timm_files()
    source = request.path
    args, given = training.args or {}, request.updates_per_epoch
    try:
        if training.state is not None:
            schedule: FrameworkSchedule = timm_files.schedule_from_state(training.state)
            per_epoch = given
        else:
            schedule = timm_files.schedule_from_args(args, given, lr=request.lr)
            per_epoch = timm_files.updates_per_epoch_of(args, given)
        position = (
            request.position
            if training.epoch is None
            else timm_files.resume_position(training.epoch, schedule, per_epoch)
        )
    except (StateError, ConversionError) as error:
        raise StateFileError(f"{source}: {error}", parameter=error.parameter) from None
    reader = framework_reader(
        timm_format.FORMAT_NAME, lambda _: schedule, timm_unit, lambda *_: None
    )
    reading = reader(dataclasses.replace(request, data=b"", position=position))
    return dataclasses.replace(
        _with_completions(reading, per_epoch),
        format=CHECKPOINT_FORMAT,
        records_position=training.epoch is not None,
    )


TIMM_COMPLETIONS = ("updates_per_epoch", "lr")
"""What timm's training files leave out and a caller may give (read_state's arguments)."""


def _with_completions(reading: Reading, updates_per_epoch: int | None) -> Reading:
    """A timm reading, which ``updates_per_epoch`` and ``lr`` may complete; per update,
    its state records the updates per epoch as its steps per epoch (one update is one
    optimizer step)."""
    reading = dataclasses.replace(reading, completions=TIMM_COMPLETIONS)
    state = reading.state
    if state is None or updates_per_epoch is None or state.schedule.mode != "step":
        return reading
    state = dataclasses.replace(state, steps_per_epoch=updates_per_epoch)
    view = dataclasses.replace(reading.view, position_text=position_text(state, state.position))
    return dataclasses.replace(reading, state=state, view=view)


# -- writers -----------------------------------------------------------------------


def framework_writer(
    name: str, write: Callable[[StepSchedule, int | None], dict[str, object]]
) -> Writer:
    """A writer of a framework's schedule document (one schedule, no position)."""

    def dump(state: SchedulerState) -> bytes:
        schedule = state.schedule
        others = [lr for lr in state.group_initial_lrs if lr != schedule.initial_lr]
        if others:
            lrs = listed(repr(lr) for lr in state.group_initial_lrs)
            raise ConversionError(
                f"the state drives {len(state.group_initial_lrs)} parameter groups with "
                f"initial lrs {lrs}; a {name} document holds one schedule, so the other "
                "groups would be lost"
            )
        document = write(schedule, state.steps_per_epoch)
        return (json.dumps(document, indent=2, allow_nan=False) + "\n").encode("utf-8")

    return dump
