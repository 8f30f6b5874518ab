"""The one map from a library parameter to the option that sets it, and usage errors.

The library's errors carry the parameter they are about
(``ScheduleError(..., parameter="step_size")``); the command line names the option
instead (``--step-size``) through :data:`OPTION_FOR_PARAMETER`, and never reads the
message to find it.  The options of a group take their flags from the same map
(:func:`~stepsched_cli.cli.options.groups.shared`), and a test checks that every other
option of a parameter named here is declared with the same flag.
"""

from __future__ import annotations

import typer

from stepsched_cli.errors import StepschedError

OPTION_FOR_PARAMETER: dict[str, str] = {
    # The schedule.
    "lr": "--lr",
    "initial_lr": "--lr",
    "step_size": "--step-size",
    "gamma": "--gamma",
    "milestones": "--milestones",
    "warmup_steps": "--warmup-steps",
    "warmup_start_lr": "--warmup-start-lr",
    "warmup_prefix": "--warmup-prefix",
    "min_lr": "--min-lr",
    "state": "--state",
    # Position and units.
    "mode": "--mode",
    "steps_per_epoch": "--steps-per-epoch",
    "total": "--total",
    "epochs": "--epochs",
    "position": "--position",
    # The data pipeline.
    "dataset_size": "--dataset-size",
    "batch_size": "--batch-size",
    "global_batch_size": "--global-batch-size",
    "world_size": "--world-size",
    "grad_accum": "--grad-accum",
    "drop_last": "--drop-last",
    "accumulation_rounding": "--accumulation-rounding",
    # Output.
    "output_format": "--format",
    "json_output": "--json",
    "output": "--output",
    "force": "--force",
    # Reading files: the hints a format may take.
    "key": "--key",
    "optimizer": "--optimizer",
    "updates_per_epoch": "--updates-per-epoch",
    # One command's options that the library's errors name: solve, plot and check.
    "final_lr": "--final-lr",
    "decays": "--decays",
    "x": "--x",
    "width": "--width",
    "height": "--height",
    "dpi": "--dpi",
    "step_column": "--step-column",
    "lr_column": "--lr-column",
    "steps_from": "--steps-from",
    "log_format": "--log-format",
}


def option_for(parameter: str | None) -> str | None:
    """The option that sets the library's ``parameter``; None for none (or no parameter).

    Example:
        >>> option_for("initial_lr"), option_for("dataset_size"), option_for(None)
        ('--lr', '--dataset-size', None)
    """
    return None if parameter is None else OPTION_FOR_PARAMETER.get(parameter)


def usage_error(option: str, message: str) -> typer.BadParameter:
    """A usage error (exit 2) about ``option``: ``Invalid value for '--x': message``."""
    return typer.BadParameter(message, param_hint=f"'{option}'")


def usage_error_about(error: StepschedError) -> typer.BadParameter:
    """The library's ``error`` as a usage error naming the option behind its ``parameter``.

    An error about no known option keeps its message without a name.
    """
    option = option_for(error.parameter)
    if option is None:
        return typer.BadParameter(str(error))
    return usage_error(option, str(error))


__all__ = ["OPTION_FOR_PARAMETER", "option_for", "usage_error", "usage_error_about"]
