"""The fast check of a log file: the same answers and errors as the row-by-row check.

Every test compares :func:`check_log_file` with ``check_log(read_log(...))``, whose
answers the other tests pin; blocks are made small so that a few rows already span
several blocks, and each kind of row the fast path cannot take is placed in a later
block to check that its message and line number are the row reader's.
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import math
import re
import tracemalloc
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from stepsched_cli.runlog import (
    CheckResult,
    RunLogError,
    check_log,
    check_log_file,
    chunks,
    read_log,
)
from stepsched_cli.runlog.fast import expected_lrs
from stepsched_cli.runlog.vector import read_block
from stepsched_cli.schedule import StepSchedule

LOGS = Path(__file__).resolve().parent.parent / "data" / "logs"
MANIFEST = json.loads((LOGS / "manifest.json").read_text())
STEP20 = StepSchedule(0.1, step_size=20, gamma=0.5)


@pytest.fixture(autouse=True)
def small_blocks(monkeypatch: pytest.MonkeyPatch) -> None:
    """Blocks of 64 bytes: a few rows each, so every log spans several."""
    monkeypatch.setattr(chunks, "CHUNK_BYTES", 64)


def row_by_row(path: Path, schedule: StepSchedule, **options: Any) -> CheckResult | str:
    keys = ("log_format", "step_column", "lr_column")
    reading = {key: value for key, value in options.items() if key in keys}
    checking = {key: value for key, value in options.items() if key not in keys}
    try:
        return check_log(read_log(path, **reading), schedule, **checking)
    except RunLogError as error:
        return str(error)


def fast(path: Path, schedule: StepSchedule, **options: Any) -> CheckResult | str:
    try:
        return check_log_file(path, schedule, **options)
    except RunLogError as error:
        return str(error)


def schedule_from(entry: dict[str, Any]) -> StepSchedule:
    parameters = dict(entry["schedule"])
    if "milestones" in parameters:
        parameters["milestones"] = tuple(parameters["milestones"])
    return StepSchedule(**parameters)


@pytest.mark.parametrize("entry", MANIFEST["logs"], ids=lambda entry: entry["file"])
def test_recorded_runs_get_the_row_by_row_answer(entry: dict[str, Any]) -> None:
    path, schedule = LOGS / entry["file"], schedule_from(entry)
    expected = row_by_row(path, schedule, steps_per_epoch=entry["steps_per_epoch"])
    assert isinstance(expected, CheckResult)
    assert fast(path, schedule, steps_per_epoch=entry["steps_per_epoch"]) == expected


def correct_rows(count: int, schedule: StepSchedule = STEP20) -> list[str]:
    return [f"{t},{schedule.lr_at(t)}" for t in range(count)]


# A correct log with one odd row at line 40 (blocks of 64 bytes: far from the first).
ODD_ROWS = [
    ("0.05", None),  # a mismatch: the diagnosis comes from the row-by-row pass
    ("\u0660.05", "lr '\u0660.05' is not a learning rate (a finite number >= 0)"),
    ("abc", "lr 'abc' is not a learning rate"),
    ("-0.1", "lr '-0.1' is not a learning rate"),
    ("nan", "lr 'nan' is not a learning rate"),
    ("1e999", "lr '1e999' is not a learning rate"),
    ("0_1", "lr '0_1' is not a learning rate"),
    ('"0.1"', None),  # quoted: the whole log is read row by row
    ("", None),  # an empty lr cell: the row is skipped
    (" 0.1", None),  # spaces are stripped
    ("0.1,extra", None),  # more cells than the header: allowed
    ("0.1\r", None),  # a lone carriage return is a line break to the text reader
]


@pytest.mark.parametrize(("cell", "message"), ODD_ROWS)
def test_an_odd_row_in_a_later_block(tmp_path: Path, cell: str, message: str | None) -> None:
    rows = correct_rows(60)
    step = 39
    rows[step] = f"{step},{cell}"
    path = tmp_path / "run.csv"
    path.write_text("step,lr\n" + "\n".join(rows) + "\n", encoding="utf-8")
    expected = row_by_row(path, STEP20)
    assert fast(path, STEP20) == expected
    if message is not None:
        assert isinstance(expected, str)
        assert expected.startswith(f"{path} line 41: {message}")


@pytest.mark.parametrize(
    ("text", "options"),
    [
        ("step,lr\r\n" + "".join(f"{t},0.1\r\n" for t in range(20)), {}),
        ("\ufeffStep,LR\n" + "".join(f"{t},0.1\n" for t in range(20)), {}),
        ("\n\nstep\tlr\n" + "".join(f"{t}\t0.1\n" for t in range(20)), {}),
        ("step,lr\n" + "".join(f"{t},0.1\n" for t in range(20)) + "\n\n5,0.1", {}),
        ("step,lr\n" + "".join(f"{t},+.1e0\n" for t in range(20)), {}),
        ("step,lr\n" + "".join(f"{t}.0,0.1\n" for t in range(20)), {}),
        ("step,lr\n" + "".join(f"{t},0.1\n" for t in range(20)) + "x,0.1\n", {}),
        ("step,lr\n" + "".join(f"{t},0.1\n" for t in range(20)) + "3\n", {}),
        ("step,lr\n" + "".join(f"{t},0.1\n" for t in range(20)) + "1,0\x00\n", {}),
        ("step,lr\n" + "".join(f"{t},0.1\n" for t in range(20)) + "1,\xe9\n", {}),
        ("step,lr\n" + "".join(f"{2**60 + t},0.1\n" for t in range(20)), {}),
        ("Wall time,Step,Value\n" + "".join(f"1.5,{t},0.1\n" for t in range(20)), {}),
        ("a,b\n" + "".join(f"{t},0.1\n" for t in range(20)), {}),
        ("a,b\n" + "".join(f"{t},0.1\n" for t in range(20)), {"step_column": "a"}),
        ("a,b\n" + "".join(f"{t},0.1\n" for t in range(20)), {"log_format": "jsonl"}),
        ('step,"lr"\n' + "".join(f"{t},0.1\n" for t in range(20)), {}),
        ("", {}),
        ("step,lr\n", {}),
        ("\n \n", {}),
    ],
)
def test_csv_variants(tmp_path: Path, text: str, options: dict[str, Any]) -> None:
    path = tmp_path / "run.log"
    path.write_bytes(text.encode("utf-8"))
    assert fast(path, STEP20, **options) == row_by_row(path, STEP20, **options)


def jsonl(records: list[dict[str, Any]]) -> str:
    return "".join(json.dumps(record) + "\n" for record in records)


@pytest.mark.parametrize(
    "text",
    [
        jsonl([{"step": t, "lr": STEP20.lr_at(t)} for t in range(40)]),
        jsonl([{"lr": STEP20.lr_at(t), "loss": 2.5e-3, "global_step": t} for t in range(40)]),
        jsonl([{"step": t, "lr": STEP20.lr_at(4 * t)} for t in range(40)]),
        jsonl([{"step": t, "lr": 0.1} for t in range(20)]) + "\n" + jsonl([{"step": 3}]),
        jsonl([{"step": t, "lr": 0.1} for t in range(20)]) + '{"step": 3, "lr": NaN}\n',
        jsonl([{"step": t, "lr": 0.1} for t in range(20)]) + '{"step": 3, "lr": 1e999}\n',
        jsonl([{"step": t, "lr": 0.1} for t in range(20)]) + '{"step": 3, "lr": "0.1"}\n',
        jsonl([{"step": t, "lr": 0.1} for t in range(20)]) + '{"step": 3, "step": 4, "lr": 1}\n',
        jsonl([{"step": t, "lr": 0.1} for t in range(20)]) + '{"step": -3, "lr": 0.1}\n',
        jsonl([{"step": t, "lr": 0.1} for t in range(20)]) + '{"step": 3.0, "lr": 1}\n',
        jsonl([{"step": t, "lr": 0.1, "note": "x"} for t in range(20)]),
        jsonl([{"step": t, "lr": 0.1, "loss": 1e300} for t in range(20)]),
        jsonl([{"step": 10**20 + t, "lr": 0.1} for t in range(20)]),
        jsonl([{"step": t, "lr": 0.1} for t in range(20)]) + "[1, 2]\n",
    ],
)
def test_jsonl_variants(tmp_path: Path, text: str) -> None:
    path = tmp_path / "run.jsonl"
    path.write_text(text, encoding="utf-8")
    assert fast(path, STEP20) == row_by_row(path, STEP20)


def test_epoch_schedules_and_warmup(tmp_path: Path) -> None:
    schedule = StepSchedule(
        0.1, milestones=(3, 7), gamma=0.1, warmup_steps=2, warmup_start_lr=0.01, mode="epoch"
    )
    path = tmp_path / "run.csv"
    path.write_text("step,lr\n" + "".join(f"{t},{schedule.lr_at(t // 8)}\n" for t in range(120)))
    result = fast(path, schedule, steps_per_epoch=8)
    assert dataclasses.replace(result, decays=()) == CheckResult(
        True, None, None, None, None, 120, 0
    )
    # Epochs 3 and 7 at 8 steps each; the warmup's changes are not decays.
    assert [(row.planned_at, row.observed_at) for row in result.decays] == [(24, 24), (56, 56)]
    assert result == row_by_row(path, schedule, steps_per_epoch=8)
    assert fast(path, schedule, steps_per_epoch=7) == row_by_row(path, schedule, steps_per_epoch=7)


def test_standard_input_is_read_row_by_row(monkeypatch: pytest.MonkeyPatch) -> None:
    import io

    monkeypatch.setattr("sys.stdin", io.StringIO("step,lr\n0,0.1\n1,0.1\n"))
    assert check_log_file("-", STEP20) == CheckResult(True, None, None, None, None, 2, 0)


def test_arguments_and_files_are_checked_first(tmp_path: Path) -> None:
    with pytest.raises(RunLogError, match="missing.csv: no such file"):
        check_log_file(tmp_path / "missing.csv", STEP20)
    with pytest.raises(RunLogError, match="tolerance must be a number"):
        check_log_file(tmp_path / "missing.csv", STEP20, tolerance=2.0)


def test_progress_is_reported_with_growing_counts(tmp_path: Path) -> None:
    path = tmp_path / "run.csv"
    path.write_text("step,lr\n" + "\n".join(correct_rows(100)) + "\n")
    seen: list[int] = []
    assert check_log_file(path, STEP20, progress=seen.append).ok
    assert seen == sorted(seen)
    assert seen[-1] == 100
    assert len(seen) > 5


def test_memory_stays_flat(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """An 18 MB log is checked in blocks of 256 KiB: the peak is a few blocks' worth."""
    monkeypatch.setattr(chunks, "CHUNK_BYTES", 1 << 18)
    schedule = StepSchedule(0.1, step_size=10**7, gamma=0.1)
    path = tmp_path / "run.csv"
    with path.open("w") as handle:
        handle.write("step,lr\n")
        for start in range(0, 1_800_000, 100_000):
            handle.write("".join(f"{t},0.1\n" for t in range(start, start + 100_000)))
    tracemalloc.start()
    try:
        result = check_log_file(path, schedule)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert result == CheckResult(True, None, None, None, None, 1_800_000, 0)
    assert path.stat().st_size > 18_000_000
    assert peak < 8_000_000, peak


