"""Everything the command line prints: numbers for people, and JSON, CSV and markdown.

* :func:`format_number` formats a float for people (``0.1``, ``0.001``, ``1e-05``:
  six significant digits, no trailing zeros), through :mod:`stepsched_cli.numbers`,
  the one place numbers become text for people.
* Machine formats carry the exact floats: JSON and CSV print ``repr(x)``, the shortest
  text that reads back as the same float.
* Rich consoles are created per call, so ``NO_COLOR``, ``COLUMNS`` and non-terminal
  output are honoured, and ``--format json|csv|markdown`` never touches Rich at all:
  plain lines on stdout, no wrapping, no colour.
* Data goes to stdout, messages to stderr (:func:`print_message`).
"""

from __future__ import annotations

import csv
import json
import os
import sys
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from itertools import chain, islice
from typing import TYPE_CHECKING, Any

from stepsched_cli.numbers import format_exact, format_lr
from stepsched_cli.schedule import StepSchedule
from stepsched_cli.state import OutputExistsError, atomic_write

if TYPE_CHECKING:
    from rich.console import Console

Record = Mapping[str, Any]


def format_number(value: float) -> str:
    """A float for people: six significant digits, the shortest form.

    Example:
        >>> [format_number(x) for x in (0.1, 0.001, 1e-05, 0.0010000000000000002, 0.0)]
        ['0.1', '0.001', '1e-05', '0.001', '0']
    """
    return format_lr(value)


def format_position(position: int | None, open_end: str = "") -> str:
    """An integer position for people (all digits, no separators); ``open_end`` for None."""
    return open_end if position is None else str(position)


def format_range(start: int, end: int | None) -> str:
    """An inclusive range of positions: ``0-29``, ``90+`` when open-ended, ``5`` for one."""
    if end is None:
        return f"{start}+"
    return str(start) if end == start else f"{start}-{end}"


def describe_schedule(schedule: StepSchedule) -> str:
    """A one-line description: ``lr=0.1, step_size=30, gamma=0.1`` (plus the optional parts).

    Parameters are written exactly (``gamma=0.9999999999999999``, never ``gamma=1``):
    they are what a person copies into the next command.
    """
    parts = [f"lr={format_exact(schedule.initial_lr)}"]
    if schedule.milestones is not None:
        parts.append("milestones=" + ",".join(str(m) for m in schedule.milestones))
    else:
        parts.append(f"step_size={schedule.step_size}")
    parts.append(f"gamma={format_exact(schedule.gamma)}")
    if schedule.warmup_steps:
        parts.append(f"warmup_steps={schedule.warmup_steps}")
        if schedule.warmup_start_lr:
            parts.append(f"warmup_start_lr={format_exact(schedule.warmup_start_lr)}")
        if schedule.warmup_prefix or schedule.decays_at(schedule.warmup_steps):
            # The parameters alone would mislead: say where the decays really are.
            shown = list(islice(schedule.boundaries(), 4))
            listed = ",".join(str(position) for position in shown[:3])
            more = ",..." if len(shown) > 3 else ""
            prefix = "warmup_prefix, " if schedule.warmup_prefix else ""
            parts.append(f"{prefix}decays at {listed}{more}")
    if schedule.min_lr:
        parts.append(f"min_lr={format_exact(schedule.min_lr)}")
    if schedule.mode != "step":
        parts.append(f"mode={schedule.mode}")
    return ", ".join(parts)


# -- consoles ----------------------------------------------------------------


def stdout_console() -> Console:
    """A Rich console on the current stdout (made per call: honours NO_COLOR and pipes)."""
    from rich.console import Console

    return Console(file=sys.stdout, highlight=False, markup=False, soft_wrap=False)


def stderr_console() -> Console:
    """A Rich console on the current stderr."""
    from rich.console import Console

    return Console(file=sys.stderr, highlight=False, markup=False, soft_wrap=False)


# Control characters (a newline or an escape sequence in a file name, say) are shown
# escaped, so a message stays one line and cannot drive the terminal.
_ESCAPES = {code: f"\\x{code:02x}" for code in [*range(0x20), 0x7F, *range(0x80, 0xA0)]}
_ESCAPES.update({ord("\n"): "\\n", ord("\r"): "\\r", ord("\t"): "\\t"})


def one_line(text: str) -> str:
    """``text`` with every control character escaped, e.g. a newline as ``\\n``."""
    return text.translate(_ESCAPES)


def print_message(text: str) -> None:
    """A line for the user on stderr (progress, notes, warnings): never data."""
    sys.stderr.write(one_line(text) + "\n")


def print_error(text: str) -> None:
    """The one-line error format of every command: ``stepsched: error: ...`` on stderr."""
    sys.stderr.write(f"stepsched: error: {one_line(text)}\n")


