"""Numbers for people: one formatter, the CLI's and the terminal plot's call sites unchanged."""

from __future__ import annotations

import pytest

from stepsched_cli.cli.output import format_number
from stepsched_cli.numbers import format_count, format_lr, format_positions
from stepsched_cli.termplot import compact_number, compact_position

VALUES = [0.1, 0.001, 1e-05, 0.0010000000000000002, 0.0, 0.00015, 2.5e-08, 150.0, 123456789.0]


@pytest.mark.parametrize("value", VALUES)
def test_cli_numbers_are_six_significant_digits(value: float) -> None:
    assert format_number(value) == format_lr(value) == f"{value:.6g}"


@pytest.mark.parametrize(
    ("value", "text"),
    [(0.1, "0.1"), (1e-05, "1e-5"), (2.5e-08, "2.5e-8"), (1.2345e20, "1.23e20"), (0.0, "0")],
)
def test_axis_labels_are_three_digits_with_short_exponents(value: float, text: str) -> None:
    assert compact_number(value) == format_lr(value, 3, short_exponent=True) == text


@pytest.mark.parametrize(
    ("value", "text"), [(0, "0"), (9999, "9999"), (10_000, "10k"), (2**63, "9.22E"), (0.25, "0.25")]
)
def test_axis_positions(value: float, text: str) -> None:
    assert compact_position(value) == format_count(value) == text


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (999_949, "1M"),  # 999.949k rounds to 1e+03k: the next prefix up
        (999_950, "1M"),
        (99_995, "100k"),
        (999_499, "999k"),
        (-999_950, "-1M"),
        (2.5e6, "2.5M"),
        (999.4e18, "999E"),
        (999.5e18, "1e+21"),  # rounds past the largest prefix
        (1e21, "1e+21"),
        (1.5e24, "1.5e+24"),
        (1e300, "1e+300"),
    ],
)
def test_axis_positions_repick_the_prefix_after_rounding(value: float, text: str) -> None:
    assert format_count(value) == text


@pytest.mark.parametrize(
    ("positions", "separator", "text"),
    [
        ((), ",", ""),
        ((30,), ",", "30"),
        ((30, 60, 80), ",", "30,60,80"),
        (tuple(range(1, 9)), ",", "1,2,3,4,5,6,7,8"),  # eight: all of them
        (tuple(range(1, 10)), ",", "1,2,3,...,9 (9 in all)"),
        (tuple(range(1, 20001)), ", ", "1, 2, 3, ..., 20000 (20000 in all)"),
        (tuple(range(10**30, 10**30 + 2000)), ",", f"{10**30},{10**30 + 1},{10**30 + 2},...,"
                                                   f"{10**30 + 1999} (2000 in all)"),
    ],
)  # fmt: skip
def test_long_position_lists_are_summarised(
    positions: tuple[int, ...], separator: str, text: str
) -> None:
    assert format_positions(positions, separator) == text
