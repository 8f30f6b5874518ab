"""Terminal plots: exact pictures of small cases, sizes, cost independent of the horizon."""

from __future__ import annotations

import re
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from stepsched_cli.errors import StepschedError
from stepsched_cli.schedule import StepSchedule
from stepsched_cli.termplot import (
    TermPlotError,
    compact_number,
    compact_position,
    render,
    wrap_text,
)

SEED = StepSchedule(0.1, step_size=30, gamma=0.1)


@pytest.mark.parametrize(
    ("schedule", "options", "expected"),
    [
        pytest.param(
            SEED,
            {"total": 120, "width": 30, "height": 5, "log_scale": True},
            [
                "   0.1┤─────┐",
                "      │     └─────┐",
                "      │     ┊     │",
                "      │     ┊     └─────┐",
                "0.0001┤     ┊     ┊     └─────",
                "      └┬────────┬─────────┬───",
                "       0        50        step",
            ],
            id="seed-log",
        ),
        pytest.param(
            SEED,
            {"total": 120, "width": 24, "height": 4},
            [
                "0.1┤─────┐",
                "   │     │",
                "   │     │",
                "  0┤     └──────────────",
                "   └┬───────┬───────┬───",
                "    0       50      step",
            ],
            id="seed-linear",
        ),
        pytest.param(
            StepSchedule(1.0, step_size=2, gamma=0.5),
            {"total": 8, "width": 16, "height": 4, "markers": False},
            [
                "1┤────┐",
                " │    └──┐",
                " │       └───┐",
                "0┤           └──",
                " └┬───────┬─────",
                "  0         step",
            ],
            id="several-columns-per-step",
        ),
        pytest.param(
            StepSchedule(
                0.1, step_size=3, gamma=0.5, warmup_steps=4, warmup_start_lr=0.0, warmup_prefix=True
            ),
            {"total": 12, "width": 20, "height": 5},
            [
                " 0.1┤     ┌───┐",
                "    │    ┌┘   │",
                "0.05┤   ┌┘    └───┐",
                "    │  ┌┘     ┊   └─",
                "   0┤──┘      ┊   ┊",
                "    └┬───────────┬──",
                "     0          step",
            ],
            id="warmup",
        ),
        pytest.param(
            StepSchedule(0.1, milestones=(10, 15), gamma=0.1),
            {"total": 20, "width": 30, "height": 4, "log_scale": True, "x_label": "epoch"},
            [
                "  0.1┤────────────┐",
                "     │            └─────┐",
                "     │            ┊     │",
                "0.001┤            ┊     └─────",
                "     └┬─────┬─────┬─────┬─────",
                "      0     5     10     epoch",
            ],
            id="milestones",
        ),
        pytest.param(
            StepSchedule(0.1, step_size=20, gamma=0.1),
            {"total": 60, "width": 30, "height": 3, "positions_per_unit": 4, "x_label": "epoch"},
            [
                "0.1┤─────────┐",
                "   │         │",
                "  0┤         └────────────────",
                "   └┬───────┬────────┬────────",
                "    0       5        10  epoch",
            ],
            id="steps-shown-as-epochs",
        ),
        pytest.param(
            StepSchedule(0.1, step_size=1, gamma=0.5),
            {"total": 40, "width": 30, "height": 4, "log_scale": True},
            [
                "     0.1┤────┐",
                "        │    └──────┐",
                "        │           └─────┐",
                "1.82e-13┤                 └───",
                "        └┬─────────┬──────────",
                "         0         20     step",
            ],
            id="dense-boundaries-no-markers",
        ),
        pytest.param(
            SEED,
            {"total": 10**12, "width": 40, "height": 3},
            [
                "0.1┤┐",
                "   ││",
                "  0┤└───────────────────────────────────",
                "   └┬──────┬──────┬──────┬──────┬───────",
                "    0      200G   400G   600G       step",
            ],
            id="horizon-1e12",
        ),
    ],
)
def test_exact_pictures(
    schedule: StepSchedule, options: dict[str, Any], expected: list[str]
) -> None:
    assert render(schedule, **options) == expected


def test_linear_axis_of_lrs_within_the_top_half_spans_the_lrs() -> None:
    """From 0, decays of 0.97 would all share the top row: the axis starts at the lowest lr."""
    schedule = StepSchedule(0.1, step_size=100, gamma=0.97)
    assert render(schedule, total=400, width=30, height=5) == [
        "   0.1┤─────┐",
        "      │     └─────┐",
        "0.0956┤     ┊     │",
        "      │     ┊     └─────┐",
        "0.0913┤     ┊     ┊     └─────",
        "      └┬──────────┬───────────",
        "       0          200     step",
    ]


def test_constant_schedule_sits_on_the_top_row() -> None:
    """A log axis needs a range: a constant lr gets the decade below it."""
    never_decays = StepSchedule(0.1, step_size=1000, gamma=0.1)
    assert render(never_decays, total=50, width=20, height=3, log_scale=True) == [
        " 0.1┤───────────────",
        "    │",
        "0.01┤",
        "    └┬──────────────",
        "     0          step",
    ]


