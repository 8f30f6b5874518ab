"""The bounded sample of a log's points: its envelope, its bound, block and row agree."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from stepsched_cli.runlog.sample import LogSample


def test_each_bucket_keeps_its_lowest_and_highest_lr() -> None:
    sample = LogSample(budget=2)
    for step, lr in [(0, 0.5), (1, 0.1), (2, 0.1), (3, 0.9), (9, 0.3)]:
        sample.add(step, lr)
    # Step 9 needs width 4 (9 // 4 = 2 < 4 buckets): buckets 0-3 and 8-11.
    assert sample.width == 4
    assert sample.points() == ((1, 0.1), (3, 0.9), (9, 0.3))


def test_a_long_log_is_bounded() -> None:
    sample = LogSample(budget=100)
    for step in range(10**5):
        sample.add(step, 0.1 if step % 7 else 0.05)
    points = sample.points()
    assert len(points) <= 4 * 100
    assert {lr for _, lr in points} == {0.1, 0.05}
    assert sample.width == 512


@settings(max_examples=80, deadline=None)
@given(
    points=st.lists(
        st.tuples(st.integers(0, 10**6), st.sampled_from([0.1, 0.01, 0.001, 0.05])),
        min_size=1,
        max_size=300,
    ),
    block=st.integers(1, 64),
    budget=st.integers(1, 20),
)
def test_blocks_and_rows_keep_the_same_points(
    points: list[tuple[int, float]], block: int, budget: int
) -> None:
    rows, blocks = LogSample(budget), LogSample(budget)
    for step, lr in points:
        rows.add(step, lr)
    for start in range(0, len(points), block):
        chunk = points[start : start + block]
        blocks.add_block(
            np.array([step for step, _ in chunk], dtype=np.int64),
            np.array([lr for _, lr in chunk], dtype=np.float64),
        )
    assert blocks.points() == rows.points()
    assert blocks.width == rows.width
    largest = max(step for step, _ in points)
    assert largest // rows.width < 2 * budget
