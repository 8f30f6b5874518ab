"""Contract tests for the pure schedule: values, boundaries, validation, exactness."""

from __future__ import annotations

import math
from fractions import Fraction
from itertools import islice, pairwise

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from stepsched_cli.errors import ScheduleError
from stepsched_cli.schedule import Segment, StepSchedule, intended_value, scaled_power

SEED = StepSchedule(initial_lr=0.1, step_size=30, gamma=0.1)


def exact_decayed(lr: float, gamma: float, k: int) -> Fraction:
    return intended_value(lr) * intended_value(gamma) ** k


def ulps_apart(value: float, exact: Fraction) -> float:
    nearest = float(exact)
    return abs(Fraction(value) - exact) / Fraction(math.ulp(nearest))


# -- the seed example and the boundary contract ------------------------------


@pytest.mark.parametrize(
    ("first", "last", "lr"),
    [(0, 29, 0.1), (30, 59, 0.01), (60, 89, 0.001), (90, 119, 0.0001)],
)
def test_seed_example_schedule(first: int, last: int, lr: float) -> None:
    """The plan's example: 0-29 0.1, 30-59 0.01, 60-89 0.001, 90+ 0.0001, exactly."""
    assert {SEED.lr_at(t) for t in range(first, last + 1)} == {lr}


def test_seed_example_segments() -> None:
    assert list(SEED.segments(decays=3)) == [
        Segment(0, 29, 0.1, 0.1),
        Segment(30, 59, 0.01, 0.01),
        Segment(60, 89, 0.001, 0.001),
        Segment(90, None, 0.0001, 0.0001),
    ]


@pytest.mark.parametrize("step_size", [1, 2, 7, 30, 1000, 2**40])
def test_decay_takes_effect_at_the_boundary_not_before(step_size: int) -> None:
    """Position step_size - 1 is undecayed; position step_size carries the first decay."""
    schedule = StepSchedule(1.0, step_size=step_size, gamma=0.5)
    assert schedule.lr_at(step_size - 1) == 1.0
    assert schedule.lr_at(step_size) == 0.5
    assert schedule.lr_at(2 * step_size - 1) == 0.5
    assert schedule.lr_at(2 * step_size) == 0.25
    assert schedule.next_boundary(step_size - 1) == step_size
    assert schedule.next_boundary(step_size) == 2 * step_size


def test_milestones_decay_at_each_milestone() -> None:
    schedule = StepSchedule(0.1, milestones=(30, 80), gamma=0.1)
    values = {t: schedule.lr_at(t) for t in (0, 29, 30, 79, 80, 10**6)}
    assert values == {0: 0.1, 29: 0.1, 30: 0.01, 79: 0.01, 80: 0.001, 10**6: 0.001}
    assert schedule.boundary_count == 2
    assert list(schedule.boundaries()) == [30, 80]
    assert schedule.next_boundary(80) is None


def test_defaults_are_the_plans() -> None:
    schedule = StepSchedule(0.1)
    assert (schedule.step_size, schedule.gamma, schedule.mode) == (30, 0.1, "step")


# -- exactness and huge positions --------------------------------------------


@pytest.mark.parametrize("t", [2**24, 2**24 + 1, 2**53 + 1, 2**63 - 1, 2**63, 2**100])
def test_huge_positions_use_integer_division(t: int) -> None:
    """Float division would round 2**53 + 1 down; floor division never does."""
    schedule = StepSchedule(1.0, step_size=t, gamma=0.5)
    assert schedule.lr_at(t - 1) == 1.0
    assert schedule.lr_at(t) == 0.5
    assert schedule.next_boundary(t - 1) == t
    assert schedule.decays_at(2 * t) == 2


def test_float32_style_early_decay_does_not_happen() -> None:
    """Past 2**24 a float32 position of 2**24 + 1 reads as 2**24 and decays one step early."""
    step_size = 2**24 + 1
    schedule = StepSchedule(1.0, step_size=step_size, gamma=0.1)
    assert schedule.lr_at(2**24) == 1.0
    assert schedule.lr_at(step_size) == 0.1