def print_lines(lines: Iterable[str]) -> None:
    """Plain lines of text on stdout."""
    for line in lines:
        sys.stdout.write(line + "\n")


# -- machine formats -----------------------------------------------------------


def json_text(value: Any, *, indent: int | None = None) -> str:
    """JSON with exact floats (``repr``), no NaN or Infinity."""
    return json.dumps(value, indent=indent, allow_nan=False)


def print_json(value: Any) -> None:
    """One JSON value on stdout, indented, with a trailing newline."""
    sys.stdout.write(json_text(value, indent=2) + "\n")


def _csv_cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(value)
    return str(value)


@dataclass(frozen=True)
class Listing:
    """How a list of records is shown: its JSON/CSV keys and its human columns.

    Attributes:
        keys: The record keys, in order (the CSV header; JSON objects keep this order).
        headers: Column headers for the human table and markdown.
        human_row: Formats one record as the cells under ``headers``.
        title: Shown above the human table (not in machine formats).
    """

    keys: Sequence[str]
    headers: Sequence[str]
    human_row: Callable[[Record], Sequence[str]]
    title: str | None = None


def emit_listing(records: Iterable[Record], listing: Listing, output_format: str) -> None:
    """Print ``records`` as a table (Rich), JSON (a list), CSV or markdown.

    Records are consumed lazily in the machine formats, so a long listing streams.
    The first record is computed before anything is printed, so an error raised
    while setting up the records leaves no partial output; the record functions
    themselves must not raise (a streamed JSON list would be left unterminated).
    """
    pending = iter(records)
    first = next(pending, None)
    records = pending if first is None else chain((first,), pending)
    if output_format == "json":
        _emit_json_list(records, listing.keys)
    elif output_format == "csv":
        writer = csv.writer(sys.stdout, lineterminator="\n")
        writer.writerow(listing.keys)
        for record in records:
            writer.writerow([_csv_cell(record.get(key)) for key in listing.keys])
    elif output_format == "markdown":
        _emit_markdown(records, listing)
    else:
        _emit_rich_table(records, listing)


def _emit_json_list(records: Iterable[Record], keys: Sequence[str]) -> None:
    write = sys.stdout.write
    first = True
    for record in records:
        write("[\n  " if first else ",\n  ")
        write(json_text({key: record.get(key) for key in keys}))
        first = False
    write("[]\n" if first else "\n]\n")


def _emit_markdown(records: Iterable[Record], listing: Listing) -> None:
    lines = ["| " + " | ".join(listing.headers) + " |"]
    lines.append("|" + "|".join("---:" for _ in listing.headers) + "|")
    print_lines(lines)
    print_lines("| " + " | ".join(listing.human_row(record)) + " |" for record in records)


def _emit_rich_table(records: Iterable[Record], listing: Listing) -> None:
    from rich import box
    from rich.table import Table

    table = Table(box=box.SIMPLE_HEAD)
    for header in listing.headers:
        table.add_column(header, justify="right")
    for record in records:
        table.add_row(*listing.human_row(record))
    console = stdout_console()
    if listing.title:
        console.print(listing.title)
    console.print(table)


def print_fields(fields: Sequence[tuple[str, str]], title: str | None = None) -> None:
    """Print ``name: value`` pairs for people, aligned, as a two-column grid."""
    from rich.table import Table

    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="bold")
    grid.add_column()
    for name, value in fields:
        grid.add_row(name, value)
    console = stdout_console()
    if title:
        console.print(title)
    console.print(grid)


# -- files -----------------------------------------------------------------------

# An output path of "-" means stdout.
STANDARD_STREAM = "-"


def refuse_existing_output(path: str, *, force: bool) -> None:
    """Fail early, before any work, when ``path`` exists and ``force`` is false.

    :func:`write_output` checks again without a race; this only spares the work.

    Raises:
        OutputExistsError: ``path`` exists and ``force`` is false.
    """
    if not force and path != STANDARD_STREAM and os.path.exists(path):
        raise OutputExistsError(
            f"{path}: already exists; refusing to overwrite it (use --force to replace it)"
        )


def write_output(path: str, data: bytes, *, force: bool) -> None:
    """Write ``data`` to ``path`` atomically (``-``: stdout); refuse to overwrite without force.

    Raises:
        OutputExistsError: ``path`` exists and ``force`` is false; the message says so.
    """
    if path == STANDARD_STREAM:
        sys.stdout.buffer.write(data)
        sys.stdout.flush()
        return
    try:
        atomic_write(path, data, overwrite=force)
    except OutputExistsError as error:
        raise OutputExistsError(f"{error} (use --force to replace it)") from None