# -- properties -----------------------------------------------------------------------

schedules = st.builds(
    StepSchedule,
    initial_lr=st.sampled_from([0.1, 1.0, 3e-4]),
    step_size=st.integers(1, 12),
    gamma=st.sampled_from([0.1, 0.5, 0.9]),
    warmup_steps=st.integers(0, 5),
)


@settings(max_examples=40, deadline=None)
@given(
    schedule=schedules,
    length=st.integers(1, 80),
    factor=st.sampled_from([1, 1, 2, 3]),
    tolerance=st.sampled_from([0.0, 1e-6, 0.01]),
    data=st.data(),
)
def test_property_fast_equals_row_by_row(
    tmp_path_factory: pytest.TempPathFactory,
    schedule: StepSchedule,
    length: int,
    factor: int,
    tolerance: float,
    data: Any,
) -> None:
    lrs = [schedule.lr_at(factor * t) for t in range(length)]
    if data.draw(st.booleans()):
        index = data.draw(st.integers(0, length - 1))
        lrs[index] = data.draw(st.sampled_from([lrs[index] * (1 + 1e-7), 0.0, 5.0]))
    path = tmp_path_factory.mktemp("log") / "run.csv"
    path.write_text("step,lr\n" + "".join(f"{t},{lr!r}\n" for t, lr in enumerate(lrs)))
    expected = row_by_row(path, schedule, tolerance=tolerance)
    assert fast(path, schedule, tolerance=tolerance) == expected


