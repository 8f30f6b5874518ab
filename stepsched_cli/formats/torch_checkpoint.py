"""Read torch checkpoints and find LR scheduler and optimizer states in them, without torch.

:func:`load_checkpoint` understands both layouts ``torch.save`` writes: the zip archive
of torch >= 1.6 (``<prefix>/data.pkl`` plus one ``<prefix>/data/<key>`` member per
storage) and the legacy stream (magic-number pickle, protocol pickle, sys-info pickle,
object pickle, then storage keys and raw bytes).  Lightning ``.ckpt`` files are the same
format.  Only the object pickle is read, through
:func:`~stepsched_cli.formats.safe_pickle.safe_loads`, so nothing in the file is
executed, tensor bytes are never read, and a multi-GB checkpoint loads as fast as a
tiny one.

:func:`find_scheduler_states` and :func:`find_optimizer_param_groups` then search the
loaded structure for state dicts by their shape, wherever a training script put them,
and :func:`format_key_path` names where they were found.

Example:
    >>> checkpoint = {
    ...     "model": {},
    ...     "lr_scheduler": {"step_size": 30, "gamma": 0.1, "base_lrs": [0.1],
    ...                      "last_epoch": 75, "_last_lr": [0.001]},
    ...     "optimizer": {"state": {}, "param_groups": [{"lr": 0.001, "params": [0, 1]}]},
    ... }
    >>> [(format_key_path(found.path), found.state["last_epoch"])
    ...  for found in find_scheduler_states(checkpoint)]
    [('lr_scheduler', 75)]
    >>> [(format_key_path(found.path), found.lrs)
    ...  for found in find_optimizer_param_groups(checkpoint)]
    [('optimizer', [0.001])]
"""

from __future__ import annotations

import os
import struct
import zipfile
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import IO, TypeGuard

from stepsched_cli.formats.errors import CheckpointError, UnsafeCheckpointError
from stepsched_cli.formats.safe_pickle import (
    MAX_PICKLE_BYTES,
    PickleStream,
    TensorStub,
    safe_loads,
)

__all__ = [
    "LEGACY_MAGIC_NUMBER",
    "LEGACY_PROTOCOL_VERSION",
    "MAX_CENTRAL_DIRECTORY_BYTES",
    "MAX_SEARCH_DEPTH",
    "MAX_SEARCH_NODES",
    "MAX_ZIP_ENTRIES",
    "CheckpointError",
    "FoundGroups",
    "FoundState",
    "KeyPath",
    "UnsafeCheckpointError",
    "find_optimizer_param_groups",
    "find_scheduler_states",
    "format_key_path",
    "is_optimizer_state",
    "is_scheduler_state",
    "load_checkpoint",
]

KeyPath = tuple[str | int, ...]
"""Keys and list indices from the top of a checkpoint down to a value."""

LEGACY_MAGIC_NUMBER = 0x1950A86A20F9469CFC6C
"""The first pickle of a legacy (pre-1.6) ``torch.save`` file."""

LEGACY_PROTOCOL_VERSION = 1001
"""The second pickle of a legacy ``torch.save`` file."""

MAX_SEARCH_DEPTH = 64
"""How deep the state searches descend into nested containers."""

MAX_SEARCH_NODES = 1_000_000
"""How many containers the state searches visit at most."""

MAX_ZIP_ENTRIES = 100_000
"""The most members a zip checkpoint may have.

``torch.save`` writes one member per storage and a few more, so real checkpoints have
hundreds to a few thousand.  :mod:`zipfile` builds an object for every member before
anything can be checked: a million members cost 512 MB and 9 s, 2.2 million exhaust
1 GiB.  The count is taken from the central directory before :mod:`zipfile` reads it.
"""

MAX_CENTRAL_DIRECTORY_BYTES = 16 * 1024 * 1024
"""The largest zip central directory read, in bytes (about 160 bytes per member)."""

_ZIP_SIGNATURE = b"PK\x03\x04"
_END_OF_DIRECTORY = struct.Struct("<4s4H2LH")
_ZIP64_LOCATOR = struct.Struct("<4sLQL")
_ZIP64_END_OF_DIRECTORY = struct.Struct("<4sQ2H2L4Q")
_DIRECTORY_ENTRY = struct.Struct("<4s6H3L5H2L")
_MAX_ZIP_COMMENT = 0xFFFF

_SCHEDULER_KEYS = frozenset(
    {
        "lr_scheduler",
        "lr_schedulers",
        "scheduler",
        "schedulers",
        "sched",
        "lr_sched",
        "scheduler_state",
        "scheduler_state_dict",
        "lr_scheduler_state",
        "lr_scheduler_state_dict",
    }
)
_OPTIMIZER_KEYS = frozenset(
    {
        "optimizer",
        "optimizers",
        "optimizer_states",
        "optimizer_state",
        "optimizer_state_dict",
        "optim",
        "opt",
    }
)
# Fields that, beside last_epoch and base_lrs, mark a torch LR scheduler state dict.
_SCHEDULER_FIELDS = ("_last_lr", "_step_count", "step_size", "gamma", "milestones")


