"""Logs whose steps count from 1: recognised by shape, or given with ``steps_from``.

The Hugging Face Trainer and MMEngine log at step s (updates done, from 1) the lr that
update s used, the schedule's lr at position s - 1.  Their real logs (tests/data/real)
must check as healthy without options; a generic log does with ``steps_from=1``; and the
fast path must give what the row reader gives.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from stepsched_cli.runlog import RunLogError, check_log, check_log_file, chunks
from stepsched_cli.runlog.counting import (
    HF_TRAINER_STATE,
    MMENGINE_SCALARS,
    StepCounting,
    recognise_first_line,
    shifted,
    step_counting,
    with_counting,
)
from stepsched_cli.runlog.rows import LogPoint, read_log
from stepsched_cli.runlog.trainer_state import trainer_state_points
from stepsched_cli.schedule import StepSchedule

REAL = Path(__file__).resolve().parent.parent / "data" / "real"
# The schedules the generators configured: StepLR(step_size=10, gamma=0.5) on lr 0.1
# (transformers, MMEngine by iteration), StepLR(step_size=2, gamma=0.5) by epoch.
STEP10 = StepSchedule(0.1, step_size=10, gamma=0.5)
EPOCH2 = StepSchedule(0.1, step_size=2, gamma=0.5, mode="epoch")
HF_NOTE = (
    "logged steps count from 1: the Hugging Face Trainer's trainer_state.json (log_history) "
    "logs at step s the lr of position s - 1"
)
MMENGINE_NOTE = (
    "logged steps count from 1: MMEngine's vis_data/scalars.json logs at step s the lr of "
    "position s - 1"
)


def reported(framework: str, relative: str) -> dict[str, Any]:
    manifest = json.loads((REAL / framework / "manifest.json").read_text())
    values: dict[str, Any] = manifest["files"][relative]["reported"]
    return values


REAL_LOGS = [
    ("transformers_logs", "trainer_state.json", STEP10, None, "log_history_lr", HF_NOTE),
    (
        "mmengine_logs",
        "iter_based/vis_data/scalars.json",
        STEP10,
        None,
        "logged_step_lr",
        MMENGINE_NOTE,
    ),
    (
        "mmengine_logs",
        "epoch_based/vis_data/scalars.json",
        EPOCH2,
        4,
        "logged_step_lr",
        MMENGINE_NOTE,
    ),
]


@pytest.mark.parametrize(
    ("framework", "relative", "schedule", "per_epoch", "pairs", "note"),
    REAL_LOGS,
    ids=[f"{framework}/{relative}" for framework, relative, *_ in REAL_LOGS],
)
def test_real_logs_counting_from_one_check_without_options(
    framework: str,
    relative: str,
    schedule: StepSchedule,
    per_epoch: int | None,
    pairs: str,
    note: str,
) -> None:
    values = reported(framework, relative)
    logged = values[pairs]
    used = values.get("lr_used_by_update") or values["lr_used_by_iteration"]
    # The library's own record: the lr logged at step s is the one update s - 1 used.
    assert [lr for _, lr in logged] == [used[step - 1] for step, _ in logged]
    result = check_log_file(REAL / framework / relative, schedule, steps_per_epoch=per_epoch)
    assert (result.ok, result.points_checked, result.mismatches) == (True, len(logged), 0)
    assert (result.steps_from, result.counting_note) == (1, note)
    # Each decay is reported at the logged step that first shows it, where the library
    # logged the new lr.
    changes = [
        step
        for (step, lr), (_, before) in zip(logged[1:], logged[:-1], strict=True)
        if lr != before
    ]
    assert [row.observed_at for row in result.decays] == changes
    assert [row.planned_at for row in result.decays] == changes
    wrong = check_log_file(
        REAL / framework / relative, schedule, steps_per_epoch=per_epoch, steps_from=0
    )
    assert (wrong.ok, wrong.steps_from, wrong.counting_note) == (False, 0, None)
    assert wrong.diagnosis is not None
    # By iteration the log is one step behind; by epoch, every decay one step late.
    assert wrong.diagnosis.kind == ("shifted" if per_epoch else "behind_by_one")


def test_trainer_state_points_are_log_history_entries_with_an_lr() -> None:
    points = list(trainer_state_points(REAL / "transformers_logs" / "trainer_state.json"))
    logged = reported("transformers_logs", "trainer_state.json")["log_history_lr"]
    assert [[point.step, point.lr] for point in points] == logged
    assert [point.line for point in points] == list(range(1, len(logged) + 1))


@pytest.mark.parametrize(
    ("document", "message"),
    [
        (
            {"global_step": 3},
            "is one JSON document, not JSON lines, and has no log_history list (the Hugging "
            "Face Trainer's trainer_state.json); a log is CSV or JSON lines",
        ),
        (
            {"log_history": [{"step": 1, "learning_rate": 0.1}, {"step": -1, "learning_rate": 1}]},
            "log_history[1] step must be an integer >= 0, got -1",
        ),
        (
            {"log_history": [{"learning_rate": 0.1}]},
            "log_history[0] step must be an integer >= 0, got None",
        ),
        (
            {"log_history": [{"step": 1, "learning_rate": "0.1"}]},
            "log_history[0] learning_rate must be a finite number, got '0.1'",
        ),
        (
            {"log_history": [{"step": 1, "learning_rate": -0.5}]},
            "log_history[0] learning_rate must be >= 0, got -0.5",
        ),
    ],
)
def test_a_bad_trainer_state_is_refused_naming_the_entry(
    tmp_path: Path, document: dict[str, Any], message: str
) -> None:
    path = tmp_path / "trainer_state.json"
    path.write_text(json.dumps(document, indent=2))
    with pytest.raises(RunLogError) as raised:
        check_log_file(path, STEP10)
    assert str(raised.value) == f"{path}: {message}"


def test_other_keys_of_the_entries_can_be_named(tmp_path: Path) -> None:
    path = tmp_path / "trainer_state.json"
    history = [{"step": 1, "learning_rate": 0.1, "lr_head": 0.5, "update": 1},
               {"step": 2, "learning_rate": 0.1, "update": 2}]  # fmt: skip
    path.write_text(json.dumps({"log_history": history}, indent=2))
    points = list(trainer_state_points(path, step_column="update", lr_column="lr_head"))
    assert points == [LogPoint(1, 0.5, 1)]
    result = check_log_file(path, StepSchedule(0.5, step_size=10), lr_column="lr_head")
    assert (result.ok, result.points_checked, result.steps_from) == (True, 1, 1)


def test_a_whole_document_that_is_not_json_says_so(tmp_path: Path) -> None:
    path = tmp_path / "trainer_state.json"
    path.write_text('{\n  "log_history": [\n')
    with pytest.raises(RunLogError) as raised:
        check_log_file(path, STEP10)
    assert str(raised.value) == (
        f"{path}: a JSON document (its first line is '{{') that is not valid JSON: Expecting "
        "value at line 3 column 1"
    )


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("{", HF_TRAINER_STATE),
        ("  {  \n", HF_TRAINER_STATE),
        ('{"lr": 0.1, "data_time": 0.01, "loss": 1.0, "time": 0.02, "step": 1}', MMENGINE_SCALARS),
        ('{"lr": 0.1, "step": 1}', None),
        ('{"data_time": 0.01, "time": 0.02, "step": 1}', None),  # a validation line: no lr
        ('{"lr": 0.1, "data_time": 0.01, "time": ', None),
        ("step,lr", None),
        ("[1, 2]", None),
    ],
)
def test_known_logs_are_recognised_by_their_first_line(line: str, expected: object) -> None:
    assert recognise_first_line(line) == expected


@pytest.mark.parametrize(
    ("given", "known", "expected"),
    [
        (None, None, StepCounting(0)),
        (None, MMENGINE_SCALARS, StepCounting(1, MMENGINE_NOTE)),
        (0, MMENGINE_SCALARS, StepCounting(0)),
        (1, None, StepCounting(1)),
    ],
)
def test_given_counting_wins_over_the_recognised_one(
    given: int | None, known: Any, expected: StepCounting
) -> None:
    assert step_counting(given, known) == expected


@pytest.mark.parametrize("bad", [2, -1, True])
def test_steps_from_is_zero_or_one(bad: int) -> None:
    with pytest.raises(RunLogError, match=r"^steps_from must be 0 or 1, got "):
        step_counting(bad, None)


def generic_from_one(count: int, schedule: StepSchedule = STEP10) -> str:
    """A generic log written after each update: step s holds lr(s - 1)."""
    return "step,lr\n" + "".join(f"{s},{schedule.lr_at(s - 1)!r}\n" for s in range(1, count + 1))


@pytest.mark.parametrize("block_bytes", [64, 1 << 20])
def test_a_generic_log_from_one_checks_with_steps_from_1(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, block_bytes: int
) -> None:
    monkeypatch.setattr(chunks, "CHUNK_BYTES", block_bytes)
    path = tmp_path / "run.csv"
    path.write_text(generic_from_one(45))
    result = check_log_file(path, STEP10, steps_from=1)
    assert (result.ok, result.points_checked, result.steps_from, result.counting_note) == (
        True,
        45,
        1,
        None,
    )
    assert [(row.planned_at, row.observed_at) for row in result.decays] == [
        (11, 11),
        (21, 21),
        (31, 31),
        (41, 41),
    ]
    default = check_log_file(path, STEP10)
    assert (default.ok, default.first_mismatch_step, default.steps_from) == (False, 10, 0)


@pytest.mark.parametrize("block_bytes", [64, 1 << 20])
def test_a_mismatch_is_reported_at_its_logged_step(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, block_bytes: int
) -> None:
    monkeypatch.setattr(chunks, "CHUNK_BYTES", block_bytes)
    path = tmp_path / "run.csv"
    text = generic_from_one(30)
    assert "\n15,0.05\n" in text
    path.write_text(text.replace("\n15,0.05\n", "\n15,0.5\n"))
    result = check_log_file(path, STEP10, steps_from=1)
    assert (result.first_mismatch_step, result.expected_lr, result.logged_lr) == (15, 0.05, 0.5)


@pytest.mark.parametrize("where", [0, 40])
def test_a_step_0_in_a_log_from_one_names_its_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, where: int
) -> None:
    monkeypatch.setattr(chunks, "CHUNK_BYTES", 64)
    rows = [f"{s},{STEP10.lr_at(s - 1)!r}" for s in range(1, 50)]
    rows.insert(where, "0,0.1")
    path = tmp_path / "run.csv"
    path.write_text("step,lr\n" + "\n".join(rows) + "\n")
    with pytest.raises(RunLogError) as raised:
        check_log_file(path, STEP10, steps_from=1)
    assert str(raised.value) == (
        f"{path} line {where + 2}: step 0 in a log whose steps count from 1; choose one with "
        "steps_from"
    )


@settings(max_examples=40, deadline=None)
@given(
    length=st.integers(1, 60),
    steps_from=st.sampled_from([0, 1]),
    factor=st.sampled_from([1, 1, 2]),
    corrupt=st.one_of(st.none(), st.integers(0, 59)),
)
def test_property_fast_equals_row_by_row_for_either_counting(
    tmp_path_factory: pytest.TempPathFactory,
    length: int,
    steps_from: int,
    factor: int,
    corrupt: int | None,
) -> None:
    chunks.CHUNK_BYTES, saved = 64, chunks.CHUNK_BYTES
    try:
        lrs = [STEP10.lr_at(factor * t) for t in range(length)]
        if corrupt is not None and corrupt < length:
            lrs[corrupt] = 5.0
        path = tmp_path_factory.mktemp("log") / "run.csv"
        path.write_text(
            "step,lr\n" + "".join(f"{t + steps_from},{lr!r}\n" for t, lr in enumerate(lrs))
        )
        points = shifted(read_log(path), steps_from, str(path))
        expected = with_counting(check_log(points, STEP10), StepCounting(steps_from))
        assert check_log_file(path, STEP10, steps_from=steps_from) == expected
    finally:
        chunks.CHUNK_BYTES = saved


@pytest.mark.parametrize("options", [{"log_format": "jsonl"}, {}])
def test_a_whole_document_read_as_json_lines_says_what_it_is(
    monkeypatch: pytest.MonkeyPatch, options: dict[str, Any]
) -> None:
    import io
    import sys

    text = (REAL / "transformers_logs" / "trainer_state.json").read_text()
    path = str(REAL / "transformers_logs" / "trainer_state.json") if options else "-"
    monkeypatch.setattr(sys, "stdin", io.StringIO(text))
    with pytest.raises(RunLogError) as raised:
        check_log_file(path, STEP10, **options)
    source = path if options else "<stdin>"
    assert str(raised.value) == (
        f"{source} line 1 is not valid JSON: Expecting property name enclosed in double "
        "quotes at line 2 column 1 (one JSON document over several lines, not JSON lines: "
        "give a Hugging Face trainer_state.json as a file, without --log-format)"
    )


def test_standard_input_is_a_generic_log(monkeypatch: pytest.MonkeyPatch) -> None:
    import io
    import sys

    text = '{"lr": 0.1, "data_time": 0.01, "time": 0.02, "step": 1}\n'
    monkeypatch.setattr(sys, "stdin", io.StringIO(text))
    result = check_log_file("-", STEP10)
    assert (result.ok, result.steps_from, result.counting_note) == (True, 0, None)


def test_shifted_leaves_a_log_from_zero_as_it_is() -> None:
    points = [LogPoint(0, 0.1, 2), LogPoint(5, 0.1, 3)]
    assert list(shifted(points, 0, "<log>")) == points


def test_a_picture_draws_a_log_from_one_at_the_positions_it_logs(tmp_path: Path) -> None:
    from stepsched_cli.checkplot import check_picture
    from stepsched_cli.runlog import LogSample

    path = tmp_path / "run.csv"
    path.write_text(generic_from_one(30).replace("\n15,0.05\n", "\n15,0.5\n"))
    sample = LogSample(1000)
    result = check_log_file(path, STEP10, steps_from=1, sample=sample)
    assert (result.first_mismatch_step, [row.observed_at for row in result.decays]) == (
        15,
        [11, 15, 16, 21],
    )
    picture = check_picture(STEP10, result, sample.points(), sample.largest_step, None)
    # Logged step s is drawn at position s - 1, with the mismatch and decays seen there.
    assert picture.points[:2] == ((0, 0.1), (1, 0.1))
    assert picture.mismatch == (14, 0.5)
    assert picture.observed_decays == (10, 14, 15, 20)
