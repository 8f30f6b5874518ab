"""Hostile TensorBoard runs for ``check``: refused in one line before TensorBoard reads.

TensorBoard allocates the length a record declares before reading it, lists a run's
folder again for every event file it reads, and a message once listed every scalar
tag of a run (50,000 tags: a 3 MB line).
"""

from __future__ import annotations

import struct
from pathlib import Path

import pytest

from stepsched_cli.runlog import RunLogError
from stepsched_cli.runlog import tensorboard as tensorboard_log
from stepsched_cli.runlog.tensorboard import (
    MAX_EVENT_FILES,
    MAX_RECORD_BYTES,
    MAX_RECORD_FIELDS,
    MAX_RECORD_VALUES,
    MAX_RUN_TAGS,
    check_event_files,
)

EVENTS = "events.out.tfevents.1.host.1.0"


def refusal(path: Path) -> str | None:
    """check_event_files' message for ``path``, None when it passes."""
    try:
        check_event_files(str(path))
    except RunLogError as error:
        return str(error)
    return None


def _record(data: bytes, declared: int | None = None) -> bytes:
    """A TFRecord's framing (CRCs zero: only the lengths are checked before reading)."""
    length = len(data) if declared is None else declared
    return struct.pack("<Q", length) + bytes(4) + data + bytes(4)


@pytest.mark.parametrize(
    ("declared", "offset"),
    [(MAX_RECORD_BYTES + 1, 24), (1 << 40, 24), ((1 << 64) - 1, 24)],
)
def test_a_record_longer_than_the_limit_is_refused_before_reading(
    tmp_path: Path, declared: int, offset: int
) -> None:
    events = tmp_path / EVENTS
    events.write_bytes(_record(b"x" * 8) + _record(b"x" * 100, declared))
    with pytest.raises(RunLogError) as raised:
        check_event_files(str(events))
    assert str(raised.value) == (
        f"{events}: its record at byte {offset} claims {declared} bytes, more than the "
        f"limit of {MAX_RECORD_BYTES} for one event"
    )


@pytest.mark.parametrize("tail", [b"", b"\x01", _record(b"x" * 50)[:30]])
def test_a_last_record_still_being_written_is_left_to_tensorboard(
    tmp_path: Path, tail: bytes
) -> None:
    events = tmp_path / EVENTS
    events.write_bytes(_record(b"x" * 8) * 3 + tail)
    check_event_files(str(events))  # no error: TensorBoard stops at a short last record


@pytest.mark.parametrize(
    ("count", "refused"), [(MAX_EVENT_FILES, False), (MAX_EVENT_FILES + 1, True)]
)
def test_a_run_of_more_event_files_than_the_limit_is_refused(
    tmp_path: Path, count: int, refused: bool
) -> None:
    for index in range(count):
        (tmp_path / f"events.out.tfevents.{index}.host.1.0").write_bytes(b"")
    message = (
        f"{tmp_path}: holds {count} event files, more than the limit of {MAX_EVENT_FILES} "
        "for one run"
    )
    assert refusal(tmp_path) == (message if refused else None)


@pytest.mark.parametrize(
    ("tags", "tag", "message"),
    [
        (
            [f"loss{i}" for i in range(50_000)],
            None,
            "run: no scalar tag looks like an lr (scalar tags: loss0, loss1, loss2, loss3, "
            "loss4, loss5, loss6, loss7 and 49992 more); pick one with --tag",
        ),
        (
            [f"lr{i}" for i in range(20_000)],
            None,
            "run: several scalar tags look like an lr: lr0, lr1, lr2, lr3, lr4, lr5, lr6, lr7 "
            "and 19992 more; pick one with --tag",
        ),
        (
            ["t" * 5_000_000],
            "lr",
            "run: no scalar tag 'lr' (scalar tags: 'tttttttttttttttttttttttttttttttttttttttt"
            "ttttttttttttttttttt... (str of 5000000 characters))",
        ),
    ],
    ids=["50,000-tags", "20,000-lr-tags", "5-MB-tag"],
)
def test_messages_name_a_few_tags_and_count_the_rest(
    tags: list[str], tag: str | None, message: str
) -> None:
    with pytest.raises(RunLogError) as raised:
        tensorboard_log.choose_tag(tags, tag, "run")
    assert str(raised.value) == message


