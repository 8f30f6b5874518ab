"""What a file no format recognises looks like, for a one-line refusal.

The format table (:mod:`~stepsched_cli.formats.registry`) calls :func:`unrecognised`
when neither a file's name and first bytes nor its JSON document match a format: the
message says what the file is (``JSON with keys epoch, model, net``, ``YAML with keys
lr, sched``, ``a JSON array of 3 items``) and which formats were tried, by their
``--from`` names, rather than one reader's complaint about a file that was never in its
format.

Example:
    >>> describe(b'{"epoch": 3, "model": {}}', {"epoch": 3, "model": {}})
    'JSON with keys epoch, model'
    >>> describe(b"sched: step\\nlr: 0.1\\n", None)
    'YAML with keys sched, lr'
    >>> describe(b"step,lr-SGD\\n0,0.1\\n", None)
    "CSV with columns step, 'lr-SGD' (a log? stepsched check reads logs)"

A binary file that a user may well hand over in place of a schedule (the weights file
next to it, a TensorBoard event file) is named by its kind (:func:`binary_kind`, by its
first bytes or a TensorBoard name); other bytes that are not text are "binary data"
with their first bytes.  A file that starts like JSON (``{``, ``[``) is left to the
native reader, whose "is not UTF-8 text (invalid byte at offset N)" says where.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Callable, Sequence

from stepsched_cli.errors import StateFileError
from stepsched_cli.fileio import FileReadError, FileTooLargeError, MissingFileError
from stepsched_cli.validate import listed, shown

__all__ = [
    "MAX_KEYS_SHOWN",
    "binary_kind",
    "describe",
    "first_lines",
    "unreadable_state",
    "unrecognised",
]

MAX_KEYS_SHOWN = 8
"""How many of a document's keys the message names."""

_YAML_KEY = re.compile(r"([A-Za-z_][A-Za-z0-9_.-]{0,60}):(?:\s|$)")
_JSON_TYPES = {str: "string", bool: "boolean", int: "number", float: "number"}


_SIGNATURES = (
    (
        b"\x89HDF\r\n\x1a\n",
        "an HDF5 file (Keras's model.weights.h5 is one: the schedule is in the .keras file)",
    ),
    (b"PK\x03\x04", "a zip archive (a torch.save checkpoint or a .keras model is one)"),
    (b"\x93NUMPY", "a NumPy .npy array"),
    (b"\x1f\x8b", "gzip-compressed data"),
    (b"\xfd7zXZ\x00", "xz-compressed data"),
    (b"\xff\xfe", "UTF-16 text (JSON and YAML are read as UTF-8: save it as UTF-8)"),
    (b"\xfe\xff", "UTF-16 text (JSON and YAML are read as UTF-8: save it as UTF-8)"),
)
_TENSORBOARD_EVENTS = "events.out.tfevents."
_SAFETENSORS_HEADER = 8  # a little-endian u64: the length of the JSON header after it


def binary_kind(data: bytes, name: str = "") -> str | None:
    """What a binary file is, when its first bytes (or a TensorBoard name) say so.

    Example:
        >>> binary_kind(b"\\x89HDF\\r\\n\\x1a\\n" + bytes(8))
        "an HDF5 file (Keras's model.weights.h5 is one: the schedule is in the .keras file)"
        >>> binary_kind((5).to_bytes(8, "little") + b'{"a":1}')
        'a safetensors file (tensors only)'
        >>> binary_kind(b"\\x18\\x00", "run/events.out.tfevents.1.host.2.0")
        'a TensorBoard event file (stepsched check reads it, with --tag)'
        >>> binary_kind(b"plain text") is None
        True
    """
    if name.replace("\\", "/").rsplit("/", 1)[-1].startswith(_TENSORBOARD_EVENTS):
        return "a TensorBoard event file (stepsched check reads it, with --tag)"
    for signature, kind in _SIGNATURES:
        if data.startswith(signature):
            return kind
    if data[:1] == b"\x80" and data[1:2] in (b"\x02", b"\x03", b"\x04", b"\x05"):
        return "a pickle stream (a legacy torch.save checkpoint is one)"
    header = int.from_bytes(data[:_SAFETENSORS_HEADER], "little")
    if data[_SAFETENSORS_HEADER : _SAFETENSORS_HEADER + 1] == b"{" and 0 < header < len(data):
        return "a safetensors file (tensors only)"
    return None


