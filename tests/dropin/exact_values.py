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
    2**-151 (0.0 in float32), that count's value, so 2**31 decays cost a few thousand."""
    beyond = math.ceil((math.log2(lr) + 151) / -math.log2(rate)) + 1
    return intended_value(lr) * intended_value(rate) ** min(decays, beyond)


def assert_refused(make: Callable[[], object], message: str, parameter: str) -> None:
    """``make()`` raises a ScheduleError starting with ``message``, about ``parameter``."""
    with pytest.raises(ScheduleError) as raised:
        make()
    assert str(raised.value).startswith(message)
    assert raised.value.parameter == parameter
