"""Tests for stepsched_cli.formats.sandbox.nesting: depth measured once per object."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from stepsched_cli.formats.checkpoint_errors import CheckpointError
from stepsched_cli.formats.sandbox.nesting import check_nesting


def reference_depth(node: object, memo: dict[int, int]) -> int:
    """Levels of lists below ``node`` (an acyclic graph), by plain memoized recursion."""
    if not isinstance(node, list):
        return 0
    if id(node) not in memo:
        memo[id(node)] = 1 + max((reference_depth(item, memo) for item in node), default=-1)
    return memo[id(node)]


@st.composite
def list_dags(draw: st.DrawFn) -> list[Any]:
    """Lists whose items are earlier lists or ints: shared, never cyclic."""
    nodes: list[list[Any]] = []
    for _ in range(draw(st.integers(min_value=1, max_value=30))):
        picks = draw(st.lists(st.integers(min_value=-1, max_value=len(nodes) - 1), max_size=4))
        nodes.append([nodes[pick] if pick >= 0 else 7 for pick in picks])
    return nodes[-1]


@given(root=list_dags(), limit=st.integers(min_value=0, max_value=12))
def test_nesting_is_refused_exactly_when_the_longest_chain_is_over_the_limit(
    root: list[Any], limit: int
) -> None:
    depth = reference_depth(root, {})
    if depth > limit:
        with pytest.raises(CheckpointError, match=f"nest deeper than {limit} levels"):
            check_nesting(root, "dag.pt", limit)
    else:
        check_nesting(root, "dag.pt", limit)


def test_a_cycle_counts_as_deep_as_its_members() -> None:
    first: list[Any] = []
    second: list[Any] = [first]
    first.append(second)
    check_nesting([first], "cycle.pt", 3)  # 1 + a 2-member cycle
    with pytest.raises(CheckpointError):
        check_nesting([[first]], "cycle.pt", 3)


def test_a_shared_dag_of_depth_60_is_measured_without_expanding_it() -> None:
    node: list[Any] = []
    for _ in range(60):
        node = [node, node]
    check_nesting(node, "dag.pt", 60)
    with pytest.raises(CheckpointError):
        check_nesting(node, "dag.pt", 59)


def test_slices_and_records_are_looked_into() -> None:
    class Record:
        def __init__(self, held: object) -> None:
            self.held = held

    deep: list[Any] = []
    for _ in range(5):
        deep = [deep]
    check_nesting(slice(0, deep, None), "slice.pt", 6)
    with pytest.raises(CheckpointError):
        check_nesting(slice(0, deep, None), "slice.pt", 5)
    with pytest.raises(CheckpointError):
        check_nesting(Record(deep), "record.pt", 5)
