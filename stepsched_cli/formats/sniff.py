"""What a file is, by its name and first bytes, without importing any reader.

Detection runs on every file a command reads, a JSON state file included; keeping the
recognisers here lets it decide without importing the checkpoint container (zipfile,
the restricted unpickler) or the framework readers, which load only for their files.
"""

from __future__ import annotations

CHECKPOINT_EXTENSIONS = (".pt", ".pth", ".ckpt")
"""The extensions ``torch.save`` files usually carry (Lightning's ``.ckpt`` included)."""

ZIP_SIGNATURE = b"PK\x03\x04"
"""The first bytes of a zip archive (``torch.save``'s default format, a ``.keras`` file)."""

PICKLE_PROTOCOL_OPCODE = b"\x80"
"""The first byte of a pickle of protocol 2 or later (``torch.save``'s legacy format)."""


def looks_like_checkpoint(head: bytes, name: str = "") -> bool:
    """Whether a file is a ``torch.save`` checkpoint, by its extension or first bytes.

    Example:
        >>> looks_like_checkpoint(b"PK\\x03\\x04", "x.bin"), looks_like_checkpoint(b"{", "a.json")
        (True, False)
    """
    return (
        name.lower().endswith(CHECKPOINT_EXTENSIONS)
        or head.startswith(ZIP_SIGNATURE)
        or head.startswith(PICKLE_PROTOCOL_OPCODE)
    )


KERAS_MEMBERS = ("metadata.json", "config.json", "model.weights.h5")
"""The members of a ``.keras`` file (``model.save()`` writes them in this order)."""


def first_zip_member(data: bytes) -> str | None:
    """The name in a zip's first local header, when ``data`` starts with one.

    Example:
        >>> first_zip_member(b"PK\\x03\\x04" + bytes(22) + b"\\x0d\\x00\\x00\\x00metadata.json")
        'metadata.json'
    """
    if not data.startswith(ZIP_SIGNATURE) or len(data) < 30:
        return None
    length = int.from_bytes(data[26:28], "little")
    return data[30 : 30 + length].decode("utf-8", "replace")


def looks_like_keras_model(data: bytes) -> bool:
    """Whether ``data`` starts like a ``.keras`` zip (its first member is Keras's)."""
    return first_zip_member(data) in KERAS_MEMBERS


def looks_like_msgpack_map(head: bytes) -> bool:
    """Whether a file starts like flax's msgpack: a non-empty map whose first key is a string.

    Example:
        >>> looks_like_msgpack_map(bytes.fromhex("83a4737465701a")), looks_like_msgpack_map(b"{")
        (True, False)
    """
    if len(head) < 2:
        return False
    first = head[0]
    key_at = {0xDE: 3, 0xDF: 5}.get(first, 1 if 0x81 <= first <= 0x8F else None)
    if key_at is None or len(head) <= key_at:
        return False
    key = head[key_at]
    return 0xA0 <= key <= 0xBF or key in (0xD9, 0xDA, 0xDB)


__all__ = [
    "CHECKPOINT_EXTENSIONS",
    "KERAS_MEMBERS",
    "PICKLE_PROTOCOL_OPCODE",
    "ZIP_SIGNATURE",
    "first_zip_member",
    "looks_like_checkpoint",
    "looks_like_keras_model",
    "looks_like_msgpack_map",
]
