"""MMEngine param scheduler states and Runner checkpoints, against what MMEngine reported.

Every value compared is from ``tests/data/real/mmengine/manifest.json``, written by
``make_real_mmengine.py`` with mmengine 0.10.7: the lrs the optimizer had at every
position of a scheduler stepped by hand, and what a hook saw when the Runner saved.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from stepsched_cli.errors import StateError
from stepsched_cli.formats.frameworks.mmengine import schedulers as mmengine
from stepsched_cli.formats.torch import container as torch_container
from stepsched_cli.validate import lrs_agree

REAL = Path(__file__).resolve().parents[2] / "data" / "real" / "mmengine"
MANIFEST: dict[str, dict[str, Any]] = json.loads((REAL / "manifest.json").read_text())["files"]
STATES = sorted(name for name in MANIFEST if name.startswith("state/"))
RUNNERS = sorted(name for name in MANIFEST if not name.startswith("state/"))


def load(name: str) -> Any:
    if name.endswith(".json"):
        return json.loads((REAL / name).read_text())
    return torch_container.load_checkpoint(str(REAL / name))


@pytest.mark.parametrize("name", STATES)
def test_a_scheduler_state_gives_the_lrs_mmengine_applied(name: str) -> None:
    reported = MANIFEST[name]["reported"]
    state = mmengine.parse_scheduler(load(name))
    assert state.kind == reported["class"]
    assert state.clock(state.position) == reported["last_step"]
    assert all(map(lrs_agree, state.lrs_at(state.position), reported["get_last_value"]))
    assert state.stored == tuple(reported["get_last_value"])
    applied = reported["lrs_by_position"]
    assert all(lrs_agree(state.lrs_at(g)[0], lr) for g, lr in enumerate(applied))


@pytest.mark.parametrize(
    ("name", "position", "unit", "following", "reason"),
    [
        (
            "state/steplr_begin.json",
            9,
            "iteration",
            11,
            "it starts at begin=2; a stepsched schedule decays from 0",
        ),
        ("state/multistep_epoch.pth", 6, "epoch", None, None),
    ],
)
def test_a_scheduler_state_position_unit_and_next_change(
    name: str, position: int, unit: str, following: int | None, reason: str | None
) -> None:
    state = mmengine.parse_scheduler(load(name))
    assert (state.position, state.unit, state.next_change(position)) == (
        position,
        unit,
        following,
    )
    assert state.unrepresentable_reason() == reason


def test_steplr_stops_decaying_at_its_end() -> None:
    state = mmengine.parse_scheduler(load("state/steplr_begin.json"))
    applied = MANIFEST["state/steplr_begin.json"]["reported"]["lrs_by_position"]
    assert state.next_change(11) is None
    assert applied[11:] == [0.0125] * 9


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            {"last_step": 6},
            "field 'last_step' is 6 but _global_step 9 with begin 2 and end 12 gives 7: the "
            "state is inconsistent",
        ),
        ({"param_name": "momentum"}, "an MMEngine scheduler of 'momentum', not of the lr"),
        (
            {"step_size": None, "T_max": 10, "eta_min": 0.0},
            "an MMEngine CosineAnnealingLR is not a step decay; stepsched reads MMEngine StepLR "
            "and MultiStepLR (after LinearLR or ConstantLR warmups)",
        ),
    ],
)
def test_a_bad_scheduler_state_is_refused(change: dict[str, Any], message: str) -> None:
    document = {**load("state/steplr_begin.json"), **change}
    document = {key: value for key, value in document.items() if value is not None}
    with pytest.raises(StateError) as raised:
        mmengine.parse_scheduler(document)
    assert str(raised.value) == message
