"""``check`` on TensorBoard runs written by the real SummaryWriter (tests/data/real/tensorboard).

The points read must be exactly what TensorBoard's own EventAccumulator returned when
the fixtures were made (``read_back`` in the manifest).  Tests that read events need
the optional extra (``stepsched[tensorboard]``) and are skipped without it.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from typer.testing import Result

from stepsched_cli.runlog import RunLogError
from stepsched_cli.runlog import tensorboard as tensorboard_log

Invoke = Callable[..., Result]

REAL = Path(__file__).resolve().parent.parent / "data" / "real" / "tensorboard"
MANIFEST: dict[str, Any] = json.loads((REAL / "manifest.json").read_text())["files"]
RUNS = {entry["reported"]["run_dir"]: (name, entry["reported"]) for name, entry in MANIFEST.items()}


@pytest.mark.parametrize(
    ("run_dir", "tag"),
    [("correct", "lr-SGD"), ("buggy_per_microbatch", "train/lr"), ("two_lr_tags", "lr-SGD/pg2")],
)
@pytest.mark.parametrize("as_file", [False, True])
def test_points_are_what_tensorboard_read_back(run_dir: str, tag: str, as_file: bool) -> None:
    pytest.importorskip("tensorboard")
    name, reported = RUNS[run_dir]
    path = REAL / name if as_file else REAL / run_dir
    points = list(tensorboard_log.read_events(str(path), tag))
    assert [[p.step, p.lr] for p in points] == reported["read_back"][tag]


@pytest.mark.parametrize(
    ("run_dir", "schedule", "exit_code", "first_line"),
    [
        (
            "correct",
            ["--step-size", "30"],
            0,
            "ok: 100 points match lr=0.1, step_size=30, gamma=0.1",
        ),
        (
            "buggy_per_microbatch",
            ["--step-size", "30"],
            1,
            "mismatch at step 8: expected lr 0.1, logged 0.01 (92 of 100 points differ)",
        ),
    ],
)
def test_check_reads_a_run_directory(
    run: Invoke, run_dir: str, schedule: list[str], exit_code: int, first_line: str
) -> None:
    pytest.importorskip("tensorboard")
    result = run("check", str(REAL / run_dir), "--lr", "0.1", *schedule)
    assert result.exit_code == exit_code, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == first_line
    if exit_code:
        assert "the scheduler is stepped 4 times per optimizer step" in lines[1]


def test_several_lr_tags_are_listed_and_tag_picks_one(run: Invoke) -> None:
    pytest.importorskip("tensorboard")
    path = REAL / "two_lr_tags"
    args = ("check", str(path), "--lr", "0.1", "--milestones", "20,40", "--gamma", "0.5")
    result = run(*args)
    assert result.exit_code == 1
    assert result.stderr == (
        f"stepsched: error: {path}: several scalar tags look like an lr: lr-SGD/pg1, "
        "lr-SGD/pg2; pick one with --tag\n"
    )
    result = run(*args, "--tag", "lr-SGD/pg1")
    assert (result.exit_code, result.stdout) == (
        0,
        "ok: 60 points match lr=0.1, milestones=20,40, gamma=0.5\n",
    )
    result = run(*args, "--tag", "nope")
    assert result.stderr == (
        f"stepsched: error: {path}: no scalar tag 'nope' (scalar tags: lr-SGD/pg1, "
        "lr-SGD/pg2, train/loss)\n"
    )


def test_without_tensorboard_the_error_says_what_to_install(
    run: Invoke, monkeypatch: pytest.MonkeyPatch
) -> None:
    for module in ("tensorboard", "tensorboard.backend.event_processing"):
        monkeypatch.setitem(sys.modules, module, None)  # importing it raises ImportError
    path = REAL / "correct"
    result = run("check", str(path), "--lr", "0.1", "--step-size", "30")
    assert result.exit_code == 1
    assert result.stderr == (
        f"stepsched: error: {path}: reading TensorBoard event files needs tensorboard: "
        "pip install 'stepsched[tensorboard]'\n"
    )


def test_tag_is_refused_for_a_csv_log(run: Invoke, tmp_path: Path) -> None:
    log = tmp_path / "metrics.csv"
    log.write_text("step,lr-SGD\n0,0.1\n")
    result = run("check", str(log), "--lr", "0.1", "--step-size", "30", "--tag", "lr-SGD")
    assert result.exit_code == 2
    assert "'--tag': is for TensorBoard runs (a directory or event file)" in result.stderr


def test_a_directory_without_event_files_is_not_a_run(tmp_path: Path) -> None:
    with pytest.raises(RunLogError) as raised:
        list(tensorboard_log.read_events(str(tmp_path)))
    assert (
        str(raised.value) == f"{tmp_path}: holds no events.out.tfevents.* file (a TensorBoard run)"
    )


@pytest.mark.parametrize("group", [0, 1])
def test_add_scalars_runs_are_read_as_tensorboard_reads_them(group: int) -> None:
    pytest.importorskip("tensorboard")
    name, reported = RUNS[f"add_scalars/lr_pg{group}"]
    points = list(tensorboard_log.read_events(str(REAL / name)))
    assert [[p.step, p.lr] for p in points] == reported["read_back"]["lr"]


def test_an_add_scalars_run_names_the_runs_holding_its_scalars(run: Invoke) -> None:
    """add_scalars writes nothing into the run directory itself: the error names the
    runs it wrote (one per key), and each of them checks."""
    pytest.importorskip("tensorboard")
    assert RUNS["add_scalars"][1]["tags"] == []
    path = REAL / "add_scalars"
    schedule = ("--milestones", "20,40", "--gamma", "0.5")
    result = run("check", str(path), "--lr", "0.1", *schedule)
    assert (result.exit_code, result.stdout) == (1, "")
    assert result.stderr == (
        f"stepsched: error: {path}: no scalar tag looks like an lr (scalar tags: none); pick "
        "one with --tag; its subfolders are runs of their own (add_scalars writes one per "
        "key): lr_pg0, lr_pg1; check one of them\n"
    )
    result = run("check", str(path), "--tag", "lr", "--lr", "0.1", *schedule)
    assert result.stderr.endswith(
        "(add_scalars writes one per key): lr_pg0, lr_pg1; check one of them\n"
    )
    for group, lr in (("lr_pg0", "0.1"), ("lr_pg1", "0.01")):
        result = run("check", str(path / group), "--lr", lr, *schedule)
        assert (result.exit_code, result.stdout) == (
            0,
            f"ok: 60 points match lr={lr}, milestones=20,40, gamma=0.5\n",
        )


def test_a_folder_of_runs_names_them(tmp_path: Path) -> None:
    for run_dir in ("b/version_1", "a", "b/version_0", "c/empty"):
        (tmp_path / run_dir).mkdir(parents=True)
    for run_dir in ("b/version_1", "a", "b/version_0"):
        (tmp_path / run_dir / "events.out.tfevents.1.host.2.0").write_bytes(b"")
    with pytest.raises(RunLogError) as raised:
        list(tensorboard_log.read_events(str(tmp_path)))
    assert str(raised.value) == (
        f"{tmp_path}: holds no events.out.tfevents.* file (a TensorBoard run); it holds runs: "
        "a, b/version_0, b/version_1; check one of them"
    )


def test_a_folder_of_many_runs_names_the_first_ones(tmp_path: Path) -> None:
    for number in range(10):
        (tmp_path / f"run{number}").mkdir()
        (tmp_path / f"run{number}" / "events.out.tfevents.1.host.2.0").write_bytes(b"")
    with pytest.raises(RunLogError, match=r"it holds runs: run0, .*, run7 and 2 more; check one"):
        list(tensorboard_log.read_events(str(tmp_path)))


def test_the_search_for_runs_is_bounded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tensorboard_log, "MAX_DIRECTORIES_SEARCHED", 3)
    for number in range(5):
        (tmp_path / f"run{number}").mkdir()
        (tmp_path / f"run{number}" / "events.out.tfevents.1.host.2.0").write_bytes(b"")
    assert tensorboard_log.runs_below(str(tmp_path)) == ["run0", "run1"]


@pytest.mark.parametrize(
    ("tags", "expected"),
    [
        (["lr-SGD", "train/loss"], "lr-SGD"),
        (["train/lr", "train/loss"], "train/lr"),
        (["learning_rate", "epoch"], "learning_rate"),
        (["Learning Rate", "loss"], "Learning Rate"),
        (["optim/lr_group0", "clr_loss"], "optim/lr_group0"),
    ],
)
def test_the_one_lr_looking_tag_is_chosen(tags: list[str], expected: str) -> None:
    assert tensorboard_log.choose_tag(tags, None, "run") == expected


@pytest.mark.parametrize(
    ("tags", "message"),
    [
        (
            ["loss", "acc"],
            "run: no scalar tag looks like an lr (scalar tags: loss, acc); pick one with --tag",
        ),
        ([], "run: no scalar tag looks like an lr (scalar tags: none); pick one with --tag"),
        (
            ["lr/a", "lr/b"],
            "run: several scalar tags look like an lr: lr/a, lr/b; pick one with --tag",
        ),
    ],
)
def test_no_or_several_lr_tags_are_listed(tags: list[str], message: str) -> None:
    with pytest.raises(RunLogError) as raised:
        tensorboard_log.choose_tag(tags, None, "run")
    assert str(raised.value) == message


@pytest.mark.parametrize(
    ("path", "expected"),
    [("-", False), ("metrics.csv", False), ("runs/events.out.tfevents.1.host.2.0", True)],
)
def test_event_sources_are_recognised_by_kind(path: str, expected: bool) -> None:
    assert tensorboard_log.is_event_source(path) is expected
