"""``stepsched code``: a short runnable snippet building the schedule in another framework.

The snippets come from the format table (each format names the snippets that build its
schedule, written by its wing from the same rules as its writer), so a snippet says
exactly what ``convert --to`` would write, and what a framework cannot express is
refused with the reason, never approximated.  Each snippet shows how to resume from a
checkpoint correctly.
"""

from __future__ import annotations

from typing import Annotated

import typer

from stepsched_cli.cli.options.parameters import usage_error
from stepsched_cli.cli.options.schedule import (
    ScheduleOptions,
    resolve_plan,
    schedule_options,
    warn_if_implausible,
)
from stepsched_cli.cli.options.units import EpochsOption, TotalOption, run_total
from stepsched_cli.cli.output import describe_schedule
from stepsched_cli.formats.registry import snippets
from stepsched_cli.formats.snippet import Snippet
from stepsched_cli.planning import Plan

# The choices come from the format table: each format names the snippets that build it.
SNIPPETS: dict[str, Snippet] = {snippet.name: snippet for snippet in snippets()}
FRAMEWORKS: tuple[str, ...] = tuple(SNIPPETS)

# The examples: the table's first two snippets, its last, the last before it with --exact,
# and the first with a training loop for a run length.
_EXAMPLES = (
    (FRAMEWORKS[0], "--lr 0.1 --step-size 30"),
    (FRAMEWORKS[1], "--lr 0.1 --milestones 30,80 --mode epoch"),
    (FRAMEWORKS[-1], "--state run.json"),
    (FRAMEWORKS[-2], "--lr 0.1 --step-size 1000000 --exact"),
    (next(name for name in FRAMEWORKS if SNIPPETS[name].run is not None),
     "--milestones 30,60,80 --mode epoch --epochs 90"),
)  # fmt: skip
CODE_EPILOG = (
    "Examples:\n\n"
    + "\n\n".join(
        f"  stepsched code --framework {name} {arguments}" for name, arguments in _EXAMPLES
    )
    + "\n"
)


def register(app: typer.Typer) -> None:
    """Add ``code`` to ``app``."""
    app.command("code", epilog=CODE_EPILOG)(code)


@schedule_options
def code(
    schedule: ScheduleOptions,
    framework: Annotated[
        str,
        typer.Option(
            "--framework",
            metavar="NAME",
            help=f"The framework to write the snippet for: {', '.join(FRAMEWORKS)}.",
            show_default=False,
        ),
    ],
    exact: Annotated[
        bool,
        typer.Option(
            "--exact",
            help="Also print stepsched's exact drop-in for the framework (same interface, "
            "no drift or early decay) beside the framework's own class.",
        ),
    ] = False,
    total: TotalOption = None,
    epochs: EpochsOption = None,
) -> None:
    """Print a runnable snippet that builds the same schedule in another framework.

    It includes how to resume the schedule from a checkpoint.  What the framework
    cannot express exactly (a warmup or lr floor in a plain step decay, say) is refused
    with the reason: use stepsched's own StepScheduler for those.  With --total or
    --epochs the snippet ends with the training loop of a run that long, and decays
    the run never reaches are warned about, as table and plot do.
    """
    if framework not in SNIPPETS:
        raise usage_error(
            "--framework", f"unknown framework {framework!r} (known: {', '.join(FRAMEWORKS)})"
        )
    snippet = SNIPPETS[framework]
    plan = resolve_plan(schedule)
    length = run_total(plan, total, epochs)
    if length is not None and snippet.run is None:
        option = "--epochs" if epochs is not None else "--total"
        raise usage_error(option, f"the {framework} snippet has no training loop to run that long")
    # The snippet becomes a real run: the same warnings as table and plot, on stderr.
    warn_if_implausible(plan, total=length)
    code_text = snippet.write(plan.schedule, plan.steps_per_epoch)
    if exact:
        code_text += snippet.exact(plan.schedule, plan.steps_per_epoch)
    if length is not None and snippet.run is not None:
        code_text += snippet.run(plan.schedule, plan.steps_per_epoch, length)
    typer.echo(_header(plan, snippet.title) + code_text, nl=False)


def _header(plan: Plan, framework: str) -> str:
    return f"# stepsched: {describe_schedule(plan.schedule)}, as {framework}\n"
