"""timm's state in torch.save files written by real timm (tests/data/real/timm).

The values compared are what timm recorded when it wrote each file (manifest.json):
the scheduler's constructor arguments, the checkpoint's ``epoch``, and ``train.py``'s
``sched``/``sched_on_updates`` arguments.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from stepsched_cli.formats.frameworks.timm.checkpoint import find_timm_training, namespace
from stepsched_cli.formats.sandbox.allowlist import _inert_type
from stepsched_cli.formats.torch.container import load_checkpoint

TIMM = Path(__file__).resolve().parents[2] / "data" / "real" / "timm"
MANIFEST: dict[str, dict[str, Any]] = json.loads((TIMM / "manifest.json").read_text())["files"]
STATES = sorted(name for name in MANIFEST if name.startswith("state/") and ".pth" in name)
SAVER = sorted(name for name in MANIFEST if name.startswith("train_") and ".pth.tar" in name)
SCHEDS = {"StepLRScheduler": "step", "MultiStepLRScheduler": "multistep"}


@pytest.mark.parametrize("name", STATES)
def test_a_timm_state_dict_is_found_bare_or_in_a_checkpoint(name: str) -> None:
    reported = MANIFEST[name]["reported"]
    found = find_timm_training(load_checkpoint(TIMM / name))
    assert found is not None
    assert found.state is not None
    for key, value in reported["kwargs"].items():
        expected = tuple(value) if isinstance(value, list) else value
        stored = found.state[key]
        assert (tuple(stored) if isinstance(stored, list | tuple) else stored) == expected
    assert found.state["base_values"] == [reported["optimizer_lr"]]
    assert found.state["t_in_epochs"] is reported["t_in_epochs"]
    if name.endswith("_checkpoint.pth.tar"):
        assert (found.state_key, found.epoch) == ("lr_scheduler", 35)
    else:
        assert (found.state_key, found.epoch) == ("(top level)", None)
    assert found.args is None


@pytest.mark.parametrize("name", SAVER)
def test_checkpoint_saver_files_give_args_and_epoch(name: str) -> None:
    reported = MANIFEST[name]["reported"]
    found = find_timm_training(load_checkpoint(TIMM / name))
    assert found is not None
    assert (found.state, found.state_key) == (None, None)  # CheckpointSaver saves none
    assert found.epoch == reported["epoch"] == reported["resume_epoch"] - 1
    assert found.args is not None
    assert found.args["sched"] == SCHEDS[reported["class"]]
    assert found.args["sched_on_updates"] is reported["sched_on_updates"]
    # The same Namespace train.py dumped beside it as args.json (tuples become lists).
    saved = json.loads((TIMM / name).with_name("args.json").read_text())
    assert json.loads(json.dumps(found.args)) == saved


def test_a_checkpoint_without_timm_state_gives_none() -> None:
    assert find_timm_training({"epoch": 3, "model": {}}) is None
    assert find_timm_training([1, 2]) is None


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ({"sched": "step"}, {"sched": "step"}),
        ({1: "x"}, None),
        ("args", None),
    ],
)
def test_namespace_takes_plain_string_keyed_args(value: object, expected: object) -> None:
    assert namespace(value) == expected


def test_namespace_reads_an_unpickled_argparse_namespace() -> None:
    stand_in = _inert_type("argparse.Namespace")()
    stand_in.__setstate__({"sched": "multistep", "epochs": 6})
    assert namespace(stand_in) == {"sched": "multistep", "epochs": 6}
    other = _inert_type("numpy.dtype")()
    other.__setstate__({"sched": "step"})
    assert namespace(other) is None
