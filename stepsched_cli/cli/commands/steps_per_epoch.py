"""The ``steps-per-epoch`` command: the optimizer steps in one epoch, from the data pipeline.

A thin layer over :mod:`stepsched_cli.units`, which counts as PyTorch does.
"""

from __future__ import annotations

from typing import Any

import typer

from stepsched_cli.cli.options.output import JsonFlag
from stepsched_cli.cli.options.parameters import usage_error
from stepsched_cli.cli.options.pipeline import (
    PipelineOptions,
    pipeline_options,
    resolve_steps_per_epoch,
)
from stepsched_cli.cli.output import print_json, print_lines
from stepsched_cli.units import StepsPerEpoch

STEPS_PER_EPOCH_EPILOG = """\
Examples:

  stepsched steps-per-epoch --dataset-size 1281167 --batch-size 256

  stepsched steps-per-epoch --dataset-size 1281167 --batch-size 32 --world-size 8 --json

  stepsched steps-per-epoch --dataset-size 1281167 --global-batch-size 256 --world-size 8
"""


def register(app: typer.Typer) -> None:
    """Add ``steps-per-epoch`` to ``app``."""
    app.command("steps-per-epoch", epilog=STEPS_PER_EPOCH_EPILOG)(steps_per_epoch_command)


@pipeline_options
def steps_per_epoch_command(pipeline: PipelineOptions, json_output: JsonFlag = False) -> None:
    """Compute the optimizer steps in one epoch from the data pipeline.

    As PyTorch counts: a DistributedSampler gives each of --world-size ranks
    ceil(N / W) samples (padded), the loader makes ceil(samples / B) batches (floor
    with --drop-last), and under gradient accumulation the optimizer steps every A
    batches, the last partial group still stepping (ceil; --accumulation-rounding
    floor counts as the Hugging Face Trainer does).  --dataset-size and --batch-size
    (per rank) are required; --global-batch-size (samples per optimizer step over all
    ranks and accumulated batches) may replace --batch-size.
    """
    figures = resolve_steps_per_epoch(pipeline)
    if figures is None:
        raise usage_error(
            "--dataset-size", "give --dataset-size and --batch-size (or --global-batch-size)"
        )
    if json_output:
        print_json(steps_per_epoch_record(figures))
        return
    print_lines(steps_per_epoch_lines(figures))


def steps_per_epoch_record(figures: StepsPerEpoch) -> dict[str, Any]:
    """The JSON of ``steps-per-epoch``: the answer first, then every input and figure."""
    return {
        "steps_per_epoch": figures.steps_per_epoch,
        "dataset_size": figures.dataset_size,
        "batch_size": figures.batch_size,
        "global_batch_size": figures.global_batch_size,
        "world_size": figures.world_size,
        "grad_accum": figures.grad_accum,
        "drop_last": figures.drop_last,
        "accumulation_rounding": figures.accumulation_rounding,
        "samples_per_rank": figures.samples_per_rank,
        "batches_per_rank": figures.batches_per_rank,
    }


def steps_per_epoch_lines(figures: StepsPerEpoch) -> list[str]:
    """The formula with the numbers, one rounding per line, after the batch per rank."""
    loader = "floor" if figures.drop_last else "ceil"
    if figures.global_batch_size is None:
        batch = f"batch per rank    {figures.batch_size} (--batch-size is per rank)"
    else:
        batch = (
            f"batch per rank    {figures.global_batch_size} / ({figures.world_size} ranks x "
            f"{figures.grad_accum} accumulated) = {figures.batch_size}"
        )
    return [
        batch,
        f"samples per rank  ceil({figures.dataset_size} / {figures.world_size}) "
        f"= {figures.samples_per_rank}",
        f"batches per rank  {loader}({figures.samples_per_rank} / {figures.batch_size}) "
        f"= {figures.batches_per_rank}",
        f"steps per epoch   {figures.accumulation_rounding}({figures.batches_per_rank} / "
        f"{figures.grad_accum}) = {figures.steps_per_epoch}",
    ]


__all__ = [
    "register",
    "steps_per_epoch_command",
    "steps_per_epoch_lines",
    "steps_per_epoch_record",
]
