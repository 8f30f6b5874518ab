"""The ``torch.save`` container: find and load a checkpoint's object pickle, safely.

:func:`load_checkpoint` understands both layouts ``torch.save`` writes: the zip archive
of torch >= 1.6 (``<prefix>/data.pkl`` plus one ``<prefix>/data/<key>`` member per
storage) and the legacy stream (magic-number pickle, protocol pickle, sys-info pickle,
object pickle, then storage keys and raw bytes).  Lightning ``.ckpt`` files are the same
format.  Only the object pickle is read, through the restricted unpickler
(:func:`~stepsched_cli.formats.sandbox.unpickler.safe_loads`), so nothing in the file is
executed, tensor bytes are never read, and a multi-GB checkpoint loads as fast as a
tiny one.  The zip's end records (classic and ZIP64) are read first, to bound the
members :mod:`zipfile` would list.

The container is the first step of a checkpoint read
(:mod:`~stepsched_cli.formats.torch.checkpoint`): what it loads goes on to the search
and the state dicts, never back.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import IO

from stepsched_cli.describe import describe
from stepsched_cli.formats.checkpoint_errors import CheckpointError, UnsafeCheckpointError
from stepsched_cli.formats.sandbox import (
    MAX_CENTRAL_DIRECTORY_BYTES,
    MAX_INFLATION_RATIO,
    MAX_PICKLE_BYTES,
    MAX_ZIP_ENTRIES,
    UNBOUNDED_INFLATION_BYTES,
    PickleStream,
    ZipArchiveError,
    ZipKind,
    read_members,
    safe_loads,
)
from stepsched_cli.formats.sniff import (
    CHECKPOINT_EXTENSIONS,
    KERAS_MEMBERS,
    looks_like_checkpoint,
)
from stepsched_cli.formats.sniff import ZIP_SIGNATURE as _ZIP_SIGNATURE

__all__ = [
    "CHECKPOINT_EXTENSIONS",
    "LEGACY_FIRST_OPCODES",
    "LEGACY_MAGIC_NUMBER",
    "LEGACY_PROTOCOL_VERSION",
    "MAX_CENTRAL_DIRECTORY_BYTES",
    "MAX_INFLATION_RATIO",
    "MAX_ZIP_ENTRIES",
    "UNBOUNDED_INFLATION_BYTES",
    "load_checkpoint",
    "looks_like_checkpoint",
]

LEGACY_MAGIC_NUMBER = 0x1950A86A20F9469CFC6C
"""The first pickle of a legacy (pre-1.6) ``torch.save`` file."""

LEGACY_PROTOCOL_VERSION = 1001
"""The second pickle of a legacy ``torch.save`` file."""

LEGACY_FIRST_OPCODES = (b"\x80", b"L")
"""How a legacy file's first pickle, torch's magic number, can start: PROTO (pickle
protocol 2 and later, torch.save's default) or LONG (protocols 0 and 1)."""

TORCH_ZIP = ZipKind(
    noun="a torch checkpoint",
    members="one per tensor storage",
    reader="torch",
    writer="torch.save",
)


def _source_name(path: str | os.PathLike[str]) -> str:
    return os.fspath(path)


def load_checkpoint(path: str | os.PathLike[str]) -> object:
    """Load the object a ``torch.save`` file holds, without torch and without running it.

    Tensors come back as :class:`~stepsched_cli.formats.sandbox.unpickler.TensorStub`
    (shape and dtype, values unknown); storage members and legacy storage bytes are
    never read, so the time and memory needed depend only on the pickle's size.

    Args:
        path: A ``.pt``/``.pth``/``.ckpt`` file written by ``torch.save``, zip or legacy.

    Returns:
        The checkpoint's object: usually a dict of state dicts.

    Raises:
        UnsafeCheckpointError: The pickle references a global outside the allowlist of
            inert types; the message names it (``refusing to load '<path>': its pickle
            references os.system, which is not on the allowlist of inert types``).
        CheckpointError: The file is missing, empty, not a torch checkpoint, a broken
            zip archive, truncated, too large or malformed; the message reads
            ``cannot read '<path>': <reason>``.
    """
    source = _source_name(path)
    try:
        with open(path, "rb") as handle:
            signature = handle.read(len(_ZIP_SIGNATURE))
            if not signature:
                raise CheckpointError(f"cannot read {source!r}: the file is empty")
            handle.seek(0)
            if signature == _ZIP_SIGNATURE:
                return _load_zip(handle, source)
            if signature.lstrip()[:1] in (b"{", b"["):  # neither is a pickle opcode
                raise CheckpointError(
                    f"cannot read {source!r}: not a torch.save checkpoint (a zip archive or a "
                    "pickle stream): it starts like a JSON document; read it without --from"
                )
            return _load_legacy(handle, source, signature)
    except OSError as error:
        reason = error.strerror or str(error)
        raise CheckpointError(f"cannot read {source!r}: {reason}") from None


def _data_pkl_name(names: Sequence[str], source: str) -> str:
    """The archive's ``<prefix>/data.pkl``, the prefix being the first member's folder."""
    if names and "/" in names[0]:
        expected = names[0].split("/", 1)[0] + "/data.pkl"
        if expected in names:
            return expected
    candidates = sorted(
        name for name in names if name.count("/") == 1 and name.endswith("/data.pkl")
    )
    if candidates:
        return candidates[0]
    shown = ", ".join(describe(name, width=40) for name in names[:3])
    shown += f", ... ({len(names)} members)" if len(names) > 3 else ""
    keras = "config.json" in names and any(name in KERAS_MEMBERS for name in names[:1])
    hint = "; it looks like a Keras .keras model: read it with --from keras-model" if keras else ""
    raise CheckpointError(
        f"cannot read {source!r}: the zip archive has no <prefix>/data.pkl member, so it "
        f"is not a torch.save checkpoint (members: {shown or 'none'}){hint}"
    )


def _load_zip(handle: IO[bytes], source: str) -> object:
    def data_pkl(names: Sequence[str]) -> list[tuple[str, int]]:
        return [(_data_pkl_name(names, source), MAX_PICKLE_BYTES)]

    try:
        members = read_members(handle, TORCH_ZIP, data_pkl)
    except ZipArchiveError as error:
        raise CheckpointError(f"cannot read {source!r}: {error}") from None
    (data,) = members.values()
    return safe_loads(data, source=source)


def _load_legacy(handle: IO[bytes], source: str, signature: bytes) -> object:
    stream = PickleStream(handle, source=source)
    try:
        magic = safe_loads(stream.next_pickle(), source=source)
    except UnsafeCheckpointError:
        raise  # a hostile pickle is named as one, whatever else the file is
    except CheckpointError:
        if signature[:1] in LEGACY_FIRST_OPCODES:
            raise  # a torch.save stream that is broken: the unpickler says where
        # Not a pickle torch wrote (an HDF5 or CSV file given with --from): say so in
        # torch.save's terms, not the unpickler's ("opcode b'H' unknown").
        raise CheckpointError(
            f"cannot read {source!r}: not a torch.save checkpoint (a zip archive, or a "
            f"legacy pickle stream starting with byte 0x80): it starts with "
            f"{describe(signature, width=40)}"
        ) from None
    if magic != LEGACY_MAGIC_NUMBER:
        raise CheckpointError(
            f"cannot read {source!r}: not a torch checkpoint (neither a zip archive nor a "
            "legacy torch.save stream, whose first pickle is torch's magic number)"
        )
    protocol = safe_loads(stream.next_pickle(), source=source)
    if protocol != LEGACY_PROTOCOL_VERSION:
        raise CheckpointError(
            f"cannot read {source!r}: legacy protocol version must be "
            f"{LEGACY_PROTOCOL_VERSION}, got {describe(protocol, width=40)}"
        )
    safe_loads(stream.next_pickle(), source=source)  # sys_info: sizes of C types.
    return safe_loads(stream.next_pickle(), source=source)
