"""The ``torch.save`` container: find and load a checkpoint's object pickle, safely.

:func:`load_checkpoint` understands both layouts ``torch.save`` writes: the zip archive
of torch >= 1.6 (``<prefix>/data.pkl`` plus one ``<prefix>/data/<key>`` member per
storage) and the legacy stream (magic-number pickle, protocol pickle, sys-info pickle,
object pickle, then storage keys and raw bytes).  Lightning ``.ckpt`` files are the same
format.  Only the object pickle is read, through the restricted unpickler
(:func:`~stepsched_cli.formats.safe_pickle.safe_loads`), so nothing in the file is
executed, tensor bytes are never read, and a multi-GB checkpoint loads as fast as a
tiny one.  The zip's end records (classic and ZIP64) are read first, to bound the
members :mod:`zipfile` would list.

:func:`read_checkpoint` is a checkpoint read's entry point: it loads the object here
and hands it to :mod:`~stepsched_cli.formats.torch_search`, which finds the scheduler
and optimizer states and has :mod:`~stepsched_cli.formats.torch` parse the chosen state
dict.  Data flows that way only: container -> search -> state dict.
"""

from __future__ import annotations

import os
import struct
import zipfile
import zlib
from collections.abc import Sequence
from typing import IO

from stepsched_cli.describe import describe
from stepsched_cli.formats.errors import CheckpointError
from stepsched_cli.formats.safe_pickle import MAX_PICKLE_BYTES, PickleStream, safe_loads
from stepsched_cli.formats.sniff import CHECKPOINT_EXTENSIONS, looks_like_checkpoint
from stepsched_cli.formats.sniff import ZIP_SIGNATURE as _ZIP_SIGNATURE
from stepsched_cli.formats.torch_search import CheckpointReading, select_scheduler

__all__ = [
    "CHECKPOINT_EXTENSIONS",
    "LEGACY_MAGIC_NUMBER",
    "LEGACY_PROTOCOL_VERSION",
    "MAX_CENTRAL_DIRECTORY_BYTES",
    "MAX_INFLATION_RATIO",
    "MAX_ZIP_ENTRIES",
    "UNBOUNDED_INFLATION_BYTES",
    "load_checkpoint",
    "looks_like_checkpoint",
    "read_checkpoint",
]

LEGACY_MAGIC_NUMBER = 0x1950A86A20F9469CFC6C
"""The first pickle of a legacy (pre-1.6) ``torch.save`` file."""

LEGACY_PROTOCOL_VERSION = 1001
"""The second pickle of a legacy ``torch.save`` file."""

MAX_ZIP_ENTRIES = 100_000
"""The most members a zip checkpoint may have.

``torch.save`` writes one member per storage and a few more, so real checkpoints have
hundreds to a few thousand.  :mod:`zipfile` builds an object for every member before
anything can be checked: a million members cost 512 MB and 9 s, 2.2 million exhaust
1 GiB.  The count is taken from the central directory before :mod:`zipfile` reads it.
"""

MAX_CENTRAL_DIRECTORY_BYTES = 16 * 1024 * 1024
"""The largest zip central directory read, in bytes (about 160 bytes per member)."""

MAX_INFLATION_RATIO = 100
"""How many times its compressed size a deflated ``data.pkl`` may inflate to.

``torch.save`` stores ``data.pkl`` uncompressed; a checkpoint re-zipped with deflate
compresses its pickle about 3.5 times (a ResNet-50 training checkpoint, measured).  A
bomb compresses about 1,000 times: a 65 KB zip inflating to 64 MiB took 2.7 s before
this bound.  With it, the work is bounded by the file: at most 100 bytes inflated per
byte on disk (docs/security.md).
"""

UNBOUNDED_INFLATION_BYTES = 1024 * 1024
"""A deflated ``data.pkl`` up to this size is inflated whatever its ratio (cheap)."""

_END_OF_DIRECTORY = struct.Struct("<4s4H2LH")
_ZIP64_LOCATOR = struct.Struct("<4sLQL")
_ZIP64_END_OF_DIRECTORY = struct.Struct("<4sQ2H2L4Q")
_DIRECTORY_ENTRY = struct.Struct("<4s6H3L5H2L")
_MAX_ZIP_COMMENT = 0xFFFF


