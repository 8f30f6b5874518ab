"""Solving for a schedule: the issue's example, the definition of "by step T", refusals."""

from __future__ import annotations

import math
import re
from typing import Any

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from stepsched_cli.errors import StepschedError
from stepsched_cli.schedule import StepSchedule
from stepsched_cli.solve import SOLVE_TOLERANCE, Solution, SolveError, Stage, solve


def test_the_run_is_split_into_equal_stages() -> None:
    """The classic recipe: 90 epochs, 2 decays: three stages of 30, decays at 30 and 60."""
    solution = solve(0.1, 0.001, 90, decays=2)
    assert solution == Solution(30, 0.1, 2, 0.001, 0.1, 90)
    assert solution.stages == (Stage(0, 30, 0.1), Stage(30, 30, 0.01), Stage(60, 30, 0.001))
    assert solution.to_dict() == {
        "step_size": 30,
        "gamma": 0.1,
        "decays": 2,
        "final_lr": 0.001,
        "reached_at": 60,
        "total": 90,
        "milestones": None,
        "stages": [
            {"start": 0, "length": 30, "lr": 0.1},
            {"start": 30, "length": 30, "lr": 0.01},
            {"start": 60, "length": 30, "lr": 0.001},
        ],
    }
    assert list(solution.schedule.boundaries(0, 90)) == [30, 60]


def test_an_uneven_split_gives_milestones_and_a_longer_last_stage() -> None:
    """91 positions in 3 stages: step size 30 would decay a third time at 90, inside."""
    solution = solve(0.1, 0.001, 91, decays=2)
    assert (solution.step_size, solution.milestones) == (30, (30, 60))
    assert [stage.length for stage in solution.stages] == [30, 30, 31]
    assert solution.schedule == StepSchedule(0.1, milestones=(30, 60))
    assert solution.to_dict()["milestones"] == [30, 60]
    ninety = solve(0.1, 0.0001, 90, decays=3)
    assert ninety.milestones == (22, 44, 66)
    assert [stage.length for stage in ninety.stages] == [22, 22, 22, 24]
    assert [stage.lr for stage in ninety.stages] == [0.1, 0.01, 0.001, 0.0001]


@pytest.mark.parametrize(
    ("arguments", "given", "expected"),
    [
        ((0.1, 0.0001, 120), {"decays": 3}, (30, 0.1, 3, 0.0001)),
        ((0.1, 0.0001, 90), {"decays": 3}, (22, 0.1, 3, 0.0001)),
        ((0.1, 0.0001, 90), {"gamma": 0.1}, (22, 0.1, 3, 0.0001)),
        ((0.1, 0.001, 90), {"decays": 2}, (30, 0.1, 2, 0.001)),
        ((0.1, 0.001, 90), {"step_size": 30}, (30, 0.1, 2, 0.001)),
        ((0.1, 0.0001, 91), {"step_size": 30}, (30, 0.1, 3, 0.0001)),
        ((0.1, 0.0001, 120), {"gamma": 0.1}, (30, 0.1, 3, 0.0001)),
        ((0.1, 0.0001, 101), {"decays": 3}, (25, 0.1, 3, 0.0001)),
        ((0.1, 0.0001, 120), {"step_size": 30}, (30, 0.1, 3, 0.0001)),
        ((0.1, 0.001, 91), {"decays": 2}, (30, 0.1, 2, 0.001)),
        ((1.0, 0.125, 4), {"decays": 3}, (1, 0.5, 3, 0.125)),
        ((1.0, 0.125, 4), {"step_size": 1}, (1, 0.5, 3, 0.125)),
        ((1.0, 0.125, 4), {"gamma": 0.5}, (1, 0.5, 3, 0.125)),
        ((0.1, 1e-05, 101), {"step_size": 25}, (25, 0.1, 4, 1e-05)),
        ((0.05, 0.00005, 1001), {"step_size": 300}, (300, 0.1, 3, 0.00005)),
        ((0.1, 0.0001, 91), {"decays": 1}, (45, 0.001, 1, 0.0001)),
        ((1.0, 0.5, 2**64), {"decays": 1}, (2**63, 0.5, 1, 0.5)),
    ],
)
def test_table(
    arguments: tuple[float, float, int],
    given: dict[str, Any],
    expected: tuple[int, float, int, float],
) -> None:
    solution = solve(*arguments, **given)
    assert (solution.step_size, solution.gamma, solution.decays, solution.final_lr) == expected


