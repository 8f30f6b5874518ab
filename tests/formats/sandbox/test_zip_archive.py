"""The zip rules every zip reader shares (formats/safe_zip.py), pinned for .keras files.

torch checkpoints pin the same rules in test_torch_checkpoint.py and the hardening
corpus; here each class of hostile zip is a ``.keras`` file, read as every command
reads it, so the Keras reader cannot fall behind the torch one.
"""

from __future__ import annotations

import contextlib
import io
import json
import zipfile
from pathlib import Path

import pytest

from stepsched_cli.errors import StateFileError
from stepsched_cli.formats.frameworks.keras.files import read_model_file

CONFIG = json.dumps(
    {
        "compile_config": {
            "optimizer": {
                "class_name": "SGD",
                "config": {
                    "name": "SGD",
                    "learning_rate": {
                        "class_name": "ExponentialDecay",
                        "config": {
                            "initial_learning_rate": 0.1,
                            "decay_steps": 30,
                            "decay_rate": 0.1,
                            "staircase": True,
                        },
                    },
                },
            }
        }
    }
).encode()


def keras_zip(
    members: list[tuple[str, bytes]], method: int = zipfile.ZIP_STORED, utf8_flag: bool = False
) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in members:
            info = zipfile.ZipInfo(name, date_time=(2024, 1, 1, 0, 0, 0))
            info.compress_type = method
            archive.writestr(info, data)
    raw = buffer.getvalue()
    if utf8_flag:  # flag every name as UTF-8 and make the first name's byte invalid
        raw = raw.replace(b"confi", b"c\xffnfi")
        raw = raw.replace(b"\x14\x00\x00\x00", b"\x14\x00\x00\x08")
    return raw


def test_a_well_formed_keras_zip_reads(tmp_path: Path) -> None:
    path = tmp_path / "model.keras"
    path.write_bytes(keras_zip([("metadata.json", b"{}"), ("config.json", CONFIG)]))
    document, iterations, note = read_model_file(str(path))
    assert isinstance(document, dict)
    assert iterations is None
    assert note == (
        f"{path} has no model.weights.h5: the position is the optimizer's iterations, the "
        "dataset optimizer/vars/0 in the model's model.weights.h5 (inside the .keras zip); "
        "give it with --position"
    )


@pytest.mark.parametrize(
    ("members", "method", "reason"),
    [
        (
            [("config.json", CONFIG), ("config.json", CONFIG)],
            zipfile.ZIP_STORED,
            "its zip archive has two members named 'config.json'; refusing to guess which "
            "one Keras would read",
        ),
        (
            [("config.json", CONFIG)],
            zipfile.ZIP_BZIP2,
            "config.json uses zip compression method 12; Keras's model.save stores it "
            "uncompressed (0)",
        ),
        (
            [("config.json", CONFIG + b" " * (1 << 20))],
            zipfile.ZIP_DEFLATED,
            "config.json declares 1048811 bytes, more than the limit of 1048576",
        ),
    ],
)
def test_hostile_keras_zips_are_refused_in_keras_terms(
    tmp_path: Path, members: list[tuple[str, bytes]], method: int, reason: str
) -> None:
    path = tmp_path / "model.keras"
    duplicate = len(members) > 1  # zipfile warns as it writes the second config.json
    with (
        pytest.warns(UserWarning, match="Duplicate name") if duplicate else contextlib.nullcontext()
    ):
        path.write_bytes(keras_zip(members, method))
    with pytest.raises(StateFileError) as caught:
        read_model_file(str(path))
    assert str(caught.value) == f"{path}: is not a readable .keras zip: {reason}"


def test_a_deflated_weights_bomb_is_refused_before_it_inflates(tmp_path: Path) -> None:
    path = tmp_path / "model.keras"
    weights = bytes(64 << 20)  # 64 MiB of zeros deflate to about 64 KB
    path.write_bytes(
        keras_zip([("config.json", CONFIG), ("model.weights.h5", weights)], zipfile.ZIP_DEFLATED)
    )
    with zipfile.ZipFile(path) as archive:
        compressed = archive.getinfo("model.weights.h5").compress_size
    with pytest.raises(StateFileError) as caught:
        read_model_file(str(path))
    assert str(caught.value) == (
        f"{path}: is not a readable .keras zip: model.weights.h5 inflates to more than 100 "
        f"times its {compressed} compressed bytes (a zip bomb; Keras's model.save stores it "
        "uncompressed)"
    )


def test_a_name_flagged_utf8_that_is_not_is_one_line(tmp_path: Path) -> None:
    path = tmp_path / "model.keras"
    path.write_bytes(keras_zip([("config.json", CONFIG)], utf8_flag=True))
    with pytest.raises(StateFileError) as caught:
        read_model_file(str(path))
    assert str(caught.value) == (
        f"{path}: is not a readable .keras zip: broken zip archive (a member name flagged as "
        "UTF-8 is not UTF-8)"
    )
