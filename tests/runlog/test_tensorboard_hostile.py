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
from stepsched_cli.runlog.tensorboard import MAX_EVENT_FILES, MAX_RECORD_BYTES, check_event_files

EVENTS = "events.out.tfevents.1.host.1.0"


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
    if not refused:
        check_event_files(str(tmp_path))
        return
    with pytest.raises(RunLogError) as raised:
        check_event_files(str(tmp_path))
    assert str(raised.value) == (
        f"{tmp_path}: holds {count} event files, more than the limit of {MAX_EVENT_FILES} "
        "for one run"
    )


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
