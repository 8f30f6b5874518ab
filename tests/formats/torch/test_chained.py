"""Chains of step factors and torch's ChainedScheduler, against what torch applied.

The trajectories are those torch 2.13 applied in ``make_real_torch_schedulers.py``
(``tests/data/real/torch_schedulers/manifest.json``): the lr of the first group at every
position 0..30, and ``get_last_lr()`` at the saved one.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from stepsched_cli.errors import StateError
from stepsched_cli.formats.torch import chained as torch_chained
from stepsched_cli.formats.torch import container as torch_container
from stepsched_cli.formats.torch import search
from stepsched_cli.formats.torch.choice import read_found_states
from stepsched_cli.formats.torch.factors import Factor, chain_lrs
from stepsched_cli.formats.torch.scheduler_states import parse_scheduler
from stepsched_cli.schedule import StepSchedule
from stepsched_cli.validate import lrs_agree

REAL = Path(__file__).resolve().parents[2] / "data" / "real" / "torch_schedulers"
MANIFEST: dict[str, dict[str, Any]] = json.loads((REAL / "manifest.json").read_text())["files"]
READ = ["step_multistep_27", "step_multistep_12", "linear_multistep_groups", "constant_step_warmup"]


def chain(name: str) -> Any:
    return torch_container.load_checkpoint(str(REAL / "chained" / f"{name}.pt"))["lr_scheduler"]


@pytest.mark.parametrize("name", READ)
def test_a_chain_gives_the_lrs_torch_applied_at_every_position(name: str) -> None:
    reported = MANIFEST[f"chained/{name}.pt"]["reported"]
    state = torch_chained.parse(chain(name))
    assert state.last_epoch == reported["position"]
    assert list(state.kinds) == reported["members"]
    assert all(map(lrs_agree, state.lrs, reported["get_last_lr"]))
    assert state.torch_lrs == tuple(reported["get_last_lr"])
    applied = reported["lrs_by_position"]
    assert all(lrs_agree(state.lrs_at(t)[0], lr) for t, lr in enumerate(applied))


@pytest.mark.parametrize("name", READ)
def test_the_lr_changes_exactly_where_a_chain_says(name: str) -> None:
    applied = MANIFEST[f"chained/{name}.pt"]["reported"]["lrs_by_position"]
    state = torch_chained.parse(chain(name))
    changes = {t for t in range(1, len(applied)) if applied[t] != applied[t - 1]}
    listed: set[int] = set()
    following = state.next_change(0)
    while following is not None and following < len(applied):
        listed.add(following)
        following = state.next_change(following)
    assert listed == changes


def test_the_wrong_answer_of_one_member_is_gone() -> None:
    # Before: --key lr_scheduler._schedulers[0] showed StepLR alone, next decay 20 at 0.025.
    state = torch_chained.parse(chain("step_multistep_12"))
    applied = MANIFEST["chained/step_multistep_12.pt"]["reported"]["lrs_by_position"]
    assert state.next_change(12) == 15
    assert lrs_agree(state.lrs_at(15)[0], applied[15])
    assert applied[15] == 0.005000000000000001


@pytest.mark.parametrize(
    ("name", "message"),
    [
        (
            "cosine_step",
            "a ChainedScheduler whose member _schedulers[0] is a CosineAnnealingLR, not a step "
            "decay or a warmup; stepsched reads a ChainedScheduler of StepLR, MultiStepLR, "
            "ConstantLR and LinearLR",
        ),
        (
            "sequential_inside",
            "a ChainedScheduler whose member _schedulers[0] is a SequentialLR (a scheduler nested "
            "in the chain), not a step decay or a warmup; stepsched reads a ChainedScheduler of "
            "StepLR, MultiStepLR, ConstantLR and LinearLR",
        ),
    ],
)
def test_a_chain_of_other_members_is_refused_naming_them(name: str, message: str) -> None:
    with pytest.raises(StateError) as raised:
        torch_chained.parse(chain(name))
    assert str(raised.value) == message


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            {"_last_lr": [0.1]},
            "field '_last_lr[0]' is 0.1 but ChainedScheduler([StepLR(step_size=10, gamma=0.5), "
            "MultiStepLR(milestones=[15, 25], gamma=0.1)]), base_lrs 0.1 gives 0.00025 at "
            "last_epoch 27: the state is inconsistent",
        ),
        ({"_schedulers": []}, "a ChainedScheduler with no members"),
    ],
)
def test_an_inconsistent_chain_is_refused(change: dict[str, Any], message: str) -> None:
    with pytest.raises(StateError) as raised:
        torch_chained.parse({**chain("step_multistep_27"), **change})
    assert str(raised.value) == message


def test_members_at_different_positions_are_refused() -> None:
    document = chain("step_multistep_27")
    document["_schedulers"][1]["last_epoch"] = 26
    with pytest.raises(StateError, match="disagree on last_epoch \\(27, 26\\)"):
        torch_chained.parse(document)


FACTORS = st.one_of(
    st.builds(
        lambda size, gamma: Factor("StepLR", gamma=gamma, step_size=size),
        st.integers(1, 12),
        st.sampled_from([0.1, 0.5, 0.9]),
    ),
    st.builds(
        lambda ms: Factor("MultiStepLR", gamma=0.5, milestones=tuple((m, 1) for m in sorted(ms))),
        st.sets(st.integers(0, 40), min_size=1, max_size=4),
    ),
    st.builds(
        lambda f, n: Factor("ConstantLR", start=f, total_iters=n),
        st.sampled_from([0.25, 0.5, 1.0]),
        st.integers(0, 8),
    ),
    st.builds(
        lambda f, e, n: Factor("LinearLR", start=f, end=e, total_iters=n),
        st.sampled_from([0.1, 0.5, 1.0]),
        st.sampled_from([0.5, 1.0]),
        st.integers(1, 8),
    ),
)


def value(factor: Factor, s: int) -> tuple[int, float]:
    return factor.decays(s), factor.warmup(s)


@given(FACTORS, st.integers(-1, 40))
def test_a_factor_holds_until_its_next_change_and_changes_there(factor: Factor, s: int) -> None:
    following = factor.next_change(s)
    horizon = 60 if following is None else following
    assert all(value(factor, t) == value(factor, s) for t in range(s, horizon))
    if following is not None:
        assert value(factor, following) != value(factor, s)


@given(st.floats(1e-6, 10.0), st.integers(1, 50), st.sampled_from([0.1, 0.5]), st.integers(0, 400))
def test_a_lone_steplr_factor_is_the_step_schedule(
    lr: float, size: int, gamma: float, t: int
) -> None:
    factor = Factor("StepLR", gamma=gamma, step_size=size)
    assert chain_lrs((lr,), [(factor, t)]) == (StepSchedule(lr, size, gamma).lr_at(t),)


def test_a_chain_nested_in_a_sequentiallr_is_never_read_alone() -> None:
    member = {"step_size": 10, "gamma": 0.5, "base_lrs": [0.1], "last_epoch": 2}
    chain_state = {"_last_lr": [0.1], "_schedulers": [member, dict(member)]}
    warmup = {"start_factor": 0.5, "end_factor": 1.0, "total_iters": 5, "base_lrs": [0.1]}
    outer = {
        "_milestones": [5],
        "last_epoch": 7,
        "_schedulers": [{**warmup, "last_epoch": 4}, chain_state],
    }
    found = search.find_scheduler_states({"lr_scheduler": outer})
    assert [(hit.path, hit.kind, hit.last_epoch) for hit in found] == [
        (("lr_scheduler",), "SequentialLR", 7)
    ]
    with pytest.raises(StateError, match="its second scheduler: not a step-decay scheduler"):
        parse_scheduler(found[0])


@pytest.mark.parametrize("name", READ)
def test_the_search_records_a_chain_whole_and_the_choice_reads_it(name: str) -> None:
    reported = MANIFEST[f"chained/{name}.pt"]["reported"]
    checkpoint = torch_container.load_checkpoint(str(REAL / "chained" / f"{name}.pt"))
    found = search.find_schedulers(checkpoint)
    assert [(hit.key, hit.kind, hit.last_epoch) for hit in found.states] == [
        ("lr_scheduler", "ChainedScheduler", reported["position"])
    ]
    reading = read_found_states(found, "c.pt")
    assert isinstance(reading.state, torch_chained.ChainedState)
    assert (reading.key, reading.optimizer_key, reading.mismatches) == (
        "lr_scheduler",
        "optimizer",
        (),
    )
    assert all(map(lrs_agree, reading.state.lrs, reported["get_last_lr"]))


def test_an_optimizer_saved_elsewhere_disagrees_with_the_whole_chain() -> None:
    checkpoint = torch_container.load_checkpoint(str(REAL / "chained" / "step_multistep_27.pt"))
    checkpoint["optimizer"]["param_groups"][0]["lr"] = 0.025  # the StepLR member's lr alone
    reading = read_found_states(search.find_schedulers(checkpoint), "c.pt")
    assert reading.mismatches == (
        "the optimizer at optimizer disagrees with the scheduler at lr_scheduler "
        "(last_epoch 27): param_groups[0] lr is 0.025 but the scheduler gives 0.00025",
    )