def test_position_2_pow_63_works_and_underflows_to_zero() -> None:
    assert SEED.lr_at(2**63) == 0.0
    assert SEED.next_boundary(2**63) is None


@given(
    lr=st.sampled_from([0.1, 1.0, 3e-4, 0.05, 2.5e-3, 7.0, 1e-8])
    | st.floats(1e-8, 10.0, allow_nan=False),
    gamma=st.sampled_from([0.1, 0.5, 0.9, 0.97, 0.3333, 0.999, 0.999999])
    | st.floats(1e-6, 1.0, exclude_max=True, allow_nan=False).filter(lambda g: g > 0),
    k=st.integers(0, 3000),
)
def test_values_are_within_one_ulp_of_exact(lr: float, gamma: float, k: int) -> None:
    exact = exact_decayed(lr, gamma, k)
    value = scaled_power(lr, gamma, k)
    if exact < Fraction(2) ** -1074:
        assert value in (0.0, 5e-324)
    else:
        assert ulps_apart(value, exact) <= 1


@pytest.mark.parametrize(
    ("lr", "gamma", "k"),
    [(0.1, 0.1, 3), (0.1, 0.9, 100_000), (1.0, 0.999999, 100_000), (3e-4, 0.97, 12_345)],
)
def test_many_decays_do_not_drift(lr: float, gamma: float, k: int) -> None:
    """Repeated multiplication drifts after 100,000 decays; the closed form does not."""
    exact = exact_decayed(lr, gamma, k)
    assert ulps_apart(scaled_power(lr, gamma, k), exact) <= 1
    chained = lr
    for _ in range(min(k, 100_000)):
        chained *= gamma
    if k == 100_000:
        assert ulps_apart(chained, exact) > 1


def test_intended_value_is_the_typed_decimal() -> None:
    assert intended_value(0.1) == Fraction(1, 10)
    assert intended_value(3e-4) == Fraction(3, 10_000)
    assert SEED.lr_at(60) == 0.001
    assert 0.1 * 0.1 * 0.1 != 0.001


# -- warmup and floor ---------------------------------------------------------


def test_warmup_prefix_ramps_linearly_then_the_decay_clock_starts() -> None:
    schedule = StepSchedule(
        0.1, step_size=10, gamma=0.5, warmup_steps=4, warmup_start_lr=0.02, warmup_prefix=True
    )
    assert [schedule.lr_at(t) for t in range(6)] == [0.02, 0.04, 0.06, 0.08, 0.1, 0.1]
    assert schedule.lr_at(13) == 0.1
    assert schedule.lr_at(14) == 0.05
    assert list(islice(schedule.boundaries(), 3)) == [14, 24, 34]
    assert next(schedule.segments()) == Segment(0, 3, 0.02, 0.08, warmup=True)


def test_warmup_keeps_the_decays_at_their_absolute_positions() -> None:
    """The default (timm's warmup_prefix=False, Goyal et al.): milestones 30,60,80 stay put."""
    schedule = StepSchedule(0.1, milestones=(30, 60, 80), warmup_steps=5, warmup_start_lr=0.01)
    assert [schedule.lr_at(t) for t in (0, 4, 5, 29, 30, 59, 60, 79, 80)] == [
        0.01, 0.082, 0.1, 0.1, 0.01, 0.01, 0.001, 0.001, 0.0001,
    ]  # fmt: skip
    assert list(schedule.boundaries()) == [30, 60, 80]
    assert schedule.next_boundary(0) == 30
    assert schedule.first_boundary_below(0.005) == 60


@pytest.mark.parametrize(
    ("step_size", "boundaries", "lr_at_warmup_end"),
    [(2, [5, 6, 8], 0.25), (5, [5, 10, 15], 0.5), (3, [5, 6, 9], 0.5)],
)
def test_decays_inside_the_warmup_take_effect_when_it_ends(
    step_size: int, boundaries: list[int], lr_at_warmup_end: float
) -> None:
    """As timm with warmup_prefix=False: the ramp ignores them, position W applies them all."""
    schedule = StepSchedule(1.0, step_size=step_size, gamma=0.5, warmup_steps=5)
    assert schedule.lr_at(4) == 0.8
    assert schedule.lr_at(5) == lr_at_warmup_end
    assert list(islice(schedule.boundaries(), 3)) == boundaries
    assert schedule.next_boundary(2) == 5
    assert [s.start for s in islice(schedule.segments(), 4)] == [0, *boundaries]


