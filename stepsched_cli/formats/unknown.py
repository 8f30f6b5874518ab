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
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from stepsched_cli.errors import StateFileError
from stepsched_cli.validate import shown

__all__ = ["MAX_KEYS_SHOWN", "describe", "unrecognised"]

MAX_KEYS_SHOWN = 8
"""How many of a document's keys the message names."""

_YAML_KEY = re.compile(r"([A-Za-z_][A-Za-z0-9_.-]{0,60}):(?:\s|$)")
_JSON_TYPES = {str: "string", bool: "boolean", int: "number", float: "number"}


def _keys(keys: Sequence[str]) -> str:
    named = keys[:MAX_KEYS_SHOWN]
    listed = ", ".join(key if key.isidentifier() else shown(key) for key in named)
    more = f" and {len(keys) - MAX_KEYS_SHOWN} more" if len(keys) > MAX_KEYS_SHOWN else ""
    return listed + more


def _describe_text(data: bytes, json_error: str) -> str:
    text = data.decode("utf-8", errors="replace")
    lines = [line for line in text.splitlines() if line.strip() and not line.startswith("#")]
    keys = [match.group(1) for line in lines if (match := _YAML_KEY.match(line)) is not None]
    if lines and keys and (lines[0].startswith("---") or _YAML_KEY.match(lines[0])):
        return f"YAML with keys {_keys(keys)}"
    first = lines[0].strip() if lines else ""
    return f"text that {json_error} (its first line is {shown(first)})"


# Binary files a training run leaves next to its checkpoints, by their first bytes.
_BINARY_KINDS = (
    (b"\x89HDF\r\n\x1a\n", "an HDF5 file (Keras keeps a .keras model's weights in one: "
     "stepsched reads the .keras file itself)"),
    (b"\x93NUMPY", "a NumPy .npy array"),
    (b"\x1f\x8b", "gzip-compressed data (decompress it first)"),
    (b"PK\x03\x04", "a zip archive"),
    (b"\xff\xfe", "UTF-16 text (JSON and YAML are read as UTF-8: save it as UTF-8)"),
    (b"\xfe\xff", "UTF-16 text (JSON and YAML are read as UTF-8: save it as UTF-8)"),
)  # fmt: skip


def _describe_binary(data: bytes, source: str) -> str:
    for signature, kind in _BINARY_KINDS:
        if data.startswith(signature):
            return kind
    if "tfevents" in source:
        return "a TensorBoard event file (stepsched check reads it, with --tag)"
    if len(data) >= 10 and data[8:10] == b'{"':  # an 8-byte header length, then JSON
        return "a safetensors file (tensors only: no scheduler state)"
    return f"binary data (its first bytes are {data[:8].hex(' ')})"


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
            return _describe_binary(data, source)
        return "JSON null" if data.strip() == b"null" else _describe_text(data, json_error)
    return f"a JSON {_JSON_TYPES.get(type(document), 'value')}"


def unrecognised(
    data: bytes,
    document: object | None,
    source: str,
    tried: Sequence[str],
    json_error: str = "is not JSON",
) -> StateFileError:
    """The error for a file no format recognises: what it is and which formats were tried."""
    looks_like = describe(data, document, json_error, source)
    return StateFileError(
        f"{source}: no format stepsched reads recognises it: it is {looks_like}; "
        f"tried {', '.join(tried)} (force one with --from)"
    )
