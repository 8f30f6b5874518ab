"""State file commands: ``init``, ``inspect``, ``validate`` and ``convert``.

Reading and writing go through :mod:`stepsched_cli.formats.registry`, the format
registry, so formats added there are accepted by every command here.

Checkpoints: when a checkpoint file holds several LR scheduler states, ``inspect``
and ``convert`` refuse to guess (exit 2, the candidates listed on stderr, one line
each: key path, type, position) until ``--key`` picks one; ``validate`` counts the file
as invalid.  Picking the first would silently report the wrong lr for the common
"two chained schedulers" layout.  An optimizer whose param groups disagree with the
scheduler state (the resume bug) is a warning on stderr in ``inspect`` and ``convert``
(exit 0) and an error in ``validate`` (exit 1).

Framework documents that hold a schedule but no position are read at ``--position``
(default 0), a usage error for files that record their own.  ``inspect`` shows the
framework's notes and its own lr; a schedule stepsched cannot represent is inspected
with the framework's ``lr_at`` alone and cannot be converted.  Every help phrase that
names a format or a hint's files comes from the format table
(:mod:`stepsched_cli.formats.help_texts`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Collection
from typing import Annotated, Any

import typer
from typer._click import exceptions as click_exceptions

from stepsched_cli.cli.options.output import ForceFlag, JsonFlag, OutputFile
from stepsched_cli.cli.options.parameters import option_for, usage_error
from stepsched_cli.cli.options.schedule import (
    ScheduleOptions,
    resolve_plan,
    run_length_text,
    schedule_options,
    warn_if_implausible,
)
from stepsched_cli.cli.options.units import (
    TIME_METAVAR,
    EpochsOption,
    TotalOption,
    parse_unit,
    position_error,
    run_total,
    time_parser,
)
from stepsched_cli.cli.output import (
    describe_schedule,
    format_number,
    print_error,
    print_fields,
    print_json,
    print_lines,
    print_message,
    write_output,
)
from stepsched_cli.errors import EXIT_INVALID, ScheduleError, StateFileError, StepschedError
from stepsched_cli.formats import help_texts
from stepsched_cli.formats import registry as sources
from stepsched_cli.formats.checkpoint_errors import AmbiguousCheckpointError
from stepsched_cli.formats.hints import HintRefused, Hints
from stepsched_cli.formats.reading import Reading, in_unit, inspect_record, position_text
from stepsched_cli.planning import Plan, run_length
from stepsched_cli.schedule import Mode
from stepsched_cli.scheduler import SchedulerState
from stepsched_cli.units import TimeValue, convert_state

# The largest position a document that records none is read at (the format table's).
MAX_FRAMEWORK_POSITION = sources.MAX_POSITION

INIT_EPILOG = """\
Examples:

  stepsched init --lr 0.1 --step-size 30 -o run.json

  stepsched init --lr 0.1 --step-size 30 --mode epoch --steps-per-epoch 5005 -o run.json

  stepsched init --milestones 30ep,60ep,80ep --steps-per-epoch 5005 --epochs 90 -o run.json
"""

INSPECT_EPILOG = """\
Examples:

  stepsched inspect run.json

  stepsched inspect run.json --json

  stepsched inspect checkpoint.pt --key lr_schedulers[0]

  stepsched inspect schedule.json --position 1200
