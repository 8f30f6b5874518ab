"""Everything the command line prints: numbers for people, and JSON, CSV and markdown.

* :func:`format_number` formats a float for people (``0.1``, ``0.001``, ``1e-05``:
  six significant digits, no trailing zeros), through :mod:`stepsched_cli.numbers`,
  the one place numbers become text for people.
* Machine formats carry the exact floats: JSON and CSV print ``repr(x)``, the shortest
  text that reads back as the same float.
* Human tables stream a page at a time (:func:`plain_table`): piped, or longer than
  the screen, they are plain aligned text without trailing spaces; only a table or a
  field grid that fits on a terminal is drawn by Rich.  Rich consoles are created per
  call, so ``NO_COLOR`` and ``COLUMNS`` are honoured, and ``--format
  json|csv|markdown`` never touches Rich at all: plain lines, no wrapping, no colour.
* Data goes to stdout, messages to stderr (:func:`print_message`).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from itertools import chain, islice
from typing import TYPE_CHECKING, Any

from stepsched_cli.numbers import format_exact, format_lr, format_positions
from stepsched_cli.validate import STANDARD_STREAM

if TYPE_CHECKING:
    from rich.console import Console

    from stepsched_cli.schedule import StepSchedule

# csv, json and the file-writing module are imported by the functions that use them: a command
# printing a human table pays for none of them at start-up.

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
        parts.append("milestones=" + format_positions(schedule.milestones))
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
    """``text`` with every control character escaped, e.g. a newline as ``\\n``.

    Everything shown to a person goes through it, on stdout and stderr alike: a file
    named ``x\\nbroken.pt: ok`` must not print a line of its own.
    """
    return text if text.isprintable() else text.translate(_ESCAPES)


def print_message(text: str) -> None:
    """A line for the user on stderr (progress, notes, warnings): never data."""
    sys.stderr.write(one_line(text) + "\n")


def print_error(text: str) -> None:
    """The one-line error format of every command: ``stepsched: error: ...`` on stderr."""
    sys.stderr.write(f"stepsched: error: {one_line(text)}\n")


def print_lines(lines: Iterable[str]) -> None:
    """Plain lines of text on stdout, each kept one line (see :func:`one_line`)."""
    for line in lines:
        sys.stdout.write(one_line(line) + "\n")


# -- machine formats -----------------------------------------------------------


def json_text(value: Any, *, indent: int | None = None) -> str:
    """JSON with exact floats (``repr``), no NaN or Infinity."""
    import json

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
        csv_line: For rows given as tuples (:func:`emit_rows`): the ``str.format``
            template of one CSV line, such as ``"{},{},{!r}\n"`` (ints as ``str``,
            floats as ``repr``, as :func:`emit_listing` writes them).
    """

    keys: Sequence[str]
    headers: Sequence[str]
    human_row: Callable[[Record], Sequence[str]]
    title: str | None = None
    csv_line: str | None = None


