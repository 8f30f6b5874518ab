"""Comparing schedules: SPEC overrides of a base schedule, and where two schedules differ.

A SPEC is a comma-separated list of ``key=value`` overrides of a base schedule, as
``plot --compare`` and ``diff`` take them::

    gamma=0.5,step_size=10
    lr=0.05
    milestones=30,80,gamma=0.5

Keys (``-`` and ``_`` are interchangeable, case does not matter): ``lr`` (or
``initial_lr``), ``step_size``, ``gamma``, ``milestones``, ``warmup_steps``,
``warmup_start_lr``, ``min_lr``, ``mode``.  Milestones are written as ``--milestones``
takes them, ``milestones=30,80``: the bare integers after ``milestones=`` continue
its list until the next ``key=value``.  ``:`` and ``;`` separate them too
(``30:80``, ``"30;80"``).  Giving ``milestones`` replaces the base's ``step_size``
and vice versa.

:func:`diff` merges the two schedules' lazy segment streams, so its cost grows with
the number of boundaries of both, never with the horizon.

Example:
    >>> base = StepSchedule(0.1, step_size=30)
    >>> other = apply_spec(base, "gamma=0.5,step_size=20")
    >>> for part in diff(base, other, total=90):
    ...     print(part.start, part.end, part.lr_a, part.lr_b, part.ratio)
    20 29 0.1 0.05 0.5
    30 39 0.01 0.05 5.0
    40 59 0.01 0.025 2.5
    60 79 0.001 0.0125 12.5
    80 89 0.001 0.00625 6.25
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator
from dataclasses import dataclass

from stepsched_cli.errors import ScheduleError, StepschedError
from stepsched_cli.schedule import MODES, Segment, StepSchedule, intended_value

LIST_SEPARATORS = (":", ";")

# SPEC key -> StepSchedule field.
SPEC_KEYS: dict[str, str] = {
    "lr": "initial_lr",
    "initial_lr": "initial_lr",
    "step_size": "step_size",
    "gamma": "gamma",
    "milestones": "milestones",
    "warmup_steps": "warmup_steps",
    "warmup_start_lr": "warmup_start_lr",
    "min_lr": "min_lr",
    "mode": "mode",
}
_INTEGER_FIELDS = ("step_size", "warmup_steps")
_NUMBER_FIELDS = ("initial_lr", "gamma", "warmup_start_lr", "min_lr")
# ASCII digits only: str.isdigit, int() and float() also take other scripts' digits
# (and int("²") fails), which a SPEC never means.
_INTEGER_TEXT = re.compile(r"[0-9]+", re.ASCII)
_NUMBER_TEXT = re.compile(r"[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?", re.ASCII)


class CompareError(StepschedError, ValueError):
    """A SPEC is malformed or gives an invalid schedule, or two schedules cannot be compared."""


@dataclass(frozen=True)
class Difference:
    """A run of positions ``start..end`` (inclusive) where two schedules differ.

    ``end`` is None when the difference never ends.  Over a constant stretch
    ``lr_a_end == lr_a`` and ``lr_b_end == lr_b``; where a warmup ramp is involved the
    lrs are linear between their values at ``start`` and at ``end`` (and the two lines
    may cross at one position inside).

    Attributes:
        start: First position.
        end: Last position, or None.
        lr_a: The first schedule's lr at ``start``.
        lr_b: The second schedule's lr at ``start``.
        ratio: ``lr_b / lr_a`` at ``start``, of the decimals the lrs stand for (so
            0.02 / 0.1 is 0.2); ``math.inf`` when ``lr_a`` is 0 and ``lr_b`` is not,
            or when the ratio is too large for a float; ``math.nan`` (undefined) when
            both are 0 (two warmups from 0, say).
        lr_a_end: The first schedule's lr at ``end`` (at ``start`` when open-ended).
        lr_b_end: The second schedule's lr at ``end``.
    """

    start: int
    end: int | None
    lr_a: float
    lr_b: float
    ratio: float
    lr_a_end: float
    lr_b_end: float

    @property
    def ramp(self) -> bool:
        """Whether either lr changes within the run (a warmup ramp)."""
        return self.lr_a != self.lr_a_end or self.lr_b != self.lr_b_end


def parse_spec(spec: str) -> dict[str, object]:
    """Parse a SPEC into ``StepSchedule`` field overrides, values converted but not validated.

    Raises:
        CompareError: empty SPEC or item, an item without ``=``, an unknown or repeated
            key, or a value of the wrong type; the message quotes the SPEC, names the
            key and what it accepts.

    Example:
        >>> parse_spec("lr=0.05, milestones=30,80, Step-Size=7")
        {'initial_lr': 0.05, 'milestones': (30, 80), 'step_size': 7}
    """
    if not isinstance(spec, str) or not spec.strip():
        raise CompareError(f"SPEC must be key=value overrides such as gamma=0.5, got {spec!r}")
    overrides: dict[str, object] = {}
    for item in _spec_items(spec):
        if not item.strip():
            raise CompareError(f"SPEC {spec!r}: has an empty item; separate overrides with ','")
        key_text, equals, value_text = item.partition("=")
        if not equals:
            raise CompareError(f"SPEC {spec!r}: item {item.strip()!r} is not key=value")
        key = key_text.strip().lower().replace("-", "_")
        field_name = SPEC_KEYS.get(key)
        if field_name is None:
            raise CompareError(
                f"SPEC {spec!r}: unknown key {key_text.strip()!r}; accepted keys: "
                f"{', '.join(SPEC_KEYS)}"
            )
        if field_name in overrides:
            raise CompareError(f"SPEC {spec!r}: key {key!r} is given twice")
        overrides[field_name] = _convert(spec, key, field_name, value_text.strip())
    return overrides


def _spec_items(spec: str) -> list[str]:
    """The SPEC's items, a milestones list's comma-separated integers joined to its item."""
    items: list[str] = []
    for item in spec.split(","):
        continues = items and "=" not in item and _INTEGER_TEXT.fullmatch(item.strip())
        if continues and _is_milestones_item(items[-1]):
            items[-1] += ":" + item.strip()
        else:
            items.append(item)
    return items


def _is_milestones_item(item: str) -> bool:
    key, equals, _ = item.partition("=")
    return bool(equals) and key.strip().lower() == "milestones"


def apply_spec(base: StepSchedule, spec: str) -> StepSchedule:
    """The schedule ``base`` with the SPEC's overrides applied and validated.

    Raises:
        CompareError: the SPEC is malformed (see :func:`parse_spec`), the result is
            not a valid schedule (the message carries the schedule's own complaint), or
            it sets ``warmup_start_lr`` on a schedule without warmup (a no-op).

    Example:
        >>> apply_spec(StepSchedule(0.1, step_size=30), "milestones=30;80").milestones
        (30, 80)
    """
    overrides = parse_spec(spec)
    try:
        schedule = base.replace(**overrides)
    except ScheduleError as error:
        raise CompareError(f"SPEC {spec!r}: {error}") from None
    if "warmup_start_lr" in overrides and not schedule.warmup_steps:
        raise CompareError(
            f"SPEC {spec!r}: warmup_start_lr needs warmup_steps >= 1 (in the SPEC or the base); "
            "without a warmup it is never used"
        )
    return schedule


def _convert(spec: str, key: str, field_name: str, text: str) -> object:
    if field_name in _INTEGER_FIELDS:
        return _integer(spec, key, text, "an integer")
    if field_name in _NUMBER_FIELDS:
        number = float(text) if _NUMBER_TEXT.fullmatch(text) else math.nan
        if not math.isfinite(number):
            raise CompareError(f"SPEC {spec!r}: {key} must be a finite number, got {text!r}")
        return number
    if field_name == "milestones":
        separator = next((mark for mark in LIST_SEPARATORS if mark in text), ":")
        return tuple(
            _integer(spec, key, part.strip(), "integers separated by ',', ':' or ';'")
            for part in text.split(separator)
        )
    if text.lower() not in MODES:
        raise CompareError(f"SPEC {spec!r}: mode must be 'step' or 'epoch', got {text!r}")
    return text.lower()


def _integer(spec: str, key: str, text: str, expected: str) -> int:
    if not _INTEGER_TEXT.fullmatch(text):
        raise CompareError(f"SPEC {spec!r}: {key} must be {expected}, got {text!r}")
    return int(text)


def diff(a: StepSchedule, b: StepSchedule, total: int | None = None) -> Iterator[Difference]:
    """Yield, lazily and in order, the runs of positions where ``a`` and ``b`` differ.

    Two lrs differ when their floats differ (the schedules' arithmetic is exact, so
    the same value computed two ways is the same float).  A run is a stretch over
    which neither schedule changes (or, on a warmup ramp, changes linearly); adjacent
    runs with different lrs are yielded separately.

    Args:
        a: The first schedule.
        b: The second, in the same mode (unit) as ``a``.
        total: Compare positions ``0..total-1`` only; without it the comparison runs
            until neither schedule has boundaries left (forever, lazily, for a
            schedule whose lr never reaches its floor in float range: use
            ``itertools.islice``) and the last run may be open-ended.

    Raises:
        CompareError: the schedules count different units (see
            :func:`check_comparable`), or ``total`` is not an integer >= 1 (raised at
            once, not on iteration).
    """
    check_comparable(a, b)
    if total is not None and (isinstance(total, bool) or not isinstance(total, int) or total < 1):
        raise CompareError(f"total must be an integer >= 1, got {total!r}")
    return _merge(a, b, total)


def check_comparable(a: StepSchedule, b: StepSchedule) -> None:
    """Refuse two schedules whose positions count different units (steps and epochs).

    Raises:
        CompareError: ``a.mode != b.mode``.

    Example:
        >>> try:
        ...     check_comparable(StepSchedule(0.1), StepSchedule(0.1, mode="epoch"))
        ... except CompareError as error:
        ...     print(str(error)[:59])
        cannot compare a step-mode schedule with an epoch-mode one:
    """
    if a.mode != b.mode:
        raise CompareError(
            f"cannot compare {_with_article(a.mode)}-mode schedule with "
            f"{_with_article(b.mode)}-mode one: their positions count different units; "
            "give both the same mode"
        )


def _with_article(word: str) -> str:
    return f"{'an' if word[:1] in 'aeiou' else 'a'} {word}"


def ratio_of(lr_a: float, lr_b: float) -> float:
    """``lr_b / lr_a`` of the decimals the lrs stand for, total over every pair of lrs >= 0.

    ``math.nan`` for 0/0 (undefined), ``math.inf`` for x/0 and for a ratio beyond
    the largest float.

    Example:
        >>> ratio_of(0.1, 0.02), ratio_of(0.0, 0.1), ratio_of(0.0, 0.0), ratio_of(1e-300, 1e300)
        (0.2, inf, nan, inf)
    """
    if not lr_a:
        return math.nan if not lr_b else math.inf
    try:
        return float(intended_value(lr_b) / intended_value(lr_a))
    except OverflowError:
        return math.inf


def _merge(a: StepSchedule, b: StepSchedule, total: int | None) -> Iterator[Difference]:
    segments_a, segments_b = a.segments(total=total), b.segments(total=total)
    segment_a, segment_b = next(segments_a), next(segments_b)
    start = 0
    while True:
        end = _earlier_end(segment_a.end, segment_b.end)
        lr_a, lr_a_end = _values(a, segment_a, start, end)
        lr_b, lr_b_end = _values(b, segment_b, start, end)
        if (lr_a, lr_a_end) != (lr_b, lr_b_end):
            yield Difference(start, end, lr_a, lr_b, ratio_of(lr_a, lr_b), lr_a_end, lr_b_end)
        if end is None:
            return
        if segment_a.end == end:
            segment_a = next(segments_a, segment_a)
        if segment_b.end == end:
            segment_b = next(segments_b, segment_b)
        start = end + 1
        if total is not None and start >= total:
            return


def _earlier_end(first: int | None, second: int | None) -> int | None:
    if first is None:
        return second
    if second is None:
        return first
    return min(first, second)


def _values(
    schedule: StepSchedule, segment: Segment, start: int, end: int | None
) -> tuple[float, float]:
    if not segment.warmup:
        return segment.lr, segment.lr
    return schedule.lr_at(start), schedule.lr_at(start if end is None else end)


__all__ = [
    "LIST_SEPARATORS",
    "SPEC_KEYS",
    "CompareError",
    "Difference",
    "apply_spec",
    "check_comparable",
    "diff",
    "parse_spec",
    "ratio_of",
]
