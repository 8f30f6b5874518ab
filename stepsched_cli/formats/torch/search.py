"""Search a loaded checkpoint for LR scheduler and optimizer states, and choose one.

:func:`find_scheduler_states` and :func:`find_optimizer_param_groups` search the
object a checkpoint holds (what :mod:`~stepsched_cli.formats.torch.container` loaded,
or a JSON document) for state dicts by their shape, wherever a training script put
them, and :func:`format_key_path` names where they were found.
:func:`find_schedulers` gathers both in one pass over each, recording every scheduler
state's key, kind and position as its shape is tested, so that what comes after
(choosing one, :mod:`~stepsched_cli.formats.torch.choice`; parsing it,
:mod:`~stepsched_cli.formats.torch.scheduler_states`; checking its optimizer,
:mod:`~stepsched_cli.formats.torch.optimizer_check`) never searches or classifies again.

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
    >>> [(found.key, found.kind, found.last_epoch)
    ...  for found in find_schedulers(checkpoint).states]
    [('lr_scheduler', 'StepLR', 75)]
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TypeGuard

from stepsched_cli.formats.checkpoint_errors import CheckpointError, no_scheduler_state_error
from stepsched_cli.formats.sandbox import TensorStub
from stepsched_cli.formats.torch.sequential import is_sequential_state
from stepsched_cli.formats.torch.state_dict import guess_scheduler_type
from stepsched_cli.scheduler import STATE_FORMAT

__all__ = [
    "MAX_LISTED",
    "MAX_SEARCH_DEPTH",
    "MAX_SEARCH_NODES",
    "SEQUENTIAL_KIND",
    "STEPSCHED_KIND",
    "FoundGroups",
    "FoundSchedulers",
    "FoundState",
    "KeyPath",
    "find_dicts",
    "find_optimizer_param_groups",
    "find_scheduler_states",
    "find_schedulers",
    "format_key_path",
    "is_any_scheduler_state",
    "is_optimizer_state",
    "is_scheduler_state",
    "is_stepsched_state",
    "no_scheduler_state",
]

STEPSCHED_KIND = "StepScheduler"
"""The kind of a stepsched ``StepScheduler.state_dict()`` found in a checkpoint."""

SEQUENTIAL_KIND = "SequentialLR"
"""The kind of a torch ``SequentialLR.state_dict()`` found in a checkpoint."""

KeyPath = tuple[str | int, ...]
"""Keys and list indices from the top of a checkpoint down to a value."""

MAX_SEARCH_DEPTH = 64
"""How deep the state searches descend into nested containers."""

MAX_SEARCH_NODES = 1_000_000
"""How many containers the state searches visit at most."""

MAX_LISTED = 5
"""The most scheduler keys or optimizer disagreements a message lists; then a count."""

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
    """An LR scheduler state dict found in a checkpoint, classified as it was found.

    Attributes:
        path: Where it is, e.g. ``("lr_schedulers", 0)``; ``()`` for the whole file.
        state: The state dict as loaded (``last_epoch``, ``base_lrs``, ...).
        key: ``path`` for people and for the ``key`` hint (:func:`format_key_path`).
        kind: What it is: :data:`STEPSCHED_KIND`, :data:`SEQUENTIAL_KIND`, or the torch
            class its keys suggest (``StepLR``, ``CosineAnnealingLR``, ...).
        last_epoch: Its position as stored (``step`` for stepsched's; -1 when not an int).
    """

    path: KeyPath
    state: dict[str, object]
    key: str = field(default="", compare=False)
    kind: str = field(default="", compare=False)
    last_epoch: int = field(default=-1, compare=False)


@dataclass(frozen=True)
class FoundGroups:
    """The parameter groups of an optimizer state dict found in a checkpoint.

    Attributes:
        path: Where the optimizer state dict is, e.g. ``("optimizer_states", 0)``.
        param_groups: Its ``param_groups`` list as loaded.
        key: ``path`` for people (:func:`format_key_path`).
    """

    path: KeyPath
    param_groups: list[dict[str, object]]
    key: str = field(default="", compare=False)

    @property
    def lrs(self) -> list[object]:
        """Each group's ``lr`` (a float, or a :class:`TensorStub` for a tensor lr)."""
        return [group.get("lr") for group in self.param_groups]


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
    return _scheduler_shape(value, {})


_Checked = dict[int, bool]
"""Lists already checked during one search, by ``id``: a list shared by many dicts (a
pickle memo makes that free) is scanned once, not once per dict."""


def _all_once(values: list[object], test: Callable[[object], bool], checked: _Checked) -> bool:
    verdict = checked.get(id(values))
    if verdict is None:
        verdict = checked[id(values)] = all(test(item) for item in values)
    return verdict


def _scheduler_shape(value: object, checked: _Checked) -> bool:
    if not isinstance(value, dict):
        return False
    last_epoch = value.get("last_epoch")
    base_lrs = value.get("base_lrs")
    return (
        isinstance(last_epoch, int)
        and not isinstance(last_epoch, bool)
        and isinstance(base_lrs, list)
        and any(field in value for field in _SCHEDULER_FIELDS)
        and _all_once(base_lrs, _is_number, checked)
    )


def is_stepsched_state(value: object) -> TypeGuard[dict[str, object]]:
    """Whether ``value`` is a stepsched ``StepScheduler.state_dict()`` (its ``format`` marker).

    Example:
        >>> is_stepsched_state({"format": "stepsched.state", "version": 1})
        True
    """
    return isinstance(value, dict) and value.get("format") == STATE_FORMAT


def is_any_scheduler_state(value: object) -> TypeGuard[dict[str, object]]:
    """Whether ``value`` is a scheduler state stepsched reads: a torch state dict
    (:func:`is_scheduler_state`), a SequentialLR's, or stepsched's own."""
    return is_scheduler_state(value) or is_stepsched_state(value) or is_sequential_state(value)


def is_optimizer_state(value: object) -> TypeGuard[dict[str, object]]:
    """Whether ``value`` has the shape of a torch optimizer ``state_dict()``.

    That is a dict with a dict ``state`` and a list ``param_groups`` of dicts that each
    hold ``lr`` and ``params``.

    Example:
        >>> is_optimizer_state({"state": {}, "param_groups": [{"lr": 0.1, "params": [0]}]})
        True
    """
    return _optimizer_shape(value, {})


def _is_param_group(group: object) -> bool:
    return isinstance(group, dict) and "lr" in group and "params" in group


def _optimizer_shape(value: object, checked: _Checked) -> bool:
    if not isinstance(value, dict):
        return False
    groups = value.get("param_groups")
    return (
        isinstance(value.get("state"), dict)
        and isinstance(groups, list)
        and _all_once(groups, _is_param_group, checked)
    )


def _search(
    root: object, matches: Callable[[object, _Checked], bool], common_keys: frozenset[str]
) -> list[tuple[KeyPath, dict[str, object]]]:
    """Find matching dicts, pre-order; hits under a common key first, then the rest.

    The walk is iterative, visits each container once (pickles can share and even
    cycle), and is bounded by :data:`MAX_SEARCH_DEPTH` and :data:`MAX_SEARCH_NODES`.
    It does not descend into a match.  Testing a dict scans the list it holds
    (``base_lrs``, ``param_groups``) once per search, however many dicts share it: 200
    dicts sharing one list of a million floats took 58 s when each scanned it.
    """
    found: list[tuple[KeyPath, dict[str, object]]] = []
    checked: _Checked = {}
    seen: set[int] = set()
    stack: list[tuple[KeyPath, object]] = [((), root)]
    while stack and len(seen) < MAX_SEARCH_NODES:
        path, node = stack.pop()
        if not isinstance(node, dict | list | tuple) or id(node) in seen:
            continue
        seen.add(id(node))
        if isinstance(node, dict) and matches(node, checked):
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
    """Find every LR scheduler state dict in a loaded checkpoint or JSON document.

    The whole structure is searched (dicts, lists, tuples) for dicts accepted by
    :func:`is_any_scheduler_state` (a SequentialLR's children are part of it, not
    listed on their own).  Hits whose nearest key is a usual name (``lr_scheduler``,
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
    hits = _search(checkpoint, _any_scheduler_shape, _SCHEDULER_KEYS)
    return [_classified(path, state) for path, state in hits]


def _classified(path: KeyPath, state: dict[str, object]) -> FoundState:
    """A scheduler state found, with its key, kind and stored position."""
    if is_stepsched_state(state):
        kind, position = STEPSCHED_KIND, state.get("step")
    else:
        position = state.get("last_epoch")
        kind = SEQUENTIAL_KIND if is_sequential_state(state) else guess_scheduler_type(state)
    last_epoch = position if isinstance(position, int) and not isinstance(position, bool) else -1
    return FoundState(path, state, format_key_path(path), kind, last_epoch)


def _any_scheduler_shape(value: object, checked: _Checked) -> bool:
    """:func:`is_any_scheduler_state`, scanning each shared list once per search."""
    return (
        _scheduler_shape(value, checked) or is_stepsched_state(value) or is_sequential_state(value)
    )


def find_dicts(checkpoint: object, matches: Callable[[object], bool]) -> list[FoundState]:
    """Every dict ``matches`` accepts, searched as :func:`find_scheduler_states` searches
    (hits under a usual scheduler key first); for other frameworks' scheduler states."""
    hits = _search(checkpoint, lambda node, _: matches(node), _SCHEDULER_KEYS)
    return [FoundState(path, state, format_key_path(path)) for path, state in hits]


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
    hits = _search(checkpoint, _optimizer_shape, _OPTIMIZER_KEYS)
    found: list[FoundGroups] = []
    for path, state in hits:
        groups = state["param_groups"]
        if isinstance(groups, list):
            found.append(FoundGroups(path, groups, format_key_path(path)))
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


# -- what was found ---------------------------------------------------------------


@dataclass(frozen=True)
class FoundSchedulers:
    """Every scheduler and optimizer state found in a checkpoint.

    Attributes:
        states: The scheduler states, in :func:`find_scheduler_states`'s order (empty
            when there is none: then it may be another framework's, see the format table).
        optimizers: The optimizer states' param groups.
    """

    states: list[FoundState]
    optimizers: list[FoundGroups]


def find_schedulers(checkpoint: object) -> FoundSchedulers:
    """The scheduler and optimizer states in ``checkpoint``, each searched for once."""
    return FoundSchedulers(
        find_scheduler_states(checkpoint), find_optimizer_param_groups(checkpoint)
    )


def no_scheduler_state(checkpoint: object, source: str) -> CheckpointError:
    """The error for a checkpoint that holds no scheduler state any format reads."""
    optimizers = find_optimizer_param_groups(checkpoint)
    return no_scheduler_state_error(source, optimizers[0].key if optimizers else None)
