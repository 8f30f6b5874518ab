"""Pictures under hostile sizes (issue 20): the installed command, bounded in time and memory.

Each case runs ``stepsched plot`` in a subprocess under a 1 GiB address-space limit and
a time limit, as a user's shell runs it: a state with 20,000 milestones (its title
summarised, not listed), 2,000 ``--compare`` specs (refused before any is drawn), a
terminal size of 10**8 taken from the environment (capped), and dpi values matplotlib
cannot draw (a usage error naming ``--dpi``, never a library error or warning).
"""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

# The conftest's fixture: ``stepsched ARGS`` under the memory and time limits.
Capped = Callable[..., subprocess.CompletedProcess[str]]


def in_terminal(
    capped: Capped, folder: Path, *args: str, columns: str = "80", lines: str = "24"
) -> tuple[int, str, str]:
    """``stepsched ARGS`` in ``folder``, in a terminal of ``columns`` x ``lines``."""
    completed = capped(*args, cwd=folder, columns=columns, lines=lines)
    return completed.returncode, completed.stdout, completed.stderr


MILESTONES = ",".join(str(milestone) for milestone in range(1, 20001))
SUMMARY = "lr=0.1, milestones=1,2,3,...,20000 (20000 in all), gamma=0.999"


@pytest.fixture(scope="module")
def many_milestones(tmp_path_factory: pytest.TempPathFactory, capped: Capped) -> Path:
    """A folder holding ``state.json``: 20,000 milestones, one per step."""
    folder = tmp_path_factory.mktemp("pictures")
    code, _, stderr = in_terminal(
        capped, folder, "init", "--milestones", MILESTONES, "--gamma", "0.999", "-o", "state.json"
    )
    assert (code, stderr) == (0, f"wrote state.json: {SUMMARY}, at step 0\n")
    return folder


def test_a_terminal_plot_of_20000_milestones_has_a_one_line_title(
    many_milestones: Path, capped: Capped
) -> None:
    code, stdout, stderr = in_terminal(capped, many_milestones, "plot", "--state", "state.json")
    assert (code, stderr) == (0, "")
    lines = stdout.splitlines()
    assert lines[0] == SUMMARY
    assert len(lines) == 1 + 12 + 2


def test_a_png_of_20000_milestones_names_them_in_one_line(
    many_milestones: Path, capped: Capped
) -> None:
    code, stdout, stderr = in_terminal(
        capped, many_milestones, "plot", "--state", "state.json", "--total", "20001", "-o", "lr.png"
    )
    assert (code, stdout) == (0, "")
    assert stderr == (
        f"wrote lr.png: {SUMMARY}, steps 0-20000 "
        "(png, log lr axis, sampled at 1600 positions, now at step 0)\n"
    )


def test_thousands_of_compared_schedules_are_refused_before_any_is_drawn(
    tmp_path: Path, capped: Capped
) -> None:
    compare = [argument for _ in range(2000) for argument in ("--compare", "gamma=0.5")]
    code, stdout, stderr = in_terminal(capped, tmp_path, "plot", *compare, "-o", "lr.png")
    assert (code, stdout) == (2, "")
    assert stderr == (
        "stepsched: error: Invalid value for '--compare': a picture compares at most 5 "
        "schedules with the base (one colour each), got 2000 (see 'stepsched plot --help')\n"
    )
    assert list(tmp_path.iterdir()) == []


def test_a_terminal_size_from_the_environment_is_capped(tmp_path: Path, capped: Capped) -> None:
    code, stdout, stderr = in_terminal(
        capped, tmp_path, "plot", columns="100000000", lines="1000000000"
    )
    assert (code, stderr) == (0, "")
    lines = stdout.splitlines()
    assert len(lines) == 1 + 40 + 2
    assert max(len(line) for line in lines) == 1000


@pytest.mark.parametrize("extension", ["png", "svg", "pdf"])
@pytest.mark.parametrize("dpi", ["1", "5"])
def test_a_dpi_too_small_to_draw_text_is_a_usage_error(
    tmp_path: Path, capped: Capped, dpi: str, extension: str
) -> None:
    code, stdout, stderr = in_terminal(
        capped, tmp_path, "plot", "--dpi", dpi, "-o", f"lr.{extension}"
    )
    assert (code, stdout) == (2, "")
    assert stderr.startswith(
        f"stepsched: error: Invalid value for '--dpi': dpi must be at least 36, got {dpi}"
    )
    assert stderr.count("\n") == 1
    assert list(tmp_path.iterdir()) == []


def test_a_figure_too_small_for_its_text_is_refused_without_library_warnings(
    tmp_path: Path, capped: Capped
) -> None:
    code, stdout, stderr = in_terminal(capped,
        tmp_path, "plot", "--compare", "gamma=0.5", "--compare", "gamma=0.2",
        "--compare", "step_size=10", "--width", "2.5", "--height", "2", "-o", "lr.png",
    )  # fmt: skip
    assert (code, stdout) == (2, "")
    assert stderr == (
        "stepsched: error: Invalid value for '--height': a 2.5 x 2 inch figure has no "
        "room for this title, its labels and legend; give a larger --width or --height (or a "
        "shorter --title) (see 'stepsched plot --help')\n"
    )
    assert list(tmp_path.iterdir()) == []
