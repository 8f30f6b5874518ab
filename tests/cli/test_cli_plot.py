"""``plot`` and :mod:`stepsched_cli.plot`: the drawn points are the boundaries; files read back."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import pytest
from typer.testing import Result

from stepsched_cli.plot import build_figure, render, staircase
from stepsched_cli.schedule import StepSchedule

Invoke = Callable[..., Result]

SEED = ["--lr", "0.1", "--step-size", "30"]
SIGNATURES = {"png": b"\x89PNG\r\n\x1a\n", "svg": b"<?xml", "pdf": b"%PDF-"}


# -- the staircase -----------------------------------------------------------


@pytest.mark.parametrize(
    ("schedule", "total", "positions", "lrs"),
    [
        (
            StepSchedule(0.1, step_size=30),
            120,
            (0, 30, 60, 90, 120),
            (0.1, 0.01, 0.001, 0.0001, 0.0001),
        ),
        (StepSchedule(0.1, step_size=30), 1, (0, 1), (0.1, 0.1)),
        (StepSchedule(0.1, step_size=30), 31, (0, 30, 31), (0.1, 0.01, 0.01)),
        (StepSchedule(0.1, milestones=(5, 7)), 100, (0, 5, 7, 100), (0.1, 0.01, 0.001, 0.001)),
        (
            StepSchedule(0.1, step_size=3, warmup_steps=2, warmup_prefix=True),
            6,
            (0, 1, 2, 5, 6),
            (0.0, 0.05, 0.1, 0.01, 0.01),
        ),
        (
            StepSchedule(0.1, step_size=3, warmup_steps=2),
            7,
            (0, 1, 2, 3, 6, 7),
            (0.0, 0.05, 0.1, 0.01, 0.001, 0.001),
        ),
        (
            StepSchedule(1.0, step_size=2, gamma=0.5, warmup_steps=5),
            9,
            (0, 1, 2, 3, 4, 5, 6, 8, 9),
            (0.0, 0.2, 0.4, 0.6, 0.8, 0.25, 0.125, 0.0625, 0.0625),
        ),
    ],
)
def test_exact_staircase(
    schedule: StepSchedule, total: int, positions: tuple[int, ...], lrs: tuple[float, ...]
) -> None:
    curve = staircase(schedule, total)
    assert curve.exact
    assert (curve.positions, curve.lrs) == (positions, lrs)


def test_decays_exclude_warmup_steps() -> None:
    curve = staircase(StepSchedule(0.1, step_size=3, warmup_steps=2, warmup_prefix=True), 9)
    assert curve.decays == ((5, 0.01), (8, 0.001))
    curve = staircase(StepSchedule(0.1, step_size=3, warmup_steps=2), 9)
    assert curve.decays == ((3, 0.01), (6, 0.001))


def test_decays_inside_the_warmup_are_marked_where_it_ends() -> None:
    curve = staircase(StepSchedule(1.0, step_size=2, gamma=0.5, warmup_steps=5), 9)
    assert curve.decays == ((5, 0.25), (6, 0.125), (8, 0.0625))


def test_sampled_staircase_is_bounded_by_the_budget() -> None:
    schedule = StepSchedule(0.1, step_size=1, gamma=0.9999999)
    curve = staircase(schedule, 10**12, budget=100)
    assert not curve.exact
    assert len(curve.positions) == 101
    assert curve.positions[0] == 0
    assert curve.positions[-2:] == (10**12 - 1, 10**12)
    assert curve.lrs[:-1] == tuple(schedule.lr_at(p) for p in curve.positions[:-1])
    assert curve.decays == ()


def test_budget_boundary_is_exact_just_below() -> None:
    schedule = StepSchedule(0.1, step_size=1, gamma=0.5)
    assert staircase(schedule, 10, budget=10).exact
    assert not staircase(schedule, 11, budget=10).exact


def test_bad_arguments() -> None:
    with pytest.raises(ValueError, match="total"):
        staircase(StepSchedule(0.1), 0)


@pytest.mark.parametrize("total", [100, 10**12, 2**70])
def test_cost_does_not_grow_with_the_horizon(total: int) -> None:
    schedule = StepSchedule(0.1, step_size=1, gamma=0.99999999)  # ~7e10 boundaries
    started = time.perf_counter()
    curve = staircase(schedule, total)
    assert time.perf_counter() - started < 2.0
    assert len(curve.positions) <= 1601


# -- the figure --------------------------------------------------------------


def test_figure_step_points_are_the_boundaries() -> None:
    schedule = StepSchedule(0.1, step_size=30)
    figure = build_figure(staircase(schedule, 120), title="t", x_label="step")
    axes = figure.axes[0]
    curve_line, markers = axes.get_lines()
    assert curve_line.get_drawstyle() == "steps-post"
    assert list(curve_line.get_xdata()) == [0, 30, 60, 90, 120]
    assert list(curve_line.get_ydata()) == [0.1, 0.01, 0.001, 0.0001, 0.0001]
    assert list(markers.get_xdata()) == list(schedule.boundaries(0, 120))
    assert list(markers.get_ydata()) == [0.01, 0.001, 0.0001]
    assert axes.get_title() == "t"
    assert axes.get_xlabel() == "step"
    assert axes.get_yscale() == "linear"


def test_figure_log_axis_and_unit_conversion() -> None:
    curve = staircase(StepSchedule(0.1, step_size=2, mode="epoch"), 4)
    figure = build_figure(curve, title="t", x_label="step", to_x=lambda p: float(p * 10), log=True)
    axes = figure.axes[0]
    assert axes.get_yscale() == "log"
    assert list(axes.get_lines()[0].get_xdata()) == [0.0, 20.0, 40.0]


def test_sampled_figure_has_no_markers() -> None:
    curve = staircase(StepSchedule(0.1, step_size=1, gamma=0.999), 10**6)
    assert len(build_figure(curve, title="t", x_label="step").axes[0].get_lines()) == 1


@pytest.mark.parametrize("image_format", ["png", "svg", "pdf"])
def test_render_signatures(image_format: str) -> None:
    figure = build_figure(staircase(StepSchedule(0.1), 120), title="t", x_label="step")
    data = render(figure, image_format)
    assert data.startswith(SIGNATURES[image_format])


def test_render_refuses_other_formats() -> None:
    figure = build_figure(staircase(StepSchedule(0.1), 120), title="t", x_label="step")
    with pytest.raises(ValueError, match="image format"):
        render(figure, "gif")


# -- the command -------------------------------------------------------------


@pytest.mark.parametrize("extension", ["png", "svg", "pdf", "PNG"])
def test_plot_writes_each_format(run: Invoke, tmp_path: Path, extension: str) -> None:
    target = tmp_path / f"lr.{extension}"
    result = run("plot", *SEED, "--total", "120", "-o", str(target))
    assert result.exit_code == 0, result.stderr
    assert result.stdout == ""
    kind = extension.lower()
    assert result.stderr == f"wrote {target} ({kind}, steps 0-119, exact)\n"
    data = target.read_bytes()
    assert data.startswith(SIGNATURES[kind])
    assert len(data) > 1000


def test_plot_png_size(run: Invoke, tmp_path: Path) -> None:
    target = tmp_path / "lr.png"
    run("plot", *SEED, "-o", str(target))
    header = target.read_bytes()[16:24]
    assert (int.from_bytes(header[:4], "big"), int.from_bytes(header[4:], "big")) == (800, 450)


def test_plot_replaces_an_existing_file_with_force(run: Invoke, tmp_path: Path) -> None:
    target = tmp_path / "lr.svg"
    target.write_text("old")
    assert run("plot", *SEED, "-o", str(target), "--force").exit_code == 0
    assert target.read_bytes().startswith(b"<?xml")


def test_plot_keeps_an_existing_file_without_force(run: Invoke, tmp_path: Path) -> None:
    target = tmp_path / "lr.svg"
    target.write_text("old")
    result = run("plot", *SEED, "-o", str(target))
    assert result.exit_code == 1
    assert result.stderr == (
        f"stepsched: error: {target}: already exists; refusing to overwrite it "
        "(use --force to replace it)\n"
    )
    assert target.read_text() == "old"


def test_plot_to_stdout_is_png(run: Invoke) -> None:
    result = run("plot", *SEED, "-o", "-")
    assert result.exit_code == 0
    assert result.stdout_bytes.startswith(SIGNATURES["png"])


def test_plot_huge_horizon_is_fast(run: Invoke, tmp_path: Path) -> None:
    target = tmp_path / "big.png"
    started = time.perf_counter()
    result = run(
        "plot", "--lr", "0.1", "--step-size", "1", "--gamma", "0.99999999",
        "--total", str(10**12), "--log", "-o", str(target),
    )  # fmt: skip
    assert time.perf_counter() - started < 10
    assert result.exit_code == 0, result.stderr
    assert "sampled at 1600 positions" in result.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ([*SEED, "-o", "lr.gif"], "Invalid value for '--output': the file name must end in .png"),
        ([*SEED, "-o", "lr"], "Invalid value for '--output'"),
        ([*SEED, "--compare", "gamma=0.5"], "Invalid value for '--compare': draws into a file"),
        (
            [*SEED, "--compare", "mode=epoch", "-o", "lr.png"],
            "Invalid value for '--compare': cannot compare a step-mode schedule with an epoch-mode "
            "one: their positions count different units; give both the same mode "
            "(see 'stepsched plot --help')\n",
        ),
        ([*SEED, "--x", "epochs", "-o", "lr.png"], "Invalid value for '--x': epochs on the x axis"),
        ([*SEED, "--x", "days", "-o", "lr.png"], "Invalid value for '--x'"),
        (["--lr", "-1", "-o", "lr.png"], "Invalid value for '--lr'"),
    ],
)
def test_plot_usage_errors(run: Invoke, tmp_path: Path, args: list[str], message: str) -> None:
    result = run("plot", *args)
    assert result.exit_code == 2
    assert result.stderr.startswith("stepsched: error: " + message), result.stderr
    assert not (tmp_path / "lr.png").exists()


def test_plot_x_in_epochs(run: Invoke, tmp_path: Path) -> None:
    target = tmp_path / "lr.png"
    args = [*SEED, "--steps-per-epoch", "30", "--x", "epochs", "-o", str(target)]
    assert run("plot", *args).exit_code == 0


def test_plot_into_a_missing_folder_is_a_file_error(run: Invoke, tmp_path: Path) -> None:
    result = run("plot", *SEED, "-o", str(tmp_path / "missing" / "lr.png"))
    assert result.exit_code == 1
    assert result.stderr.startswith(
        f"stepsched: error: {tmp_path}/missing/lr.png: cannot be written"
    )


HUGE = str(10**400)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--lr", "0.1", "--total", HUGE],
         "must be an integer from 1 to 10**300 for a plot, got a number of 401 digits"),
        (["--lr", "0.1", "--total", HUGE, "-o", "lr.png"],
         "must be an integer from 1 to 10**300 for a plot, got a number of 401 digits"),
        (["--lr", "0.1", "--total", str(10**300 + 1)],
         "must be an integer from 1 to 10**300 for a plot, got a number of 301 digits"),
        (["--lr", "0.1", "--step-size", HUGE],
         "the default horizon (one interval past the third decay) is a number of 401 digits; "
         "a plot draws at most 10**300 positions (it places them as floats): give --total "
         "from 1 to 10**300"),
        (["--lr", "0.1", "--mode", "epoch", "--steps-per-epoch", "1000", "--x", "steps",
          "--total", str(10**299), "-o", "lr.png"],
         "with --x steps the plot spans a number of 303 digits steps (a number of 300 digits "
         "epochs); a plot draws at most 10**300 positions (it places them as floats)"),
    ],
)  # fmt: skip
def test_plot_total_is_bounded(
    run: Invoke, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, args: list[str], message: str
) -> None:
    monkeypatch.chdir(tmp_path)
    result = run("plot", *args)
    assert (result.exit_code, result.stdout) == (2, "")
    assert result.stderr == (
        f"stepsched: error: Invalid value for '--total': {message} (see 'stepsched plot --help')\n"
    )
    assert not (tmp_path / "lr.png").exists()


def test_plot_at_the_total_bound_draws(run: Invoke) -> None:
    result = run("plot", "--lr", "0.1", "--total", str(10**300))
    assert result.exit_code == 0, result.stderr
    assert result.stdout.splitlines()[-1].split()[:2] == ["0", "1e+299"]


LAST = str(10**400 - 1)


@pytest.mark.parametrize(
    ("args", "last_line"),
    [
        (["table", "--lr", "0.1", "--total", HUGE, "-f", "csv"], f"9690,{LAST},0.0"),
        (["table", "--lr", "0.1", "--total", HUGE, "--every", HUGE, "-f", "csv"], "0,0.1"),
        (["at", HUGE, "--lr", "0.1", "--json"], '  "next_lr": null'),
        (["boundaries", "--lr", "0.1", "--total", HUGE, "-f", "csv"], "9690,1e-323,0.0"),
        (["diff", "lr=0.2", "--lr", "0.1", "--total", HUGE, "-f", "csv"],
         "9660,9689,1e-323,2e-323,2.0"),
    ],
)  # fmt: skip
def test_integer_commands_take_huge_positions(run: Invoke, args: list[str], last_line: str) -> None:
    """Only pictures need floats: the listings work for any integer horizon."""
    result = run(*args)
    assert result.exit_code == 0, result.stderr
    assert result.stdout.splitlines()[-2 if args[0] == "at" else -1] == last_line