@dataclass(frozen=True)
class FoundState:
    """An LR scheduler state dict found in a checkpoint.

    Attributes:
        path: Where it is, e.g. ``("lr_schedulers", 0)``; ``()`` for the whole file.
        state: The state dict as loaded (``last_epoch``, ``base_lrs``, ...).
    """

    path: KeyPath
    state: dict[str, object]


@dataclass(frozen=True)
class FoundGroups:
    """The parameter groups of an optimizer state dict found in a checkpoint.

    Attributes:
        path: Where the optimizer state dict is, e.g. ``("optimizer_states", 0)``.
        param_groups: Its ``param_groups`` list as loaded.
    """

    path: KeyPath
    param_groups: list[dict[str, object]]

    @property
    def lrs(self) -> list[object]:
        """Each group's ``lr`` (a float, or a :class:`TensorStub` for a tensor lr)."""
        return [group.get("lr") for group in self.param_groups]


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
    shown = ", ".join(repr(name) for name in names[:5]) + (", ..." if len(names) > 5 else "")
    raise CheckpointError(
        f"cannot read {source!r}: the zip archive has no <prefix>/data.pkl member, so it "
        f"is not a torch.save checkpoint (members: {shown or 'none'})"
    )


def _central_directory(handle: IO[bytes]) -> tuple[int, int, int] | None:
    """``(start, size, declared entries)`` of the central directory, from its end records.

    None when there is no end record to read: :mod:`zipfile` then says what is wrong.
    Like :mod:`zipfile`, the directory is taken to end where its end record begins.
    """
    file_size = handle.seek(0, os.SEEK_END)
    tail_start = max(0, file_size - _END_OF_DIRECTORY.size - _MAX_ZIP_COMMENT)
    handle.seek(tail_start)
    tail = handle.read()
    end = tail.rfind(b"PK\x05\x06")
    if end < 0 or len(tail) - end < _END_OF_DIRECTORY.size:
        return None
    fields = _END_OF_DIRECTORY.unpack_from(tail, end)
    entries, size, end_position = fields[4], fields[5], tail_start + end
    if entries == 0xFFFF or size == 0xFFFFFFFF or fields[6] == 0xFFFFFFFF:
        locator_position = end_position - _ZIP64_LOCATOR.size
        record_position = locator_position - _ZIP64_END_OF_DIRECTORY.size
        if record_position < 0:
            return None
        handle.seek(record_position)
        records = handle.read(_ZIP64_END_OF_DIRECTORY.size + _ZIP64_LOCATOR.size)
        record = _ZIP64_END_OF_DIRECTORY.unpack_from(records)
        if record[0] != b"PK\x06\x06" or records[-_ZIP64_LOCATOR.size :][:4] != b"PK\x06\x07":
            return None
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


def _load_zip(handle: IO[bytes], source: str) -> object:
    _check_member_count(handle, source)
    handle.seek(0)
    try:
        with zipfile.ZipFile(handle) as archive:
            name = _data_pkl_name(archive.namelist(), source)
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
            with archive.open(info) as member:
                # A header can lie about the size, so the read itself is bounded too.
                data = member.read(MAX_PICKLE_BYTES + 1)
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
    return safe_loads(data, source=source)


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
            f"{LEGACY_PROTOCOL_VERSION}, got {protocol!r:.40}"
        )
    safe_loads(stream.next_pickle(), source=source)  # sys_info: sizes of C types.
    return safe_loads(stream.next_pickle(), source=source)


def _is_number(value: object) -> bool:
    return isinstance(value, int | float | TensorStub) and not isinstance(value, bool)


def is_scheduler_state(value: object) -> TypeGuard[dict[str, object]]:
    """Whether ``value`` has the shape of a torch LR scheduler ``state_dict()``.

    That is a dict with an int ``last_epoch``, a list ``base_lrs`` of numbers, and at
    least one of ``_last_lr``, ``_step_count``, ``step_size``, ``gamma``, ``milestones``.

    Example:
        >>> is_scheduler_state({"last_epoch": 0, "base_lrs": [0.1], "gamma": 0.1})
        True
        >>> is_scheduler_state({"last_epoch": 0, "base_lrs": [0.1]})
        False
    """
    if not isinstance(value, dict):
        return False
    last_epoch = value.get("last_epoch")
    base_lrs = value.get("base_lrs")
    return (
        isinstance(last_epoch, int)
        and not isinstance(last_epoch, bool)
        and isinstance(base_lrs, list)
        and all(_is_number(lr) for lr in base_lrs)
        and any(field in value for field in _SCHEDULER_FIELDS)
    )


