"""The four wrong answers of issue 20, each tested over its whole class.

1. One column chosen for both the step and the lr: a usage error from every reader,
   the file (fast path) and the pipe (row reader) alike, whatever the log's quirks.
2. Two columns or keys of one rank (``lr`` and ``LR``): an error naming both, for
   every rank and both readers.
3. A step read through a float: a step is decided from its text, exactly.
4. ``solve --gamma`` near 1: decays counted with the decimal gamma the values use.
"""

from __future__ import annotations

import io
import json
import re
from collections.abc import Callable
from decimal import Decimal
from fractions import Fraction
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from stepsched_cli.cli.app import app
from stepsched_cli.runlog import (
    LR_COLUMN_NAMES,
    STEP_COLUMN_NAMES,
    CheckResult,
    ColumnConflictError,
    RunLogError,
    check_log_file,
    chunks,
    read_log,
)
from stepsched_cli.schedule import StepSchedule
from stepsched_cli.solve import GAMMA_MATCH_TOLERANCE, solve
from stepsched_cli.validate import whole_number

SCHEDULE = StepSchedule(0.1, step_size=30, gamma=0.1)


def by_file(path: Path, **options: str) -> CheckResult:
    """``check`` of a regular file: the fast path."""
    return check_log_file(path, SCHEDULE, **options)  # type: ignore[arg-type]


def by_pipe(path: Path, monkeypatch: pytest.MonkeyPatch, **options: str) -> CheckResult:
    """``check -`` of the same bytes: the row reader on standard input."""
    stdin = io.TextIOWrapper(io.BytesIO(path.read_bytes()), encoding="utf-8")
    monkeypatch.setattr("sys.stdin", stdin)
    format_options = {"log_format": "jsonl" if path.suffix == ".jsonl" else "csv"}
    return check_log_file("-", SCHEDULE, **format_options, **options)  # type: ignore[arg-type]


def refusal(read: Callable[[], CheckResult]) -> RunLogError:
    with pytest.raises(RunLogError) as raised:
        read()
    return raised.value


# -- 1. one column for both -------------------------------------------------------------

ROWS = [(t, SCHEDULE.lr_at(t)) for t in range(0, 400, 7)]
CSV_BODY = "".join(f"{t},{lr!r}\n" for t, lr in ROWS)
# Every quirk a log may have that the readers treat apart.
QUIRKS = {
    "plain.csv": b"step,lr\n" + CSV_BODY.encode(),
    "byte-order-mark.csv": b"\xef\xbb\xbfstep,lr\n" + CSV_BODY.encode(),
    "crlf.csv": ("step,lr\n" + CSV_BODY).replace("\n", "\r\n").encode(),
    "tabs.csv": ("step\tlr\n" + CSV_BODY.replace(",", "\t")).encode(),
    "blank-lines.csv": b"\n\n \nstep,lr\n\n" + CSV_BODY.encode() + b"\n\n",
    "quoted.csv": b'"step","lr"\n' + CSV_BODY.encode(),
    "wide.csv": b"Wall time,step,lr,loss\n"
    + "".join(f"1.5,{t},{lr!r},0.3\n" for t, lr in ROWS).encode(),
    "three-digit.csv": b"step,lr\n" + "".join(f"{t},{t}\n" for t in range(100, 200)).encode(),
    "plain.jsonl": "".join(json.dumps({"step": t, "lr": lr}) + "\n" for t, lr in ROWS).encode(),
    "lr-first.jsonl": "".join(json.dumps({"lr": lr, "step": t}) + "\n" for t, lr in ROWS).encode(),
    "sparse.jsonl": "".join(
        json.dumps({"step": t, "lr": lr} if t % 2 else {"step": t, "loss": 1}) + "\n"
        for t, lr in ROWS
    ).encode(),
    "three-digit.jsonl": "".join(f'{{"step": {t}, "lr": {t}}}\n' for t in range(100, 200)).encode(),
}
SAME_COLUMN_OPTIONS = [
    ({"step_column": "lr", "lr_column": "lr"}, "step_column"),
    ({"step_column": "LR", "lr_column": " lr"}, "step_column"),
    ({"step_column": "lr"}, "step_column"),
    ({"lr_column": "step"}, "lr_column"),
]


