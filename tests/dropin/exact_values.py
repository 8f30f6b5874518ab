"""What the drop-in tests compare with: exact rationals, and their nearest float32.

Independent of the package's arithmetic: ``fractions.Fraction`` and numpy's float32
neighbours, decided by exact distance.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import strategies as st

from stepsched_cli.errors import ScheduleError
from stepsched_cli.powers import intended_value


def float32_of(value: Fraction) -> float:
    """The float32 nearest to an exact rational, ties to even, by exact distance
    (converting through float64 could round twice)."""
    guess = np.float32(float(value))
    neighbours = [np.nextafter(guess, np.float32(-1)), guess, np.nextafter(guess, np.float32(2))]
    return float(
        min(neighbours, key=lambda c: (abs(Fraction(float(c)) - value), int(c.view(np.uint32)) & 1))
    )


def exact(lr: float, rate: float, decays: int) -> Fraction:
    """The exact lr after ``decays`` decays; past the count where it is certainly below
    2**-1076 (0.0 in float64 and float32), that count's value, so 2**31 decays cost a
    few thousand."""
    beyond = math.ceil((math.log2(lr) + 1076) / -math.log2(rate)) + 1
    return intended_value(lr) * intended_value(rate) ** min(decays, beyond)


def nearest(value: Fraction, dtype: str) -> float:
    """The ``dtype`` (float32 or float64) nearest to an exact rational, ties to even."""
    return float32_of(value) if dtype == "float32" else float(value)  # float(): correctly rounded


def assert_refused(make: Callable[[], object], message: str, parameter: str) -> None:
    """``make()`` raises a ScheduleError starting with ``message``, about ``parameter``."""
    with pytest.raises(ScheduleError) as raised:
        make()
    assert str(raised.value).startswith(message)
    assert raised.value.parameter == parameter


def edge_counts(decay_steps: int, length: int, smallest: int, largest: int) -> list[int]:
    """Counts either side of every decay up to the table's end (for tables of up to
    150,000 values; of its first and last few beyond), and at the dtype's ends."""
    last = largest // decay_steps
    decays = set(range(length + 2)) if length <= 150_000 else {*range(4), length - 1, length}
    decays |= {last - 1, last, last + 1, -1}
    counts = {k * decay_steps + shift for k in decays for shift in (-1, 0, 1)}
    counts |= {smallest, smallest + 1, -1, 0, 16_999_999, 17_000_000, largest - 1, largest}
    return sorted(c for c in counts if smallest <= c <= largest)


EDGE_CASES = [  # (init_value, decay_steps, decay_rate)
    (0.1, 1, 0.1),
    (0.1, 2, 0.5),
    (1.0, 3, 0.999),  # 103,922 values: the quotient's estimate over a long table
    (0.1, 30, 0.1),
    (0.1, 41, 0.5),  # float32(1/41) < 1/41: the estimate is one low at 41, 82, ...
    (1.0, 61, 0.9),
    (3e-4, 999_999, 0.9),
    (0.1, 1_000_000, 0.1),
    (0.1, 1_000_003, 0.999),  # the last change is past 2**31 - 1: clamped to it
    (0.05, 46_684_427, 0.5),
    (0.1, 2**30, 0.1),
    (0.1, 2**30 + 1, 0.3333),
    (0.1, 2**31 - 2, 0.1),
    (0.1, 2**31 - 1, 0.1),  # one decay, at the largest int32
    (0.1, 2**31, 0.1),  # beyond every int32 count: no decay
]


OTHER_COUNTS = [  # (count dtype, decay_steps), decay_rate 0.5: int8 and int16, unsigned
    ("int8", 1),
    ("int8", 3),
    ("int8", 127),
    ("int8", 128),  # beyond every int8 count: no decay
    ("int16", 7),
    ("int16", 2**15 - 1),
    ("uint8", 3),
    ("uint16", 1000),
    ("uint32", 1_000_000),
    ("uint32", 2**31 + 5),
]


NEAR_A_DECAY = {  # hypothesis: decays * decay_steps + shift, clamped to int32
    "decay_steps": st.integers(1, 2**31 - 1),
    "decays": st.integers(0, 2**20),
    "shift": st.integers(-2, 2),
    "rate": st.sampled_from([0.5, 0.9, 0.999]),
}


BOUNDARIES = [
    [3, 10, 2**40],
    [1, 2, 3, 2**31 - 1],
    list(range(5, 5 * 200, 5)),  # more changes than a chain of selects: summed comparisons
    [2**31 - 1],
    [2**31, 2**62, 2**63 - 1],
]
