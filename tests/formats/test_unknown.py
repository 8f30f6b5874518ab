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