def test_cost_does_not_grow_with_the_horizon() -> None:
    """The schedule is asked about O(width) positions whatever the horizon."""
    calls: list[int] = []

    class Counting(StepSchedule):
        def lr_at(self, t: int) -> float:
            calls.append(t)
            return super().lr_at(t)

    schedule = Counting(0.1, step_size=7, gamma=0.9)
    render(schedule, total=100, width=60, height=10)
    small = len(calls)
    calls.clear()
    render(schedule, total=10**12, width=60, height=10)
    assert len(calls) <= 4 * 60
    assert small <= 4 * 60


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"total": 0}, "total must be an integer >= 1, got 0"),
        ({"total": 10, "width": 7}, "width must be an integer >= 8, got 7"),
        ({"total": 10, "height": 1}, "height must be an integer >= 2, got 1"),
        ({"total": 10, "height": True}, "height must be an integer >= 2, got True"),
        (
            {"total": 10, "positions_per_unit": 0},
            "positions_per_unit must be an integer >= 1, got 0",
        ),
        (
            {"total": 40, "width": 9, "log_scale": True},
            "width must be at least 11 for these y labels, got 9",
        ),
    ],
)
def test_bad_arguments(options: dict[str, Any], message: str) -> None:
    schedule = StepSchedule(0.1, step_size=1, gamma=0.5)
    with pytest.raises(TermPlotError, match=re.escape(message)) as raised:
        render(schedule, **options)
    assert isinstance(raised.value, StepschedError)


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (0.1, "0.1"),
        (0.0001, "0.0001"),
        (1e-5, "1e-5"),
        (2.5e-8, "2.5e-8"),
        (0.0, "0"),
        (0.123456, "0.123"),
        (1e20, "1e20"),
        (150.0, "150"),
    ],
)
def test_compact_number(value: float, text: str) -> None:
    assert compact_number(value) == text


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (0, "0"),
        (9999, "9999"),
        (10_000, "10k"),
        (150_000, "150k"),
        (2_500_000, "2.5M"),
        (10**12, "1T"),
        (2**63, "9.22E"),
        (0.5, "0.5"),
        (2.5, "2.5"),
    ],
)
def test_compact_position(value: float, text: str) -> None:
    assert compact_position(value) == text


schedules = st.builds(
    StepSchedule,
    initial_lr=st.sampled_from([0.1, 1.0, 3e-4]),
    step_size=st.integers(1, 10**6),
    gamma=st.sampled_from([0.1, 0.5, 0.99]),
    warmup_steps=st.integers(0, 50),
    min_lr=st.sampled_from([0.0, 1e-6]),
)


@settings(max_examples=100, deadline=None)
@given(
    schedule=schedules,
    total=st.one_of(st.integers(1, 500), st.integers(1, 2**64)),
    width=st.integers(20, 120),
    height=st.integers(2, 30),
    log_scale=st.booleans(),
)
def test_property_picture_fits_its_box(
    schedule: StepSchedule, total: int, width: int, height: int, log_scale: bool
) -> None:
    lines = render(schedule, total=total, width=width, height=height, log_scale=log_scale)
    assert len(lines) == height + 2
    assert all(len(line) <= width for line in lines)
    assert all(line == line.rstrip() for line in lines)
    # The curve is continuous: every plot column holds at least one curve character.
    plot = [line[lines[-2].index("└") + 1 :] for line in lines[:height]]
    columns = len(lines[-2]) - lines[-2].index("└") - 1
    for column in range(columns):
        assert any(column < len(row) and row[column] not in " ┊" for row in plot), (
            f"column {column} is empty"
        )


def test_labels_widened_by_fewer_columns_still_fit() -> None:
    """Regression: re-deriving the columns for a narrow box may lengthen the y labels."""
    schedule = StepSchedule(0.1, step_size=1, gamma=0.99, warmup_steps=20)
    lines = render(schedule, total=126, width=20, height=2, log_scale=True)
    assert all(len(line) <= 20 for line in lines)


def test_log_scale_reaches_the_last_positive_lr_and_labels_zero() -> None:
    """Columns of 3.3e10 positions hide the decays to 0: the scale still ends at the last
    positive lr (the subnormal before underflow), and 0 has its own bottom row."""
    picture = render(SEED, total=10**12, width=30, height=6, log_scale=True)
    assert picture == [
        "      0.1┤┐",
        "         ││",
        "   1e-202┤│",
        "         ││",
        "9.88e-324┤│",
        "        0┤└───────────────────",
        "         └┬─────────┬─────────",
        "          0         500G  step",
    ]