@pytest.fixture(autouse=True)
def small_blocks(monkeypatch: pytest.MonkeyPatch) -> None:
    """Blocks of 256 bytes, so the fast path reads every log in several."""
    monkeypatch.setattr(chunks, "CHUNK_BYTES", 256)


@pytest.mark.parametrize(("options", "parameter"), SAME_COLUMN_OPTIONS)
@pytest.mark.parametrize("name", sorted(QUIRKS))
def test_one_column_for_both_is_refused_alike_by_file_and_pipe(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    name: str,
    options: dict[str, str],
    parameter: str,
) -> None:
    path = tmp_path / name
    path.write_bytes(QUIRKS[name])
    from_file = refusal(lambda: by_file(path, **options))
    from_pipe = refusal(lambda: by_pipe(path, monkeypatch, **options))
    assert isinstance(from_file, ColumnConflictError)
    assert isinstance(from_pipe, ColumnConflictError)
    assert from_file.parameter == from_pipe.parameter == parameter
    column = "step" if options.get("lr_column") == "step" else "lr"
    expected = f"'{column}' cannot be both the step and the lr column"
    assert from_file.detail.endswith(expected)
    assert from_pipe.detail.replace("<stdin>", str(path)) == from_file.detail


@pytest.mark.parametrize("name", sorted(QUIRKS))
def test_file_and_pipe_give_the_same_answer(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str
) -> None:
    """Without conflicting options every quirk reads the same both ways."""
    path = tmp_path / name
    path.write_bytes(QUIRKS[name])
    assert by_file(path) == by_pipe(path, monkeypatch)


@pytest.mark.parametrize("suffix", ["csv", "jsonl"])
def test_the_command_line_calls_it_a_usage_error(tmp_path: Path, suffix: str) -> None:
    path = tmp_path / f"run.{suffix}"
    path.write_bytes(QUIRKS[f"three-digit.{suffix}"])
    for source, stdin in ((str(path), None), ("-", path.read_bytes())):
        result = CliRunner().invoke(
            app,
            ["check", source, "--lr", "0.1", "--step-column", "lr", "--lr-column", "lr"],
            input=stdin,
        )
        shown = source if source != "-" else "<stdin>"
        assert result.exit_code == 2, result.output
        assert result.stdout == ""
        assert result.stderr == (
            f"stepsched: error: Invalid value for '--step-column': {shown}"
            f"{' line 1' if suffix == 'jsonl' else ''}: 'lr' cannot be both the step and "
            "the lr column (see 'stepsched check --help')\n"
        )


# -- 2. two candidates of one rank ------------------------------------------------------

RANKS = [("step", name) for name in STEP_COLUMN_NAMES] + [
    ("lr", name) for name in (*LR_COLUMN_NAMES, "lr-SGD", "train/lr", "value")
]


def _pair(name: str) -> tuple[str, str]:
    """Two spellings of one name that both fold to it."""
    return name, name.upper() if name != name.upper() else name.lower()


@pytest.mark.parametrize(("what", "name"), RANKS)
@pytest.mark.parametrize("suffix", ["csv", "jsonl"])
def test_two_candidates_of_one_rank_are_an_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, what: str, name: str, suffix: str
) -> None:
    first, second = _pair(name)
    other = {"step": "lr", "lr": "step"}[what]
    if suffix == "csv":
        text = f"{first},{other},{second}\n0,0.1,0.1\n30,0.01,0.1\n"
    else:
        text = "".join(
            json.dumps({first: value, other: value, second: value}) + "\n" for value in (0, 30)
        )
    path = tmp_path / f"pasted.{suffix}"
    path.write_text(text)
    for error in (refusal(lambda: by_file(path)), refusal(lambda: by_pipe(path, monkeypatch))):
        assert error.parameter == f"{what}_column"
        assert f"'{first}', '{second}'" in error.detail
        assert str(error).endswith(f"; choose one with {what}_column")
    result = CliRunner().invoke(app, ["check", str(path), "--lr", "0.1"])
    assert result.exit_code == 1
    assert result.stderr.endswith(f"'{second}'); choose one with --{what}-column\n")


def test_an_explicit_name_chooses_between_spellings(tmp_path: Path) -> None:
    path = tmp_path / "pasted.csv"
    path.write_text("step,lr,LR\n0,0.1,5\n30,0.01,5\n")
    assert by_file(path, lr_column="lr").ok
    assert not by_file(path, lr_column="LR").ok


