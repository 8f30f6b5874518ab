"""Other frameworks' schedules: timm, Keras, optax, flax, MMEngine, Lightning and Ignite;
the wing's one entry.

One folder per framework: its schedule model (``schedule``: the framework's parameters
and exact arithmetic), the readers of the files it writes (``reader``, over ``files``
where those differ from the model's documents) and its ``code --framework`` snippet;
:mod:`.documents` holds the reader, writer and view every framework's schedule
documents share, :mod:`.common` their field checks and float32 arithmetic.  MMEngine
(:mod:`.mmengine`) has its own schedulers; Lightning (:mod:`.lightning`) and Ignite
(:mod:`.ignite`) save torch's, read through the torch wing with what their checkpoints
add (the unit a Lightning scheduler counts, Ignite's own counter).  The format
table takes everything from here, ready to put in a row; nothing outside the wing
imports the modules inside.  The modules that read framework files (and PyYAML, h5py,
zipfile) are imported when a file needs them, so start-up stays cheap.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from stepsched_cli.formats.frameworks.documents import framework_reader, framework_writer
from stepsched_cli.formats.frameworks.flax.reader import (
    FLAX_MSGPACK_FORMAT,
    flax_file,
    read_flax_msgpack,
)
from stepsched_cli.formats.frameworks.keras import schedule as keras_schedule
from stepsched_cli.formats.frameworks.keras import snippet as keras_snippet
from stepsched_cli.formats.frameworks.keras.reader import (
    KERAS_H5_FORMAT,
    KERAS_MODEL_FORMAT,
    keras_detect,
    keras_file,
    keras_h5_file,
    read_keras,
    read_keras_h5,
    read_keras_model,
)
from stepsched_cli.formats.frameworks.optax import schedule as optax_schedule
from stepsched_cli.formats.frameworks.optax import snippet as optax_snippet
from stepsched_cli.formats.frameworks.timm import schedule as timm_schedule
from stepsched_cli.formats.frameworks.timm import snippet as timm_snippet
from stepsched_cli.formats.frameworks.timm.reader import (
    TimmHints,
    find_training,
    read_timm,
    read_training,
    timm_detect,
)

__all__ = [
    "FLAX_MSGPACK_FORMAT",
    "KERAS_FORMAT",
    "KERAS_H5_FORMAT",
    "KERAS_MODEL_FORMAT",
    "KERAS_SNIPPET",
    "MMENGINE_FORMAT",
    "OPTAX_FORMAT",
    "OPTAX_SNIPPET",
    "TIMM_FORMAT",
    "TIMM_SNIPPET",
    "TimmHints",
    "find_ignite",
    "find_lightning",
    "find_mmengine",
    "find_training",
    "flax_file",
    "keras_detect",
    "keras_file",
    "keras_h5_file",
    "mmengine_detect",
    "optax_detect",
    "read_flax_msgpack",
    "read_ignite",
    "read_keras",
    "read_keras_h5",
    "read_keras_model",
    "read_lightning",
    "read_mmengine",
    "read_mmengine_json",
    "read_optax",
    "read_timm",
    "read_training",
    "timm_detect",
    "write_keras",
    "write_optax",
    "write_timm",
]

TIMM_FORMAT = timm_schedule.FORMAT_NAME
KERAS_FORMAT = keras_schedule.FORMAT_NAME
OPTAX_FORMAT = optax_schedule.FORMAT_NAME

TIMM_SNIPPET = timm_snippet.SNIPPET
KERAS_SNIPPET = keras_snippet.SNIPPET
OPTAX_SNIPPET = optax_snippet.SNIPPET

write_timm = framework_writer(
    TIMM_FORMAT, lambda schedule, _: timm_schedule.from_schedule(schedule)
)
write_keras = framework_writer(KERAS_FORMAT, keras_schedule.from_schedule)
write_optax = framework_writer(OPTAX_FORMAT, optax_schedule.from_schedule)
read_optax = framework_reader(OPTAX_FORMAT, optax_schedule.parse, lambda _: "step")
optax_detect = optax_schedule.detect

if TYPE_CHECKING:  # read when a file needs them, so start-up stays cheap
    from stepsched_cli.formats.frameworks.ignite import FoundIgnite
    from stepsched_cli.formats.frameworks.lightning import FoundLightning
    from stepsched_cli.formats.frameworks.mmengine.reader import FoundMMEngine
    from stepsched_cli.formats.hints import NoHints
    from stepsched_cli.formats.reading import Reading, Request

MMENGINE_FORMAT = "mmengine"


def find_mmengine(checkpoint: object) -> FoundMMEngine | None:
    """An MMEngine Runner checkpoint or param scheduler state, None when neither."""
    from stepsched_cli.formats.frameworks.mmengine import reader

    return reader.find_mmengine(checkpoint)


def read_mmengine(found: FoundMMEngine, format: str, source: str, hints: NoHints) -> Reading:
    """The reading of what :func:`find_mmengine` found."""
    from stepsched_cli.formats.frameworks.mmengine import reader

    return reader.read_mmengine(found, format, source, hints)


def read_mmengine_json(request: Request[NoHints]) -> Reading:
    """An MMEngine param scheduler's ``state_dict()`` saved as JSON."""
    from stepsched_cli.formats.frameworks.mmengine import reader

    return reader.read_mmengine_json(request)


def mmengine_detect(document: object) -> bool:
    """Whether a JSON document is an MMEngine param scheduler's ``state_dict()``."""
    from stepsched_cli.formats.frameworks.mmengine import reader

    return reader.mmengine_detect(document)


def find_lightning(checkpoint: object) -> FoundLightning | None:
    """A Lightning checkpoint holding torch scheduler states, None otherwise."""
    from stepsched_cli.formats.frameworks import lightning

    return lightning.find_lightning(checkpoint)


def read_lightning(found: FoundLightning, format: str, source: str, hints: Any) -> Reading:
    """A Lightning checkpoint's torch reading, in the unit its scheduler counts."""
    from stepsched_cli.formats.frameworks import lightning

    return lightning.read_lightning(found, format, source, hints)


def find_ignite(checkpoint: object) -> FoundIgnite | None:
    """An Ignite checkpoint holding LRScheduler wrappers, None otherwise."""
    from stepsched_cli.formats.frameworks import ignite

    return ignite.find_ignite(checkpoint)


def read_ignite(found: FoundIgnite, format: str, source: str, hints: Any) -> Reading:
    """An Ignite checkpoint's torch reading, at Ignite's own counter."""
    from stepsched_cli.formats.frameworks import ignite

    return ignite.read_ignite(found, format, source, hints)
