"""Read the pickle inside a torch checkpoint without executing it and without torch.

A pickle is a small program: its ``GLOBAL``/``STACK_GLOBAL`` opcodes import any
callable and ``REDUCE`` calls it, so loading an untrusted checkpoint with :mod:`pickle`
runs whatever its author wanted.  :class:`RestrictedUnpickler` resolves a global only
when it is on a short allowlist of inert types, and even those are replaced by the
stand-ins of :mod:`~stepsched_cli.formats.sandbox.allowlist` (tensors become
:class:`TensorStub` records of shape and dtype; tensor bytes are never touched).  Any
other global raises :class:`~stepsched_cli.formats.checkpoint_errors.UnsafeCheckpointError`
naming it.

Before a single opcode runs, :func:`safe_loads` runs the pickle on shapes
(:class:`~stepsched_cli.formats.sandbox.bounds.PickleBounds`) to reject what the C
unpickler would otherwise trust: declared lengths longer than the data
(``BINUNICODE8`` claiming 2**40 bytes), memo indices that would make it allocate
gigabytes, integers too long to print or compute with, opcodes torch never writes,
containers nested too deeply or keys too costly to hash before anything hashes them,
and loads of more than :data:`MAX_PICKLE_WORK` steps.  After loading, the nesting
depth of the value is measured once more, visiting each object once
(:func:`~stepsched_cli.formats.sandbox.nesting.check_nesting`).  Messages show
values from the pickle only through :func:`~stepsched_cli.describe.describe`.  Every
failure is a :class:`~stepsched_cli.formats.checkpoint_errors.CheckpointError` with a one-line
message; docs/security.md lists the limits.

Example:
    >>> import pickle
    >>> from collections import OrderedDict
    >>> data = pickle.dumps({"sched": OrderedDict(last_epoch=3)}, protocol=2)
    >>> loaded = safe_loads(data, source="ckpt.pt")
    >>> type(loaded["sched"]).__name__, dict(loaded["sched"])
    ('PickledOrderedDict', {'last_epoch': 3})
    >>> safe_loads(pickle.dumps(print), source="ckpt.pt")
    Traceback (most recent call last):
    ...
    stepsched_cli.formats.checkpoint_errors.UnsafeCheckpointError: refusing to load 'ckpt.pt': its \
pickle references builtins.print, which is not on the allowlist of inert types

The stand-ins and the allowlist live in :mod:`~stepsched_cli.formats.sandbox.allowlist`.
"""

from __future__ import annotations

import _compat_pickle
import io
import pickle
import struct
from typing import IO, Any

from stepsched_cli.describe import describe
from stepsched_cli.formats.checkpoint_errors import CheckpointError, UnsafeCheckpointError
from stepsched_cli.formats.sandbox.allowlist import (
    ALLOWLIST,
    InertObject,
    PickledCounter,
    PickledOrderedDict,
    StorageStub,
    StorageType,
    TensorStub,
    TensorType,
    TorchDevice,
    TorchDtype,
)
from stepsched_cli.formats.sandbox.bounds import (
    MAX_HASHED_SIZE,
    MAX_INTEGER_BYTES,
    MAX_INTEGER_DIGITS,
    MAX_NESTING_DEPTH,
    Effect,
    PickleBounds,
)
from stepsched_cli.formats.sandbox.nesting import check_nesting
from stepsched_cli.formats.sandbox.opcodes import (
    MAX_PICKLE_BYTES,
    MAX_PICKLE_WORK,
    PickleStream,
    malformed,
)

__all__ = [
    "MAX_HASHED_SIZE",
    "MAX_INTEGER_BYTES",
    "MAX_INTEGER_DIGITS",
    "MAX_NESTING_DEPTH",
    "MAX_PICKLE_BYTES",
    "MAX_PICKLE_WORK",
    "InertObject",
    "PickleStream",
    "PickledCounter",
    "PickledOrderedDict",
    "RestrictedUnpickler",
    "StorageStub",
    "StorageType",
    "TensorStub",
    "TensorType",
    "TorchDevice",
    "TorchDtype",
    "safe_loads",
]


def _python3_name(module: str, name: str) -> tuple[str, str]:
    """Undo the Python 2 renaming that protocols 0-2 apply (``__builtin__`` -> ``builtins``).

    The stock unpickler does this in its own ``find_class``, which ours replaces.  Only
    names are mapped; nothing is imported.
    """
    if (module, name) in _compat_pickle.NAME_MAPPING:
        return _compat_pickle.NAME_MAPPING[module, name]
    return _compat_pickle.IMPORT_MAPPING.get(module, module), name


def _resolve(source: str, module: str, name: str) -> object:
    """The allowlisted stand-in for ``module.name``, or raise naming it."""
    module, name = _python3_name(module, name)
    try:
        return ALLOWLIST[module, name]
    except KeyError:
        raise _refuse_global(source, module, name) from None


