"""What an unrecognised file looks like, described for its one-line refusal."""

from __future__ import annotations

import pytest

from stepsched_cli.fileio import loads_strict
from stepsched_cli.formats import unknown


@pytest.mark.parametrize(
    ("data", "looks_like"),
    [
        (b'{"epoch": 3, "model": {}}', "JSON with keys epoch, model"),
        (b"[1, 2, 3]", "a JSON array of 3 items"),
        (b"[1]", "a JSON array of 1 item"),
        (b'"text"', "a JSON string"),
        (b"2.5", "a JSON number"),
        (b"true", "a JSON boolean"),
        (b"null", "JSON null"),
    ],
)
def test_a_json_document_is_described_by_its_shape(data: bytes, looks_like: str) -> None:
    assert unknown.describe(data, loads_strict(data)) == looks_like


@pytest.mark.parametrize(
    ("data", "looks_like"),
    [
        (b"sched: step\ndecay_epochs: 2.0\n", "YAML with keys sched, decay_epochs"),
        (b"", "text that is not JSON (its first line is '')"),
        (b"a = 1\n", "text that is not JSON (its first line is 'a = 1')"),
    ],
)
def test_text_is_described_by_its_lines(data: bytes, looks_like: str) -> None:
    assert unknown.describe(data, None) == looks_like


def test_the_refusal_names_the_file_and_the_formats_tried() -> None:
    error = unknown.unrecognised(b"{}", {}, "a.json", ["stepsched", "torch"])
    assert str(error) == (
        "a.json: no format stepsched reads recognises it: it is an empty JSON object; "
        "tried stepsched, torch (force one with --from)"
    )


@pytest.mark.parametrize(
    ("data", "name", "kind"),
    [
        (
            b"\x89HDF\r\n\x1a\n" + bytes(8),
            "w.h5",
            "an HDF5 file (Keras's model.weights.h5 is one: the schedule is in the .keras file)",
        ),
        (b"\x93NUMPY\x01\x00", "a.npy", "a NumPy .npy array"),
        (b"\x1f\x8b\x08\x00", "a.tar.gz", "gzip-compressed data"),
        (
            b"PK\x03\x04",
            "a.zip",
            "a zip archive (a torch.save checkpoint or a .keras model is one)",
        ),
        (b"\x80\x02\x8a\x0a", "a.pt", "a pickle stream (a legacy torch.save checkpoint is one)"),
        (b"\xfd7zXZ\x00\x00", "a.xz", "xz-compressed data"),
        (
            (7).to_bytes(8, "little") + b'{"a":1}',
            "m.safetensors",
            "a safetensors file (tensors only)",
        ),
        (
            b"\x18\x00",
            "events.out.tfevents.1.host.2.0",
            "a TensorBoard event file (stepsched check reads it, with --tag)",
        ),
        (
            b"\x18\x00",
            "runs/a/events.out.tfevents.1.host.2.0",
            "a TensorBoard event file (stepsched check reads it, with --tag)",
        ),
    ],
)
def test_a_binary_file_is_named_by_its_first_bytes(data: bytes, name: str, kind: str) -> None:
    assert unknown.binary_kind(data, name) == kind


@pytest.mark.parametrize(
    "data",
    [
        b"BZh91AY",  # text may start like bzip2: not named
        b"\x80\x01",
        (99).to_bytes(8, "little") + b'{"a":1}',  # a header longer than the file
        (0).to_bytes(8, "little") + b"{",
        b"events.out.tfevents.",  # the name, not the content, says TensorBoard
    ],
)
def test_other_bytes_have_no_kind(data: bytes) -> None:
    assert unknown.binary_kind(data, "file.bin") is None


def test_csv_text_is_described_by_its_columns() -> None:
    assert unknown.describe(b"step,lr\n0,0.1\n", None) == (
        "CSV with columns step, lr (a log? stepsched check reads logs)"
    )
    assert unknown.describe(b"a,,b\n", None) == "text that is not JSON (its first line is 'a,,b')"
