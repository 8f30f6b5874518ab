"""Reading logged lr series: files, formats, column recognition, cell conversion."""

from __future__ import annotations

import io
import json
import re
from pathlib import Path
from typing import Any

import pytest

from stepsched_cli.errors import StepschedError
from stepsched_cli.runlog import (
    LogPoint,
    RunLogError,
    parse_log,
    read_log,
)

LOGS = Path(__file__).resolve().parent.parent / "data" / "logs"
MANIFEST = json.loads((LOGS / "manifest.json").read_text())


@pytest.mark.parametrize("entry", MANIFEST["logs"], ids=lambda entry: entry["file"])
def test_recorded_columns_are_recognised(entry: dict[str, Any]) -> None:
    """Recognition picks the columns the writer used: same points as naming them."""
    recognised = list(read_log(LOGS / entry["file"]))
    named = list(
        read_log(
            LOGS / entry["file"],
            step_column=entry["columns"]["step"],
            lr_column=entry["columns"]["lr"],
        )
    )
    assert recognised == named
    assert len(recognised) == entry["expected"]["points_checked"]


# -- reading: column recognition ----------------------------------------------


@pytest.mark.parametrize(
    ("header", "row", "step", "lr"),
    [
        ("step,lr", "3,0.5", 3, 0.5),
        ("Step,LR", "3,0.5", 3, 0.5),
        (" global_step , learning_rate ", "3,0.5", 3, 0.5),
        ("iteration,learning-rate", "3,0.5", 3, 0.5),
        ("iter,Learning Rate", "3,0.5", 3, 0.5),
        ("epoch,step,lr-SGD,train_loss", "0,3,0.5,1.0", 3, 0.5),
        ("step,lr-AdamW,lr-AdamW-momentum", "3,0.5,0.9", 3, 0.5),
        ("step,train/lr", "3,0.5", 3, 0.5),
        ("Wall time,Step,Value", "1700000000.5,3,0.5", 3, 0.5),
        ("_step,_runtime,train/learning_rate,train/loss", "3,1.0,0.5,2.0", 3, 0.5),
        ("_step,train/global_step,train/learning_rate", "1,3,0.5", 3, 0.5),
        ("Step,run-7 - train/learning_rate,run-7 - train/learning_rate__MIN", "3,0.5,0.4", 3, 0.5),
        ("loss,lr,step", "9.0,0.5,3", 3, 0.5),
        ("step\tlr", "3\t0.5", 3, 0.5),
        ("step,lr", "3.0,5e-1", 3, 0.5),
        ("step,lr", "9223372036854775808,0", 2**63, 0.0),
    ],
)
def test_csv_columns_are_recognised(header: str, row: str, step: int, lr: float) -> None:
    assert list(parse_log([header, row])) == [LogPoint(step, lr, 2)]


@pytest.mark.parametrize(
    ("record", "step", "lr"),
    [
        ({"step": 3, "lr": 0.5}, 3, 0.5),
        ({"global_step": 3, "learning_rate": 0.5, "loss": 1.0}, 3, 0.5),
        ({"_step": 3, "train/learning_rate": 0.5}, 3, 0.5),
        ({"Step": 3.0, "LR": 1}, 3, 1.0),
    ],
)
def test_json_line_keys_are_recognised(record: dict[str, Any], step: int, lr: float) -> None:
    assert list(parse_log([json.dumps(record)])) == [LogPoint(step, lr, 1)]


def test_explicit_columns_win_and_match_case_insensitively() -> None:
    rows = ["step,lr,other_step,my_lr", "1,0.1,7,0.5"]
    assert list(parse_log(rows, step_column="OTHER_STEP", lr_column="my_lr")) == [
        LogPoint(7, 0.5, 2)
    ]
    records = ['{"n": 4, "rate": 0.25, "lr": 9}']
    assert list(parse_log(records, step_column="n", lr_column="rate")) == [LogPoint(4, 0.25, 1)]


def test_sparse_rows_and_blank_lines_are_skipped() -> None:
    rows = ["", "_step,train/learning_rate,eval/loss", "0,0.1,", "", "1,,2.5", "2,0.1,"]
    assert [(point.step, point.line) for point in parse_log(rows)] == [(0, 3), (2, 6)]
    records = ['{"step": 0, "lr": 0.1}', '{"step": 1, "eval_loss": 2}', '{"step": 2, "lr": null}']
    assert [point.step for point in parse_log(records)] == [0]


