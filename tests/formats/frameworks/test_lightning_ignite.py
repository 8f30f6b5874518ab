"""Lightning's scheduler unit and Ignite's LRScheduler, against what the libraries reported.

``tests/data/real/lightning`` and ``tests/data/real/ignite`` were written by
``make_real_lightning.py`` (lightning 2.6.6) and ``make_real_ignite.py`` (ignite 0.5.5).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from stepsched_cli.errors import StateError
from stepsched_cli.formats.frameworks import ignite, lightning
from stepsched_cli.formats.torch import container as torch_container
from stepsched_cli.formats.torch import state_dict as torch_format

REAL = Path(__file__).resolve().parents[2] / "data" / "real"


def manifest(framework: str) -> dict[str, dict[str, Any]]:
    files: dict[str, dict[str, Any]] = json.loads((REAL / framework / "manifest.json").read_text())[
        "files"
    ]
    return files


LIGHTNING = manifest("lightning")
IGNITE = manifest("ignite")


@pytest.mark.parametrize("name", sorted(LIGHTNING))
def test_lightning_unit_is_the_interval_configured(name: str) -> None:
    reported = LIGHTNING[name]["reported"]
    checkpoint = torch_container.load_checkpoint(str(REAL / "lightning" / name))
    assert lightning.is_lightning_checkpoint(checkpoint)
    found = lightning.position(checkpoint, checkpoint["lr_schedulers"][0]["last_epoch"])
    assert (found.epoch, found.global_step) == (reported["current_epoch"], reported["global_step"])
    # epoch=0-step=3 with interval "epoch": last_epoch 1 is epoch + 1, not the global step.
    assert found.unit == reported["interval"]
    assert name.endswith(f"epoch={found.epoch}-step={found.global_step}.ckpt")


def test_lightning_note_names_the_unit_and_the_counts() -> None:
    found = lightning.LightningPosition("epoch", 2, 9)
    assert found.note(3) == 'the scheduler counts epochs (interval="epoch"), not optimizer steps'
    assert lightning.position({"epoch": 2, "global_step": 9}, 7).unit is None


@pytest.mark.parametrize("name", sorted(IGNITE))
def test_ignite_wrapper_is_read_at_its_own_counter(name: str) -> None:
    reported = IGNITE[name]["reported"]
    checkpoint = torch_container.load_checkpoint(str(REAL / "ignite" / name))
    wrapper = checkpoint["lr_scheduler"]
    assert ignite.is_wrapper(wrapper)
    assert wrapper["lr_scheduler"]["_last_lr"] == reported["stored_last_lr"] == [0.1]
    state = torch_format.parse(ignite.unwrap(wrapper))
    assert state.last_epoch == reported["last_epoch"] == reported["iteration"]
    assert state.lrs == (reported["wrapper_get_param"],)
    assert list(state.lrs) == reported["optimizer_lrs"]
    assert ignite.engine_text(checkpoint) == (
        f"Ignite iteration {reported['iteration']}, epoch {reported['epoch']} of 3 iterations"
    )


def test_ignite_counter_that_disagrees_is_refused() -> None:
    checkpoint = torch_container.load_checkpoint(str(REAL / "ignite" / "checkpoint_9.pt"))
    wrapper = {**checkpoint["lr_scheduler"], "event_index": 8}
    with pytest.raises(StateError) as raised:
        ignite.unwrap(wrapper)
    assert str(raised.value) == (
        "Ignite's event_index is 8 but its torch scheduler's last_epoch is 9: the position is "
        "not established"
    )
