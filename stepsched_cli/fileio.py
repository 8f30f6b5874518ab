"""Generic file input and output: strict JSON, bounded reads, atomic writes.

Nothing here knows what a file holds; the state file (:mod:`stepsched_cli.state`),
the format readers and the command line's outputs (a PNG, a CSV) all use it.  Its
errors are :class:`FileError` subclasses whose message names the file: refusing to
overwrite a picture is an :class:`OutputExistsError`, not an error about a state.

- :func:`loads_strict`: JSON refusing NaN, duplicate keys, nesting deeper than 32
  levels, integers of absurd length, a byte-order mark.
- :func:`read_bytes_bounded`: a regular file of at most N bytes.
- :func:`atomic_write`: a crash leaves either the old file or the new one, never a
  torn or missing file.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import re
import stat
from decimal import Decimal
from pathlib import Path
from typing import Any

from stepsched_cli.errors import StepschedError
from stepsched_cli.validate import MAX_INTEGER_DIGITS

MAX_JSON_DEPTH = 32


class FileError(StepschedError):
    """A file could not be read or written; the message names the file."""


class FileReadError(FileError):
    """A file is missing, unreadable, a directory, or larger than its limit."""


class MissingFileError(FileReadError):
    """No file has the name given."""


class FileTooLargeError(FileReadError):
    """A file is larger than its limit.

    Attributes:
        size: The file's size in bytes.
        limit: The most bytes it may have.
    """

    def __init__(self, message: str, *, size: int, limit: int) -> None:
        super().__init__(message)
        self.size = size
        self.limit = limit


class FileWriteError(FileError):
    """A file could not be written: a missing folder, a full disk, a directory, ..."""


class OutputExistsError(FileWriteError):
    """The output file exists and overwriting it was not allowed."""


# -- strict JSON ------------------------------------------------------------


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not allowed: numbers must be finite")


def _parse_int(text: str) -> int:
    if len(text.lstrip("-")) > MAX_INTEGER_DIGITS:
        raise ValueError(f"an integer of {len(text.lstrip('-'))} digits is too long")
    return int(text)


def _parse_float(text: str) -> float:
    if len(text) > 400:
        raise ValueError(f"a number of {len(text)} characters is too long")
    value = float(text)
    if value in (float("inf"), float("-inf")):
        raise ValueError(f"the number {text} is out of range for a float")
    return value


def _parse_decimal(text: str) -> Decimal:
    _parse_float(text)
    try:
        return Decimal(text)
    except ArithmeticError:  # an exponent beyond decimal's range ("0e" and 30 nines)
        raise ValueError(f"the number {text} has an exponent out of range") from None


def _no_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            shown = repr(key) if len(key) <= 60 else f"{key[:60]!r}... ({len(key)} characters)"
            raise ValueError(f"duplicate key {shown}")
        result[key] = value
    return result


_DEPTH_TOKENS = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"?|[\[\]{}]', re.DOTALL)
"""A string (skipped whole, in C) or a bracket: what the depth check looks at."""


def _check_depth(text: str, max_depth: int) -> None:
    """Refuse nesting deeper than ``max_depth`` before the recursive parser sees it.

    Only brackets are visited one by one (a string is one match), so a document that
    is one long string is checked at regular-expression speed."""
    depth = 0
    for match in _DEPTH_TOKENS.finditer(text):
        token = match.group()
        if token in "[{":
            depth += 1
            if depth > max_depth:
                raise ValueError(f"nesting is deeper than {max_depth} levels")
        elif token in "]}":
            depth -= 1


def _check_values(data: bytes, max_values: int) -> None:
    """Refuse a document that may hold more than ``max_values`` values: each costs
    Python 30 to 100 bytes, so 3 bytes of ``{},`` would cost 25 times the file.  Commas
    and opening brackets bound the count (in strings too: an upper bound), counted in C."""
    found = data.count(b",") + data.count(b"[") + data.count(b"{") + 1
    if found > max_values:
        raise ValueError(f"may hold {found} values, more than the limit of {max_values}")


def loads_strict(
    data: bytes,
    *,
    max_depth: int = MAX_JSON_DEPTH,
    exact_floats: bool = False,
    max_values: int | None = None,
) -> object:
    """Parse JSON bytes strictly.

    With ``exact_floats`` a number with a fraction or an exponent is read as the
    :class:`~decimal.Decimal` it spells (a float would round ``29.99999999999999999``
    to 30), for a reader that decides from the digits whether a value is whole.
    ``max_values`` bounds the values of a large document read whole (see
    :func:`_check_values`).

    Raises:
        ValueError: with a one-line reason (and line/column for syntax errors).
    """
    if data.startswith(b"\xef\xbb\xbf"):
        raise ValueError("starts with a UTF-8 byte-order mark; save it as plain UTF-8")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as error:
        raise ValueError(f"is not UTF-8 text (invalid byte at offset {error.start})") from None
    if not text.strip():
        raise ValueError("is empty")
    if "\x00" in text:
        raise ValueError(f"contains a NUL byte at offset {text.index(chr(0))}; not a JSON file")
    if max_values is not None:
        _check_values(data, max_values)
    _check_depth(text, max_depth)
    try:
        return json.loads(
            text,
            parse_int=_parse_int,
            parse_float=_parse_decimal if exact_floats else _parse_float,
            parse_constant=_refuse_constant,
            object_pairs_hook=_no_duplicate_keys,
        )
    except json.JSONDecodeError as error:
        raise ValueError(
            f"is not valid JSON: {error.msg} at line {error.lineno} column {error.colno}"
        ) from None


def read_bytes_bounded(path: str | Path, limit: int, what: str = "file") -> bytes:
    """Read a regular file of at most ``limit`` bytes, with one-line errors naming it.

    Raises:
        FileReadError: missing, a directory, unreadable, or larger than ``limit``.
    """
    try:
        with open(path, "rb") as handle:
            info = os.fstat(handle.fileno())
            if stat.S_ISDIR(info.st_mode):
                raise FileReadError(f"{path}: is a directory, not {_a(what)}")
            if stat.S_ISREG(info.st_mode) and info.st_size > limit:
                raise FileTooLargeError(
                    f"{path}: is {info.st_size} bytes; {_a(what)} is at most {limit} bytes",
                    size=info.st_size,
                    limit=limit,
                )
            data = handle.read(limit + 1)
    except IsADirectoryError:
        raise FileReadError(f"{path}: is a directory, not {_a(what)}") from None
    except FileNotFoundError:
        raise MissingFileError(f"{path}: no such file") from None
    except PermissionError:
        raise FileReadError(f"{path}: permission denied") from None
    except OSError as error:
        raise FileReadError(f"{path}: cannot be read ({error.strerror or error})") from None
    if len(data) > limit:
        raise FileTooLargeError(
            f"{path}: is larger than {limit} bytes, the limit for {_a(what)}",
            size=len(data),
            limit=limit,
        )
    return data


# -- atomic writing ---------------------------------------------------------


def _new_file_mode() -> int:
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


def atomic_write(
    path: str | Path,
    data: bytes,
    *,
    overwrite: bool = False,
) -> None:
    """Write ``data`` to ``path`` so that readers see the old file or the new one, never a mix.

    The bytes go to a temporary file ``.<name>.<random>.tmp`` in the same folder,
    which is flushed, fsynced and then moved over ``path`` (``os.replace``), or linked
    to it when ``overwrite`` is false so that a file appearing meanwhile is not
    clobbered.  On any failure the temporary file is removed and the previous file, if
    any, is untouched.  A process killed mid-write cannot remove its temporary file and
    nothing else ever does: a file this process did not create is never deleted.  The
    temporary name is at most 255 bytes whatever the output's name (its copy of the
    name is shortened, never the output's).  A path that is a symbolic link is written
    through to its target (the link stays), unless the target is missing.  An existing
    character device or FIFO (``/dev/null``, a named pipe) is written through, as
    ``>`` would, never replaced by a regular file; other special files are refused.

    Raises:
        OutputExistsError: ``path`` exists and ``overwrite`` is false.
        FileWriteError: the folder is missing or not writable, the disk is full, the
            path ends with a slash (a folder), ...
    """
    if os.path.basename(os.fspath(path)) in ("", ".", ".."):
        # Path() drops a trailing slash: "run.json/" would be written as "run.json".
        raise FileWriteError(f"{path}: names a folder, not a file (a trailing / . or ..)")
    target = Path(path)
    try:
        if target.is_symlink():
            if not target.exists():
                # Creating a dangling link's target is how links planted in shared
                # folders redirect writes; a real output never needs it.
                raise FileWriteError(f"{path}: is a symbolic link to a missing file")
            target = Path(os.path.realpath(target))
        existing = target.stat() if target.exists() else None
    except OSError as error:
        raise FileWriteError(f"{path}: cannot be written ({error.strerror or error})") from None
    if existing is not None:
        if stat.S_ISDIR(existing.st_mode):
            raise FileWriteError(f"{path}: is a directory")
        if not overwrite:
            raise OutputExistsError(f"{path}: already exists; refusing to overwrite it")
        if not stat.S_ISREG(existing.st_mode):
            _write_through(path, target, existing.st_mode, data)
            return
    mode = stat.S_IMODE(existing.st_mode) if existing is not None else _new_file_mode()
    folder = target.parent
    import tempfile  # imported here: only writers pay for it

    temporary: str | None = None
    try:
        descriptor, temporary = tempfile.mkstemp(
            prefix=_temporary_prefix(target.name), suffix=".tmp", dir=folder
        )
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(temporary, mode)
        _publish(temporary, target, overwrite=overwrite)
        temporary = None
        _fsync_folder(folder)
    except FileExistsError:
        raise OutputExistsError(f"{path}: already exists; refusing to overwrite it") from None
    except OSError as error:
        raise FileWriteError(f"{path}: cannot be written ({error.strerror or error})") from None
    finally:
        if temporary is not None:
            with contextlib.suppress(OSError):
                os.unlink(temporary)


def _publish(temporary: str, target: Path, *, overwrite: bool) -> None:
    if overwrite:
        os.replace(temporary, target)
        return
    try:
        # A hard link fails if the target appeared meanwhile: no-clobber without a race.
        os.link(temporary, target)
    except FileExistsError:
        raise
    except OSError as error:
        if error.errno not in (errno.EPERM, errno.EOPNOTSUPP, errno.ENOTSUP, errno.EXDEV):
            raise
        # Filesystems without hard links: check, then rename (a narrow race remains).
        if target.exists():
            raise FileExistsError(str(target)) from None
        os.replace(temporary, target)
        return
    os.unlink(temporary)


MAX_NAME_BYTES = 255
"""The longest file name (one path component) most filesystems allow, in bytes."""

_TEMPORARY_EXTRA_BYTES = len(".") + len(".") + 8 + len(".tmp")  # mkstemp: 8 random


def _temporary_prefix(name: str) -> str:
    """``.<name>.``, the name cut (at a character boundary) so the whole temporary name fits.

    Example:
        >>> len(_temporary_prefix("a" * 255).encode()) + 8 + len(".tmp")
        255
    """
    room = MAX_NAME_BYTES - _TEMPORARY_EXTRA_BYTES
    length = 0
    for count, character in enumerate(name):
        length += len(character.encode("utf-8", "surrogateescape"))
        if length > room:
            return "." + name[:count] + "."
    return "." + name + "."


_SPECIAL_FILES = (
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISSOCK, "a socket"),
)


def _write_through(path: str | Path, target: Path, mode: int, data: bytes) -> None:
    """Write into an existing character device or FIFO, as ``>`` would; refuse others.

    Renaming over ``/dev/null`` or a named pipe would replace it with a regular file.
    """
    for test, kind in _SPECIAL_FILES:
        if test(mode):
            raise FileWriteError(f"{path}: is {kind}, not a regular file; refusing to write it")
    if not (stat.S_ISCHR(mode) or stat.S_ISFIFO(mode)):  # pragma: no cover - no other kinds
        raise FileWriteError(f"{path}: is not a regular file; refusing to write it")
    try:
        descriptor = os.open(target, os.O_WRONLY | getattr(os, "O_NOCTTY", 0))
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(data)
    except OSError as error:
        raise FileWriteError(f"{path}: cannot be written ({error.strerror or error})") from None


def _fsync_folder(folder: Path) -> None:
    """Make the rename durable; some filesystems cannot open a folder, which is harmless."""
    try:
        descriptor = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(descriptor)
    except OSError:
        pass
    finally:
        os.close(descriptor)


def _a(noun: str) -> str:
    """``noun`` with its indefinite article: ``a state file``, ``an optimizer file``."""
    return f"{'an' if noun[:1] in 'aeiou' else 'a'} {noun}"