numbers = st.one_of(
    st.floats(min_value=0, allow_nan=False, allow_infinity=False).map(repr),
    st.floats(min_value=0, max_value=1e6).map(lambda value: f"{value:.{len(repr(value))}g}"),
    st.from_regex(
        re.compile(r"\+?[0-9]{1,20}(\.[0-9]{0,20})?([eE][+-]?[0-9]{1,3})?"), fullmatch=True
    ),
)


@settings(max_examples=200, deadline=None)
@given(cells=st.lists(numbers, min_size=1, max_size=30))
def test_property_block_numbers_are_float_of_the_text(cells: list[str]) -> None:
    """Exact values equal float(); inexact ones are within 2 ulp and re-read exactly."""
    values = [float(cell) for cell in cells]
    if not all(math.isfinite(value) for value in values) or max(map(len, cells)) > 40:
        return
    text = "".join(f"{t},{cell}\n" for t, cell in enumerate(cells)).encode()
    block = read_block(text, 2, 0, 1, ord(","))
    assert block is not None
    assert block.steps.tolist() == list(range(len(cells)))
    for index, value in enumerate(values):
        assert block.exact_lr(index) == value
        if not block.inexact[index]:
            assert block.lrs[index] == value
        else:
            assert abs(block.lrs[index] - value) <= 2 * math.ulp(value)


