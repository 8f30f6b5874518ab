"""Issue 20's small things: each message says what is true, and no half-meant write.

* a warning shows gamma as typed (``0.999999999``, never ``1``);
* a Keras schedule of too many milestones is refused for its boundaries, not for a
  floor it never reaches;
* ``--optimizer -`` is a usage error (standard input is not read for it);
* an output path ending in a slash (or ``.``) names a folder: nothing is written.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from stepsched_cli.cli.app import app
from stepsched_cli.errors import ConversionError
from stepsched_cli.fileio import FileWriteError, atomic_write
from stepsched_cli.formats.frameworks.keras.schedule import from_schedule
from stepsched_cli.plausibility import check_plausibility
from stepsched_cli.schedule import StepSchedule

STATE = Path(__file__).resolve().parents[1] / "data" / "checkpoints" / "steplr_state.json"


def run(*arguments: str, stdin: bytes | None = None) -> Result:
    return CliRunner().invoke(
        app, list(arguments), input=stdin, env={"NO_COLOR": "1", "COLUMNS": "200"}
    )


@pytest.mark.parametrize(
    ("gamma", "underflow_at"),
    [(0.999999999, 742830633638), (0.9999, 7427935), (0.5, 1072)],
)
def test_the_underflow_warning_shows_gamma_as_typed(gamma: float, underflow_at: int) -> None:
    schedule = StepSchedule(0.1, step_size=1, gamma=gamma)
    (warning,) = check_plausibility(schedule, total=10**13)
    assert warning.message == (
        f"the lr underflows to 0 at step {underflow_at}, after {underflow_at} decays of gamma "
        f"{gamma!r}: every later step trains with lr 0"
    )


MILESTONES = tuple(range(1, 20_001))


@pytest.mark.parametrize(
    ("schedule", "reason"),
    [
        (
            StepSchedule(0.1, milestones=MILESTONES, gamma=0.99),
            "the schedule has 20000 boundaries (one per milestone)",
        ),
        (
            StepSchedule(0.1, milestones=MILESTONES, gamma=0.99, min_lr=1e-300),
            "the schedule has 20000 boundaries (one per milestone)",
        ),
        (
            StepSchedule(0.1, step_size=1, gamma=0.999, min_lr=1e-30),
            "min_lr=1e-30 is reached after 66742 decays",
        ),
        (
            StepSchedule(0.1, milestones=MILESTONES, gamma=0.999, min_lr=1e-6),
            "min_lr=1e-06 is reached after 11508 decays",
        ),
    ],
)
def test_a_keras_schedule_too_long_names_its_limit(schedule: StepSchedule, reason: str) -> None:
    with pytest.raises(ConversionError) as raised:
        from_schedule(schedule)
    assert str(raised.value) == (
        f"{reason}; a Keras PiecewiseConstantDecay of more than 10000 boundaries is not written"
    )


@pytest.mark.parametrize("command", ["inspect", "validate"])
@pytest.mark.parametrize(
    ("file", "message"),
    [
        ("-", "only one of FILE and --optimizer can be - (standard input)"),
        (str(STATE), "names a file; - (standard input) is not read for it"),
    ],
)
def test_optimizer_from_standard_input_is_a_usage_error(
    command: str, file: str, message: str
) -> None:
    result = run(command, file, "--optimizer", "-", stdin=STATE.read_bytes())
    assert result.exit_code == 2
    assert result.stdout == ""
    assert result.stderr == (
        f"stepsched: error: Invalid value for '--optimizer': {message} "
        f"(see 'stepsched {command} --help')\n"
    )


@pytest.mark.parametrize("name", ["new.json/", "new.json/.", "new.json/..", "./"])
def test_an_output_naming_a_folder_is_refused(tmp_path: Path, name: str) -> None:
    target = f"{tmp_path}/{name}"
    with pytest.raises(FileWriteError) as raised:
        atomic_write(target, b"{}")
    assert str(raised.value) == f"{target}: names a folder, not a file (a trailing / . or ..)"
    assert sorted(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    "arguments",
    [
        ["init", "--lr", "0.1", "-o"],
        ["convert", str(STATE), "-o"],
    ],
)
def test_commands_write_nothing_for_a_trailing_slash(tmp_path: Path, arguments: list[str]) -> None:
    target = f"{tmp_path}/new.json/"
    result = run(*arguments, target)
    assert result.exit_code == 1
    assert result.stderr == (
        f"stepsched: error: {target}: names a folder, not a file (a trailing / . or ..)\n"
    )
    assert sorted(tmp_path.iterdir()) == []
