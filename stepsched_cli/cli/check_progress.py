"""Progress of ``stepsched check`` on a long log: rows read and rate, on a terminal only.

A check of a ten-million-row log takes seconds.  When standard error is a terminal
(and the output is for people), a one-line status shows how many rows were read and
how fast; it appears only once the check has run for :data:`SHOW_AFTER` seconds, so
short logs print nothing, and it never appears in pipes, files or JSON output.
"""

from __future__ import annotations

import sys
import time
from types import TracebackType
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from rich.console import Console
    from rich.status import Status

# Seconds before the status appears.
SHOW_AFTER = 0.5


class CheckProgress:
    """A callable for :func:`stepsched_cli.runlog.check_log_file`'s ``progress``.

    Use as a context manager; the status line is removed on exit.
    """

    def __init__(self, console: Console | None = None, *, started: float | None = None) -> None:
        self.console = console
        self.started = time.monotonic() if started is None else started
        self.status: Status | None = None

    def __call__(self, rows: int) -> None:
        elapsed = time.monotonic() - self.started
        if elapsed < SHOW_AFTER:
            return
        text = f"checked {rows:,} rows ({rows / elapsed:,.0f} rows/s)"
        if self.status is None:
            from stepsched_cli.cli.output import stderr_console

            self.status = (self.console or stderr_console()).status(text)
            self.status.start()
        else:
            self.status.update(text)

    def __enter__(self) -> CheckProgress:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if self.status is not None:
            self.status.stop()


def progress_for(json_output: bool) -> CheckProgress | None:
    """A progress reporter when standard error is a terminal and the output is human."""
    if json_output or not sys.stderr.isatty():
        return None
    return CheckProgress()


__all__ = ["SHOW_AFTER", "CheckProgress", "progress_for"]
