"""Measure how deep a loaded pickle's containers nest, visiting each object once.

The opcode bounds (:mod:`~stepsched_cli.formats.sandbox.bounds`) know each container's
depth when it is built, but a list filled after another container took a reference to
it deepens that container afterwards: twenty chains of 150 lists, each ending in the
head of the previous chain while that head is still empty, pass every check made while
loading and nest 3,000 deep.  :func:`check_nesting` measures the loaded value itself.

Example:
    >>> chain: list[object] = []
    >>> for _ in range(300):
    ...     chain = [chain]
    >>> check_nesting(chain, "deep.pt")
    Traceback (most recent call last):
    ...
    stepsched_cli.formats.checkpoint_errors.CheckpointError: cannot read 'deep.pt': containers \
nest deeper than 200 levels
"""

from __future__ import annotations

from collections.abc import Iterator

from stepsched_cli.formats.sandbox.bounds import MAX_NESTING_DEPTH, too_deep

__all__ = ["check_nesting"]

_ATOMS = (str, bytes, bytearray, int, float, complex, type(None))


def _items(node: object) -> list[object]:
    """The objects a container or record refers to (never called for an atom)."""
    found: list[object] = []
    if isinstance(node, dict):
        found.extend(item for pair in dict.items(node) for item in pair)
    elif isinstance(node, list | tuple | set | frozenset):
        found.extend(node)
    elif isinstance(node, slice):
        found.extend((node.start, node.stop, node.step))
    attributes = getattr(node, "__dict__", None)
    if isinstance(attributes, dict):
        found.extend(attributes.values())
    return found


def check_nesting(root: object, source: str, max_depth: int = MAX_NESTING_DEPTH) -> None:
    """Raise if the objects reachable from ``root`` nest deeper than ``max_depth``.

    The depth of an object is the longest chain of references below it; a group of
    objects that refer to each other in a cycle counts as deep as it has members, an
    upper bound of any chain through it.  Each object and reference is visited once
    (Tarjan's strongly connected components, without recursion), so shared objects
    cost nothing extra and no chain, however it was built, can get past the limit.

    Raises:
        CheckpointError: ``cannot read '<source>': containers nest deeper than ... levels``.
    """
    order: dict[int, int] = {}  # id -> visiting order
    lowest: dict[int, int] = {}  # id -> lowest order reachable within its component
    height: dict[int, int] = {}  # id -> depth, once its component is complete
    component: list[object] = []
    on_component: set[int] = set()
    pending: list[tuple[object, Iterator[object]]] = []

    def enter(node: object, items: list[object]) -> None:
        order[id(node)] = lowest[id(node)] = len(order)
        component.append(node)
        on_component.add(id(node))
        pending.append((node, iter(items)))

    if isinstance(root, _ATOMS):
        return
    enter(root, _items(root))
    while pending:
        node, remaining = pending[-1]
        for item in remaining:
            if isinstance(item, _ATOMS):
                continue
            if id(item) not in order:
                enter(item, _items(item))
                break
            if id(item) in on_component:
                lowest[id(node)] = min(lowest[id(node)], order[id(item)])
        else:
            pending.pop()
            if pending:
                parent = id(pending[-1][0])
                lowest[parent] = min(lowest[parent], lowest[id(node)])
            if lowest[id(node)] == order[id(node)]:
                _close_component(node, component, on_component, height)
                if height[id(node)] > max_depth:
                    raise too_deep(source, max_depth)


def _close_component(
    head: object, component: list[object], on_component: set[int], height: dict[int, int]
) -> None:
    """Give every member of the component ending at ``head`` its depth."""
    members: list[object] = []
    while True:
        member = component.pop()
        on_component.discard(id(member))
        members.append(member)
        if member is head:
            break
    inside = {id(member) for member in members}
    below = 0
    cyclic = len(members) > 1
    for member in members:
        for item in _items(member):
            if id(item) in inside:
                cyclic = True
            else:  # an atom, or a member of a component already closed
                below = max(below, height.get(id(item), 0) + 1)
    depth = below + (len(members) if cyclic else 0)
    for member in members:
        height[id(member)] = depth