def test_log_scale_warmup_from_zero() -> None:
    schedule = SEED.replace(warmup_steps=10, warmup_prefix=True)
    picture = render(schedule, total=40, width=30, height=5, log_scale=True)
    assert picture == [
        " 0.1┤    ┌────────────────────",
        "    │   ┌┘",
        "    │ ┌─┘",
        "0.01┤ │",
        "   0┤─┘",
        "    └┬─────┬─────┬─────┬──────",
        "     0     10    20       step",
    ]


def test_log_scale_of_a_constant_curve_keeps_a_decade_below() -> None:
    picture = render(SEED, total=20, width=20, height=3, log_scale=True)
    assert picture[:3] == [" 0.1┤───────────────", "    │", "0.01┤"]


# -- several schedules, titles, the x unit ---------------------------------------

TITLE = "lr=0.1, step_size=30, gamma=0.1"


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        pytest.param(
            {
                "total": 120,
                "width": 36,
                "height": 6,
                "log_scale": True,
                "title": TITLE,
                "label": TITLE,
                "compare": [
                    ("gamma=0.5", SEED.replace(gamma=0.5)),
                    ("step_size=20", SEED.replace(step_size=20)),
                ],
            },
            [
                "lr=0.1, step_size=30, gamma=0.1",
                "   0.1┤─────╥─┮━━━━━━┓",
                "      │     ╚═┴─╥────╄━━━━━━━━━━━━━━",
                "      │       ┊ ╚════┼──────┐",
                "0.0001┤       ┊      ╚════╗ └───────",
                "      │       ┊      ┊    ╚════╗",
                "  1e-6┤       ┊      ┊      ┊  ╚════",
                "      └┬───────────┬───────────┬────",
                "       0           50           step",
                "── lr=0.1, step_size=30, gamma=0.1",
                "━━ gamma=0.5",
                "══ step_size=20",
            ],
            id="compare-log-three-styles",
        ),
        pytest.param(
            {
                "total": 120,
                "width": 30,
                "height": 4,
                "title": "a title that is much wider than the thirty columns of this picture",
                "label": "base",
                "compare": [("gamma=0.5", SEED.replace(gamma=0.5))],
            },
            [
                "a title that is much wider",
                "than the thirty columns of",
                "this picture",
                "0.1┤──────┐",
                "   │      ┝━━━━━━┓",
                "   │      │      ┗━━━━━┓",
                "  0┤      └────────────┸──────",
                "   └┬─────────┬──────────┬────",
                "    0         50          step",
                "── base",
                "━━ gamma=0.5",
            ],
            id="compare-linear-wrapped-title",
        ),
        pytest.param(
            {
                "total": 90,
                "width": 24,
                "height": 4,
                "log_scale": True,
                "compare": [
                    ("a", SEED.replace(gamma=0.5)),
                    ("b", SEED.replace(step_size=20)),
                    ("c", SEED.replace(step_size=10)),
                ],
                "label": "a label longer than the twenty columns",
            },
            [
                " 0.1┤────┬───╥───┮━━━━━━",
                "    │    +---╩═╦═┴──────",
                "    │      ┊   +---+",
                "1e-9┤      ┊     ┊ +----",
                "    └┬─────────┬────────",
                "     0         50   step",
                "── a label longer than",
                "   the twenty columns",
                "━━ a",
                "══ b",
                "-- c",
            ],
            id="four-curves-ascii-and-wrapped-legend",
        ),
    ],
)
def test_exact_pictures_of_several_schedules(options: dict[str, Any], expected: list[str]) -> None:
    assert render(SEED, **options) == expected


def test_at_most_three_compared_schedules() -> None:
    others = [(str(index), SEED) for index in range(4)]
    with pytest.raises(TermPlotError, match="at most 3 further schedules, got 4"):
        render(SEED, total=120, compare=others)


@pytest.mark.parametrize(
    ("text", "width", "lines"),
    [
        (TITLE, 40, [TITLE]),
        (TITLE, 21, ["lr=0.1, step_size=30,", "gamma=0.1"]),
        (TITLE, 20, ["lr=0.1,", "step_size=30,", "gamma=0.1"]),
        ("milestones=30,60,90,120", 10, ["milestones", "=30,60,90,", "120"]),
        ("", 10, [""]),
    ],
)
def test_wrap_text_never_cuts(text: str, width: int, lines: list[str]) -> None:
    assert wrap_text(text, width) == lines
    assert "".join(lines).replace(" ", "") == text.replace(" ", "")


@settings(max_examples=60, deadline=None)
@given(
    total=st.integers(1, 2**64),
    width=st.integers(20, 120),
    x_label=st.sampled_from(["step", "epoch"]),
    log_scale=st.booleans(),
)
def test_property_the_x_unit_is_always_written(
    total: int, width: int, x_label: str, log_scale: bool
) -> None:
    """However full the tick labels, the last line ends with the unit they count."""
    lines = render(SEED, total=total, width=width, height=3, log_scale=log_scale, x_label=x_label)
    assert lines[-1].endswith(" " + x_label)
    assert len(lines[-1]) <= width