@pytest.mark.parametrize("suffix", ["csv", "jsonl"])
def test_an_explicit_name_matching_two_spellings_is_an_error(tmp_path: Path, suffix: str) -> None:
    path = tmp_path / f"pasted.{suffix}"
    if suffix == "csv":
        path.write_text("step,Lr,LR\n0,0.1,5\n")
    else:
        path.write_text('{"step": 0, "Lr": 0.1, "LR": 5}\n')
    error = refusal(lambda: by_file(path, lr_column="lr"))
    assert error.parameter == "lr_column"
    assert "several candidates for the lr ('Lr', 'LR')" in error.detail


def test_two_columns_of_one_exact_name_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "twice.csv"
    path.write_text("step,lr,lr\n0,0.1,5\n")
    error = refusal(lambda: by_file(path, lr_column="lr"))
    assert str(error) == (
        f"{path}: 2 columns are named 'lr': which one holds the lr is not established"
    )


# -- 3. steps decided from their text ----------------------------------------------------

STEP_TEXTS = [
    ("30", 30),
    ("30.0", 30),
    ("3e1", 30),
    ("3.0E+1", 30),
    ("300e-1", 30),
    ("0030.000", 30),
    ("-0.0", 0),
    ("0e999999999", 0),
    ("9007199254740993.0", 9007199254740993),
    ("9007199254740993e0", 9007199254740993),
    ("1e20", 10**20),
    ("1e39", 10**39),
    ("1e40", None),
    ("1e4290", None),
    ("1" * 41, None),
    ("1e" + "9" * 30, None),
    ("0e" + "9" * 30, None),
    ("29.99999999999999999", None),
    ("30.000000000000000001", None),
    ("30.5", None),
    ("1e-1", None),
    ("1e999999999", None),
    ("-30.0", None),
]


NOT_JSON_STEPS = {
    "0030.000": "JSON numbers have no leading zeros",
    "1e999999999": "a JSON number out of a float's range is refused by the JSON reader",
    "1e4290": "a JSON number out of a float's range is refused by the JSON reader",
    "1" * 41: "a JSON integer of more than 40 digits is refused by the JSON reader",
    "1e" + "9" * 30: "a JSON number out of a float's range is refused by the JSON reader",
    "0e" + "9" * 30: "test_an_exponent_beyond_decimals_range_is_refused_in_json_lines",
}


@pytest.mark.parametrize(
    ("suffix", "text", "step"),
    [
        (suffix, text, step)
        for suffix in ("csv", "jsonl")
        for text, step in STEP_TEXTS
        if suffix == "csv" or text not in NOT_JSON_STEPS
    ],
)
def test_a_step_is_its_texts_exact_value(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, text: str, step: int | None, suffix: str
) -> None:
    rows = [("0", "0.1"), (text, "0.1")]
    if suffix == "csv":
        content = "step,lr\n" + "".join(f"{s},{lr}\n" for s, lr in rows)
    else:
        content = "".join(f'{{"step": {s}, "lr": {lr}}}\n' for s, lr in rows)
    path = tmp_path / f"run.{suffix}"
    path.write_text(content)
    if step is None:
        line = 3 if suffix == "csv" else 2
        for read in (lambda: by_file(path), lambda: by_pipe(path, monkeypatch)):
            error = refusal(read)
            shown = _as_shown(text, suffix)
            assert str(error).endswith(f"line {line}: step {shown} is not an integer step >= 0")
        return
    assert [point.step for point in read_log(path)] == [0, step]
    file_result, pipe_result = by_file(path), by_pipe(path, monkeypatch)
    assert file_result == pipe_result
    assert file_result.ok == (step < 30)


def _as_shown(text: str, suffix: str) -> str:
    """How a refused step is shown: the CSV cell quoted, the JSON number as read."""
    if suffix == "csv":
        return repr(text)
    return str(Decimal(text)) if "." in text or "e" in text.lower() else text


