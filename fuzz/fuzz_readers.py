"""Coverage-guided fuzzing of stepsched's readers with atheris, for long runs.

Run it with ``make fuzz`` (installs atheris into .venv, seeds the corpus from
tests/data and runs for FUZZ_SECONDS, 300 by default), or directly::

    .venv/bin/python fuzz/fuzz_readers.py fuzz/corpus -max_total_time=3600

Each input goes to the native state reader, the torch state dict reader, the
checkpoint reader (safe_loads on the bytes, load_checkpoint on them as a file, then
the scheduler search), and to ``read_state`` as every command reads a file: once
under a name that says nothing (the format is detected from the bytes: JSON documents
of every framework, YAML, zips, pickles) and once as ``model.keras``.  The documented
errors (every StepschedError) are the only exceptions allowed; anything else is a
finding, saved by libFuzzer as crash-*.
The bounded, CI-sized counterpart is tests/hardening/test_fuzz_readers.py.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
import tempfile

import atheris

with atheris.instrument_imports():
    from stepsched_cli.errors import StepschedError
    from stepsched_cli.fileio import loads_strict
    from stepsched_cli.formats.reading import inspect_record
    from stepsched_cli.formats.registry import read_state
    from stepsched_cli.formats.sandbox.unpickler import safe_loads
    from stepsched_cli.formats.torch import state_dict as torch_format
    from stepsched_cli.formats.torch.checkpoint import select_scheduler
    from stepsched_cli.formats.torch.container import load_checkpoint
    from stepsched_cli.state import parse_state_bytes

_FOLDER = tempfile.mkdtemp(prefix="stepsched-fuzz-")
SCRATCH = os.path.join(_FOLDER, "input.pt")
NAMED_BY_CONTENT = (os.path.join(_FOLDER, "input"), os.path.join(_FOLDER, "model.keras"))


def test_one_input(data: bytes) -> None:
    with contextlib.suppress(StepschedError):
        parse_state_bytes(data, "fuzz.json")
    with contextlib.suppress(StepschedError, ValueError):
        torch_format.parse(loads_strict(data)).to_state()
    with contextlib.suppress(StepschedError):
        safe_loads(data, source="fuzz.pkl")
    with open(SCRATCH, "wb") as handle:
        handle.write(data)
    with contextlib.suppress(StepschedError):
        select_scheduler(load_checkpoint(SCRATCH), "fuzz.pt")
    for path in NAMED_BY_CONTENT:
        with open(path, "wb") as handle:
            handle.write(data)
        with contextlib.suppress(StepschedError):
            reading = read_state(path)
            json.dumps(inspect_record(reading), allow_nan=False)  # as inspect --json
            reading.require_state()


def main() -> None:
    atheris.Setup(sys.argv, test_one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
