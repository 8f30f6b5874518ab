"""SPEC overrides and schedule differences: exact tables, refusals, a brute-force property."""

from __future__ import annotations

import math
import re
from itertools import islice

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from stepsched_cli.compare import (
    CompareError,
    Difference,
    apply_spec,
    diff,
    parse_spec,
    ratio_of,
)
from stepsched_cli.errors import StepschedError
from stepsched_cli.schedule import StepSchedule

BASE = StepSchedule(0.1, step_size=30, gamma=0.1)


@pytest.mark.parametrize(
    ("spec", "overrides"),
    [
        ("gamma=0.5,step_size=10", {"gamma": 0.5, "step_size": 10}),
        ("lr=0.05", {"initial_lr": 0.05}),
        ("initial_lr=5e-2", {"initial_lr": 0.05}),
        ("milestones=30;80", {"milestones": (30, 80)}),
        ("milestones=30:80:120", {"milestones": (30, 80, 120)}),
        ("milestones=45", {"milestones": (45,)}),
        # As --milestones takes them: the bare integers continue the list.
        ("milestones=30,80", {"milestones": (30, 80)}),
        ("milestones=30,80,120,gamma=0.5", {"milestones": (30, 80, 120), "gamma": 0.5}),
        ("gamma=0.5,milestones=30, 80", {"gamma": 0.5, "milestones": (30, 80)}),
        ("Milestones=30,80,lr=0.05", {"milestones": (30, 80), "initial_lr": 0.05}),
        (" Step-Size = 7 , GAMMA=0.9 ", {"step_size": 7, "gamma": 0.9}),
        ("warmup_steps=5,warmup-start-lr=0.01", {"warmup_steps": 5, "warmup_start_lr": 0.01}),
        ("min_lr=1e-4,mode=EPOCH", {"min_lr": 1e-4, "mode": "epoch"}),
    ],
)
def test_parse_spec(spec: str, overrides: dict[str, object]) -> None:
    assert parse_spec(spec) == overrides


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("", "SPEC must be key=value overrides such as gamma=0.5, got ''"),
        ("   ", "SPEC must be key=value overrides such as gamma=0.5, got '   '"),
        ("gamma=0.5,", "SPEC 'gamma=0.5,': has an empty item; separate overrides with ','"),
        ("gamma", "SPEC 'gamma': item 'gamma' is not key=value"),
        (
            "beta=0.5",
            "SPEC 'beta=0.5': unknown key 'beta'; accepted keys: lr, initial_lr, step_size, "
            "gamma, milestones, warmup_steps, warmup_start_lr, min_lr, mode",
        ),
        ("lr=0.1,initial_lr=0.2", "SPEC 'lr=0.1,initial_lr=0.2': key 'initial_lr' is given twice"),
        ("gamma=0.5,gamma=0.6", "key 'gamma' is given twice"),
        ("gamma=half", "SPEC 'gamma=half': gamma must be a finite number, got 'half'"),
        ("lr=nan", "SPEC 'lr=nan': lr must be a finite number, got 'nan'"),
        ("lr=", "SPEC 'lr=': lr must be a finite number, got ''"),
        ("step_size=2.5", "SPEC 'step_size=2.5': step_size must be an integer, got '2.5'"),
        ("step_size=-3", "step_size must be an integer, got '-3'"),
        # Only milestones take a list: a bare integer after another key is an error.
        ("gamma=0.5,80", "SPEC 'gamma=0.5,80': item '80' is not key=value"),
        ("milestones=30,x", "SPEC 'milestones=30,x': item 'x' is not key=value"),
        ("milestones=30,,80", "SPEC 'milestones=30,,80': has an empty item"),
        (
            "milestones=30;x",
            "SPEC 'milestones=30;x': milestones must be integers separated by ',', ':' or ';', "
            "got 'x'",
        ),
        ("mode=batch", "SPEC 'mode=batch': mode must be 'step' or 'epoch', got 'batch'"),
    ],
)
def test_bad_specs(spec: str, message: str) -> None:
    with pytest.raises(CompareError, match=re.escape(message)) as raised:
        parse_spec(spec)
    assert isinstance(raised.value, StepschedError)
    assert isinstance(raised.value, ValueError)


