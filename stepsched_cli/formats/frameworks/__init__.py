"""Other frameworks' schedules: timm, Keras, optax and flax; the wing's one entry.

One folder per framework: its schedule model (``schedule``: the framework's parameters
and exact arithmetic), the readers of the files it writes (``reader``, over ``files``
where those differ from the model's documents) and its ``code --framework`` snippet;
:mod:`.documents` holds the reader, writer and view every framework's schedule
documents share, :mod:`.common` their field checks and float32 arithmetic.  The format
table takes everything from here, ready to put in a row; nothing outside the wing
imports the modules inside.  The modules that read framework files (and PyYAML, h5py,
zipfile) are imported when a file needs them, so start-up stays cheap.
"""

from __future__ import annotations

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
    "OPTAX_FORMAT",
    "OPTAX_SNIPPET",
    "TIMM_FORMAT",
    "TIMM_SNIPPET",
    "TimmHints",
    "find_training",
    "flax_file",
    "keras_detect",
    "keras_file",
    "keras_h5_file",
    "optax_detect",
    "read_flax_msgpack",
    "read_keras",
    "read_keras_h5",
    "read_keras_model",
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