# -- what a record declares ------------------------------------------------------------


def _key(field: int, wire: int) -> bytes:
    return _varint((field << 3) | wire)


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        out.append((value & 0x7F) | (0x80 if value > 0x7F else 0))
        value >>= 7
        if not value:
            return bytes(out)


def _delimited(field: int, data: bytes) -> bytes:
    return _key(field, 2) + _varint(len(data)) + data


def _event(tags: list[str], step: int = 0) -> bytes:
    """An Event (wall time, step, a Summary of one simple value per tag), by hand."""
    values = b"".join(
        _delimited(1, _delimited(1, tag.encode()) + _key(2, 5) + struct.pack("<f", 0.1))
        for tag in tags
    )
    return _key(1, 1) + struct.pack("<d", 1.5) + _key(2, 0) + _varint(step) + _delimited(5, values)


@pytest.mark.parametrize(
    ("count", "refused"),
    [(1, False), (MAX_RECORD_VALUES, False), (MAX_RECORD_VALUES + 1, True), (400_000, True)],
)
def test_an_event_of_more_values_than_the_limit_is_refused(
    tmp_path: Path, count: int, refused: bool
) -> None:
    events = tmp_path / EVENTS
    events.write_bytes(_record(_event(["lr"])) + _record(_event([f"t{i}" for i in range(count)])))
    message = (
        f"{events}: its record at byte {16 + len(_event(['lr']))} holds more than "
        f"{MAX_RECORD_VALUES} values, the limit for one event"
    )
    assert refusal(events) == (message if refused else None)


@pytest.mark.parametrize(("count", "refused"), [(MAX_RUN_TAGS, False), (MAX_RUN_TAGS + 1, True)])
def test_a_run_naming_more_tags_than_the_limit_is_refused(
    tmp_path: Path, count: int, refused: bool
) -> None:
    """One tag per event, spread over two event files of one run; repeats count once."""
    half = count // 2
    (tmp_path / EVENTS).write_bytes(b"".join(_record(_event([f"t{i}"])) for i in range(half)))
    (tmp_path / (EVENTS + "1")).write_bytes(
        b"".join(_record(_event([f"t{i}", "t0"], step=i)) for i in range(half, count))
    )
    message = (
        f"{tmp_path / (EVENTS + '1')}: its events name more than {MAX_RUN_TAGS} tags, the "
        "limit for one run"
    )
    assert refusal(tmp_path) == (message if refused else None)


@pytest.mark.parametrize(
    ("where", "fields"),
    [("event", MAX_RECORD_FIELDS), ("event", MAX_RECORD_FIELDS + 1), ("summary", 4 << 20)],
)
def test_an_event_of_more_fields_than_the_limit_is_refused(
    tmp_path: Path, where: str, fields: int
) -> None:
    """Tiny fields (a varint each) walked in Python: bounded, 4 million take no time."""
    padding = (_key(15, 0) + b"\x00") * fields
    data = padding if where == "event" else _delimited(5, padding)
    events = tmp_path / EVENTS
    events.write_bytes(_record(data))
    message = (
        f"{events}: its record at byte 0 holds more than {MAX_RECORD_FIELDS} protobuf "
        "fields, the limit for one event"
    )
    assert refusal(events) == (message if fields > MAX_RECORD_FIELDS else None)


@pytest.mark.parametrize(
    "data",
    [
        b"\xff" * 20,  # a varint that never ends
        _delimited(5, b"\x0a\xff\xff\xff\xff\x0f"),  # a value longer than its summary
        _key(5, 3) + b"xyz",  # a group: not walked
        _event(["lr"])[:-3],  # cut short
    ],
)
def test_a_malformed_event_is_left_to_tensorboard(tmp_path: Path, data: bytes) -> None:
    events = tmp_path / EVENTS
    events.write_bytes(_record(data))
    check_event_files(str(events))