def test_apply_spec() -> None:
    assert apply_spec(BASE, "gamma=0.5,step_size=10") == StepSchedule(0.1, step_size=10, gamma=0.5)
    assert apply_spec(BASE, "milestones=30:80") == StepSchedule(0.1, milestones=(30, 80))
    milestoned = StepSchedule(0.1, milestones=(30, 80))
    assert apply_spec(milestoned, "step_size=20") == StepSchedule(0.1, step_size=20)
    assert apply_spec(milestoned, "lr=0.05").milestones == (30, 80)


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("gamma=1.5", "SPEC 'gamma=1.5': gamma must be a number with 0 < gamma < 1, got 1.5"),
        ("step_size=0", "SPEC 'step_size=0': step_size must be an integer >= 1, got 0"),
        ("milestones=80:30", "SPEC 'milestones=80:30': milestones must be strictly increasing"),
        ("lr=0", "SPEC 'lr=0': initial_lr must be a finite number > 0, got 0.0"),
    ],
)
def test_apply_spec_reports_invalid_schedules(spec: str, message: str) -> None:
    with pytest.raises(CompareError, match=re.escape(message)):
        apply_spec(BASE, spec)


@pytest.mark.parametrize(
    ("spec", "total", "expected"),
    [
        ("lr=0.1", 200, []),
        (
            "lr=0.05",
            90,
            [
                Difference(0, 29, 0.1, 0.05, 0.5, 0.1, 0.05),
                Difference(30, 59, 0.01, 0.005, 0.5, 0.01, 0.005),
                Difference(60, 89, 0.001, 0.0005, 0.5, 0.001, 0.0005),
            ],
        ),
        (
            "milestones=30:80",
            120,
            [
                Difference(60, 79, 0.001, 0.01, 10.0, 0.001, 0.01),
                Difference(90, 119, 0.0001, 0.001, 10.0, 0.0001, 0.001),
            ],
        ),
        (
            "step_size=31",
            100,
            [
                Difference(30, 30, 0.01, 0.1, 10.0, 0.01, 0.1),
                Difference(60, 61, 0.001, 0.01, 10.0, 0.001, 0.01),
                Difference(90, 92, 0.0001, 0.001, 10.0, 0.0001, 0.001),
            ],
        ),
        ("min_lr=0.001", 90, []),
        ("min_lr=0.001", 95, [Difference(90, 94, 0.0001, 0.001, 10.0, 0.0001, 0.001)]),
        (
            "warmup_steps=4,warmup_start_lr=0.02",
            34,
            [Difference(0, 3, 0.1, 0.02, 0.2, 0.1, 0.08)],
        ),
        (
            "warmup_steps=4,warmup_start_lr=0.02",
            70,
            [Difference(0, 3, 0.1, 0.02, 0.2, 0.1, 0.08)],
        ),
    ],
)
def test_diff_table(spec: str, total: int, expected: list[Difference]) -> None:
    assert list(diff(BASE, apply_spec(BASE, spec), total=total)) == expected


def test_diff_without_total_ends_open() -> None:
    floored = StepSchedule(0.1, step_size=30, gamma=0.1, min_lr=0.001)
    other = floored.replace(min_lr=0.0001)
    assert list(diff(floored, other)) == [Difference(90, None, 0.001, 0.0001, 0.1, 0.001, 0.0001)]
    assert list(diff(floored, floored)) == []


def test_diff_ratio_against_an_underflowed_lr() -> None:
    tiny = StepSchedule(1e-300, step_size=1, gamma=1e-10)
    other = tiny.replace(gamma=1e-5)
    parts = list(diff(tiny, other, total=4))
    assert parts[-1].lr_a == 0.0
    assert parts[-1].ratio == math.inf


def test_diff_cost_grows_with_boundaries_not_horizon() -> None:
    """A 10**18-position horizon: a handful of runs, found at once."""
    a = StepSchedule(0.1, step_size=10**17, gamma=0.5)
    b = a.replace(step_size=2 * 10**17)
    parts = list(diff(a, b, total=10**18))
    assert len(parts) == 9
    assert parts[0] == Difference(10**17, 2 * 10**17 - 1, 0.05, 0.1, 2.0, 0.05, 0.1)
    endless = diff(StepSchedule(0.1, step_size=1, gamma=0.999999), BASE)
    assert len(list(islice(endless, 5))) == 5


def test_diff_refuses_mixed_units_and_bad_totals() -> None:
    with pytest.raises(
        CompareError, match="cannot compare a step-mode schedule with an epoch-mode one: "
    ):
        diff(BASE, BASE.replace(mode="epoch"))
    with pytest.raises(CompareError, match="total must be an integer >= 1, got 0"):
        diff(BASE, BASE, total=0)


