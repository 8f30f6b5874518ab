"""Describe any value for an error message in bounded time and space.

A message about bad input must show what was there, but ``f"{value!r:.60}"`` builds the
whole ``repr`` before cutting it: a list that shares one child at every level has a
repr of 2**depth characters, a 3,000-deep chain raises RecursionError, and a
100,000-digit integer cannot be printed at all.  :func:`describe` renders the value
piece by piece and stops once it has ``width`` characters, so its work is bounded by
``width`` whatever the value is.  A cut description ends with ``...`` and the value's
type and size (the length of a container or string, the bits of an integer), which
are read in constant time.

Objects other than plain values (None, bool, numbers, strings, bytes, lists, tuples,
sets, dicts and their subclasses) are described by their type name only: their
``repr`` is code this module does not control.

Example:
    >>> describe([1, "two", (3.0, None)])
    "[1, 'two', (3.0, None)]"
    >>> describe("x" * 1000, width=10)
    "'xxxxxxxxx... (str of 1000 characters)"
    >>> shared: list[object] = []
    >>> for _ in range(40):
    ...     shared = [shared, shared]
    >>> describe(shared, width=20)
    '[[[[[[[[[[[[[[[[[[[[... (list of 2 items)'
    >>> describe(10**5000)
    '<int of 16610 bits>'
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from decimal import Decimal

__all__ = ["DESCRIBE_WIDTH", "describe"]

DESCRIBE_WIDTH = 60
"""The default number of characters of a value shown before it is cut."""

_LONGEST_INTEGER_BITS = 256
"""Integers longer than this are shown by their size, never converted to decimal."""


@dataclass(frozen=True, slots=True)
class _Child:
    """A value still to be rendered, as opposed to literal text."""

    value: object


def describe(value: object, width: int = DESCRIBE_WIDTH) -> str:
    """A one-line description of ``value`` of at most about ``width`` characters.

    Args:
        value: Anything, including values too large, deep or cyclic to ``repr``.
        width: Characters of rendering kept before the description is cut.

    Returns:
        The value's ``repr`` when it fits in ``width`` characters; otherwise its first
        ``width`` characters, ``...`` and a summary such as ``(list of 3 items)``.
        Newlines never appear: strings are shown by their ``repr``.
    """
    text, cut = _render(value, width)
    if not cut:
        return text
    return f"{text}... ({_summary(value)})"


def _render(value: object, width: int) -> tuple[str, bool]:
    """The first ``width`` characters of the rendering, and whether there was more."""
    pieces: list[str] = []
    used = 0
    pending: list[Iterator[str | _Child]] = [iter((_Child(value),))]
    while pending:
        part = next(pending[-1], None)
        if part is None:
            pending.pop()
            continue
        if isinstance(part, _Child):
            leaf = _leaf(part.value, width - used + 1)
            if leaf is None:
                pending.append(_container_parts(part.value))
                continue
            part = leaf
        pieces.append(part)
        used += len(part)
        if used > width:
            return "".join(pieces)[:width], True
    return "".join(pieces), False


def _leaf(value: object, room: int) -> str | None:
    """The text of a value that holds no others; None for a container to descend into."""
    if value is None or isinstance(value, bool | float | complex):
        return repr(value)
    if isinstance(value, int):
        if value.bit_length() > _LONGEST_INTEGER_BITS:
            return f"<int of {value.bit_length()} bits>"
        return str(int(value))
    if isinstance(value, str):
        return repr(str(value[: room + 1]))
    if isinstance(value, Decimal):  # a number read exactly from a log
        return str(value)[: room + 1]
    if isinstance(value, bytes | bytearray):
        return repr(bytes(value[: room + 1]))
    if isinstance(value, set | frozenset) and not value:
        return f"{type(value).__name__}()"
    if isinstance(value, list | tuple | set | frozenset | dict):
        return None
    return f"<{type(value).__name__}>"


def _container_parts(value: object) -> Iterator[str | _Child]:
    """The pieces of a container's rendering, produced lazily one at a time."""
    if isinstance(value, dict):
        yield "{"
        for index, (key, item) in enumerate(dict.items(value)):
            yield ", " if index else ""
            yield _Child(key)
            yield ": "
            yield _Child(item)
        yield "}"
        return
    items: Iterable[object] = value if isinstance(value, list | tuple | set | frozenset) else ()
    if isinstance(value, list):
        opening, closing = "[", "]"
    elif isinstance(value, tuple):
        opening, closing = "(", ",)" if len(value) == 1 else ")"
    elif isinstance(value, frozenset):
        opening, closing = "frozenset({", "})"
    else:
        opening, closing = "{", "}"
    yield opening
    for index, item in enumerate(items):
        yield ", " if index else ""
        yield _Child(item)
    yield closing


def _summary(value: object) -> str:
    """The value's type and size, read in constant time."""
    kind = type(value).__name__
    if isinstance(value, str):
        return f"{kind} of {len(value)} characters"
    if isinstance(value, bytes | bytearray):
        return f"{kind} of {len(value)} bytes"
    if isinstance(value, list | tuple | set | frozenset | dict):
        return f"{kind} of {len(value)} items"
    return kind
