"""Differential test of ``check``'s three readings of a log (issue 20).

Every generated log is checked three ways:

* the fast path, :func:`check_log_file` on the file (blocks of 96 bytes, so that
  most logs span several and every kind of block, array or row, is met);
* the row reader, ``check_log(read_log("-"))``, as a pipe is read;
* an oracle written here from the documented rules alone: split lines, pick columns
  by rank, read a step as the exact value of its decimal text, compare with
  ``schedule.lr_at``.

The fast path and the row reader must agree exactly (the same result, or the same
message); the oracle must agree on the answer (refused, or the same points, first
mismatch and count).  The logs include duplicate columns of one rank, options naming
one column twice, float-looking steps (``30.0``, ``3e1``, ``29.99999999999999999``),
sparse rows, blank lines, CRLF line ends and a byte-order mark.  Examples are
bounded (300, seeded by hypothesis's database-free default) so the module runs in CI
in seconds.
"""

from __future__ import annotations

import io
import json
import math
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from stepsched_cli.runlog import (
    LR_COLUMN_NAMES,
    STEP_COLUMN_NAMES,
    CheckResult,
    RunLogError,
    check_log,
    check_log_file,
    chunks,
    read_log,
)
from stepsched_cli.schedule import StepSchedule

TOLERANCE = 1e-6


# -- the oracle -------------------------------------------------------------------------


class Refused(Exception):
    """The oracle refuses the log (the readers must raise RunLogError)."""


@dataclass(frozen=True)
class Answer:
    points: int
    first_mismatch: tuple[int, float, float] | None
    mismatches: int


def _fold(name: str) -> str:
    return name.strip().lower()


def _looks_like_lr(name: str) -> bool:
    if "momentum" in name or name.endswith(("__min", "__max")):
        return False
    last = name.rsplit(" - ", 1)[-1].rsplit("/", 1)[-1]
    return name.startswith("lr-") or last in ("lr", "learning_rate", "learning-rate")


def _one(indices: list[int]) -> int | None:
    if len(indices) > 1:
        raise Refused("two candidates")
    return indices[0] if indices else None


def _choose(names: list[str], explicit: str | None, ranked: tuple[str, ...], lr: bool) -> int:
    if explicit is not None:
        exact = [i for i, name in enumerate(names) if name == explicit]
        found = _one(exact) if exact else _one(
            [i for i, name in enumerate(names) if _fold(name) == _fold(explicit)]
        )  # fmt: skip
        if found is None:
            raise Refused("no such column")
        return found
    folded = [_fold(name) for name in names]
    for candidate in ranked:
        found = _one([i for i, name in enumerate(folded) if name == candidate])
        if found is not None:
            return found
    if lr:
        found = _one([i for i, name in enumerate(folded) if _looks_like_lr(name)])
        if found is None:
            found = _one([i for i, name in enumerate(folded) if name == "value"])
        if found is not None:
            return found
    raise Refused("no column")


def _step(text: object) -> int:
    try:
        value = Decimal(str(text))
    except InvalidOperation:
        raise Refused("step") from None
    if not value.is_finite() or value != value.to_integral_value() or value < 0:
        raise Refused("step")
    return int(value)


def _lr(text: object) -> float:
    if isinstance(text, bool) or not isinstance(text, (int, float, str, Decimal)):
        raise Refused("lr")
    try:
        value = float(text)
    except ValueError:
        raise Refused("lr") from None
    if not math.isfinite(value) or value < 0:
        raise Refused("lr")
    return value


def _csv_points(lines: list[str], options: dict[str, str]) -> list[tuple[int, float]]:
    header = lines[0]
    delimiter = "\t" if "\t" in header and "," not in header else ","
    names = [name.strip() for name in header.split(delimiter)]
    step = _choose(names, options.get("step_column"), STEP_COLUMN_NAMES, lr=False)
    lr = _choose(names, options.get("lr_column"), LR_COLUMN_NAMES, lr=True)
    if step == lr:
        raise Refused("one column for both")
    points = []
    for line in lines[1:]:
        cells = [cell.strip() for cell in line.split(delimiter)]
        if not any(cells):
            continue
        if len(cells) <= max(step, lr):
            raise Refused("short row")
        if cells[lr]:
            points.append((_step(cells[step]), _lr(cells[lr])))
    return points


def _jsonl_points(lines: list[str], options: dict[str, str]) -> list[tuple[int, float]]:
    points = []
    for line in lines:
        if not line.strip():
            continue
        record = json.loads(line, parse_float=Decimal)
        names = list(record)
        try:
            lr = _choose(names, options.get("lr_column"), LR_COLUMN_NAMES, lr=True)
        except Refused as refusal:
            if str(refusal) == "no column" or str(refusal) == "no such column":
                continue  # a sparse object
            raise
        step = _choose(names, options.get("step_column"), STEP_COLUMN_NAMES, lr=False)
        if step == lr:
            raise Refused("one key for both")
        if record[names[lr]] is not None:
            points.append((_step(record[names[step]]), _lr(record[names[lr]])))
    return points


def oracle(data: bytes, suffix: str, schedule: StepSchedule, options: dict[str, str]) -> Answer:
    text = data.decode("utf-8").removeprefix("\ufeff").replace("\r\n", "\n")
    lines = text.split("\n")
    while lines and not lines[0].strip():
        lines.pop(0)
    if not lines:
        raise Refused("empty")
    points = (_csv_points if suffix == "csv" else _jsonl_points)(lines, options)
    mismatches, first = 0, None
    for step, logged in points:
        expected = schedule.lr_at(step)
        if abs(logged - expected) > TOLERANCE * max(abs(logged), abs(expected)):
            mismatches += 1
            first = first or (step, expected, logged)
    if not points:
        raise Refused("no points")
    return Answer(len(points), first, mismatches)