def is_optimizer_state(value: object) -> TypeGuard[dict[str, object]]:
    """Whether ``value`` has the shape of a torch optimizer ``state_dict()``.

    That is a dict with a dict ``state`` and a list ``param_groups`` of dicts that each
    hold ``lr`` and ``params``.

    Example:
        >>> is_optimizer_state({"state": {}, "param_groups": [{"lr": 0.1, "params": [0]}]})
        True
    """
    if not isinstance(value, dict):
        return False
    groups = value.get("param_groups")
    return (
        isinstance(value.get("state"), dict)
        and isinstance(groups, list)
        and all(isinstance(group, dict) and "lr" in group and "params" in group for group in groups)
    )


def _search(
    root: object, matches: Callable[[object], bool], common_keys: frozenset[str]
) -> list[tuple[KeyPath, dict[str, object]]]:
    """Find matching dicts, pre-order; hits under a common key first, then the rest.

    The walk is iterative, visits each container once (pickles can share and even
    cycle), and is bounded by :data:`MAX_SEARCH_DEPTH` and :data:`MAX_SEARCH_NODES`.
    It does not descend into a match.
    """
    found: list[tuple[KeyPath, dict[str, object]]] = []
    seen: set[int] = set()
    stack: list[tuple[KeyPath, object]] = [((), root)]
    while stack and len(seen) < MAX_SEARCH_NODES:
        path, node = stack.pop()
        if not isinstance(node, dict | list | tuple) or id(node) in seen:
            continue
        seen.add(id(node))
        if isinstance(node, dict) and matches(node):
            found.append((path, node))
            continue
        if len(path) >= MAX_SEARCH_DEPTH:
            continue
        children: list[tuple[KeyPath, object]]
        if isinstance(node, dict):
            children = [
                ((*path, key), child)
                for key, child in dict.items(node)
                if isinstance(key, str | int) and not isinstance(key, bool)
            ]
        else:
            children = [((*path, index), child) for index, child in enumerate(node)]
        stack.extend(reversed(children))

    def under_common_key(path: KeyPath) -> bool:
        names = [key for key in path if isinstance(key, str)]
        return not path or (bool(names) and names[-1] in common_keys)

    return sorted(found, key=lambda hit: not under_common_key(hit[0]))


def find_scheduler_states(checkpoint: object) -> list[FoundState]:
    """Find every LR scheduler state dict in a loaded checkpoint.

    The whole structure is searched (dicts, lists, tuples) for dicts accepted by
    :func:`is_scheduler_state`.  Hits whose nearest key is a usual name (``lr_scheduler``,
    ``scheduler``, ``sched``, ``lr_sched``, ``scheduler_state_dict``, Lightning's
    ``lr_schedulers``, ...) come first; within each group the order is that of the file.
    A bare state dict has path ``()``.

    Args:
        checkpoint: What :func:`load_checkpoint` (or ``json.load``) returned.

    Returns:
        The states found, in that deterministic order; empty if there are none.

    Example:
        >>> state = {"last_epoch": 4, "base_lrs": [0.1], "_last_lr": [0.1]}
        >>> [found.path for found in find_scheduler_states({"x": [state], "sched": state})]
        [('x', 0)]
        >>> [found.path for found in find_scheduler_states({"x": [state], "sched": dict(state)})]
        [('sched',), ('x', 0)]
    """
    hits = _search(checkpoint, is_scheduler_state, _SCHEDULER_KEYS)
    return [FoundState(path, state) for path, state in hits]


def find_optimizer_param_groups(checkpoint: object) -> list[FoundGroups]:
    """Find the parameter groups of every optimizer state dict in a loaded checkpoint.

    Works like :func:`find_scheduler_states` with :func:`is_optimizer_state`; the usual
    names are ``optimizer``, ``optimizer_state_dict``, ``optim``, ``opt`` and Lightning's
    ``optimizer_states`` list.

    Args:
        checkpoint: What :func:`load_checkpoint` returned.

    Returns:
        One :class:`FoundGroups` per optimizer state dict, in a deterministic order.
    """
    hits = _search(checkpoint, is_optimizer_state, _OPTIMIZER_KEYS)
    found: list[FoundGroups] = []
    for path, state in hits:
        groups = state["param_groups"]
        if isinstance(groups, list):
            found.append(FoundGroups(path, groups))
    return found


def format_key_path(path: KeyPath) -> str:
    """Render a key path for people: ``lr_schedulers[0]``, ``state.training.sched``.

    String keys that are identifiers are joined with dots, other keys are quoted in
    brackets, and ints (list indices or int dict keys) are bracketed.

    Example:
        >>> format_key_path(("lr_schedulers", 0))
        'lr_schedulers[0]'
        >>> format_key_path(("state", "training", "scheduler_state_dict"))
        'state.training.scheduler_state_dict'
        >>> format_key_path(("schedulers", "my sched", 2))
        "schedulers['my sched'][2]"
        >>> format_key_path(())
        '(top level)'
    """
    if not path:
        return "(top level)"
    parts: list[str] = []
    for key in path:
        if isinstance(key, int):
            parts.append(f"[{key}]")
        elif key.isidentifier():
            parts.append(f".{key}" if parts else key)
        else:
            parts.append(f"[{key!r}]")
    return "".join(parts)
