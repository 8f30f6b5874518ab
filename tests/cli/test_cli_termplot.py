"""``plot`` without ``-o`` (the terminal picture) and ``plot --compare`` (several schedules)."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import pytest
from typer.testing import Result

from stepsched_cli.schedule import StepSchedule
from stepsched_cli.termplot import render

Invoke = Callable[..., Result]

SEED = ["--lr", "0.1", "--step-size", "30"]
SEED_SCHEDULE = StepSchedule(0.1, step_size=30)


def test_terminal_plot_is_the_termplot_picture_at_the_terminal_width(
    run: Invoke, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "60")
    result = run("plot", *SEED, "--log")
    assert result.exit_code == 0, result.stderr
    assert result.stderr == ""
    picture = render(
        StepSchedule(0.1, step_size=30), total=120, width=60, height=12, log_scale=True
    )
    assert result.stdout == "\n".join(["lr=0.1, step_size=30, gamma=0.1", *picture]) + "\n"
    assert max(len(line) for line in result.stdout.splitlines()) <= 60
    assert "┊" in result.stdout  # boundary markers


@pytest.mark.parametrize(
    ("columns", "lines", "width", "rows"),
    [
        ("80", "24", 80, 12),  # as before terminals had a height
        ("200", "50", 200, 38),  # fills the terminal, the title and prompt still in view
        ("100", "10", 100, 4),  # a short terminal gets a short picture
        ("100000000", "100000000", 1000, 40),  # an absurd size from the environment: capped
    ],
)
def test_terminal_plot_fills_the_terminal_within_bounds(
    run: Invoke,
    monkeypatch: pytest.MonkeyPatch,
    columns: str,
    lines: str,
    width: int,
    rows: int,
) -> None:
    monkeypatch.setenv("COLUMNS", columns)
    monkeypatch.setenv("LINES", lines)
    result = run("plot", *SEED)
    assert (result.exit_code, result.stderr) == (0, "")
    picture = result.stdout.splitlines()
    assert len(picture) == 1 + rows + 2  # the title, the rows, the x axis and its labels
    # The curve reaches the right edge: the last level runs to the last column.
    assert max(len(line) for line in picture) == width
    assert picture[rows].endswith("─" * (width // 5))
    assert picture[1:] == render(SEED_SCHEDULE, total=120, width=width, height=rows, log_scale=True)


def test_terminal_plot_linear_axis_and_total(run: Invoke, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "40")
    result = run("plot", *SEED, "--total", "60")
    lines = result.stdout.splitlines()
    assert lines[1].lstrip().startswith("0.1┤")
    assert lines[-1].split() == ["0", "20", "40", "step"]


def test_terminal_plot_x_in_epochs(run: Invoke, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "60")
    result = run(
        "plot", "--lr", "0.1", "--step-size", "3000", "--steps-per-epoch", "100",
        "--x", "epochs", "--total", "10000",
    )  # fmt: skip
    assert result.exit_code == 0, result.stderr
    assert result.stdout.splitlines()[-1].split() == ["0", "20", "40", "60", "80", "epoch"]


def test_terminal_plot_epoch_schedule_in_steps(
    run: Invoke, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "60")
    result = run("plot", *SEED, "--mode", "epoch", "--steps-per-epoch", "100", "--x", "steps")
    assert result.exit_code == 0, result.stderr
    assert result.stdout.splitlines()[-1].split()[-2:] == ["10k", "step"]


def test_terminal_plot_x_needs_steps_per_epoch(run: Invoke) -> None:
    result = run("plot", *SEED, "--x", "epochs")
    assert result.exit_code == 2
    assert result.stderr.startswith("stepsched: error: Invalid value for '--x'")


@pytest.mark.parametrize("columns", ["5", "8", "20"])
def test_terminal_plot_in_a_tiny_terminal_is_drawn_at_the_minimum_width(
    run: Invoke, monkeypatch: pytest.MonkeyPatch, columns: str
) -> None:
    """Narrower than termplot.MIN_WIDTH (20): drawn 20 wide, the lines overflow, exit 0."""
    monkeypatch.setenv("COLUMNS", columns)
    result = run("plot", *SEED, "--log")
    assert (result.exit_code, result.stderr) == (0, "")
    assert result.stdout.splitlines() == [
        "lr=0.1,",
        "step_size=30,",
        "gamma=0.1",
        "   0.1┤───┐",
        "      │   │",
        "      │   │",
        "      │   │",
        "  0.01┤   └──┐",
        "      │   ┊  │",
        "      │   ┊  │",
        " 0.001┤   ┊  └──┐",
        "      │   ┊  ┊  │",
        "      │   ┊  ┊  │",
        "      │   ┊  ┊  │",
        "0.0001┤   ┊  ┊  └───",
        "      └┬─────────┬──",
        "       0        step",
    ]


def test_terminal_plot_of_a_huge_horizon_is_fast(run: Invoke) -> None:
    started = time.perf_counter()
    result = run("plot", "--lr", "0.1", "--step-size", "1", "--gamma", "0.99999999",
                 "--total", str(10**12), "--log")  # fmt: skip
    assert time.perf_counter() - started < 5
    assert result.exit_code == 0, result.stderr


def test_plot_warns_about_an_unreached_decay(run: Invoke, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "60")
    quiet = run("plot", *SEED, "--total", "20")
    assert quiet.stderr == (
        "stepsched: warning: step_size 30: the first decay at step 30 is beyond the horizon "
        "(20 steps); the lr never decays\n"
    )
    assert quiet.exit_code == 0


# -- --compare -----------------------------------------------------------------


def test_terminal_compare_draws_every_schedule_with_a_legend(
    run: Invoke, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "40")
    args = ["--total", "90", "--compare", "gamma=0.5", "--compare", "step_size=20"]
    result = run("plot", *SEED, *args)
    assert (result.exit_code, result.stderr) == (0, "")
    assert result.stdout.splitlines() == [
        "lr=0.1, step_size=30, gamma=0.1",
        "   0.1┤───────╥───┐",
        "      │       ║   ┝━━━━━━━━━━┓",
        "      │       ║   │          ┗━━━━━━━━━━",
        "  0.01┤       ╚═══┴───╥──────┐",
        "      │           ┊   ║      │",
        " 0.001┤           ┊   ╚══════┼──────────",
        "      │           ┊          ║",
        "      │           ┊          ║",
        "0.0001┤           ┊          ╚══════╗",
        "      │           ┊          ┊      ║",
        "      │           ┊          ┊      ║",
        "  1e-5┤           ┊          ┊      ╚═══",
        "      └┬──────┬──────┬───────┬──────┬───",
        "       0      20     40      60     step",
        "── lr=0.1, step_size=30, gamma=0.1",
        "━━ gamma=0.5",
        "══ step_size=20",
    ]


@pytest.mark.parametrize(
    ("args", "log"),
    [
        ([], True),  # 0.1 .. 0.0001: more than a decade
        (["--total", "60"], False),  # 0.1 .. 0.01: one decade
        (["--linear"], False),
        (["--total", "60", "--log"], True),
    ],
)
def test_terminal_plot_chooses_the_lr_axis_from_the_data(
    run: Invoke, monkeypatch: pytest.MonkeyPatch, args: list[str], log: bool
) -> None:
    monkeypatch.setenv("COLUMNS", "60")
    result = run("plot", *SEED, *args)
    assert result.exit_code == 0, result.stderr
    total = 60 if "--total" in args else 120
    picture = render(SEED_SCHEDULE, total=total, width=60, height=12, log_scale=log)
    assert result.stdout.splitlines()[1:] == picture


def test_terminal_title_wider_than_the_terminal_is_wrapped(
    run: Invoke, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "40")
    title = "ResNet-50 on ImageNet, batch 256 on 8 GPUs, the classic step schedule"
    result = run("plot", *SEED, "--linear", "--title", title)
    assert result.exit_code == 0, result.stderr
    assert result.stdout.splitlines()[:3] == [
        "ResNet-50 on ImageNet, batch 256 on 8",
        "GPUs, the classic step schedule",
        " 0.1┤─────────┐",
    ]
    assert result.stdout.splitlines()[-1] == "     0             50               step"


@pytest.mark.parametrize(
    "args",
    [
        SEED,
        [*SEED, "--total", "10000000", "--compare", "gamma=0.5"],
        ["--lr", "0.1", "--milestones", "3,8", "--warmup-steps", "2", "--linear"],
        [*SEED, "--steps-per-epoch", "7", "--x", "epochs", "--title", "x " * 40],
    ],
)
@pytest.mark.parametrize("columns", ["20", "80", "133"])
def test_terminal_plot_lines_fit_without_trailing_spaces_or_blank_lines(
    run: Invoke, monkeypatch: pytest.MonkeyPatch, args: list[str], columns: str
) -> None:
    monkeypatch.setenv("COLUMNS", columns)
    result = run("plot", *args)
    assert result.exit_code == 0, result.stderr
    lines = result.stdout.split("\n")
    assert lines[-1] == ""
    assert all(line and line == line.rstrip() for line in lines[:-1])
    assert max(len(line) for line in lines) <= int(columns)


def test_plot_compare_writes_one_figure(run: Invoke, tmp_path: Path) -> None:
    target = tmp_path / "compare.svg"
    result = run(
        "plot", *SEED, "--compare", "gamma=0.5", "--compare", "lr=0.05,step_size=20",
        "-o", str(target),
    )  # fmt: skip
    assert result.exit_code == 0, result.stderr
    assert result.stderr == (
        f"wrote {target}: lr=0.1, step_size=30, gamma=0.1, steps 0-119 "
        "(svg, log lr axis, exact, 3 schedules)\n"
    )
    text = target.read_text()
    assert "gamma=0.5" in text
    assert "lr=0.05,step_size=20" in text


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("gamma=2", "SPEC 'gamma=2': gamma must be a number with 0 < gamma < 1, got 2.0"),
        ("colour=red", "SPEC 'colour=red': unknown key 'colour'"),
    ],
)
def test_plot_compare_bad_spec(run: Invoke, tmp_path: Path, spec: str, message: str) -> None:
    result = run("plot", *SEED, "--compare", spec, "-o", str(tmp_path / "c.png"))
    assert result.exit_code == 2
    assert result.stderr.startswith("stepsched: error: Invalid value for '--compare': " + message)
    assert not (tmp_path / "c.png").exists()


def test_terminal_log_plot_labels_zero_honestly(
    run: Invoke, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The lr underflows to 0 at step 9690: 0 is drawn on a row labelled 0, and the scale
    runs down to the last positive lr, not to an invented 0.01."""
    monkeypatch.setenv("COLUMNS", "40")
    result = run("plot", *SEED, "--total", str(10**12), "--log")
    assert result.exit_code == 0
    assert result.stdout.splitlines() == [
        "lr=0.1, step_size=30, gamma=0.1",
        "      0.1┤┐",
        "         ││",
        "    1e-81┤│",
        "         ││",
        "   1e-145┤│",
        "         ││",
        "   1e-210┤│",
        "         ││",
        "   1e-274┤│",
        "         ││",
        "9.88e-324┤│",
        "        0┤└─────────────────────────────",
        "         └┬─────┬─────┬─────┬─────┬─────",
        "          0     200G  400G  600G    step",
    ]