@settings(max_examples=200, deadline=None)
@given(
    whole=st.integers(0, 10**30),
    zeros=st.integers(0, 5),
    shift=st.integers(0, 5),
    nudge=st.sampled_from([0, 1, -1]),
    data=st.data(),
)
def test_property_float_looking_steps_are_read_exactly(
    whole: int, zeros: int, shift: int, nudge: int, data: st.DataObject
) -> None:
    """``whole`` written with a fraction or an exponent is ``whole``; nudged by one
    unit in a digit past the point, it is refused, however close to whole it is."""
    digits = str(whole * 10**shift + (nudge if shift and whole else 0))
    point = len(digits) - shift
    text = f"{digits[:point] or '0'}.{digits[point:]}{'0' * zeros}"
    if data.draw(st.booleans()):
        text = f"{digits}e-{shift}"
    lines = ["step,lr", f"{text},0.1"]
    points = read_log_lines(lines)
    if nudge and shift and whole:
        assert isinstance(points, RunLogError)
    else:
        assert points == [whole]


NUMBER_TEXTS = st.from_regex(
    re.compile(r"[+-]?([0-9]{0,45}\.?[0-9]{0,45})([eE][+-]?[0-9]{1,35})?", re.ASCII), fullmatch=True
)


@settings(max_examples=500, deadline=None)
@given(text=NUMBER_TEXTS)
def test_property_whole_number_is_the_exact_value_or_none(text: str) -> None:
    """Any number text: the integer it is exactly (at most 40 digits), or None; no raise."""
    result = whole_number(text)
    try:
        value = Decimal(text)
    except ArithmeticError:  # an exponent beyond decimal's range
        assert result is None
        return
    if value.is_zero():
        assert result == 0
    elif not -1 < value.adjusted() < 40:  # below 1 (not whole), or more than 40 digits
        assert result is None
    else:
        exact = Fraction(value)  # small enough to build
        assert result == (exact if exact.denominator == 1 else None)


@pytest.mark.parametrize("field", ["step", "lr"])
def test_an_exponent_beyond_decimals_range_is_refused_in_json_lines(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, field: str
) -> None:
    number = "0e" + "9" * 30
    record = {"step": "1", "lr": "0.1", field: number}
    path = tmp_path / "run.jsonl"
    path.write_text(
        '{"step": 0, "lr": 0.1}\n{' + ", ".join(f'"{k}": {v}' for k, v in record.items()) + "}\n"
    )
    for read in (lambda: by_file(path), lambda: by_pipe(path, monkeypatch)):
        assert str(refusal(read)).endswith(
            f"line 2 the number {number} has an exponent out of range"
        )


def read_log_lines(lines: list[str]) -> list[int] | RunLogError:
    from stepsched_cli.runlog import parse_log

    try:
        return [point.step for point in parse_log(lines)]
    except RunLogError as error:
        return error


# -- 4. solve --gamma near 1 ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("gamma", "decays"),
    [
        (0.9999999999999999, 1),
        (0.999999999999, 10**12),
        (0.999999999, 123_456_789),
        (0.9, 7),
        (0.1, 3),
    ],
)
def test_solve_counts_decays_with_the_decimal_gamma(gamma: float, decays: int) -> None:
    """The final lr after ``decays`` decays of ``gamma`` (as ``at`` computes it) solves
    back to that many decays, in equal stages of 10."""
    final_lr = StepSchedule(0.1, gamma=gamma).lr_after_decays(decays)
    total = (decays + 1) * 10
    solution = solve(0.1, final_lr, total, gamma=gamma)
    assert (solution.step_size, solution.decays) == (10, decays)
    assert abs(solution.final_lr - final_lr) <= GAMMA_MATCH_TOLERANCE * final_lr
    assert solution.schedule.lr_at(total - 1) == solution.final_lr


def test_solve_gamma_of_the_issue_agrees_with_solve_decays() -> None:
    """The issue's request, refused before ("not a whole number ... 9.007e+17 decays").

    Read through the library: the command's answer lists one stage per decay (issue
    22), 10**18 of them, which the command cannot print in bounded time.
    """
    final_lr, total = 3.7200759760208176e-45, 10**19
    by_gamma = solve(0.1, final_lr, total, gamma=0.9999999999999999)
    assert (by_gamma.step_size, by_gamma.decays) == (10, 999_999_999_999_999_999)
    by_decays = solve(0.1, final_lr, total, decays=by_gamma.decays)
    assert (by_decays.step_size, by_decays.decays) == (10, by_gamma.decays)
    assert abs(by_decays.final_lr - by_gamma.final_lr) <= GAMMA_MATCH_TOLERANCE * final_lr
