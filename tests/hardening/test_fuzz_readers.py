"""Property-based fuzzing of the readers: any bytes are read or refused, never crash.

The state reader (:func:`~stepsched_cli.state.parse_state_bytes`), the torch state dict
reader and the checkpoint reader (:func:`~stepsched_cli.formats.sandbox.unpickler.safe_loads`,
:func:`~stepsched_cli.formats.torch.container.load_checkpoint` and the scheduler search
after it) get random bytes and mutations of real files: bit flips, truncations,
insertions, deletions and splices.  The only exceptions allowed are the documented
ones (every one a :class:`~stepsched_cli.errors.StepschedError`); anything else, a
``RecursionError`` or a ``MemoryError`` included, fails the test.  Examples are bounded
(about 200 each, no deadline) so the module runs in CI in seconds; ``make fuzz`` runs
the atheris harness in ``fuzz/`` for longer.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import tempfile
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from stepsched_cli.errors import StateError, StateFileError, StepschedError
from stepsched_cli.fileio import loads_strict
from stepsched_cli.formats.checkpoint_errors import CheckpointError
from stepsched_cli.formats.reading import inspect_record
from stepsched_cli.formats.registry import read_state
from stepsched_cli.formats.sandbox.unpickler import PickleStream, safe_loads
from stepsched_cli.formats.torch import state_dict as torch_format
from stepsched_cli.formats.torch.checkpoint import select_scheduler
from stepsched_cli.formats.torch.container import load_checkpoint
from stepsched_cli.formats.torch.search import find_optimizer_param_groups, find_scheduler_states
from stepsched_cli.state import dumps_state, parse_state_bytes

DATA_DIR = Path(__file__).resolve().parent.parent / "data"
CHECKPOINTS = sorted((DATA_DIR / "checkpoints").glob("*.pt")) + sorted(
    (DATA_DIR / "checkpoints").glob("*.ckpt")
)
STATE_SEEDS = [
    (DATA_DIR / "bad" / name).read_bytes()
    for name in ("inconsistent_lr.json", "milestones_unsorted.json", "unknown_field.json")
] + [
    b'{"format": "stepsched.state", "version": 1, "mode": "epoch", "step": 3, '
    b'"initial_lr": 0.1, "lr": 0.1, "gamma": 0.5, "milestones": [5, 9], '
    b'"steps_per_epoch": 100, "param_groups": [{"initial_lr": 0.2, "lr": 0.2}]}'
]
TORCH_SEEDS = [
    (DATA_DIR / "checkpoints" / name).read_bytes()
    for name in ("steplr_state.json", "multisteplr_state.json")
]

# STEPSCHED_FUZZ_EXAMPLES=20000 explores further locally; CI keeps the default.
FUZZ = settings(
    max_examples=int(os.environ.get("STEPSCHED_FUZZ_EXAMPLES", "200")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)


def _pickles_of(path: Path) -> list[bytes]:
    """The object pickle of a zip checkpoint, or every pickle of a legacy one."""
    data = path.read_bytes()
    if data.startswith(b"PK"):
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            name = next(name for name in archive.namelist() if name.endswith("/data.pkl"))
            return [archive.read(name)]
    stream = PickleStream(io.BytesIO(data), source=str(path))
    return [stream.next_pickle() for _ in range(4)]


PICKLE_SEEDS = [pickle for path in CHECKPOINTS for pickle in _pickles_of(path)]


@st.composite
def mutated(draw: st.DrawFn, seeds: list[bytes]) -> bytes:
    """One of ``seeds`` after one to four random edits."""
    data = bytearray(draw(st.sampled_from(seeds)))
    for _ in range(draw(st.integers(1, 4))):
        kind = draw(st.sampled_from(["flip", "truncate", "insert", "delete", "splice", "byte"]))
        position = draw(st.integers(0, max(len(data) - 1, 0)))
        if kind == "flip" and data:
            data[position] ^= 1 << draw(st.integers(0, 7))
        elif kind == "byte" and data:
            data[position] = draw(st.sampled_from([0x00, 0x7F, 0x80, 0xFF, ord("["), ord("}")]))
        elif kind == "truncate":
            del data[position:]
        elif kind == "insert":
            data[position:position] = draw(st.binary(min_size=1, max_size=16))
        elif kind == "delete":
            del data[position : position + draw(st.integers(1, 32))]
        elif kind == "splice":
            # A piece of another seed (or of itself) pasted in: plausible structure.
            other = draw(st.sampled_from(seeds))
            start = draw(st.integers(0, max(len(other) - 1, 0)))
            data[position:position] = other[start : start + draw(st.integers(1, 64))]
    return bytes(data)


# -- the native state reader ------------------------------------------------------------


def _read_state(data: bytes) -> None:
    try:
        state = parse_state_bytes(data, "fuzz.json")
    except StateFileError as error:
        message = str(error)
        assert message.startswith("fuzz.json: ")
        assert "\n" not in message
        return
    # Whatever is accepted is a real state: it writes and reads back to itself.
    assert parse_state_bytes(dumps_state(state), "again.json") == state


@FUZZ
@given(st.binary(max_size=512))
def test_state_reader_on_random_bytes(data: bytes) -> None:
    _read_state(data)


@FUZZ
@given(mutated(STATE_SEEDS))
def test_state_reader_on_mutated_states(data: bytes) -> None:
    _read_state(data)


JSON_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(10**45), max_value=10**45)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=8),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=6), children, max_size=4)
    ),
    max_leaves=12,
)


@FUZZ
@given(st.data())
def test_state_reader_on_fields_of_any_json_type(data: st.DataObject) -> None:
    """Each field replaced by, or removed for, any JSON value: a clean error or a state."""
    document = json.loads(STATE_SEEDS[-1])
    for field in data.draw(st.lists(st.sampled_from(sorted(document)), max_size=3)):
        if data.draw(st.booleans()):
            document[field] = data.draw(JSON_VALUES)
        else:
            document.pop(field, None)
    _read_state(json.dumps(document).encode())


# -- torch state dicts (JSON) -----------------------------------------------------------


def _read_torch_json(data: bytes) -> None:
    try:
        document = loads_strict(data)
    except ValueError:
        return
    try:
        state = torch_format.parse(document)
    except StateError:
        return
    with contextlib.suppress(StepschedError):
        state.to_state()


@FUZZ
@given(mutated(TORCH_SEEDS))
def test_torch_state_dict_reader_on_mutated_files(data: bytes) -> None:
    _read_torch_json(data)


@FUZZ
@given(st.data())
def test_torch_state_dict_reader_on_fields_of_any_json_type(data: st.DataObject) -> None:
    document = json.loads(data.draw(st.sampled_from(TORCH_SEEDS)))
    for field in data.draw(st.lists(st.sampled_from(sorted(document)), max_size=3)):
        document[field] = data.draw(JSON_VALUES)
    try:
        state = torch_format.parse(document)
    except StateError:
        return
    with contextlib.suppress(StepschedError):
        state.to_state()


# -- the checkpoint reader --------------------------------------------------------------


def _search(checkpoint: object) -> None:
    """The searches run on whatever the loader returns, without crashing."""
    find_scheduler_states(checkpoint)
    find_optimizer_param_groups(checkpoint)
    with contextlib.suppress(CheckpointError, StateError):
        select_scheduler(checkpoint, "fuzz.pt")


@FUZZ
@given(mutated(PICKLE_SEEDS))
def test_safe_loads_on_mutated_pickles(data: bytes) -> None:
    try:
        checkpoint = safe_loads(data, source="fuzz.pkl")
    except CheckpointError as error:
        assert "fuzz.pkl" in str(error)
        return
    _search(checkpoint)


@FUZZ
@given(st.binary(max_size=512))
def test_safe_loads_on_random_bytes(data: bytes) -> None:
    with contextlib.suppress(CheckpointError):
        safe_loads(data, source="fuzz.pkl")


@pytest.fixture(scope="module")
def scratch() -> Iterator[Path]:
    with tempfile.TemporaryDirectory() as folder:
        yield Path(folder)


@FUZZ
@given(data=mutated([path.read_bytes() for path in CHECKPOINTS]))
def test_load_checkpoint_on_mutated_files(data: bytes, scratch: Path) -> None:
    path = scratch / "fuzz.pt"
    path.write_bytes(data)
    try:
        checkpoint = load_checkpoint(path)
    except CheckpointError as error:
        assert str(path) in str(error)
        assert "\n" not in str(error)
        return
    _search(checkpoint)


# -- every reader, as the commands read a file -------------------------------------------

FRAMEWORK_FILES = sorted(
    path
    for path in (DATA_DIR / "real").rglob("*")
    if path.is_file()
    and path.suffix in (".keras", ".json", ".yaml", ".tar", ".pth", ".bin")
    and path.stat().st_size < 64 * 1024
)
FUZZ_FOUND = sorted((DATA_DIR / "fuzz_found").iterdir())


def _read_as_a_command(path: Path) -> None:
    """``read_state`` as inspect calls it, then inspect --json's record: any
    StepschedError is a refusal, in one line naming the file; nothing else may escape."""
    try:
        reading = read_state(str(path))
        json.dumps(inspect_record(reading), allow_nan=False)
    except StepschedError as error:
        message = str(error)
        assert "\n" not in message
        assert path.name in message
        assert len(message) < 1000


@FUZZ
@given(data=mutated([path.read_bytes() for path in FRAMEWORK_FILES]), name=st.sampled_from(
    ["model.keras", "args.yaml", "input", "last.pth.tar"]
))  # fmt: skip
def test_every_reader_on_mutated_framework_files(data: bytes, name: str, scratch: Path) -> None:
    path = scratch / name
    path.write_bytes(data)
    _read_as_a_command(path)


FUZZ_FOUND_REASONS = {
    "name_flagged_utf8_not_utf8.keras": "broken zip archive (a member name flagged as UTF-8 "
    "is not UTF-8)",
    "zip64_offset_beyond_seek.pt": "broken zip archive (cannot fit 'int' into an "
    "offset-sized integer)",
    "stepsched_state_tuple_key.pt": "a state's keys must be strings, got (1,)",
}


def test_every_input_make_fuzz_found_has_its_reason() -> None:
    assert sorted(FUZZ_FOUND_REASONS) == [path.name for path in FUZZ_FOUND]


@pytest.mark.parametrize("path", FUZZ_FOUND, ids=[path.name for path in FUZZ_FOUND])
def test_inputs_make_fuzz_found_are_refused_in_one_line(path: Path) -> None:
    """Each file in tests/data/fuzz_found once escaped as an internal error."""
    with pytest.raises(StepschedError) as raised:
        read_state(str(path))
    assert str(raised.value).endswith(FUZZ_FOUND_REASONS[path.name])