def test_floor_stops_the_decay_and_the_boundaries() -> None:
    schedule = StepSchedule(1.0, step_size=10, gamma=0.5, min_lr=0.2)
    assert [schedule.lr_at(t) for t in (0, 10, 20, 30, 40, 10**9)] == [
        1.0,
        0.5,
        0.25,
        0.2,
        0.2,
        0.2,
    ]
    assert schedule.boundary_count == 3
    assert list(schedule.boundaries()) == [10, 20, 30]
    assert schedule.next_boundary(30) is None


@pytest.mark.parametrize(
    ("lr", "gamma"),
    [(0.1, 1.8391484033168367e-206), (1e-300, 0.5), (5e-324, 0.5), (1e300, 1e-300), (1.0, 0.1)],
)
def test_extreme_values_reach_zero_where_the_exact_value_rounds_to_zero(
    lr: float, gamma: float
) -> None:
    # Below half the smallest subnormal (2**-1075, ties to even) a value rounds to 0.0.
    count = 1
    while exact_decayed(lr, gamma, count) > Fraction(2) ** -1075:
        count += 1
    schedule = StepSchedule(lr, step_size=1, gamma=gamma)
    assert schedule.boundary_count == count
    assert schedule.lr_at(count - 1) > 0.0
    assert schedule.lr_at(count) == 0.0
    below = next(k for k in range(1, count + 1) if schedule.lr_at(k) < lr)
    assert schedule.first_boundary_below(lr) == below


def test_underflow_ends_the_boundaries() -> None:
    assert SEED.boundary_count == 323
    assert SEED.lr_after_decays(322) > 0.0
    assert SEED.lr_after_decays(323) == 0.0


# -- boundary queries ---------------------------------------------------------


def test_boundaries_in_a_window_far_out() -> None:
    schedule = StepSchedule(1.0, step_size=1000, gamma=1 - 1e-10)
    start = 10**12
    assert list(schedule.boundaries(start, start + 3001)) == [
        start,
        start + 1000,
        start + 2000,
        start + 3000,
    ]


@pytest.mark.parametrize(
    ("threshold", "expected"),
    [(1.0, 30), (0.1, 30), (0.01000001, 30), (0.01, 60), (0.001, 90), (1e-300, 9000)],
)
def test_first_boundary_below(threshold: float, expected: int) -> None:
    assert SEED.first_boundary_below(threshold) == expected


def test_first_boundary_below_never() -> None:
    assert StepSchedule(1.0, step_size=5, min_lr=0.1).first_boundary_below(0.1) is None
    assert StepSchedule(1.0, milestones=[5]).first_boundary_below(0.1) is None
    assert StepSchedule(1.0, milestones=[5, 9]).first_boundary_below(0.1) == 9


def test_segments_with_total_end_at_the_last_position() -> None:
    assert list(SEED.segments(total=61)) == [
        Segment(0, 29, 0.1, 0.1),
        Segment(30, 59, 0.01, 0.01),
        Segment(60, 60, 0.001, 0.001),
    ]
    assert list(SEED.segments(total=5)) == [Segment(0, 4, 0.1, 0.1)]


def test_segments_stream_lazily_at_any_horizon() -> None:
    schedule = StepSchedule(1.0, step_size=1, gamma=0.9999999)
    first = list(islice(schedule.segments(total=10**15), 3))
    assert [(s.start, s.end) for s in first] == [(0, 0), (1, 1), (2, 2)]


