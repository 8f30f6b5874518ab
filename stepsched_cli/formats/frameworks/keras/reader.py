"""The readers of Keras files: JSON documents, ``.keras`` and legacy ``.h5`` model files.

A Keras schedule document holds no position (read at the caller's); an optimizer's or a
model's config says where the position lives, and a ``.keras`` file records it (the
optimizer's iterations, read with h5py when it is installed), and so does a legacy
``.h5`` model (:mod:`.legacy`).  :mod:`.files` and :mod:`.legacy` are imported when a
file needs them, so start-up stays cheap.
"""

from __future__ import annotations

import dataclasses

from stepsched_cli.errors import StateFileError
from stepsched_cli.formats import sniff
from stepsched_cli.formats.frameworks.documents import FrameworkSchedule, framework_reader, noted
from stepsched_cli.formats.frameworks.keras import schedule as keras_format
from stepsched_cli.formats.hints import PositionHints
from stepsched_cli.formats.reading import Reading, Request, request_data
from stepsched_cli.state import parse_json_bytes

__all__ = [
    "KERAS_H5_FORMAT",
    "KERAS_MODEL_FORMAT",
    "keras_detect",
    "keras_file",
    "keras_h5_file",
    "read_keras",
    "read_keras_h5",
    "read_keras_model",
]

KERAS_MODEL_FORMAT = "keras-model"
KERAS_H5_FORMAT = "keras-h5"
HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"


def keras_detect(document: object) -> bool:
    """Whether a JSON document is a Keras schedule, optimizer config or model config."""
    from stepsched_cli.formats.frameworks.keras import files

    return files.detect(document)


def keras_file(head: bytes, name: str) -> bool:
    """A ``.keras`` file, by its name or, renamed, by its first zip member."""
    return name.lower().endswith(".keras") or sniff.looks_like_keras_model(head)


def _keras_parse(document: object) -> FrameworkSchedule:
    from stepsched_cli.formats.frameworks.keras import files

    schedule: FrameworkSchedule = files.parse(document)
    return schedule


def _keras_json(data: bytes, source: str) -> object:
    if data.startswith(b"PK"):
        raise StateFileError(
            f"{source}: is a zip; a .keras model file is read from its file as "
            f"--from {KERAS_MODEL_FORMAT}"
        )
    return parse_json_bytes(data, source)


def read_keras_model(request: Request[PositionHints]) -> Reading:
    """A ``.keras`` file: the schedule in its config.json, at the optimizer's iterations."""
    from stepsched_cli.formats.frameworks.keras import files as keras_files

    document, iterations, note = keras_files.read_model_file(request.path)
    position = request.hints.position if iterations is None else iterations
    read = framework_reader(KERAS_MODEL_FORMAT, _keras_parse, lambda _: "step", lambda *_: document)
    reading = read(Request(request.path, request.source, b"", PositionHints(position)))
    if note is not None:
        reading = noted(reading, note)
    return dataclasses.replace(reading, records_position=iterations is not None)


def keras_h5_file(head: bytes, name: str) -> bool:
    """An HDF5 file named as Keras names a legacy model (``model.save`` saves ``.h5`` and
    ``.hdf5`` names in that format); weights only are refused with their reason."""
    return head.startswith(HDF5_SIGNATURE) and name.lower().endswith((".h5", ".hdf5"))


def read_keras_h5(request: Request[PositionHints]) -> Reading:
    """A legacy ``.h5`` model: the schedule in its training_config, at its iterations."""
    from stepsched_cli.formats.frameworks.keras import legacy

    optimizer, iterations, notes = legacy.read_legacy_file(request.path)
    position = request.hints.position if iterations is None else iterations
    read = framework_reader(KERAS_H5_FORMAT, _keras_parse, lambda _: "step", lambda *_: optimizer)
    reading = read(Request(request.path, request.source, b"", PositionHints(position)))
    for note in notes:
        reading = noted(reading, note)
    return dataclasses.replace(reading, records_position=iterations is not None)


_keras_schedule_reader = framework_reader(
    keras_format.FORMAT_NAME, _keras_parse, lambda _: "step", _keras_json
)


def read_keras(request: Request[PositionHints]) -> Reading:
    """A Keras JSON document; an optimizer's or model's config says where its position is."""
    reading = _keras_schedule_reader(request)
    if keras_format.detect(_keras_json(request_data(request), request.source)):
        return reading  # a bare schedule: the position is the caller's
    from stepsched_cli.formats.frameworks.keras.files import CONFIG_POSITION_NOTE

    return noted(reading, CONFIG_POSITION_NOTE)