def read_checkpoint(path: str | os.PathLike[str], key: str | None = None) -> CheckpointReading:
    """Load a checkpoint, then find, choose, parse and cross-check its LR scheduler state.

    Args:
        path: A ``torch.save`` file (zip or legacy; ``.pt``, ``.pth``, Lightning ``.ckpt``).
        key: The key path of the scheduler state to use (as listed by the error for an
            ambiguous file, e.g. ``lr_schedulers[0]``); needed when there are several.

    Raises:
        UnsafeCheckpointError: the pickle references a global outside the allowlist.
        AmbiguousCheckpointError: several scheduler states and no ``key``, or ``key``
            names none of them.
        CheckpointError: unreadable, or no scheduler state in it.
        StateError: the chosen state is not a valid StepLR/MultiStepLR state; the
            message starts with the file and key.
    """
    checkpoint = load_checkpoint(path)
    return select_scheduler(checkpoint, os.fspath(path), key)


def _source_name(path: str | os.PathLike[str]) -> str:
    return os.fspath(path)


def load_checkpoint(path: str | os.PathLike[str]) -> object:
    """Load the object a ``torch.save`` file holds, without torch and without running it.

    Tensors come back as :class:`~stepsched_cli.formats.safe_pickle.TensorStub`
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
            return _load_legacy(handle, source)
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
    raise CheckpointError(
        f"cannot read {source!r}: the zip archive has no <prefix>/data.pkl member, so it "
        f"is not a torch.save checkpoint (members: {shown or 'none'})"
    )


def _end_record(handle: IO[bytes]) -> tuple[tuple[int, ...], int] | None:
    """The classic end record's fields and position, found where :mod:`zipfile` finds it.

    Like ``zipfile._EndRecData``: first a record without a comment ending the file, then
    the last signature in the final 64 KiB.  Searching first could find a signature
    planted inside the real record's own fields and miss the record zipfile reads.
    """
    file_size = handle.seek(0, os.SEEK_END)
    if file_size >= _END_OF_DIRECTORY.size:
        handle.seek(file_size - _END_OF_DIRECTORY.size)
        record = handle.read(_END_OF_DIRECTORY.size)
        if record[:4] == b"PK\x05\x06" and record[-2:] == b"\x00\x00":
            return _END_OF_DIRECTORY.unpack(record), file_size - _END_OF_DIRECTORY.size
    tail_start = max(0, file_size - _END_OF_DIRECTORY.size - _MAX_ZIP_COMMENT)
    handle.seek(tail_start)
    tail = handle.read()
    end = tail.rfind(b"PK\x05\x06")
    if end < 0 or len(tail) - end < _END_OF_DIRECTORY.size:
        return None
    return _END_OF_DIRECTORY.unpack_from(tail, end), tail_start + end


def _central_directory(handle: IO[bytes]) -> tuple[int, int, int] | None:
    """``(start, size, declared entries)`` of the central directory, from its end records.

    None when there is no end record to read: :mod:`zipfile` then says what is wrong.
    Like :mod:`zipfile`, the directory is taken to end where its end record begins, and
    a ZIP64 locator just before the classic record is followed whatever the classic
    record says: a classic record declaring 1 member cannot hide a ZIP64 one declaring
    a million.
    """
    found = _end_record(handle)
    if found is None:
        return None
    fields, end_position = found
    entries, size = fields[4], fields[5]
    locator_position = end_position - _ZIP64_LOCATOR.size
    record_position = locator_position - _ZIP64_END_OF_DIRECTORY.size
    if record_position >= 0:
        handle.seek(record_position)
        records = handle.read(_ZIP64_END_OF_DIRECTORY.size + _ZIP64_LOCATOR.size)
        record = _ZIP64_END_OF_DIRECTORY.unpack_from(records)
        if records[-_ZIP64_LOCATOR.size :][:4] == b"PK\x06\x07" and record[0] == b"PK\x06\x06":
            entries, size, end_position = record[7], record[8], record_position
    return end_position - size, size, entries


def _check_member_count(handle: IO[bytes], source: str) -> None:
    """Refuse a zip with more than :data:`MAX_ZIP_ENTRIES` members, before zipfile lists them.

    The declared count is checked first, then the members actually in the directory are
    counted, as a crafted end record may understate them.
    """
    found = _central_directory(handle)
    if found is None:
        return
    start, size, declared = found
    if size > MAX_CENTRAL_DIRECTORY_BYTES:
        raise CheckpointError(
            f"cannot read {source!r}: its zip central directory is {size} bytes, more than "
            f"the limit of {MAX_CENTRAL_DIRECTORY_BYTES} (a torch checkpoint has few members)"
        )
    count = declared
    if declared <= MAX_ZIP_ENTRIES and start >= 0:
        handle.seek(start)
        directory = handle.read(size)
        count = offset = 0
        while offset + _DIRECTORY_ENTRY.size <= len(directory) and count <= MAX_ZIP_ENTRIES:
            entry = _DIRECTORY_ENTRY.unpack_from(directory, offset)
            if entry[0] != b"PK\x01\x02":
                break  # zipfile reports the broken directory
            offset += _DIRECTORY_ENTRY.size + entry[10] + entry[11] + entry[12]
            count += 1
    if count > MAX_ZIP_ENTRIES:
        raise CheckpointError(
            f"cannot read {source!r}: its zip archive has {count}"
            f"{' or more' if count != declared else ''} members, more than the limit of "
            f"{MAX_ZIP_ENTRIES} (a torch checkpoint has one per tensor storage)"
        )


def _refuse_duplicate_names(names: Sequence[str], source: str) -> None:
    """Refuse two members of one name: which of them torch reads is not a bet to take.

    :mod:`zipfile` keeps the last for :meth:`~zipfile.ZipFile.getinfo`, other readers the
    first, so a hostile ``data.pkl`` could hide behind a benign one.
    """
    seen: set[str] = set()
    for name in names:
        if name in seen:
            raise CheckpointError(
                f"cannot read {source!r}: its zip archive has two members named "
                f"{describe(name)}; refusing to guess which one torch would read"
            )
        seen.add(name)


def _load_zip(handle: IO[bytes], source: str) -> object:
    _check_member_count(handle, source)
    file_size = handle.seek(0, os.SEEK_END)
    handle.seek(0)
    try:
        with zipfile.ZipFile(handle) as archive:
            names = archive.namelist()
            _refuse_duplicate_names(names, source)
            name = _data_pkl_name(names, source)
            info = archive.getinfo(name)
            if info.file_size > MAX_PICKLE_BYTES:
                raise CheckpointError(
                    f"cannot read {source!r}: {name} declares {info.file_size} bytes, "
                    f"more than the limit of {MAX_PICKLE_BYTES}"
                )
            if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
                # zipfile inflates bzip2/lzma chunks without an output bound, so a bomb
                # would land in memory whole before any size check; torch.save stores.
                raise CheckpointError(
                    f"cannot read {source!r}: {name} uses zip compression method "
                    f"{info.compress_type}; torch.save stores it uncompressed (0)"
                )
            limit = _inflation_limit(info, file_size)
            with archive.open(info) as member:
                # A header can lie about the size, so the read itself is bounded too:
                # zipfile inflates only as much as the read asks for.
                data = member.read(limit + 1)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, zlib.error, EOFError) as error:
        raise CheckpointError(f"cannot read {source!r}: broken zip archive ({error})") from None
    except UnicodeDecodeError:
        # zipfile decodes member names flagged as UTF-8 while reading the directory.
        raise CheckpointError(
            f"cannot read {source!r}: broken zip archive (a member name flagged as UTF-8 "
            "is not UTF-8)"
        ) from None
    except (NotImplementedError, RuntimeError) as error:
        # Unsupported compression methods and encrypted members.
        raise CheckpointError(f"cannot read {source!r}: unsupported zip member ({error})") from None
    if len(data) > MAX_PICKLE_BYTES:
        raise CheckpointError(
            f"cannot read {source!r}: {name} is longer than the limit of {MAX_PICKLE_BYTES} bytes"
        )
    if len(data) > limit:
        raise CheckpointError(
            f"cannot read {source!r}: {name} inflates to more than {MAX_INFLATION_RATIO} "
            f"times its {min(info.compress_size, file_size)} compressed bytes (a zip bomb; "
            "torch.save stores it uncompressed)"
        )
    return safe_loads(data, source=source)


def _inflation_limit(info: zipfile.ZipInfo, file_size: int) -> int:
    """The most bytes read from ``info``: the pickle limit, and for deflate a ratio too.

    The compressed size is the header's, but never more than the file holds.
    """
    if info.compress_type == zipfile.ZIP_STORED:
        return MAX_PICKLE_BYTES
    compressed = min(info.compress_size, file_size)
    allowance = max(UNBOUNDED_INFLATION_BYTES, MAX_INFLATION_RATIO * compressed)
    return min(MAX_PICKLE_BYTES, allowance)


def _load_legacy(handle: IO[bytes], source: str) -> object:
    stream = PickleStream(handle, source=source)
    magic = safe_loads(stream.next_pickle(), source=source)
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