def emit_listing(records: Iterable[Record], listing: Listing, output_format: str) -> None:
    """Print ``records`` as a human table, JSON (a list), CSV or markdown.

    Records are consumed lazily in every format, so a long listing streams in flat
    memory and stops at a closed pipe.
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
        import csv

        writer = csv.writer(sys.stdout, lineterminator="\n")
        writer.writerow(listing.keys)
        for record in records:
            writer.writerow([_csv_cell(record.get(key)) for key in listing.keys])
    elif output_format == "markdown":
        _emit_markdown(records, listing)
    else:
        _emit_human_table(records, listing)


# Rows written to CSV in one call (a page of output, not a call per line).
_CSV_BATCH = 4096


def emit_rows(rows: Iterable[tuple[Any, ...]], listing: Listing, output_format: str) -> None:
    """:func:`emit_listing` of rows given as tuples in ``listing.keys`` order.

    CSV with ``listing.csv_line`` is written a batch of lines at a time, with no record
    per row (a per-step listing of a long run costs what printing it costs); the
    other formats see the rows as records.
    """
    if output_format != "csv" or listing.csv_line is None:
        keys = listing.keys
        emit_listing((dict(zip(keys, row, strict=True)) for row in rows), listing, output_format)
        return
    line = listing.csv_line.format
    write = sys.stdout.write
    pending = iter(rows)
    # The first rows are computed before anything is written, as emit_listing does.
    batch = list(islice(pending, _CSV_BATCH))
    write(",".join(listing.keys) + "\n")
    while batch:
        write("".join([line(*row) for row in batch]))
        batch = list(islice(pending, _CSV_BATCH))


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


# The human table streams: rows are laid out a page at a time, so the first rows appear
# at once, memory stays flat, and a closed pipe stops the work at the next page.  Pages
# grow from _FIRST_PAGE rows to _LAST_PAGE rows.
_FIRST_PAGE = 512
_LAST_PAGE = 4096
# Lines a terminal keeps for the title, the header, the rule and the prompt, besides rows.
_TERMINAL_MARGIN = 6
# A terminal that does not report its size (0 lines) is taken to have 24, as xterm's.
_DEFAULT_HEIGHT = 24


def _emit_human_table(records: Iterable[Record], listing: Listing) -> None:
    """A Rich table when it fits on the terminal's screen; otherwise the plain layout.

    The plain layout (long listings, and any output that is not a terminal) has the
    geometry of Rich's ``SIMPLE_HEAD`` table, without trailing spaces or padded lines.
    """
    rows: Iterator[Sequence[str]] = (listing.human_row(record) for record in records)
    screen_rows = _terminal_rows()
    if screen_rows is not None:
        first_screen = list(islice(rows, screen_rows + 1))
        if len(first_screen) <= screen_rows:
            _print_rich_table(first_screen, listing)
            return
        rows = chain(first_screen, rows)
    write = sys.stdout.write
    for text in plain_table(rows, listing.headers, listing.title):
        write(text)
        sys.stdout.flush()


def _terminal_rows() -> int | None:
    """How many table rows fit on the terminal's screen; None when stdout is not one."""
    try:
        if not sys.stdout.isatty():
            return None
        height = os.get_terminal_size(sys.stdout.fileno()).lines
    except (AttributeError, ValueError, OSError):
        return None  # a stream without a descriptor (a test runner's) is not a terminal
    return max((height or _DEFAULT_HEIGHT) - _TERMINAL_MARGIN, 1)


def _print_rich_table(rows: Iterable[Sequence[str]], listing: Listing) -> None:
    from rich import box
    from rich.table import Table

    table = Table(box=box.SIMPLE_HEAD)
    for header in listing.headers:
        table.add_column(header, justify="right")
    for row in rows:
        table.add_row(*row)
    console = stdout_console()
    if listing.title:
        console.print(listing.title)
    console.print(table)


def plain_table(
    rows: Iterable[Sequence[str]], headers: Sequence[str], title: str | None = None
) -> Iterator[str]:
    """The text of a right-aligned table, a page of rows at a time.

    Each page is aligned as a whole; column widths only grow, and when a page needs
    wider columns than the rows above it, the header is repeated above that page at
    the new widths, so every block under a header is aligned.  No line carries
    trailing spaces.

    Example:
        >>> print("".join(plain_table([["0-29", "0.1"], ["30+", "0.01"]], ["steps", "lr"], "t")))
        t
        <BLANKLINE>
          steps     lr
         ──────────────
           0-29    0.1
            30+   0.01
        <BLANKLINE>
    """
    widths = [len(header) for header in headers]
    pending = iter(rows)
    page_size = _FIRST_PAGE
    lines = [] if title is None else [title, ""]
    while True:
        page = list(islice(pending, page_size))
        grown = _column_widths(page, widths)
        if page_size == _FIRST_PAGE:
            lines += _plain_head(headers, grown)
        elif grown != widths:  # the rows above are at other widths: a new head
            lines += ["", *_plain_head(headers, grown)]
        widths = grown
        template = _row_template(widths)
        lines += [template.format(*row).rstrip() for row in page]
        if lines:
            yield "\n".join(lines) + "\n"
            lines = []
        if len(page) < page_size:
            return
        page_size = min(2 * page_size, _LAST_PAGE)


