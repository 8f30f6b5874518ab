"""The data pipeline options, and the steps per epoch they give.

``--dataset-size``, ``--batch-size`` or ``--global-batch-size``, ``--world-size``,
``--grad-accum``, ``--drop-last`` and ``--accumulation-rounding`` are declared once in
:data:`PIPELINE`: part of the schedule options (an alternative to
``--steps-per-epoch``), and on their own through :func:`pipeline_options` (the
``steps-per-epoch`` command).  :func:`resolve_steps_per_epoch` turns them into the
steps per epoch; a value out of range is a usage error (exit 2) naming the option.
"""

from __future__ import annotations

import inspect
import typing
from dataclasses import dataclass, fields
from typing import Any

from stepsched_cli.cli.options.groups import PIPELINE_PANEL, OptionGroup, shared, with_options
from stepsched_cli.cli.options.parameters import (
    OPTION_FOR_PARAMETER,
    usage_error,
    usage_error_about,
)
from stepsched_cli.errors import ScheduleError
from stepsched_cli.units import (
    AccumulationRounding,
    StepsPerEpoch,
    steps_per_epoch_for_global_batch,
)
from stepsched_cli.units import steps_per_epoch as pipeline_steps_per_epoch


@dataclass(frozen=True)
class PipelineOptions:
    """The raw values of the data pipeline options, None (False) where not given."""

    dataset_size: int | None = None
    batch_size: int | None = None
    global_batch_size: int | None = None
    world_size: int | None = None
    grad_accum: int | None = None
    drop_last: bool = False
    accumulation_rounding: AccumulationRounding | None = None

    @property
    def given(self) -> list[str]:
        """The options given, as typed (``--dataset-size``, ...)."""
        return [
            OPTION_FOR_PARAMETER[field.name]
            for field in fields(self)
            if getattr(self, field.name) not in (None, False)
        ]


def _count(parameter: str, help: str) -> inspect.Parameter:
    return shared(parameter, int | None, metavar="N", help=help, panel=PIPELINE_PANEL)


def _collect(values: dict[str, Any]) -> PipelineOptions:
    return PipelineOptions(**{**values, "drop_last": bool(values["drop_last"])})


PIPELINE: OptionGroup[PipelineOptions] = OptionGroup(
    "pipeline",
    (
        _count("dataset_size", "Samples in one epoch."),
        _count("batch_size", "Samples per batch on ONE rank."),
        _count("global_batch_size", "Samples per optimizer step, all ranks."),
        _count("world_size", "Data-parallel ranks. [default: 1]"),
        _count("grad_accum", "Batches per optimizer step. [default: 1]"),
        shared(
            "drop_last",
            bool,
            help="The last incomplete batch is dropped.",
            panel=PIPELINE_PANEL,
            default=False,
        ),
        shared(
            "accumulation_rounding",
            AccumulationRounding | None,
            help="ceil (a plain PyTorch loop) or floor (Hugging Face Trainer). [default: ceil]",
            panel=PIPELINE_PANEL,
        ),
    ),
    _collect,
)

pipeline_options = with_options(PIPELINE)
"""Add the data pipeline options to a command that takes ``pipeline: PipelineOptions``."""


def resolve_steps_per_epoch(
    options: PipelineOptions, *, steps_per_epoch_given: int | None = None
) -> StepsPerEpoch | None:
    """The steps per epoch the data pipeline options describe; None when none is given.

    Raises:
        typer.BadParameter: given together with ``--steps-per-epoch``, without
            ``--dataset-size`` or a batch size, both batch sizes, or a value out of
            range (exit 2).
    """
    given = options.given
    if not given:
        return None
    _check_pipeline_options(options, given, steps_per_epoch_given)
    compute = (
        pipeline_steps_per_epoch
        if options.global_batch_size is None
        else steps_per_epoch_for_global_batch
    )
    try:
        return compute(
            typing.cast(int, options.dataset_size),
            typing.cast(
                int,
                options.batch_size
                if options.global_batch_size is None
                else options.global_batch_size,
            ),
            1 if options.world_size is None else options.world_size,
            1 if options.grad_accum is None else options.grad_accum,
            drop_last=options.drop_last,
            accumulation_rounding=options.accumulation_rounding or "ceil",
        )
    except ScheduleError as error:
        raise usage_error_about(error) from None


def _check_pipeline_options(
    options: PipelineOptions, given: list[str], steps_per_epoch_given: int | None
) -> None:
    if options.accumulation_rounding is not None and options.grad_accum in (None, 1):
        raise usage_error(
            "--accumulation-rounding",
            "needs --grad-accum >= 2: without gradient accumulation there is nothing to round",
        )
    if steps_per_epoch_given is not None:
        raise usage_error(
            "--steps-per-epoch",
            f"give either --steps-per-epoch or the data pipeline ({given[0]}, ...), not both",
        )
    if options.batch_size is not None and options.global_batch_size is not None:
        raise usage_error(
            "--global-batch-size",
            "give either --batch-size (per rank) or --global-batch-size (all ranks), not both",
        )
    if options.dataset_size is None:
        raise usage_error("--dataset-size", f"--dataset-size is needed with {given[0]}")
    if options.batch_size is None and options.global_batch_size is None:
        raise usage_error("--batch-size", f"--batch-size is needed with {given[0]}")


def pipeline_summary(figures: StepsPerEpoch) -> str:
    """One line: ``5005 steps per epoch: 1281167 samples, batch 32 per rank x 8 ranks``."""
    text = (
        f"{figures.steps_per_epoch} steps per epoch: {figures.dataset_size} samples, "
        f"batch {figures.batch_size} per rank"
    )
    if figures.world_size > 1:
        text += f" x {figures.world_size} ranks"
    if figures.grad_accum > 1:
        text += f", {figures.grad_accum} batches per step ({figures.accumulation_rounding})"
    if figures.drop_last:
        text += ", last batch dropped"
    return text


__all__ = [
    "PIPELINE",
    "PipelineOptions",
    "pipeline_options",
    "pipeline_summary",
    "resolve_steps_per_epoch",
]
