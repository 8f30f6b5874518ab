"""timm's torch.save files, read as timm means them: the values timm itself reported.

``CheckpointSaver`` files (``last.pth.tar``, ``checkpoint-N``, ``model_best``,
``recovery-E-B``) hold ``args`` and ``epoch`` and no scheduler state: stepsched builds
the schedule from the args and reads it where ``train.py`` resumes, ``epoch + 1``.  A
scheduler ``state_dict()`` saved with torch.save is read at ``--position`` (bare) or at
the resume position of the checkpoint's ``epoch``.  Expected values are the manifest's,
recorded by tests/fixtures/make_real_timm.py.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from stepsched_cli.errors import StateFileError
from stepsched_cli.formats import registry
from stepsched_cli.formats.hints import Hints

REAL = Path(__file__).resolve().parents[2] / "data" / "real" / "timm"
MANIFEST = json.loads((REAL / "manifest.json").read_text(encoding="utf-8"))["files"]

SAVER_FILES = sorted(
    name
    for name in MANIFEST
    if name.startswith(("train_step/", "train_step_noise/")) and name.endswith(".pth.tar")
)


@pytest.mark.parametrize("name", SAVER_FILES)
def test_checkpoint_saver_files_resume_where_train_py_does(name: str) -> None:
    reported = MANIFEST[name]["reported"]
    reading = registry.read_state(str(REAL / name))
    assert reading.format == "torch-checkpoint"
    assert reading.view.position == reported["resume_epoch"] == reported["epoch"] + 1
    assert reading.view.unit == "epoch"
    if "noise" in name:  # inspected with a note, never converted
        assert reading.state is None
        assert "noise" in (reading.reason or "")
    else:
        assert reading.view.lrs[0] == reported["lr_at_resume"]


@pytest.mark.parametrize(
    "name",
    [
        "state/step_warmup_prefix_checkpoint.pth.tar",
        "state/multistep_warmup_no_prefix_checkpoint.pth.tar",
    ],
)
def test_a_scheduler_state_in_a_checkpoint_is_read_at_the_resume_epoch(name: str) -> None:
    reported = MANIFEST[name]["reported"]
    reading = registry.read_state(str(REAL / name))
    position = reported["epoch"] + 1
    assert reading.view.position == position
    # timm's own value there, up to its repeated multiplication (exact here: 1e-9 relative).
    assert reading.view.lrs[0] == pytest.approx(reported["lr_at"][str(position)], rel=1e-9)


def test_a_bare_state_dict_is_read_at_the_position_given() -> None:
    reported = MANIFEST["state/step_plain.pth"]["reported"]
    reading = registry.read_state(str(REAL / "state/step_plain.pth"), hints=Hints(position=30))
    assert reading.view.position == 30
    assert reading.view.lrs[0] == pytest.approx(reported["lr_at"]["30"], rel=1e-9)


PER_UPDATE_FILES = sorted(
    name
    for name in MANIFEST
    if name.startswith("train_multistep_updates/") and name.endswith(".pth.tar")
)


@pytest.mark.parametrize("name", PER_UPDATE_FILES)
def test_per_update_files_need_the_updates_per_epoch(name: str) -> None:
    with pytest.raises(StateFileError) as raised:
        registry.read_state(str(REAL / name))
    assert str(raised.value).endswith("give it (--updates-per-epoch N)")
    assert raised.value.parameter == "updates_per_epoch"


@pytest.mark.parametrize("name", PER_UPDATE_FILES)
def test_per_update_files_resume_where_train_py_does(name: str) -> None:
    """train.py resumes at update (epoch + 1) x updates per epoch, with timm's lr there."""
    reported = MANIFEST[name]["reported"]
    per_epoch = reported["updates_per_epoch"]
    reading = registry.read_state(str(REAL / name), hints=Hints(updates_per_epoch=per_epoch))
    assert reading.view.unit == "step"
    assert reading.view.position == reported["resume_epoch"] * per_epoch
    assert reading.view.framework_lr == reported["lr_at_resume"]
    assert reading.view.lrs[0] == pytest.approx(reported["lr_at_resume"], rel=1e-15)
    assert reading.state is not None