@given(
    step_size=st.integers(1, 50),
    gamma=st.floats(0.01, 0.99),
    warmup=st.integers(0, 20),
    t=st.integers(0, 5000),
)
def test_boundaries_agree_with_lr_at(step_size: int, gamma: float, warmup: int, t: int) -> None:
    schedule = StepSchedule(1.0, step_size=step_size, gamma=gamma, warmup_steps=warmup)
    following = schedule.next_boundary(t)
    if following is None:  # the lr has underflowed to 0.0: nothing changes any more
        assert schedule.lr_at(t) == schedule.lr_at(t + 10**9) == 0.0
        return
    assert following > t
    if t >= warmup:
        assert schedule.lr_at(following - 1) == schedule.lr_at(t)
        # Mathematically it always drops; in the subnormal range two values may round alike.
        assert schedule.lr_at(following) < schedule.lr_at(t) or schedule.lr_at(t) < 1e-307


@given(
    step_size=st.integers(1, 40),
    gamma=st.floats(0.01, 0.99),
    warmup=st.integers(0, 10),
    min_lr=st.sampled_from([0.0, 0.001, 0.3]),
)
def test_monotone_non_increasing_after_warmup(
    step_size: int, gamma: float, warmup: int, min_lr: float
) -> None:
    schedule = StepSchedule(
        1.0, step_size=step_size, gamma=gamma, warmup_steps=warmup, min_lr=min_lr
    )
    values = [schedule.lr_at(t) for t in range(warmup, warmup + 400)]
    assert all(a >= b for a, b in pairwise(values))
    assert min(values) >= min_lr


@given(milestones=st.lists(st.integers(1, 500), min_size=1, max_size=8, unique=True))
def test_milestone_segments_tile_the_positions(milestones: list[int]) -> None:
    schedule = StepSchedule(0.5, milestones=sorted(milestones), gamma=0.5)
    segments = list(schedule.segments(total=600))
    assert segments[0].start == 0
    assert segments[-1].end == 599
    for before, after in pairwise(segments):
        assert after.start == before.end + 1
    for segment in segments:
        assert schedule.lr_at(segment.start) == schedule.lr_at(segment.end or 0) == segment.lr


# -- validation -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"step_size": 0}, "step_size must be an integer >= 1, got 0"),
        ({"step_size": -3}, "step_size must be an integer >= 1, got -3"),
        ({"step_size": 2.5}, "step_size must be an integer >= 1, got 2.5"),
        ({"step_size": True}, "step_size must be an integer >= 1, got True"),
        ({"step_size": "30"}, "step_size must be an integer >= 1, got '30'"),
        ({"gamma": 0}, "gamma must be a number with 0 < gamma < 1, got 0"),
        ({"gamma": 1}, "gamma must be a number with 0 < gamma < 1, got 1"),
        ({"gamma": 1.5}, "gamma must be a number with 0 < gamma < 1, got 1.5"),
        ({"gamma": -0.1}, "gamma must be a number with 0 < gamma < 1, got -0.1"),
        ({"gamma": math.nan}, "gamma must be a finite number, got nan"),
        ({"initial_lr": 0.0}, "initial_lr must be a finite number > 0, got 0.0"),
        ({"initial_lr": -1.0}, "initial_lr must be a finite number > 0, got -1.0"),
        ({"initial_lr": math.inf}, "initial_lr must be a finite number, got inf"),
        ({"initial_lr": math.nan}, "initial_lr must be a finite number, got nan"),
        ({"initial_lr": 10**400}, "initial_lr must be a finite number, got 1000"),
        ({"milestones": [30, 20]}, "milestones must be strictly increasing, got 20 after 30"),
        ({"milestones": [30, 30]}, "milestones must be strictly increasing, got 30 after 30"),
        ({"milestones": [0, 30]}, "milestones[0] must be an integer >= 1, got 0"),
        ({"milestones": [1.5]}, "milestones[0] must be an integer >= 1, got 1.5"),
        ({"milestones": []}, "milestones must not be empty"),
        ({"milestones": "30,60"}, "milestones must be a list of strictly increasing"),
        ({"milestones": [30], "step_size": 10}, "give either step_size or milestones"),
        ({"warmup_steps": -1}, "warmup_steps must be an integer >= 0, got -1"),
        ({"warmup_start_lr": -0.1}, "warmup_start_lr must be a finite number >= 0, got -0.1"),
        ({"min_lr": 0.1}, "min_lr must be a number with 0 <= min_lr < initial_lr (0.1), got 0.1"),
        ({"min_lr": -1e-9}, "min_lr must be a number with 0 <= min_lr < initial_lr"),
        ({"mode": "batch"}, "mode must be 'step' or 'epoch', got 'batch'"),
    ],
)
def test_invalid_parameters_name_the_parameter_value_and_range(
    kwargs: dict[str, object], message: str
) -> None:
    arguments: dict[str, object] = {"initial_lr": 0.1, **kwargs}
    with pytest.raises(ValueError, match="^" + _escape(message)):
        StepSchedule(**arguments)  # type: ignore[arg-type]