def test_format_is_sniffed_or_chosen() -> None:
    assert list(parse_log(['  {"step": 1, "lr": 0.5}'])) == [LogPoint(1, 0.5, 1)]
    with pytest.raises(RunLogError, match="no step column recognised"):
        list(parse_log(['{"step": 1, "lr": 0.5}'], log_format="csv"))
    with pytest.raises(RunLogError, match="log_format must be 'csv' or 'jsonl', got 'xml'"):
        parse_log(["step,lr"], log_format="xml")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("lines", "message"),
    [
        ([], "<log>: is empty; expected a header line or JSON lines"),
        (["", "  "], "<log>: is empty"),
        (["time,loss", "1,2"], "<log>: no step column recognised among 'time', 'loss'"),
        (["step,loss", "1,2"], "<log>: no lr column recognised among 'step', 'loss'"),
        (
            ["step,lr-SGD,lr-SGD/pg2", "1,2,3"],
            "several columns look like a learning rate ('lr-SGD', 'lr-SGD/pg2'); choose one",
        ),
        (["step,lr", "0,0.1", "x,0.1"], "<log> line 3: step 'x' is not an integer step >= 0"),
        (["step,lr", "1.5,0.1"], "<log> line 2: step '1.5' is not an integer step >= 0"),
        (["step,lr", "-1,0.1"], "<log> line 2: step '-1' is not an integer step >= 0"),
        (["step,lr", "nan,0.1"], "<log> line 2: step 'nan' is not an integer step >= 0"),
        (
            ["step,lr", "1,abc"],
            "<log> line 2: lr 'abc' is not a learning rate (a finite number >= 0)",
        ),
        (["step,lr", "1,-0.1"], "<log> line 2: lr '-0.1' is not a learning rate"),
        (["step,lr", "1,inf"], "<log> line 2: lr 'inf' is not a learning rate"),
        (["step,lr", "", "1"], "<log> line 3: has 1 cells; the 'lr' column is cell 2"),
        (['{"step": 1, "lr": 0.1}', "{oops"], "<log> line 2 is not valid JSON"),
        (['{"step": 1, "lr": NaN}'], "<log> line 1 NaN is not allowed"),
        (['{"step": 1, "lr": 0.1}', "[1, 2]"], "<log> line 2: is a JSON list; expected an object"),
        (['{"lr": 0.1}'], "<log> line 1: has no step key"),
        (['{"step": -2, "lr": 0.1}'], "<log> line 1: step -2 is not an integer step >= 0"),
        (['{"step": true, "lr": 0.1}'], "<log> line 1: step True is not an integer step"),
        (['{"step": 1, "lr": "0.1"}'], "<log> line 1: lr '0.1' is not a learning rate"),
        (['{"step": 1, "lr": [0.1, 0.2]}'], "<log> line 1: lr [0.1, 0.2] is not a learning"),
    ],
)
def test_bad_logs_are_refused_with_the_line(lines: list[str], message: str) -> None:
    with pytest.raises(RunLogError, match=re.escape(message)) as raised:
        list(parse_log(lines))
    assert isinstance(raised.value, StepschedError)
    assert isinstance(raised.value, ValueError)


def test_explicit_column_missing_lists_the_columns() -> None:
    with pytest.raises(
        RunLogError, match="has no column 'rate' for the lr; columns are 'step', 'lr'"
    ):
        list(parse_log(["step,lr", "1,0.1"], lr_column="rate"))


def test_read_log_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(RunLogError, match="missing.csv: no such file"):
        read_log(tmp_path / "missing.csv")
    with pytest.raises(RunLogError, match="is a directory, not a log file"):
        read_log(tmp_path)
    bom = tmp_path / "excel.csv"
    bom.write_bytes(b"\xef\xbb\xbfStep,LR\r\n0,0.1\r\n")
    assert list(read_log(bom)) == [LogPoint(0, 0.1, 2)]
    lines = tmp_path / "run.log"
    lines.write_text('{"step": 0, "lr": 0.1}\n')
    assert list(read_log(lines)) == [LogPoint(0, 0.1, 1)]
    binary = tmp_path / "binary.csv"
    binary.write_bytes(b"step,lr\n0,\xff\n")
    with pytest.raises(RunLogError, match="binary.csv: is not UTF-8 text"):
        list(read_log(binary))
    monkeypatch.setattr("sys.stdin", io.StringIO("step,lr\n5,0.5\n"))
    assert list(read_log("-")) == [LogPoint(5, 0.5, 2)]


def test_read_log_stdin_skips_a_byte_order_mark(monkeypatch: pytest.MonkeyPatch) -> None:
    """Standard input is decoded as files are: UTF-8 with an optional byte-order mark."""
    stdin = io.TextIOWrapper(io.BytesIO(b"\xef\xbb\xbfStep,LR\r\n0,0.1\r\n"), encoding="latin-1")
    monkeypatch.setattr("sys.stdin", stdin)
    assert list(read_log("-")) == [LogPoint(0, 0.1, 2)]
    assert not stdin.buffer.closed
    monkeypatch.setattr("sys.stdin", io.StringIO("\ufeffstep,lr\n5,0.5\n"))
    assert list(read_log("-")) == [LogPoint(5, 0.5, 2)]


@pytest.mark.parametrize(
    ("row", "message"),
    [
        ("\u0663,0.1", "<log> line 2: step '\u0663' is not an integer step >= 0"),
        ("\u00b2,0.1", "<log> line 2: step '\u00b2' is not an integer step >= 0"),
        ("1_0,0.1", "<log> line 2: step '1_0' is not an integer step >= 0"),
        ("3,\u0660.1", "<log> line 2: lr '\u0660.1' is not a learning rate (a finite number >= 0)"),
        ("3,0_1", "<log> line 2: lr '0_1' is not a learning rate (a finite number >= 0)"),
    ],
)
def test_text_numbers_are_ascii_only(row: str, message: str) -> None:
    with pytest.raises(RunLogError) as raised:
        list(parse_log(["step,lr", row]))
    assert str(raised.value) == message


@pytest.mark.parametrize(
    ("row", "step", "lr"), [("30.0,1e-3", 30, 0.001), ("+7,.5", 7, 0.5), ("1E2,5E-1", 100, 0.5)]
)
def test_text_numbers_in_ascii_forms(row: str, step: int, lr: float) -> None:
    assert list(parse_log(["step,lr", row])) == [LogPoint(step, lr, 2)]