"""

VALIDATE_EPILOG = """\
Examples:

  stepsched validate run.json

  stepsched validate runs/*.json --json
"""

CONVERT_EPILOG = """\
Examples:

  stepsched convert run.json --mode step --steps-per-epoch 5005 -o run-steps.json

  stepsched convert run.json --mode epoch --steps-per-epoch 10 -o run.json --force

  stepsched convert checkpoint.pt --to {positioned} -o scheduler.json

  stepsched convert run.json --to {document} -o schedule.json
"""
# The examples take the table's first and last formats written besides stepsched's own.
_WRITTEN = [name for name in sources.output_formats() if name != sources.NATIVE_FORMAT]
CONVERT_EPILOG = CONVERT_EPILOG.format(positioned=_WRITTEN[0], document=_WRITTEN[-1])

# The options that say how to read a file, in their own help panel.
READING_PANEL = "Reading the file"

FromOption = Annotated[
    str | None,
    typer.Option(
        "--from",
        metavar="FORMAT",
        help=f"Read it as one of: {', '.join(sources.input_formats())}.",
        show_default=False,
        rich_help_panel=READING_PANEL,
    ),
]
KeyOption = Annotated[
    str | None,
    typer.Option(
        "--key",
        metavar="PATH",
        help=help_texts.hint_help("key"),
        show_default=False,
        rich_help_panel=READING_PANEL,
    ),
]
OptimizerOption = Annotated[
    str | None,
    typer.Option(
        "--optimizer",
        metavar="FILE",
        help=help_texts.hint_help("optimizer"),
        show_default=False,
        rich_help_panel=READING_PANEL,
    ),
]
PositionOption = Annotated[
    TimeValue | None,
    typer.Option(
        "--position",
        metavar=TIME_METAVAR,
        parser=time_parser("position", maximum=MAX_FRAMEWORK_POSITION),
        # Help is markdown: escaped, ** stays literal instead of turning the text bold.
        help=help_texts.hint_help("position").replace("**", "\\*\\*"),
        show_default=False,
        rich_help_panel=READING_PANEL,
    ),
]
StepsPerEpochHintOption = Annotated[
    int | None,
    typer.Option(
        "--steps-per-epoch",
        metavar="N",
        min=1,
        help=help_texts.hint_help("steps_per_epoch"),
        show_default=False,
    ),
]
UpdatesPerEpochOption = Annotated[
    int | None,
    typer.Option(
        "--updates-per-epoch",
        metavar="N",
        min=1,
        help=help_texts.hint_help("updates_per_epoch"),
        show_default=False,
        rich_help_panel=READING_PANEL,
    ),
]
LrHintOption = Annotated[
    float | None,
    typer.Option(
        "--lr",
        metavar="LR",
        help=help_texts.hint_help("lr"),
        show_default=False,
        rich_help_panel=READING_PANEL,
    ),
]
ReadModeOption = Annotated[
    Mode | None,
    typer.Option(
        "--mode",
        metavar="[step|epoch]",
        parser=parse_unit,
        help=f"For {help_texts.unitless_files()}, which record no unit: what the scheduler "
        "counted (epoch: it was stepped once per epoch; its positions are read as epochs). "
        "[default: step]",
        show_default=False,
    ),
]
InputFile = Annotated[
    str,
    typer.Argument(
        metavar="FILE",
        help="A file in any format --from names; - reads stdin.",
        show_default=False,
    ),
]


def register(app: typer.Typer) -> None:
    """Add the state file commands to ``app``."""
    app.command("init", epilog=INIT_EPILOG)(init)
    app.command("inspect", epilog=INSPECT_EPILOG)(inspect_state)
    app.command("validate", epilog=VALIDATE_EPILOG)(validate)
    app.command("convert", epilog=CONVERT_EPILOG)(convert)


def _check_format(option: str, name: str | None, known: Collection[str]) -> None:
    if name is not None and name not in known:
        raise usage_error(option, f"unknown format {name!r} (known: {', '.join(known)})")


_MAX_CANDIDATES_LISTED = 10


def _refused_hint(error: HintRefused) -> typer.BadParameter:
    """A hint the file's format does not take, as a usage error naming its option."""
    option = option_for(error.parameter) or str(error.parameter)
    return usage_error(option, error.naming(option))


def _read(file: str, from_: str | None, hints: Hints) -> Reading:
    """Read ``file``; an ambiguous checkpoint, or a hint the file's format does not take,
    is a usage error (an ambiguous checkpoint's scheduler states are listed)."""
    try:
        reading = sources.read_state(file, from_, hints)
    except HintRefused as error:
        raise _refused_hint(error) from None
    except ScheduleError as error:
        if error.parameter != "position":
            raise
        # A typed --position the reader could not place in the unit the file counts.
        raise position_error(error, "--steps-per-epoch") from None
    except AmbiguousCheckpointError as error:
        print_message("scheduler states found (key  type  position):")
        for candidate in error.candidates[:_MAX_CANDIDATES_LISTED]:
            print_message(f"  {candidate.describe()[:200]}")
        if len(error.candidates) > _MAX_CANDIDATES_LISTED:  # 20,000 once printed 20,000 lines
            print_message(f"  ... and {len(error.candidates) - _MAX_CANDIDATES_LISTED} more")
        if error.requested is None:
            raise click_exceptions.UsageError(str(error)) from None
        raise usage_error("--key", str(error)) from None
    for warning in reading.warnings:
        print_message(f"stepsched: warning: {reading.source}: {warning}")
    return reading


def _check_optimizer_file(optimizer: str | None, files: list[str]) -> None:
    """--optimizer names a file: standard input is not read for it."""
    if optimizer != sources.STDIN:
        return
    if sources.STDIN in files:
        raise usage_error(
            "--optimizer", "only one of FILE and --optimizer can be - (standard input)"
        )
    raise usage_error("--optimizer", "names a file; - (standard input) is not read for it")


# -- init --------------------------------------------------------------------


@schedule_options
def init(
    schedule: ScheduleOptions,
    output: OutputFile,
    force: ForceFlag = False,
    total: TotalOption = None,
    epochs: EpochsOption = None,
) -> None:
    """Write a new state file at position 0 for the schedule.

    An existing file is kept unless --force is given.  With --state, the new file
    follows that file's schedule from position 0.  The state file records no run
    length: --total or --epochs checks the schedule against the run (a decay the run
    never reaches is a warning, as in table and plot), and the message names the run.
    """
    plan: Plan = resolve_plan(schedule)
    length = run_total(plan, total, epochs)
    warn_if_implausible(plan, total=length)
    state = SchedulerState(schedule=plan.schedule, steps_per_epoch=plan.steps_per_epoch)
    write_output(output, sources.dump_state(state), force=force)
    if output != sources.STDIN:
        run = "" if length is None else f", for a run of {_run_text(plan, length)}"
        print_message(f"wrote {output}: {describe_schedule(plan.schedule)}, at {plan.mode} 0{run}")


def _run_text(plan: Plan, length: int) -> str:
    """A run's length for people: in both units when both are known."""
    both = run_length(plan, length)
    return f"{length} {plan.mode}s" if both is None else run_length_text(both)


# -- inspect -----------------------------------------------------------------


def inspect_state(
    file: InputFile,
    json_output: JsonFlag = False,
    from_: FromOption = None,
    key: KeyOption = None,
    position: PositionOption = None,
    steps_per_epoch: StepsPerEpochHintOption = None,
    optimizer: OptimizerOption = None,
    updates_per_epoch: UpdatesPerEpochOption = None,
    lr: LrHintOption = None,
    mode: ReadModeOption = None,
) -> None:
    """Show where a run is: its position, lr, next decay and the decays after it.

    Reads every format --from names, without the framework and without running
    anything in a file.  A checkpoint's optimizer lrs are checked against its
    scheduler: a disagreement is a warning on stderr; --optimizer checks an optimizer
    saved in a separate file the same way.  A counter of scheduler steps is reported
    as the step, unless --mode epoch says the scheduler was stepped once per epoch.

    Documents that record no position are read at --position, with the framework's
    notes; the framework's own lr (its float32 arithmetic) is shown whenever it
    differs from the exact one.
    """
    _check_format("--from", from_, sources.input_formats())
    _check_optimizer_file(optimizer, [file])
    hints = Hints(
        key=key,
        position=position,
        steps_per_epoch=steps_per_epoch,
        optimizer=optimizer,
        updates_per_epoch=updates_per_epoch,
        lr=lr,
    )
    reading = _read(file, from_, hints)
    if mode is not None:
        try:
            reading = in_unit(reading, mode)
        except StateFileError as error:
            raise usage_error("--mode", str(error)) from None
    if json_output:
        print_json(inspect_record(reading))
        return
    print_fields(_inspect_fields(reading))


def _inspect_fields(reading: Reading) -> list[tuple[str, str]]:
    """The text view of ``inspect``: one labelled line per fact."""
    view = reading.view
    unit = view.unit
    fields = [("file", f"{reading.source} ({reading.format} format)")]
    if reading.key is not None:
        fields.append(("key", reading.key))
    fields.extend(view.described)
    if reading.state is not None:
        fields.append(("schedule", describe_schedule(reading.state.schedule)))
    fields.append(("position", view.position_text))
    fields.append(("lr", " ".join(format_number(lr) for lr in view.lrs)))
    if view.own_lr_differs:
        # More than the exact lr rounded to float32: a framework's float32 arithmetic
        # (an early decay past 2**24, a power a float32 step off).
        framework = view.described[0][0] if view.described else reading.format
        fields.append((f"{framework} lr", f"{view.framework_lr!r} (its own arithmetic)"))
    decays = view.decays
    if decays is None:
        pass  # a framework schedule without a stepsched form: its decays are not computed
    elif decays.next_boundary is None or decays.next_lrs is None:
        fields.append(("next decay", "none: the lr stays at this value"))
    else:
        following = decays.next_boundary
        next_lrs = " ".join(format_number(lr) for lr in decays.next_lrs)
        fields.append(
            ("next decay", f"{unit} {following} (in {following - view.position}): lr {next_lrs}")
        )
        if decays.later:
            later = ", ".join(f"{unit} {t}: {format_number(lr)}" for t, lr in decays.later)
            fields.append(("then", later))
    fields.extend(("note", note) for note in view.notes)
    if reading.reason is not None:
        fields.append(("stepsched", f"not convertible: {reading.reason}"))
    return fields


# -- validate ----------------------------------------------------------------


def validate(
    files: Annotated[
        list[str],
        typer.Argument(metavar="FILE...", help="State files; - reads stdin.", show_default=False),
    ],
    json_output: JsonFlag = False,
    from_: FromOption = None,
    key: KeyOption = None,
    optimizer: OptimizerOption = None,
    updates_per_epoch: UpdatesPerEpochOption = None,
    lr: LrHintOption = None,
) -> None:
    """Check state files: exit 0 when every one is valid, 1 otherwise.

    Prints "FILE: ok" on stdout for each valid file, and for each invalid one a line
    on stderr saying what is wrong and where.  --json prints instead one list with an
    object per file, {"file", "valid", "format", "error"}, in the order given.  A
    checkpoint is invalid when its optimizer's lrs disagree with its scheduler state
    (the resume bug), or when it holds several scheduler states and --key picks none.
    A framework state that is valid but has no stepsched form (a repeated milestone)
    is valid.  With --optimizer, a file is invalid when that optimizer's lrs disagree with
    its scheduler.
    """
    _check_format("--from", from_, sources.input_formats())
    if files.count(sources.STDIN) > 1:
        raise usage_error("FILE...", "- (standard input) can be given only once")
    _check_optimizer_file(optimizer, files)
    results: list[dict[str, Any]] = []
    hints = Hints(key=key, optimizer=optimizer, updates_per_epoch=updates_per_epoch, lr=lr)
    for path in files:
        try:
            reading = sources.read_state(path, from_, hints)
        except HintRefused as error:
            raise _refused_hint(error) from None
        except StepschedError as error:
            results.append({"file": path, "valid": False, "format": None, "error": str(error)})
            continue
        error_text = f"{path}: {'; '.join(reading.warnings)}" if reading.warnings else None
        results.append(
            {
                "file": path,
                "valid": error_text is None,
                "format": reading.format,
                "error": error_text,
            }
        )
    if json_output:
        print_json(results)
    else:
        print_lines(f"{result['file']}: ok" for result in results if result["valid"])
    for result in results:
        if not result["valid"]:
            print_error(str(result["error"]))
    if not all(result["valid"] for result in results):
        raise typer.Exit(EXIT_INVALID)


# -- convert -----------------------------------------------------------------


def convert(
    file: InputFile,
    output: OutputFile,
    mode: Annotated[
        Mode | None,
        typer.Option(
            "--mode",
            metavar="[step|epoch]",
            parser=parse_unit,
            help="Steps or epochs (for a file that records no unit: what it counted).",
            show_default=False,
        ),
    ] = None,
    steps_per_epoch: Annotated[
        int | None,
        typer.Option(
            "--steps-per-epoch",
            min=1,
            metavar="N",
            help="Optimizer steps per epoch. [default: the file's]",
            show_default=False,
        ),
    ] = None,
    to: Annotated[
        str,
        typer.Option(
            "--to",
            metavar="FORMAT",
            help=f"Write as one of: {', '.join(sources.output_formats())}.",
        ),
    ] = sources.NATIVE_FORMAT,
    from_: FromOption = None,
    key: KeyOption = None,
    position: PositionOption = None,
    updates_per_epoch: UpdatesPerEpochOption = None,
    lr: LrHintOption = None,
    force: ForceFlag = False,
) -> None:
    """Convert a state file between steps and epochs, or to another format.

    Epoch to step is always exact; step to epoch is refused when a boundary or the
    position falls inside an epoch.  A schedule the target format cannot express (a
    warmup or a floor a framework lacks, a continuous decay for stepsched) is refused
    with the reason, exit 1, nothing written.  The write is
    atomic, and converting a file onto itself (with --force) is safe.
    """
    _check_format("--from", from_, sources.input_formats())
    _check_format("--to", to, sources.output_formats())
    hints = Hints(
        key=key,
        position=position,
        # The output's steps per epoch also convert a --position typed in the other unit.
        steps_per_epoch=None if position is None else steps_per_epoch,
        updates_per_epoch=updates_per_epoch,
        lr=lr,
    )
    reading = _read(file, from_, hints)
    if mode is not None and not reading.records_unit:
        # A file that records no unit is read in --mode: nothing to convert.
        reading = in_unit(reading, mode)
    state = reading.require_state()
    per_epoch = steps_per_epoch if steps_per_epoch is not None else state.steps_per_epoch
    if mode is not None and mode != state.schedule.mode:
        if per_epoch is None:
            raise usage_error(
                "--steps-per-epoch",
                f"converting {state.schedule.mode}s to {mode}s needs --steps-per-epoch "
                f"({reading.source} does not record it)",
            )
        state = convert_state(state, mode, per_epoch)
    elif per_epoch != state.steps_per_epoch:
        state = dataclasses.replace(state, steps_per_epoch=per_epoch)
    write_output(output, sources.dump_state(state, to), force=force)
    if output != sources.STDIN:
        where = position_text(state, state.position)
        if to in sources.unpositioned_formats():
            print_message(
                f"wrote {output}: {to} schedule counting {state.schedule.mode}s, no position "
                f"(the state is at {where})"
            )
        else:
            print_message(f"wrote {output}: {state.schedule.mode} mode, at {where}")