def _escape(text: str) -> str:
    import re

    return re.escape(text)


@pytest.mark.parametrize(
    ("t", "message"),
    [
        (-1, "t must be an integer >= 0, got -1"),
        (1.0, "t must be an integer >= 0, got 1.0"),
        (True, "t must be an integer >= 0, got True"),
        ("3", "t must be an integer >= 0, got '3'"),
    ],
)
def test_invalid_positions(t: object, message: str) -> None:
    with pytest.raises(ScheduleError, match="^" + _escape(message) + "$"):
        SEED.lr_at(t)  # type: ignore[arg-type]


def test_replace_validates_and_switches_decay_kind() -> None:
    assert SEED.replace(milestones=(5,)).step_size is None
    assert SEED.replace(milestones=(5,)).replace(step_size=7).milestones is None
    with pytest.raises(ScheduleError, match="gamma"):
        SEED.replace(gamma=2.0)


def test_schedules_are_values() -> None:
    assert StepSchedule(0.1, 30) == SEED
    assert hash(StepSchedule(0.1, 30)) == hash(SEED)
    with pytest.raises(AttributeError):
        SEED.gamma = 0.5  # type: ignore[misc]


def test_first_true_gallops_and_bisects() -> None:
    from stepsched_cli.schedule import _first_true

    for answer in (1, 2, 3, 17, 1000, 10**12):
        for guess in (1, 2, answer, answer + 1, 10 * answer + 5, max(1, answer // 7)):
            calls: list[int] = []

            def at_least(k: int, answer: int = answer, calls: list[int] = calls) -> bool:
                calls.append(k)
                return k >= answer

            assert _first_true(at_least, guess) == answer
            assert len(calls) <= 2 * (abs(answer - guess).bit_length() + 2) + 2


def test_boundaries_without_a_stop_end_with_the_schedule() -> None:
    assert list(StepSchedule(1.0, step_size=5, gamma=0.5, min_lr=0.3).boundaries()) == [5, 10]


def test_segments_shorter_than_the_warmup() -> None:
    schedule = StepSchedule(0.1, warmup_steps=10, warmup_start_lr=0.0)
    assert list(schedule.segments(total=4)) == [Segment(0, 3, 0.0, 0.03, warmup=True)]


def test_decays_argument_is_validated() -> None:
    with pytest.raises(ScheduleError, match="decays must be an integer >= 0, got -1"):
        SEED.lr_after_decays(-1)
    with pytest.raises(ScheduleError, match="total must be an integer >= 1, got 0"):
        list(SEED.segments(total=0))
    with pytest.raises(ScheduleError, match="index must be an integer >= 1, got 0"):
        SEED.boundary(0)


def test_gamma_just_below_one_is_not_cut_off_early() -> None:
    """The underflow shortcut must use the decimal gamma: its binary log is 11% off here."""
    schedule = StepSchedule(1.0, step_size=1, gamma=0.9999999999999999)
    t = 7 * 10**18
    value = schedule.lr_at(t)
    # log2 of the exact value (1 - 1e-16) ** t; log1p keeps the digits near 1.
    assert math.isclose(math.log2(value), t * math.log1p(-1e-16) / math.log(2), rel_tol=1e-12)
    assert schedule.boundary_count > 7 * 10**18


@pytest.mark.parametrize("k", [2**1000, 2**1001 + 7, 10**400])
def test_astronomical_decay_counts_underflow_without_overflow(k: int) -> None:
    assert scaled_power(1e308, 0.9999999999999999, k) == 0.0
    assert StepSchedule(0.1, step_size=1).lr_at(k) == 0.0


def test_milestones_past_the_floor_are_not_boundaries() -> None:
    schedule = StepSchedule(1.0, milestones=(10, 20, 30, 40), gamma=0.5, min_lr=0.3)
    assert schedule.boundary_count == 2
    assert list(schedule.boundaries()) == [10, 20]
    assert schedule.decays_at(35) == 2
    assert [schedule.lr_at(t) for t in (9, 10, 20, 30, 40)] == [1.0, 0.5, 0.3, 0.3, 0.3]


# -- listings walk the decay counts ---------------------------------------------


@given(
    step_size=st.integers(1, 7),
    gamma=st.sampled_from([0.1, 0.5, 0.97, 0.999999]) | st.floats(0.01, 0.999),
    warmup=st.integers(0, 10),
    prefix=st.booleans(),
    min_lr=st.sampled_from([0.0, 1e-3]),
    positions=st.lists(st.integers(0, 3000), max_size=80),
)
def test_lrs_at_gives_lr_at_in_any_order(
    step_size: int,
    gamma: float,
    warmup: int,
    prefix: bool,
    min_lr: float,
    positions: list[int],
) -> None:
    schedule = StepSchedule(
        0.1, step_size=step_size, gamma=gamma, warmup_steps=warmup, min_lr=min_lr,
        warmup_prefix=prefix,
    )  # fmt: skip
    for order in (sorted(positions), positions):
        assert list(schedule.lrs_at(order)) == [schedule.lr_at(t) for t in order]


@pytest.mark.parametrize(
    "schedule",
    [SEED, StepSchedule(1.0, milestones=(3, 9, 27), gamma=0.5, min_lr=0.2), StepSchedule(1e-300)],
)
def test_lrs_after_decays_gives_lr_after_decays(schedule: StepSchedule) -> None:
    assert list(islice(schedule.lrs_after_decays(2), 400)) == [
        schedule.lr_after_decays(k) for k in range(2, 402)
    ]


def test_milestone_search_does_not_compute_a_power_per_milestone() -> None:
    """10**5 milestones: first_boundary_below bisects on the decay count."""
    milestones = tuple(range(10, 10**6 + 1, 10))
    schedule = StepSchedule(0.1, milestones=milestones, gamma=0.993)
    found = schedule.first_boundary_below(1e-300)
    assert len(schedule._boundary_cache) < 200  # only the values the search visited
    k = next(k for k in range(1, len(milestones) + 1) if schedule.lr_after_decays(k) < 1e-300)
    assert found == milestones[k - 1]


@settings(max_examples=300, deadline=None)
@given(
    schedule=st.builds(
        StepSchedule,
        initial_lr=st.sampled_from([0.1, 1.0, 3e-3]),
        step_size=st.integers(1, 40),
        gamma=st.sampled_from([0.1, 0.5, 0.9]),
        warmup_steps=st.integers(0, 30),
        warmup_start_lr=st.sampled_from([0.0, 0.01]),
        min_lr=st.sampled_from([0.0, 1e-4]),
        warmup_prefix=st.booleans(),
    ),
    start=st.integers(0, 100),
    stop=st.integers(0, 400),
    stride=st.integers(1, 17),
)
def test_lrs_over_a_range_equal_lr_at(
    schedule: StepSchedule, start: int, stop: int, stride: int
) -> None:
    """A range is walked a constant stretch at a time: the values are lr_at's, one each."""
    positions = range(start, stop, stride)
    assert list(schedule.lrs_at(positions)) == [schedule.lr_at(t) for t in positions]
    milestones = schedule.replace(step_size=None, milestones=(7, 8, 50, 51, 200))
    assert list(milestones.lrs_at(positions)) == [milestones.lr_at(t) for t in positions]
