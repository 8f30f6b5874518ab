"""Members of a zip nobody vouches for, read with the work bounded before it is done.

Both zip formats stepsched reads go through :func:`read_members`: torch's checkpoints
(``<prefix>/data.pkl``) and Keras's ``.keras`` models (``config.json`` and
``model.weights.h5``).  Before :mod:`zipfile` builds anything, the central directory's
size and the members it holds are checked from the end records :mod:`zipfile` itself
will follow; then a member is read only if it is stored or deflated, no larger than
its limit as declared and as read, and, deflated, inflating at most
:data:`MAX_INFLATION_RATIO` times what the file holds.  Every failure, including the
errors :mod:`zipfile` and :mod:`zlib` raise on broken archives, becomes one
:class:`ZipArchiveError` whose message the caller prefixes with the file's name.
docs/security.md lists each limit and why.
"""

from __future__ import annotations

import os
import struct
import zipfile
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import IO

from stepsched_cli.describe import describe
from stepsched_cli.errors import StepschedError

__all__ = [
    "MAX_CENTRAL_DIRECTORY_BYTES",
    "MAX_INFLATION_RATIO",
    "MAX_ZIP_ENTRIES",
    "UNBOUNDED_INFLATION_BYTES",
    "ZipArchiveError",
    "ZipKind",
    "read_members",
]

MAX_ZIP_ENTRIES = 100_000
"""The most members a zip may have.

``torch.save`` writes one member per storage and a few more, so real checkpoints have
hundreds to a few thousand; a ``.keras`` file has three.  :mod:`zipfile` builds an
object for every member before anything can be checked: a million members cost 512 MB
and 9 s, 2.2 million exhaust 1 GiB.  The count is taken from the central directory
before :mod:`zipfile` reads it.
"""

MAX_CENTRAL_DIRECTORY_BYTES = 16 * 1024 * 1024
"""The largest zip central directory read, in bytes (about 160 bytes per member)."""

MAX_INFLATION_RATIO = 100
"""How many times its compressed size a deflated member may inflate to.

``torch.save`` and Keras store their members uncompressed; a checkpoint re-zipped with
deflate compresses its pickle about 3.5 times (a ResNet-50 training checkpoint,
measured).  A bomb compresses about 1,000 times: a 65 KB zip inflating to 64 MiB took
2.7 s before this bound.  With it, the work is bounded by the file: at most 100 bytes
inflated per byte on disk.
"""

UNBOUNDED_INFLATION_BYTES = 1024 * 1024
"""A deflated member up to this size is inflated whatever its ratio (cheap)."""

_END_OF_DIRECTORY = struct.Struct("<4s4H2LH")
_ZIP64_LOCATOR = struct.Struct("<4sLQL")
_ZIP64_END_OF_DIRECTORY = struct.Struct("<4sQ2H2L4Q")
_DIRECTORY_ENTRY = struct.Struct("<4s6H3L5H2L")
_MAX_ZIP_COMMENT = 0xFFFF


class ZipArchiveError(Exception):
    """Why a zip cannot be read safely; the message leaves out the file's name."""


@dataclass(frozen=True)
class ZipKind:
    """What the zip is meant to be, for messages.

    Attributes:
        noun: The file, as in "(a torch checkpoint has few members)".
        members: What its members are, as in "(... has one per tensor storage)".
        reader: Whose reading a duplicate name would make a bet on ("torch").
        writer: What writes it ("torch.save"), which stores its members.
    """

    noun: str
    members: str
    reader: str
    writer: str


Choose = Callable[[Sequence[str]], Sequence[tuple[str, int]]]
"""Given the member names, the ``(name, byte limit)`` of each member to read."""