def _keys(keys: Sequence[str]) -> str:
    return listed(keys, limit=MAX_KEYS_SHOWN, plain=str.isidentifier)


def _describe_text(data: bytes, json_error: str) -> str:
    text = data.decode("utf-8", errors="replace")
    lines = [line for line in text.splitlines() if line.strip() and not line.startswith("#")]
    keys = [match.group(1) for line in lines if (match := _YAML_KEY.match(line)) is not None]
    if lines and keys and (lines[0].startswith("---") or _YAML_KEY.match(lines[0])):
        return f"YAML with keys {_keys(keys)}"
    first = lines[0].strip() if lines else ""
    columns = first.split(",")
    if len(columns) > 1 and all(column.strip() for column in columns) and "{" not in first:
        named = _keys([column.strip() for column in columns])
        return f"CSV with columns {named} (a log? stepsched check reads logs)"
    return f"text that {json_error} (its first line is {shown(first)})"


def _binary(data: bytes) -> bool:
    if b"\x00" in data[:1024]:
        return True
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return True
    return False


def describe(
    data: bytes, document: object | None, json_error: str = "is not JSON", source: str = ""
) -> str:
    """What the file looks like: its JSON document's shape, or its text's.

    Args:
        data: The file's bytes.
        document: Its parsed JSON document, None when it is not JSON.
        json_error: Why it is not JSON (the JSON parser's reason), for text.
        source: The file's name (``tfevents`` in it marks a TensorBoard event file).
    """
    if isinstance(document, dict):
        if not document:
            return "an empty JSON object"
        return f"JSON with keys {_keys([str(key) for key in document])}"
    if isinstance(document, list):
        return f"a JSON array of {len(document)} item{'' if len(document) == 1 else 's'}"
    if document is None:
        if _binary(data):
            kind = binary_kind(data, source)
            return kind or f"binary data (its first bytes are {data[:8].hex(' ')})"
        return "JSON null" if data.strip() == b"null" else _describe_text(data, json_error)
    return f"a JSON {_JSON_TYPES.get(type(document), 'value')}"


# A file too large to read whole is described by its first lines, within this many bytes.
_FIRST_BYTES = 1 << 16


def first_lines(path: str) -> bytes:
    """The whole lines within a file's first :data:`_FIRST_BYTES` bytes (a character cut
    at the end would make text look binary), or its first bytes when they hold no line
    break; empty when it cannot be read."""
    try:
        with open(path, "rb") as handle:
            head = handle.read(_FIRST_BYTES)
    except OSError:
        return b""
    return head[: head.rindex(b"\n") + 1] if b"\n" in head else head


def unreadable_state(
    path: str, error: FileReadError, tried: Sequence[str], looks_like_json: Callable[[bytes], bool]
) -> FileReadError | StateFileError:
    """The error for a state file that cannot be read: ``error``, or what explains it
    better.  A missing file says what is read and how to make a state file; a file too
    large for a state file is named by its kind when its first lines show it is no
    state at all (a CSV log's header), while a large JSON document keeps the size error
    (``looks_like_json``: the registry's test of the first bytes)."""
    if isinstance(error, MissingFileError):
        return MissingFileError(
            f"{path}: no such file; a scheduler state is read from a stepsched state file "
            f"(stepsched init -o {shlex.quote(path)} writes one) or from a file a framework "
            "wrote (torch, Lightning, Accelerate, timm, Keras, optax)"
        )
    if isinstance(error, FileTooLargeError):
        head = first_lines(path)
        if not looks_like_json(head):
            return unrecognised(head, None, path, tried, size=error.size)
    return error


def unrecognised(
    data: bytes,
    document: object | None,
    source: str,
    tried: Sequence[str],
    json_error: str = "is not JSON",
    *,
    size: int | None = None,
) -> StateFileError:
    """The error for a file no format recognises: what it is and which formats were tried.

    ``size``: the file's size, when only its first bytes (``data``) were read.
    """
    looks_like = describe(data, document, json_error, source)
    of_size = "" if size is None else f", of {size} bytes"
    return StateFileError(
        f"{source}: no format stepsched reads recognises it: it is {looks_like}{of_size}; "
        f"tried {', '.join(tried)} (force one with --from)"
    )