def _refuse_global(source: str, module: str, name: str) -> UnsafeCheckpointError:
    qualified = f"{module}.{name}"
    return UnsafeCheckpointError(
        f"refusing to load {source!r}: its pickle references {qualified}, "
        "which is not on the allowlist of inert types",
        qualified,
    )


class RestrictedUnpickler(pickle.Unpickler):
    """An unpickler that resolves only allowlisted globals, each to an inert stand-in.

    Persistent ids, which torch uses for tensor storages, become :class:`StorageStub`
    records; the storage bytes are never read.  Use :func:`safe_loads`, which also
    validates the opcodes before this class runs them.

    Args:
        file: The pickle stream.
        source: A name for the data (usually the file path), used in error messages.
    """

    def __init__(self, file: IO[bytes], *, source: str) -> None:
        super().__init__(file)
        self.source = source

    def find_class(self, module: str, name: str) -> Any:
        """Return the stand-in for ``module.name``.

        Raises:
            UnsafeCheckpointError: ``module.name`` is not on the allowlist.
        """
        return _resolve(self.source, module, name)

    def persistent_load(self, pid: Any) -> StorageStub:
        """Turn torch's ``('storage', type, key, location, numel[, view])`` into a stub.

        The zip format passes five fields and the legacy format six (the last being
        view metadata); either way only the description is kept.
        """
        if not (isinstance(pid, tuple) and len(pid) in (5, 6) and pid[0] == "storage"):
            kind = pid[0] if isinstance(pid, tuple) and pid else pid
            raise pickle.UnpicklingError(f"unsupported persistent id {describe(kind)}")
        storage_type, key, location, numel = pid[1:5]
        if not isinstance(storage_type, StorageType):
            raise pickle.UnpicklingError(
                f"storage type must be a torch storage class, got {describe(storage_type)}"
            )
        if not isinstance(key, str) or not isinstance(location, str) or not isinstance(numel, int):
            raise pickle.UnpicklingError(
                "storage persistent id must be (str key, str location, int numel)"
            )
        return StorageStub(storage_type.dtype, key, location, numel)


def _effect(module: str, name: str, source: str) -> Effect:
    """What calling the allowlisted ``module.name`` does to the bounds of a load."""
    target = _resolve(source, module, name)
    if target in (set, PickledCounter):
        return Effect.HASHES_INTO_MUTABLE
    if target is PickledOrderedDict:
        return Effect.PAIRS_INTO_MUTABLE
    if target is complex:
        return Effect.COMPLEX
    if target is frozenset:
        return Effect.HASHES_INTO_FROZEN
    if isinstance(target, type) and issubclass(target, InertObject):
        return Effect.RECORD
    return Effect.VALUE


def safe_loads(
    data: bytes, *, source: str = "<bytes>", max_depth: int = MAX_NESTING_DEPTH
) -> object:
    """Load one pickle with :class:`RestrictedUnpickler`, after validating its opcodes.

    Args:
        data: The complete pickle stream (at most :data:`MAX_PICKLE_BYTES`).
        source: A name for the data (usually the file path), used in error messages.
        max_depth: The deepest container nesting accepted.

    Returns:
        The unpickled object, built only from plain Python values and the stand-ins of
        this module.

    Raises:
        UnsafeCheckpointError: The pickle references a global not on the allowlist.
            The message reads ``refusing to load '<source>': its pickle references
            <module>.<name>, which is not on the allowlist of inert types``.
        CheckpointError: The pickle is too large, truncated, malformed or too deeply
            nested: ``cannot read '<source>': <reason>``.

    Example:
        >>> safe_loads(b"\\x80\\x02]q\\x00(K\\x01K\\x02e.")
        [1, 2]
        >>> safe_loads(b"\\x80\\x02]q\\x00(K\\x01")
        Traceback (most recent call last):
        ...
        stepsched_cli.formats.checkpoint_errors.CheckpointError: cannot read '<bytes>': malformed \
pickle (pickle exhausted before seeing STOP)
    """
    if len(data) > MAX_PICKLE_BYTES:
        raise CheckpointError(
            f"cannot read {source!r}: its pickle is {len(data)} bytes, "
            f"more than the limit of {MAX_PICKLE_BYTES}"
        )
    PickleBounds(data, source, lambda module, name: _effect(module, name, source), max_depth).run()
    unpickler = RestrictedUnpickler(io.BytesIO(data), source=source)
    try:
        result = unpickler.load()
    except CheckpointError:
        raise
    except (
        pickle.UnpicklingError,
        EOFError,
        ValueError,
        TypeError,
        AttributeError,
        KeyError,
        IndexError,
        struct.error,
        OverflowError,
        RecursionError,
        MemoryError,
    ) as error:
        raise malformed(source, error) from None
    check_nesting(result, source, max_depth)
    return result
