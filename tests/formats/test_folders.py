"""Folders given in place of a file: the two kinds read, every other kind named in one line.

The folders were written by the real libraries (``make_real_transformers.py``,
``make_real_accelerate.py``, ``make_real_folders.py``, ``make_real_mmengine.py``).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from stepsched_cli.errors import StateFileError
from stepsched_cli.formats.folders import ReadableFolder, folder_kind

REAL = Path(__file__).resolve().parent.parent / "data" / "real"


@pytest.mark.parametrize(
    ("folder", "expected"),
    [
        (
            "transformers/steplr/checkpoint-20",
            ReadableFolder(
                "a Hugging Face Trainer checkpoint",
                "scheduler.pt",
                "optimizer.pt",
                "trainer_state.json",
            ),
        ),
        (
            "accelerate/save_state",
            ReadableFolder("an Accelerate save_state() folder", "scheduler.bin", "optimizer.bin"),
        ),
    ],
)
def test_a_training_folder_names_the_files_read(folder: str, expected: ReadableFolder) -> None:
    assert folder_kind(str(REAL / folder)) == expected


@pytest.mark.parametrize(
    ("folder", "message"),
    [
        (
            "transformers/steplr",
            "is a Hugging Face Trainer output folder, not a state file; read one of its "
            "checkpoint-N folders (checkpoint-25 is the latest)",
        ),
        (
            "mmengine/epoch_based",
            "is an MMEngine work_dir, not a state file; read one of its Runner checkpoints "
            "(epoch_N.pth or iter_N.pth; last_checkpoint names the latest)",
        ),
        (
            "folders/torch_dcp",
            "is a torch distributed checkpoint (torch.distributed.checkpoint), not a state file; "
            "stepsched reads torch.save files: convert it with "
            "torch.distributed.checkpoint.format_utils.dcp_to_torch_save",
        ),
        *[
            (
                folder,
                "is an orbax checkpoint, not a state file; stepsched reads the optax schedule as "
                "JSON, at --position (the state's count)",
            )
            for folder in ("folders/orbax", "folders/orbax/12", "folders/orbax/12/default")
        ],
        (
            "folders/tf_checkpoint",
            "is a TensorFlow checkpoint (tf.train.Checkpoint), not a state file; stepsched reads "
            "a Keras model file (.keras) or its schedule's config as JSON",
        ),
        (
            "folders/saved_model",
            "is a TensorFlow SavedModel, not a state file; stepsched reads a Keras model file "
            "(.keras) or its schedule's config as JSON",
        ),
        (
            "torch",
            "is a directory, not a state file; stepsched reads files, and of folders a Hugging "
            "Face Trainer checkpoint-N/ or an Accelerate save_state() folder",
        ),
    ],
)
def test_another_folder_is_named_in_one_line(folder: str, message: str) -> None:
    path = str(REAL / folder)
    with pytest.raises(StateFileError) as raised:
        folder_kind(path)
    assert str(raised.value) == f"{path}: {message}"


def test_a_trainer_checkpoint_without_its_scheduler_is_named(tmp_path: Path) -> None:
    (tmp_path / "trainer_state.json").write_text("{}")
    (tmp_path / "model.safetensors").write_bytes(b"")
    with pytest.raises(StateFileError, match="a Hugging Face Trainer checkpoint without"):
        folder_kind(str(tmp_path))


def test_accelerate_with_several_schedulers_names_them(tmp_path: Path) -> None:
    for name in ("scheduler.bin", "scheduler_1.bin", "optimizer.bin"):
        (tmp_path / name).write_bytes(b"")
    with pytest.raises(StateFileError) as raised:
        folder_kind(str(tmp_path))
    assert str(raised.value).endswith(
        "is an Accelerate save_state() folder with 2 schedulers, not a state file; read one "
        "of scheduler.bin, scheduler_1.bin as a file"
    )
