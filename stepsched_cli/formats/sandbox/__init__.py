"""The sandbox: reading untrusted pickles and zip archives without running anything.

The one entry for every reader of a ``torch.save`` or ``.keras`` file: the restricted
unpickler (:mod:`.unpickler`, over :mod:`.allowlist`, :mod:`.opcodes`, :mod:`.bounds`,
:mod:`.nesting` and :mod:`.hashing`) and the zip rules (:mod:`.zip_archive`).  Nothing
outside imports the modules inside; docs/security.md lists every limit.  Importing it
imports :mod:`pickle` and :mod:`zipfile`, so the readers import it when a file needs it.
"""

from stepsched_cli.formats.sandbox.allowlist import InertObject, TensorStub
from stepsched_cli.formats.sandbox.opcodes import MAX_PICKLE_BYTES, PickleStream
from stepsched_cli.formats.sandbox.unpickler import safe_loads
from stepsched_cli.formats.sandbox.zip_archive import (
    MAX_CENTRAL_DIRECTORY_BYTES,
    MAX_INFLATION_RATIO,
    MAX_ZIP_ENTRIES,
    UNBOUNDED_INFLATION_BYTES,
    ZipArchiveError,
    ZipKind,
    read_members,
)

__all__ = [
    "MAX_CENTRAL_DIRECTORY_BYTES",
    "MAX_INFLATION_RATIO",
    "MAX_PICKLE_BYTES",
    "MAX_ZIP_ENTRIES",
    "UNBOUNDED_INFLATION_BYTES",
    "InertObject",
    "PickleStream",
    "TensorStub",
    "ZipArchiveError",
    "ZipKind",
    "read_members",
    "safe_loads",
]
