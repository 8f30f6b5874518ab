"""Tests for stepsched_cli.describe: bounded descriptions of any value."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from stepsched_cli.describe import DESCRIBE_WIDTH, describe


@pytest.mark.parametrize(
    ("value", "width", "expected"),
    [
        (None, 60, "None"),
        (0.1, 60, "0.1"),
        ((1,), 60, "(1,)"),
        (frozenset({3}), 60, "frozenset({3})"),
        (set(), 60, "set()"),
        ({5}, 60, "{5}"),
        ({"a": [1, (2, 3)]}, 60, "{'a': [1, (2, 3)]}"),
        ("x" * 100, 10, "'xxxxxxxxx... (str of 100 characters)"),
        (b"\x00" * 50, 8, "b'\\x00\\x... (bytes of 50 bytes)"),
        (list(range(1000)), 12, "[0, 1, 2, 3,... (list of 1000 items)"),
        (2**256 - 1, 100, str(2**256 - 1)),
        (2**256, 60, "<int of 257 bits>"),
        (-(10**5000), 60, "<int of 16610 bits>"),
        (object(), 60, "<object>"),
    ],
    ids=lambda case: type(case).__name__,
)
def test_describe_shows_small_values_whole_and_cuts_large_ones(
    value: object, width: int, expected: str
) -> None:
    assert describe(value, width) == expected


def shared_dag(depth: int) -> list[Any]:
    """A list whose repr doubles with each level: 2**depth leaves, depth + 1 objects."""
    node: list[Any] = []
    for _ in range(depth):
        node = [node, node]
    return node


def deep_chain(depth: int) -> list[Any]:
    node: list[Any] = []
    for _ in range(depth):
        node = [node]
    return node


@pytest.mark.parametrize(
    ("value", "summary"),
    [
        (shared_dag(60), "(list of 2 items)"),
        (deep_chain(100_000), "(list of 1 items)"),
    ],
)
def test_values_whose_repr_cannot_be_built_are_described_in_bounded_work(
    value: object, summary: str
) -> None:
    text = describe(value)
    assert text.startswith("[[[[")
    assert text.endswith(f"... {summary}")
    assert len(text) == DESCRIBE_WIDTH + len(f"... {summary}")


def test_a_cycle_is_described_up_to_the_width() -> None:
    cyclic: list[Any] = [1]
    cyclic.append(cyclic)
    assert describe(cyclic, 20) == "[1, [1, [1, [1, [1, ... (list of 2 items)"


plain = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**256) + 1, 2**256 - 1)
    | st.floats()
    | st.text()
    | st.binary(),
    lambda children: (
        st.lists(children, max_size=4)
        | st.tuples(children, children)
        | st.dictionaries(st.text(max_size=4), children, max_size=4)
        | st.frozensets(st.integers(), max_size=3)
    ),
    max_leaves=30,
)


@given(value=plain, width=st.integers(min_value=1, max_value=120))
def test_describe_is_the_repr_when_it_fits_and_a_bounded_cut_when_not(
    value: object, width: int
) -> None:
    full = repr(value)
    text = describe(value, width)
    if len(full) <= width:
        assert text == full
    else:
        shown, summary = text.split("... (", 1)
        assert len(shown) == width
        assert summary.startswith(type(value).__name__)
        assert "\n" not in text
