"""MMEngine (OpenMMLab): param scheduler states and Runner checkpoints.

:mod:`.schedulers` parses the schedulers and evaluates them by MMEngine's rules;
:mod:`.reader` finds them in a loaded checkpoint or a JSON document and makes the
reading.
"""

from __future__ import annotations

from stepsched_cli.formats.frameworks.mmengine.reader import (
    FORMAT_NAME,
    find_mmengine,
    mmengine_detect,
    read_mmengine,
    read_mmengine_json,
)

__all__ = [
    "FORMAT_NAME",
    "find_mmengine",
    "mmengine_detect",
    "read_mmengine",
    "read_mmengine_json",
]