@pytest.mark.parametrize(
    "schedule",
    [
        StepSchedule(0.1, milestones=(3, 7, 20), gamma=0.3, warmup_steps=4),
        StepSchedule(0.1, milestones=(3, 2**70), gamma=0.3),
        StepSchedule(0.1, step_size=2**80, gamma=0.5),
        StepSchedule(0.1, step_size=3, gamma=0.5, warmup_steps=2**70),
        StepSchedule(0.1, step_size=1, gamma=0.5),
    ],
)
def test_expected_lrs_are_lr_at(schedule: StepSchedule) -> None:
    positions = np.array(
        [0, 30, 1, 2, 3, 4, 9, 10, 11, 23, 24, 25, 2000, 10**15, 10**16 - 1], dtype=np.int64
    )
    assert expected_lrs(schedule, positions).tolist() == [
        schedule.lr_at(int(position)) for position in positions
    ]


def test_a_fifo_is_read_once(tmp_path: Path) -> None:
    """A pipe cannot be read twice: a mismatching log through a FIFO is still diagnosed."""
    import os
    import threading

    text = "step,lr\n" + "".join(f"{t},{STEP20.lr_at(4 * t)}\n" for t in range(40))
    regular = tmp_path / "run.csv"
    regular.write_text(text)
    fifo = tmp_path / "fifo.csv"
    os.mkfifo(fifo)

    def feed() -> None:
        with fifo.open("w") as writer:
            writer.write(text)

    writer = threading.Thread(target=feed)
    writer.start()
    try:
        result = check_log_file(fifo, STEP20)
    finally:
        writer.join(timeout=10)
    expected = check_log_file(regular, STEP20)
    assert result == expected
    assert expected.diagnosis is not None
    assert (expected.diagnosis.kind, expected.diagnosis.factor) == ("early", 4)