def test_odd_ratio_is_reached_within_rounding() -> None:
    solution = solve(3e-4, 1e-6, 1000, decays=7)
    assert (solution.step_size, solution.gamma) == (125, 0.4427163232856526)
    assert solution.final_lr == pytest.approx(1e-6, rel=1e-15)


@pytest.mark.parametrize(
    ("arguments", "options", "message"),
    [
        (
            (0.1, 0.1, 90),
            {"decays": 3},
            "final_lr must be below lr (0.1) for a decaying schedule, got 0.1",
        ),
        ((0.1, 0.2, 90), {"decays": 3}, "final_lr must be below lr (0.1)"),
        ((0.0, 0.2, 90), {"decays": 3}, "lr must be a finite number > 0, got 0.0"),
        ((math.inf, 0.2, 90), {"decays": 3}, "lr must be a finite number > 0, got inf"),
        ((0.1, -1e-3, 90), {"decays": 3}, "final_lr must be a finite number > 0, got -0.001"),
        ((0.1, "0.01", 90), {"decays": 3}, "final_lr must be a finite number > 0, got '0.01'"),
        ((0.1, 0.01, 1), {"decays": 3}, "total must be an integer >= 2, got 1"),
        ((0.1, 0.01, 9.0), {"decays": 3}, "total must be an integer >= 2, got 9.0"),
        ((0.1, 0.01, 90), {}, "give exactly one of decays, step_size, gamma (got none)"),
        (
            (0.1, 0.01, 90),
            {"decays": 3, "gamma": 0.1},
            "give exactly one of decays, step_size, gamma (got decays=3, gamma=0.1)",
        ),
        ((0.1, 0.01, 90), {"decays": 0}, "decays must be an integer >= 1, got 0"),
        ((0.1, 0.01, 90), {"decays": True}, "decays must be an integer >= 1, got True"),
        ((0.1, 0.01, 10), {"decays": 10}, "decays must be at most total - 1 (9): one decay"),
        ((0.1, 0.01, 90), {"step_size": 0}, "step_size must be an integer >= 1, got 0"),
        (
            (1.0, 0.5, 10**7 + 1),
            {"decays": 10**4 + 1},
            "a run of 10000001 positions is not a multiple of 10002 equal stages, and 10001 "
            "decays are too many to list as milestones (at most 10000): give a total that is "
            "a multiple of 10002, such as 9991998",
        ),
        (
            (0.1, 0.01, 90),
            {"step_size": 90},
            "step_size must be at most total - 1 (89) so that a decay happens inside the run "
            "(positions 0-89), got 90",
        ),
        ((0.1, 0.01, 90), {"gamma": 1.0}, "gamma must be a number with 0 < gamma < 1, got 1.0"),
        ((0.1, 0.01, 90), {"gamma": 0}, "gamma must be a number with 0 < gamma < 1, got 0"),
        (
            (0.1, 0.0001, 90),
            {"gamma": 0.5},
            "gamma 0.5 takes 0.1 to 0.0001 after 9.966 decays, not a whole number: 9 decays "
            "give 0.0001953125 and 10 give 9.765625e-05",
        ),
        (
            (0.1, 0.1 * 0.5**20, 20),
            {"gamma": 0.5},
            "gamma 0.5 needs 20 decays to reach 9.5367431640625e-08, more than a run of 20 "
            "positions holds (19)",
        ),
        (
            (1.0, 0.5, 2**63 + 1),
            {"step_size": 1},
            "9223372036854775808 decays from a ratio of 0.5 need a gamma so close to 1 that "
            "it rounds to 1.0; ask for fewer decays",
        ),
    ],
)
def test_impossible_requests_are_refused(
    arguments: tuple[Any, Any, Any], options: dict[str, Any], message: str
) -> None:
    with pytest.raises(SolveError, match=re.escape(message)) as raised:
        solve(*arguments, **options)
    assert isinstance(raised.value, StepschedError)
    assert isinstance(raised.value, ValueError)


lrs = st.sampled_from([1.0, 0.1, 0.5, 3e-4, 0.05, 2.5e-5, 0.7])
ratios = st.floats(min_value=1e-12, max_value=0.999, allow_nan=False)