# -- the generated logs -------------------------------------------------------------------

SCHEDULE = StepSchedule(0.1, step_size=7, gamma=0.5)
STEP_NAMES = ["step", "Step", "global_step", "_step", "iteration"]
LR_NAMES = ["lr", "LR", "learning_rate", "lr-SGD", "train/lr", "Value"]


@st.composite
def step_texts(draw: st.DrawFn, step: int) -> str:
    form = draw(st.sampled_from(["int", "int", "int", "point", "exponent", "near"]))
    if form == "point":
        return f"{step}.{'0' * draw(st.integers(1, 3))}"
    if form == "exponent":
        return f"{step}e0" if step % 10 else f"{step // 10}e1"
    if form == "near":
        return f"{step}.00000000000000000001" if step else "0.5"
    return str(step)


@st.composite
def logs(draw: st.DrawFn) -> tuple[bytes, str, dict[str, str]]:
    suffix = draw(st.sampled_from(["csv", "jsonl"]))
    step_name = draw(st.sampled_from(STEP_NAMES))
    lr_name = draw(st.sampled_from(LR_NAMES))
    names = [step_name, lr_name]
    duplicate = draw(st.sampled_from([None, None, "step", "lr"]))
    if duplicate is not None:
        twin = step_name if duplicate == "step" else lr_name
        names.append(twin.swapcase() if suffix == "jsonl" or draw(st.booleans()) else twin)
    if draw(st.booleans()):
        names.insert(draw(st.integers(0, len(names))), "loss")
    options: dict[str, str] = {}
    choice = draw(st.sampled_from(["none", "none", "same", "explicit"]))
    if choice == "same":
        column = draw(st.sampled_from([step_name, lr_name]))
        options = {"step_column": column, "lr_column": column.upper()}
    elif choice == "explicit":
        options = {"step_column": step_name, "lr_column": lr_name}
    factor = draw(st.sampled_from([1, 1, 2]))
    steps = sorted(set(draw(st.lists(st.integers(0, 60), min_size=1, max_size=40))))
    rows = []
    for step in steps:
        lr = SCHEDULE.lr_at(factor * step)
        if draw(st.integers(0, 9)) == 0:
            lr *= 1 + 1e-5
        lr_text = "" if draw(st.integers(0, 12)) == 0 else repr(lr)
        values = dict.fromkeys(names, "0.5")
        values[step_name] = draw(step_texts(step))
        values[lr_name] = lr_text
        if duplicate is not None:
            values[names[2]] = values[step_name if duplicate == "step" else lr_name]
        rows.append([values[name] for name in names])
    if suffix == "csv":
        lines = [",".join(names)] + [",".join(row) for row in rows]
    else:
        lines = [
            "{"
            + ", ".join(f"{json.dumps(n)}: {c or 'null'}" for n, c in zip(names, row, strict=True))
            + "}"
            for row in rows
        ]
    for _ in range(draw(st.integers(0, 3))):
        lines.insert(draw(st.integers(0 if suffix == "jsonl" else 1, len(lines))), "")
    ending = draw(st.sampled_from(["\n", "\n", "\r\n"]))
    text = ending.join(lines) + ending
    prefix = b"\xef\xbb\xbf" if draw(st.integers(0, 5)) == 0 else b""
    return prefix + text.encode(), suffix, options


# -- the comparison -------------------------------------------------------------------------


@pytest.fixture(autouse=True)
def small_blocks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(chunks, "CHUNK_BYTES", 96)


def _fast(path: Path, options: dict[str, str]) -> CheckResult | str:
    try:
        return check_log_file(path, SCHEDULE, tolerance=TOLERANCE, **options)  # type: ignore[arg-type]
    except RunLogError as error:
        return str(error)


def _rows(data: bytes, suffix: str, options: dict[str, str], source: Path) -> CheckResult | str:
    import sys

    saved = sys.stdin
    sys.stdin = io.TextIOWrapper(io.BytesIO(data), encoding="utf-8")
    try:
        points = read_log("-", log_format="jsonl" if suffix == "jsonl" else "csv", **options)  # type: ignore[arg-type]
        return check_log(points, SCHEDULE, tolerance=TOLERANCE)
    except RunLogError as error:
        return str(error).replace("<stdin>", str(source))
    finally:
        sys.stdin = saved


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(log=logs())
def test_fast_path_row_reader_and_oracle_agree(
    tmp_path_factory: pytest.TempPathFactory, log: tuple[bytes, str, dict[str, Any]]
) -> None:
    data, suffix, options = log
    path = tmp_path_factory.mktemp("log") / f"run.{suffix}"
    path.write_bytes(data)
    fast, rows = _fast(path, options), _rows(data, suffix, options, path)
    assert fast == rows
    try:
        expected = oracle(data, suffix, SCHEDULE, options)
    except Refused:
        assert isinstance(fast, str) or fast.points_checked == 0
        return
    assert isinstance(fast, CheckResult), fast
    first = fast.first_mismatch_step
    assert (fast.points_checked, fast.mismatches) == (expected.points, expected.mismatches)
    if expected.first_mismatch is None:
        assert fast.ok
    else:
        assert (first, fast.expected_lr, fast.logged_lr) == expected.first_mismatch
