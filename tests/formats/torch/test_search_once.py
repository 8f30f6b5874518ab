"""Issue 12 item 4: the checkpoint search scans a shared list once, not once per holder."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from stepsched_cli.formats.torch.search import (
    find_optimizer_param_groups,
    find_scheduler_states,
)


class CountingList(list[object]):
    """A list that counts how often it is iterated."""

    iterations = 0

    def __iter__(self) -> Iterator[object]:
        CountingList.iterations += 1
        return super().__iter__()


@pytest.mark.parametrize("holders", [1, 2, 200])
def test_a_base_lrs_list_shared_by_many_dicts_is_scanned_once(holders: int) -> None:
    shared = CountingList([0.1] * 1000 + ["not a number"])
    checkpoint = [{"last_epoch": 3, "base_lrs": shared, "gamma": 0.5} for _ in range(holders)]
    CountingList.iterations = 0
    assert find_scheduler_states(checkpoint) == []
    # Once to test it as base_lrs, once more as a container the search walks into.
    assert CountingList.iterations == 2


@pytest.mark.parametrize("holders", [1, 2, 200])
def test_a_param_groups_list_shared_by_many_optimizers_is_scanned_once(holders: int) -> None:
    group = {"lr": 0.1, "params": []}
    shared = CountingList([group] * 1000 + [{"lr": 0.1}])
    checkpoint = {"optimizers": [{"state": {}, "param_groups": shared} for _ in range(holders)]}
    CountingList.iterations = 0
    assert find_optimizer_param_groups(checkpoint) == []
    assert CountingList.iterations == 2


def test_shared_lists_that_match_are_found_in_every_holder() -> None:
    shared = [0.1, 0.2]
    checkpoint = {"a": {"last_epoch": 3, "base_lrs": shared, "gamma": 0.5},
                  "b": {"last_epoch": 4, "base_lrs": shared, "step_size": 2}}  # fmt: skip
    found = find_scheduler_states(checkpoint)
    assert [(hit.path, hit.state["last_epoch"]) for hit in found] == [(("a",), 3), (("b",), 4)]