def last(part: Difference, total: int) -> int:
    return total - 1 if part.end is None else part.end


schedules = st.builds(
    StepSchedule,
    initial_lr=st.sampled_from([0.1, 0.05, 1.0]),
    step_size=st.one_of(st.none(), st.integers(1, 25)),
    gamma=st.sampled_from([0.1, 0.5, 0.9]),
    warmup_steps=st.integers(0, 6),
    warmup_start_lr=st.sampled_from([0.0, 0.01]),
    min_lr=st.sampled_from([0.0, 0.001]),
)


@settings(max_examples=150, deadline=None)
@given(a=schedules, b=schedules, total=st.integers(1, 150))
def test_property_diff_covers_exactly_the_differing_positions(
    a: StepSchedule, b: StepSchedule, total: int
) -> None:
    """Brute force: the union of the runs is the set of positions whose lrs differ."""
    parts = list(diff(a, b, total=total))
    covered = {t for part in parts for t in range(part.start, last(part, total) + 1)}
    differing = {t for t in range(total) if a.lr_at(t) != b.lr_at(t)}
    assert differing <= covered
    # Positions reported but equal can only be crossings inside a warmup ramp.
    for t in covered - differing:
        assert any(part.ramp and part.start <= t <= last(part, total) for part in parts)
    for part in parts:
        assert (part.lr_a, part.lr_b) == (a.lr_at(part.start), b.lr_at(part.start))
        assert part.end is not None
        assert (part.lr_a_end, part.lr_b_end) == (a.lr_at(part.end), b.lr_at(part.end))
    starts = [part.start for part in parts]
    assert starts == sorted(starts)


@pytest.mark.parametrize(
    "spec",
    ["step_size=\u00b2", "step_size=\u0663", "warmup_steps=\uff15", "milestones=30:\u0668\u0660",
     "gamma=\u0660.5", "lr=1_0", "lr=0x1p-3", "step_size=1_0"],
)  # fmt: skip
def test_spec_numbers_are_ascii_only(spec: str) -> None:
    key = spec.partition("=")[0]
    with pytest.raises(CompareError, match=f"SPEC {re.escape(repr(spec))}: {key} must be"):
        parse_spec(spec)


@pytest.mark.parametrize(
    ("lr_a", "lr_b", "ratio"),
    [
        (0.1, 0.02, 0.2),
        (0.0, 0.1, math.inf),  # x / 0
        (1e-300, 1e300, math.inf),  # beyond the largest float
        (5e-324, 0.1, math.inf),
        (1e300, 1e-300, 0.0),
        (0.1, 0.0, 0.0),
    ],
)
def test_ratio_of(lr_a: float, lr_b: float, ratio: float) -> None:
    assert ratio_of(lr_a, lr_b) == ratio


def test_ratio_of_zero_over_zero_is_undefined() -> None:
    assert math.isnan(ratio_of(0.0, 0.0))


inf = math.inf


def test_diff_ratio_is_total() -> None:
    """Overflowing ratios are inf and 0/0 is nan: the stream never raises midway."""
    big, small = StepSchedule(1e300, step_size=1000), StepSchedule(0.1, step_size=1)
    parts = list(diff(small, big, total=400))
    assert [(part.start, part.ratio) for part in parts[6:9]] == [(6, 1e307), (7, 1e308), (8, inf)]
    assert parts[-1] == Difference(323, 399, 0.0, 1e300, inf, 0.0, 1e300)  # x / 0
    assert [part.ratio for part in diff(big, small, total=10)][6:9] == [1e-307, 1e-308, 1e-309]
    warm = StepSchedule(0.1, step_size=30, warmup_steps=5)
    (first, *_) = diff(warm, warm.replace(warmup_steps=10), total=50)
    assert (first.start, first.lr_a, first.lr_b) == (0, 0.0, 0.0)
    assert math.isnan(first.ratio)


def test_spec_warmup_start_lr_without_a_warmup_is_refused() -> None:
    with pytest.raises(CompareError) as raised:
        apply_spec(BASE, "warmup_start_lr=0.05")
    assert str(raised.value) == (
        "SPEC 'warmup_start_lr=0.05': warmup_start_lr needs warmup_steps >= 1 (in the SPEC or "
        "the base); without a warmup it is never used"
    )
    assert apply_spec(BASE.replace(warmup_steps=3), "warmup_start_lr=0.05").warmup_start_lr == 0.05