def _column_widths(page: Sequence[Sequence[str]], widths: Sequence[int]) -> list[int]:
    """``widths`` grown to fit every cell of ``page``."""
    if not page:
        return list(widths)
    columns = zip(*page, strict=True)
    return [max(width, *map(len, cells)) for width, cells in zip(widths, columns, strict=True)]


def _plain_head(headers: Sequence[str], widths: Sequence[int]) -> list[str]:
    return [_plain_row(headers, widths), " " + "\u2500" * (sum(widths) + 3 * len(widths) - 1)]


def _plain_row(cells: Sequence[str], widths: Sequence[int]) -> str:
    return _row_template(widths).format(*cells).rstrip()


def _row_template(widths: Sequence[int]) -> str:
    """A format string for a row: right-aligned cells, Rich's padding and edge."""
    return "  " + "   ".join(f"{{:>{width}}}" for width in widths)


def print_fields(fields: Sequence[tuple[str, str]], title: str | None = None) -> None:
    """Print ``name: value`` pairs for people, aligned, as a two-column grid.

    On a terminal, a Rich grid (names in bold, long values wrapped to the screen);
    otherwise one plain line per field, without trailing spaces.  Names and values
    are shown through :func:`one_line`: a file name or a key cannot drive the terminal.
    """
    fields = [(one_line(name), one_line(value)) for name, value in fields]
    if _terminal_rows() is None:
        sys.stdout.write("".join(line + "\n" for line in plain_fields(fields, title)))
        return
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


def plain_fields(
    fields: Sequence[tuple[str, str]], title: str | None = None, width: int | None = None
) -> list[str]:
    """The lines of ``name  value`` pairs, names padded to one width.

    A value longer than the line (``width``, default ``$COLUMNS`` or 80, as Rich
    wraps for a file) continues on further lines indented under its first.

    Example:
        >>> plain_fields([("lr", "0.1"), ("next decay", "step 30 (in 30): lr 0.01")], width=34)
        ['lr          0.1', 'next decay  step 30 (in 30): lr', '            0.01']
    """
    import textwrap

    name_width = max((len(name) for name, _ in fields), default=0)
    value_width = max((width or _plain_width()) - name_width - 2, 10)
    indent = " " * (name_width + 2)
    lines = [] if title is None else [title]
    for name, value in fields:
        wrapped = [
            piece
            for line in value.split("\n")
            for piece in textwrap.wrap(
                line, value_width, break_on_hyphens=False, break_long_words=False
            )
            or [""]
        ]
        lines.append(f"{name.ljust(name_width)}  {wrapped[0]}".rstrip())
        lines.extend(indent + piece for piece in wrapped[1:])
    return lines


def _plain_width() -> int:
    """The width a Rich console gives a file: ``$COLUMNS``, else 80."""
    columns = os.environ.get("COLUMNS", "")
    return int(columns) if columns.isdigit() and int(columns) > 0 else 80


# -- files -----------------------------------------------------------------------

# An output path of "-" (validate.STANDARD_STREAM) means stdout.


def refuse_existing_output(path: str, *, force: bool) -> None:
    """Fail early, before any work, when ``path`` exists and ``force`` is false.

    :func:`write_output` checks again without a race; this only spares the work.

    Raises:
        OutputExistsError: ``path`` exists and ``force`` is false.
    """
    if not force and path != STANDARD_STREAM and os.path.exists(path):
        from stepsched_cli.fileio import OutputExistsError

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
    from stepsched_cli.fileio import OutputExistsError, atomic_write

    try:
        atomic_write(path, data, overwrite=force)
    except OutputExistsError as error:
        raise OutputExistsError(f"{error} (use --force to replace it)") from None