def many_numbers() -> list[str]:
    """Distinct number texts of every shape the grammar allows, more than 64 of them."""
    import random

    rng = random.Random(7)
    texts = [repr(rng.random() * 10.0 ** rng.randint(-30, 10)) for _ in range(300)]
    texts += [f"{rng.random() * 10.0 ** rng.randint(-300, 300):.{rng.randint(1, 19)}g}"
              for _ in range(300)]  # fmt: skip
    texts += [
        "0", "0.0", "+.5", "5.", "000123.4500", "1e5", "1E-3", "2.5e+22", "7e-23",
        "1e0400", "4.9e-324", "1e-320", "2.2250738585072011e-308", "1.7976931348623157e308",
        "9007199254740993", "123456789012345678901234", "0.123456789012345678",
    ]  # fmt: skip
    return [text for text in texts if math.isfinite(float(text)) and len(text) <= 40]


def test_many_distinct_lrs_are_read_by_the_vectorised_parser() -> None:
    cells = many_numbers()
    text = "".join(f"{t},{cell}\n" for t, cell in enumerate(cells)).encode()
    block = read_block(text, 2, 0, 1, ord(","))
    assert block is not None
    assert block.inexact.any()
    for index, cell in enumerate(cells):
        value = float(cell)
        assert block.exact_lr(index) == value
        if block.inexact[index]:
            assert abs(block.lrs[index] - value) <= 2 * math.ulp(value)
        else:
            assert block.lrs[index] == value


@pytest.mark.parametrize(
    "bad", ["abc", "-0.1", "1e", ".", "1..2", "1e999", "0x10", "1e5.5", "1-2", "+", "e5", "1e+"]
)
def test_a_bad_lr_among_many_distinct_ones_refuses_the_block(bad: str) -> None:
    cells = [*many_numbers()[:100], bad]
    text = "".join(f"{t},{cell}\n" for t, cell in enumerate(cells)).encode()
    assert read_block(text, 2, 0, 1, ord(",")) is None


@pytest.mark.parametrize(
    "rows",
    [b"", b"1,0.1\n2\n", b"x1,0.1\n", b"123456789012345678,0.1\n", b"1," + b"1" * 41 + b"\n"],
)
def test_blocks_the_fast_path_leaves_to_the_row_reader(rows: bytes) -> None:
    assert read_block(b"0,0.1\n" + rows if rows else rows, 2, 0, 1, ord(",")) is None


