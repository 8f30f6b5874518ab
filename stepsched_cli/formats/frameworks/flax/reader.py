"""flax's msgpack files: what optax state they hold, for a one-line refusal.

flax saves a pytree's state dict with :mod:`.msgpack` (a named tuple becomes a map of
its fields, a tuple a map of ``"0"``, ``"1"``, ...).  Such a file records no schedule:
optax keeps only counters, and ``inject_hyperparams`` the last hyperparameters applied.
So stepsched names what it finds and refuses, in one line:

- ``scale_by_schedule``'s state ``{"count": n}``, and ``inject_hyperparams``'
  ``{"count": n, "hyperparams": {"learning_rate": lr}, "inner_state": ...}``: ``n``
  updates done, the schedule's position; ``lr`` is the lr of the last update,
  the schedule at ``n - 1``;
- counters that disagree, or none: said so.

The file is mapped, never read whole.
"""

from __future__ import annotations

import math
import mmap
from collections.abc import Iterator, Mapping
from dataclasses import dataclass

from stepsched_cli import validate
from stepsched_cli.errors import StateFileError
from stepsched_cli.formats import sniff
from stepsched_cli.formats.frameworks.flax.msgpack import Ext, MsgpackError, decode
from stepsched_cli.formats.hints import NoHints
from stepsched_cli.formats.reading import Reading, Request

__all__ = [
    "FLAX_MSGPACK_FORMAT",
    "Counter",
    "counters",
    "describe_file",
    "flax_file",
    "read_flax_msgpack",
]

FLAX_MSGPACK_FORMAT = "flax-msgpack"


def flax_file(head: bytes, name: str) -> bool:
    """A file that starts like flax's msgpack (a map whose first key is a string)."""
    return sniff.looks_like_msgpack_map(head)


def read_flax_msgpack(request: Request[NoHints]) -> Reading:
    """A flax msgpack file records counters, never a schedule: refused, naming them."""
    raise StateFileError(f"{request.source}: {describe_file(request.path)}")


@dataclass(frozen=True)
class Counter:
    """An optax counter found in the tree, with the lr inject_hyperparams stored beside it."""

    where: str
    count: int
    learning_rate: float | None


def counters(tree: object, path: tuple[object, ...] = ()) -> Iterator[Counter]:
    """Every schedule counter in a decoded state dict, depth first, in key order.

    ``path`` holds the keys above ``tree``; a counter's ``where`` is built from them
    only when one is found (building it for every node is quadratic in a deep tree of
    long keys) and shows at most the first and the last key, each shortened.
    """
    if not isinstance(tree, Mapping):
        return
    count = tree.get("count")
    value = count.value() if isinstance(count, Ext) else None
    scale_by_schedule = set(tree) == {"count"}
    inject = {"count", "hyperparams", "inner_state"} <= set(tree)
    if isinstance(value, int) and not isinstance(value, bool) and (scale_by_schedule or inject):
        lr = None
        hyperparams = tree.get("hyperparams")
        if inject and isinstance(hyperparams, Mapping):
            found = hyperparams.get("learning_rate")
            lr = found.value() if isinstance(found, Ext) else None
        number = float(lr) if isinstance(lr, (int, float)) and not isinstance(lr, bool) else None
        yield Counter(_where(path), value, number)
    for key, child in tree.items():
        yield from counters(child, (*path, key))


def _where(path: tuple[object, ...]) -> str:
    if not path:
        return "the top level"
    if len(path) > 2:
        return f"{_key(path[0])}/.../{_key(path[-1])}"
    return "/".join(_key(key) for key in path)


def describe_file(path: str) -> str:
    """What a flax msgpack file holds, for the one-line refusal (see the module).

    Raises:
        StateFileError: the file cannot be read or is not msgpack.
    """
    try:
        with (
            open(path, "rb") as handle,
            mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) as mapped,
        ):
            text, reason = _describe_mapped(mapped)
    except (OSError, ValueError) as error:  # an empty file cannot be mapped
        problem = getattr(error, "strerror", None) or str(error)
        raise StateFileError(f"{path}: cannot be read as msgpack ({problem})") from None
    if reason is not None:
        raise StateFileError(f"{path}: starts like msgpack (flax) but {reason}")
    return text


def _describe_mapped(mapped: mmap.mmap) -> tuple[str, str | None]:
    """``(description, None)`` or ``("", reason)``.  Every view of the mapping is gone
    when this returns (the error's traceback holds the decoder's), so it can close."""
    view = memoryview(mapped)
    reason = None
    try:
        tree = decode(view)
    except MsgpackError as error:
        reason, tree = str(error), None
    text = "" if reason is not None else _describe(tree)
    del tree
    view.release()
    return text, reason


_WHAT = "a flax msgpack file (flax.serialization.to_bytes)"


def _key(key: object) -> str:
    text = str(key)
    return text if text.isidentifier() and len(text) <= 60 else validate.shown(text)


def _describe(tree: object) -> str:
    found = list(counters(tree))
    if not found:
        keys = ", ".join(_key(key) for key in list(tree)[:8]) if isinstance(tree, Mapping) else ""
        return (
            f"is {_WHAT} with keys {keys or 'none'} and no optax schedule state "
            "(scale_by_schedule's or inject_hyperparams' count): it holds no position or lr"
        )
    counts = {counter.count for counter in found}
    if len(counts) > 1:
        listed = ", ".join(f"{counter.count} at {counter.where}" for counter in found[:4])
        return (
            f"is {_WHAT} whose optax counters disagree ({listed}): the schedule's position "
            "is not established"
        )
    (count,) = counts
    if count < 0:
        return (
            f"is {_WHAT} whose optax count is {count}, not a number of updates: the "
            "schedule's position is not established"
        )
    lrs = [counter.learning_rate for counter in found if counter.learning_rate is not None]
    held = f"optax count {count} (updates done: the schedule's position)"
    if lrs and math.isfinite(lrs[0]) and count > 0:
        held += (
            f", inject_hyperparams learning_rate {lrs[0]!r} (the lr of the last update, "
            f"position {count - 1})"
        )
    return (
        f"is {_WHAT} holding {held}; it records no schedule: inspect the optax schedule's "
        f"JSON with --position {count}"
    )