@settings(max_examples=200, deadline=None)
@given(lr=lrs, ratio=ratios, decays=st.integers(1, 2000), extra=st.integers(0, 10**6))
def test_property_decays_answer_feeds_back(
    lr: float, ratio: float, decays: int, extra: int
) -> None:
    final_lr = lr * ratio
    assume(0 < final_lr < lr)
    total = decays * (1 + extra % 1000) + extra % (1 + extra % 1000)
    try:
        solution = solve(lr, final_lr, total + 1, decays=decays)
    except SolveError as error:
        assert "rounds to 1.0" in str(error) or "too many to list" in str(error)
        return
    schedule = solution.schedule
    lengths = [stage.length for stage in solution.stages]
    # decays + 1 stages covering the run, all as long as the first but the last,
    # which takes the remainder (fewer positions than there are stages).
    assert len(lengths) == decays + 1
    assert sum(lengths) == total + 1
    assert set(lengths[:-1]) == {solution.step_size} == {(total + 1) // (decays + 1)}
    assert 0 <= lengths[-1] - solution.step_size <= decays
    assert (solution.milestones is None) == (lengths[-1] == solution.step_size)
    assert schedule.decays_at(total) == decays
    assert solution.reached_at <= total
    assert solution.final_lr == schedule.lr_at(total)
    assert solution.final_lr == pytest.approx(final_lr, rel=decays * 3e-16 + 1e-15)


@settings(max_examples=200, deadline=None)
@given(lr=lrs, ratio=ratios, step_size=st.integers(1, 500), total=st.integers(1, 10**5))
def test_property_step_size_answer_feeds_back(
    lr: float, ratio: float, step_size: int, total: int
) -> None:
    final_lr = lr * ratio
    assume(0 < final_lr < lr and step_size <= total and total // step_size <= 5000)
    solution = solve(lr, final_lr, total + 1, step_size=step_size)
    assert solution.step_size == step_size
    assert solution.decays == total // step_size
    assert solution.schedule.lr_at(total) == solution.final_lr
    assert solution.final_lr == pytest.approx(final_lr, rel=solution.decays * 3e-16 + 1e-15)


@settings(max_examples=200, deadline=None)
@given(
    lr=lrs,
    gamma=st.sampled_from([0.1, 0.5, 0.9, 0.3333, 0.97]),
    decays=st.integers(1, 60),
    step_size=st.integers(1, 1000),
)
def test_property_gamma_answer_feeds_back(
    lr: float, gamma: float, decays: int, step_size: int
) -> None:
    final_lr = StepSchedule(lr, gamma=gamma).lr_after_decays(decays)
    total = decays * step_size
    solution = solve(lr, final_lr, total + 1, gamma=gamma)
    assert (solution.decays, solution.gamma) == (decays, gamma)
    assert solution.schedule.decays_at(total) == decays
    assert solution.final_lr == final_lr


def test_gamma_too_coarse_for_the_decay_count_is_refused() -> None:
    with pytest.raises(SolveError) as raised:
        solve(1.0, 0.25, 2**63 + 1, step_size=500)
    assert str(raised.value) == (
        "gamma 0.9999999999999999 cannot be represented precisely enough for "
        "18446744073709551 decays: its rounding compounds to lr 0.15807678114641743 at "
        "position 9223372036854775808, not 0.25 (relative error 0.37, more than 1e-06); "
        "ask for fewer decays"
    )


@settings(max_examples=300, deadline=None)
@given(
    lr=lrs,
    ratio=ratios,
    total=st.integers(1, 2**70),
    way=st.sampled_from(["decays", "step_size"]),
    divisor=st.integers(1, 2**70),
)
def test_property_answer_is_within_tolerance_or_refused(
    lr: float, ratio: float, total: int, way: str, divisor: int
) -> None:
    """The contract: solve() raises SolveError, or its schedule reaches final_lr at total
    within SOLVE_TOLERANCE, at any scale (huge totals included)."""
    final_lr = lr * ratio
    assume(0 < final_lr < lr)
    choice = {way: 1 + divisor % total}
    try:
        solution = solve(lr, final_lr, total + 1, **choice)
    except SolveError:
        return
    reached = solution.schedule.lr_at(total)
    assert reached == solution.final_lr
    assert abs(reached - final_lr) <= SOLVE_TOLERANCE * final_lr