def read_members(handle: IO[bytes], kind: ZipKind, choose: Choose) -> dict[str, bytes]:
    """Read the members ``choose`` picks from the zip in ``handle``, within the limits.

    ``choose`` may raise its own error (a missing member, in the format's terms); it
    propagates unchanged.

    Raises:
        ZipArchiveError: too many members or too large a directory, two members of one
            name, a member over its limit, compressed otherwise than stored or deflated,
            inflating more than :data:`MAX_INFLATION_RATIO` times, or a broken archive.
    """
    _check_member_count(handle, kind)
    file_size = handle.seek(0, os.SEEK_END)
    handle.seek(0)
    try:
        with zipfile.ZipFile(handle) as archive:
            names = archive.namelist()
            _refuse_duplicate_names(names, kind)
            return {
                name: _read_member(archive, name, limit, file_size, kind)
                for name, limit in choose(names)
            }
    except StepschedError:
        raise  # from choose: a missing member, in the format's terms
    except UnicodeDecodeError:
        # zipfile decodes member names flagged as UTF-8 while reading the directory.
        raise ZipArchiveError(
            "broken zip archive (a member name flagged as UTF-8 is not UTF-8)"
        ) from None
    except (
        zipfile.BadZipFile,
        zipfile.LargeZipFile,
        zlib.error,
        EOFError,
        # zipfile seeks to offsets the directory gives: one past what a file offset
        # can hold raises ValueError (found by make fuzz) or OverflowError.
        ValueError,
        OverflowError,
    ) as error:
        raise ZipArchiveError(f"broken zip archive ({_plain(str(error))})") from None
    except (NotImplementedError, RuntimeError) as error:
        # Unsupported compression methods and encrypted members.
        raise ZipArchiveError(f"unsupported zip member ({_plain(str(error))})") from None


def _plain(text: str) -> str:
    """``text`` as it is when short and printable, else a bounded repr (one line)."""
    return text if len(text) <= 100 and text.isprintable() else describe(text, width=60)


def _read_member(
    archive: zipfile.ZipFile, name: str, limit: int, file_size: int, kind: ZipKind
) -> bytes:
    info = archive.getinfo(name)
    shown = _plain(name)
    if info.file_size > limit:
        raise ZipArchiveError(
            f"{shown} declares {info.file_size} bytes, more than the limit of {limit}"
        )
    if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
        # zipfile inflates bzip2/lzma chunks without an output bound, so a bomb would
        # land in memory whole before any size check.
        raise ZipArchiveError(
            f"{shown} uses zip compression method {info.compress_type}; {kind.writer} "
            "stores it uncompressed (0)"
        )
    compressed = min(info.compress_size, file_size)  # a header cannot claim more
    allowed = limit
    if info.compress_type == zipfile.ZIP_DEFLATED:
        allowed = min(limit, max(UNBOUNDED_INFLATION_BYTES, MAX_INFLATION_RATIO * compressed))
    with archive.open(info) as member:
        # A header can lie about the size, so the read itself is bounded too:
        # zipfile inflates only as much as the read asks for.
        data = member.read(allowed + 1)
    if len(data) > limit:
        raise ZipArchiveError(f"{shown} is longer than the limit of {limit} bytes")
    if len(data) > allowed:
        raise ZipArchiveError(
            f"{shown} inflates to more than {MAX_INFLATION_RATIO} times its {compressed} "
            f"compressed bytes (a zip bomb; {kind.writer} stores it uncompressed)"
        )
    return data


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


def _check_member_count(handle: IO[bytes], kind: ZipKind) -> None:
    """Refuse a zip with more than :data:`MAX_ZIP_ENTRIES` members, before zipfile lists them.

    The declared count is checked first, then the members actually in the directory are
    counted, as a crafted end record may understate them.
    """
    found = _central_directory(handle)
    if found is None:
        return
    start, size, declared = found
    if size > MAX_CENTRAL_DIRECTORY_BYTES:
        raise ZipArchiveError(
            f"its zip central directory is {size} bytes, more than the limit of "
            f"{MAX_CENTRAL_DIRECTORY_BYTES} ({kind.noun} has few members)"
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
        raise ZipArchiveError(
            f"its zip archive has {count}{' or more' if count != declared else ''} members, "
            f"more than the limit of {MAX_ZIP_ENTRIES} ({kind.noun} has {kind.members})"
        )


def _refuse_duplicate_names(names: Sequence[str], kind: ZipKind) -> None:
    """Refuse two members of one name: which of them is read is not a bet to take.

    :mod:`zipfile` keeps the last for :meth:`~zipfile.ZipFile.getinfo`, other readers the
    first, so a hostile member could hide behind a benign one.
    """
    seen: set[str] = set()
    for name in names:
        if name in seen:
            raise ZipArchiveError(
                f"its zip archive has two members named {describe(name)}; refusing to "
                f"guess which one {kind.reader} would read"
            )
        seen.add(name)