BUGS = {
    "faithful": lambda t, k, r: t,
    "early": lambda t, k, r: k * t + r % k,
    "late": lambda t, k, r: t // k,
    "late_up": lambda t, k, r: -(-t // k),
    "ahead": lambda t, k, r: t + 1,
    "behind": lambda t, k, r: max(0, t - 1),
    "reset": lambda t, k, r: t if t < r else t - r,
    "constant": lambda t, k, r: 0,
}

bug_schedules = st.one_of(
    schedules,
    st.builds(
        StepSchedule,
        initial_lr=st.just(0.1),
        milestones=st.sampled_from([(3, 9, 10), (5, 40), (1,)]),
        gamma=st.sampled_from([0.5, 0.1]),
        warmup_steps=st.integers(0, 8),
        warmup_start_lr=st.sampled_from([0.0, 0.2]),
        mode=st.sampled_from(["step", "epoch"]),
    ),
)


@settings(max_examples=120, deadline=None)
@given(
    schedule=bug_schedules,
    bug=st.sampled_from(sorted(BUGS)),
    factor=st.integers(2, 5),
    shift=st.integers(1, 60),
    gaps=st.lists(st.integers(1, 40), min_size=1, max_size=150),
    steps_per_epoch=st.sampled_from([None, 3]),
)
def test_property_blocks_leave_the_checker_as_points_do(
    tmp_path_factory: pytest.TempPathFactory,
    schedule: StepSchedule,
    bug: str,
    factor: int,
    shift: int,
    gaps: list[int],
    steps_per_epoch: int | None,
) -> None:
    """Sparse logs of every bug, in blocks of a few rows: the same result and diagnosis."""
    steps = list(itertools.accumulate(gaps, initial=0))
    scale = steps_per_epoch if schedule.mode == "epoch" and steps_per_epoch else 1
    positions = [BUGS[bug](step // scale, factor, shift) for step in steps]
    rows = "".join(f"{s},{schedule.lr_at(p)!r}\n" for s, p in zip(steps, positions, strict=True))
    path = tmp_path_factory.mktemp("log") / "run.csv"
    path.write_text("step,lr\n" + rows)
    expected = row_by_row(path, schedule, steps_per_epoch=steps_per_epoch)
    assert fast(path, schedule, steps_per_epoch=steps_per_epoch) == expected


@pytest.mark.parametrize(
    ("pieces", "line"),
    [
        ([b"step,lr\n0,0.1\n", b"7" * 300], 3),
        ([b"step,lr\n0,0.1\n", b"7" * 300, b"\n1,0.1\n"], 3),
        ([b"step,lr\n" + b"0,0.1\n" * 30, b"7" * 100, b"\n1,0.1\n"], 32),
        ([b"step,lr\n0,0.1\n", "\u00e9".encode() * 100, b"\n1,0.1\n"], 3),
        ([b'{"step": 0, "lr": 0.1}\n', b" " * 300], 2),
    ],
)
def test_long_lines_in_blocks(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, pieces: list[bytes], line: int
) -> None:
    """With the bound at 64 characters, blocks of 64 bytes meet long lines everywhere."""
    from stepsched_cli.runlog import rows as reading

    monkeypatch.setattr(reading, "MAX_LINE_LENGTH", 64)
    monkeypatch.setattr(chunks, "MAX_LINE_LENGTH", 64)
    monkeypatch.setattr(chunks, "CHUNK_BYTES", 128)
    path = tmp_path / "run.log"
    path.write_bytes(b"".join(pieces))
    message = f"{path} line {line}: is longer than 64 characters (MAX_LINE_LENGTH)"
    assert row_by_row(path, STEP20).startswith(message)  # type: ignore[union-attr]
    assert fast(path, STEP20) == row_by_row(path, STEP20)


@pytest.mark.parametrize(
    "text",
    [
        b"\xffstep,lr\n0,0.1\n",
        b"step,lr\n" + b"0,0.1\n" * 30 + b"1,\xff\n",
        b"\n\r\nstep,lr\n0,0.1\n",
        b'{"a": 1}\n' * 20 + b'{"step": 1, "lr": 0.1}\n',
        b'{"step": 1, "lr": 0.1, "lr-SGD": 0.2}\n' * 20,
    ],
)
def test_odd_files(tmp_path: Path, text: bytes) -> None:
    path = tmp_path / "run.log"
    path.write_bytes(text)
    assert fast(path, STEP20) == row_by_row(path, STEP20)


def test_standard_input_reports_progress(monkeypatch: pytest.MonkeyPatch) -> None:
    import io

    from stepsched_cli.runlog import fast as fast_module

    monkeypatch.setattr(fast_module, "_PROGRESS_EVERY", 4)
    monkeypatch.setattr("sys.stdin", io.StringIO("step,lr\n" + "\n".join(correct_rows(10))))
    seen: list[int] = []
    assert check_log_file("-", STEP20, progress=seen.append).ok
    assert seen == [4, 8]
