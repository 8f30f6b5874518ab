"""The shared options: one parameter->option map, and option groups declared once."""

from __future__ import annotations

from typing import Any

import pytest
import typer
from typer._click import core as click_core
from typer.main import get_command
from typer.testing import CliRunner

from stepsched_cli.cli.app import build_app
from stepsched_cli.cli.options.groups import OptionGroup, shared, with_options
from stepsched_cli.cli.options.parameters import (
    OPTION_FOR_PARAMETER,
    option_for,
    usage_error_about,
)
from stepsched_cli.cli.options.pipeline import PIPELINE, PipelineOptions
from stepsched_cli.cli.options.schedule import ScheduleOptions, schedule_options
from stepsched_cli.errors import ScheduleError
from stepsched_cli.runlog import RunLogError
from stepsched_cli.solve import SolveError


def _options_by_command() -> dict[str, list[click_core.Parameter]]:
    group = get_command(build_app())
    commands: dict[str, click_core.Command] = group.commands  # type: ignore[attr-defined]
    return {
        name: [param for param in command.params if param.param_type_name == "option"]
        for name, command in commands.items()
    }


def test_every_option_of_a_mapped_parameter_is_declared_with_the_maps_flag() -> None:
    """An error's parameter is shown as the option that sets it: the two must agree."""
    checked: set[str] = set()
    for command, options in _options_by_command().items():
        for declared in options:
            flag = OPTION_FOR_PARAMETER.get(declared.name or "")
            if flag is not None:
                assert flag in declared.opts, (command, declared.name, declared.opts)
                checked.add(declared.name or "")
    # Not vacuous: the schedule, the pipeline, output and single commands' options.
    assert {"lr", "mode", "dataset_size", "output_format", "x", "final_lr", "lr_column"} <= checked


def test_every_flag_of_the_map_is_an_option_of_some_command() -> None:
    flags = {flag for options in _options_by_command().values() for o in options for flag in o.opts}
    assert sorted(set(OPTION_FOR_PARAMETER.values()) - flags) == []


@pytest.mark.parametrize(
    ("parameter", "option"),
    [
        ("initial_lr", "--lr"),
        ("lr", "--lr"),
        ("step_size", "--step-size"),
        ("dataset_size", "--dataset-size"),
        ("accumulation_rounding", "--accumulation-rounding"),
        ("final_lr", "--final-lr"),
        ("lr_column", "--lr-column"),
        ("x", "--x"),
        ("output_format", "--format"),
        ("not_a_parameter", None),
        (None, None),
    ],
)
def test_option_for(parameter: str | None, option: str | None) -> None:
    assert option_for(parameter) == option


@pytest.mark.parametrize(
    ("error", "message"),
    [
        (
            ScheduleError("initial_lr must be > 0, got -1", parameter="initial_lr"),
            "Invalid value for '--lr': initial_lr must be > 0, got -1",
        ),
        (
            SolveError("decays must be an integer >= 1, got 0", parameter="decays"),
            "Invalid value for '--decays': decays must be an integer >= 1, got 0",
        ),
        (ScheduleError("no valid schedule"), "Invalid value: no valid schedule"),
        (RunLogError("x", parameter="nonsense"), "Invalid value: x; choose one with nonsense"),
    ],
)
def test_usage_error_about_names_the_option_behind_the_parameter(
    error: ScheduleError, message: str
) -> None:
    assert usage_error_about(error).format_message() == message


def _run_length(values: dict[str, Any]) -> tuple[int | None, int | None]:
    return (values["total"], values["epochs"])


RUN_LENGTH: OptionGroup[tuple[int | None, int | None]] = OptionGroup(
    "run_length",
    (
        shared("total", int | None, help="The run's length.", panel="Run"),
        shared("epochs", int | None, help="The run's length in epochs.", panel="Run"),
    ),
    _run_length,
)


def _app_of(command: Any) -> typer.Typer:
    application = typer.Typer(add_completion=False)
    application.command()(command)
    return application


def _invoke(command: Any, args: list[str]) -> Any:
    return CliRunner().invoke(_app_of(command), args)


def test_with_options_hands_each_group_its_record() -> None:
    received: list[tuple[str, PipelineOptions, tuple[int | None, int | None]]] = []

    @with_options(PIPELINE, RUN_LENGTH)
    def command(
        pipeline: PipelineOptions,
        run_length: tuple[int | None, int | None],
        name: str = "x",
    ) -> None:
        received.append((name, pipeline, run_length))

    result = _invoke(command, ["--dataset-size", "100", "--batch-size", "7", "--total", "5"])
    assert result.exit_code == 0, result.output
    assert received == [("x", PipelineOptions(dataset_size=100, batch_size=7), (5, None))]
    declared = [param.name for param in get_command(_app_of(command)).params]
    assert declared == ["name", *PIPELINE.names, "total", "epochs"]


def test_the_schedule_record_holds_the_pipeline_record() -> None:
    received: list[ScheduleOptions] = []

    @schedule_options
    def command(schedule: ScheduleOptions) -> None:
        received.append(schedule)

    assert _invoke(command, ["--lr", "0.5", "--world-size", "2"]).exit_code == 0
    assert _invoke(command, ["--mode", "epochs", "--drop-last"]).exit_code == 0
    assert received == [
        ScheduleOptions(lr=0.5, pipeline=PipelineOptions(world_size=2)),
        ScheduleOptions(mode="epoch", pipeline=PipelineOptions(drop_last=True)),
    ]
