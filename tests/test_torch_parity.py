"""Parity with torch's StepLR and MultiStepLR, from values recorded with real PyTorch.

The fixture (tests/data/torch_parity.json) was written by
tests/fixtures/make_torch_parity.py with torch 2.13.0; these tests need no torch.
torch multiplies the previous lr by gamma at each boundary, so its values drift by a
few ulps over many decays; ours are the exact closed form.  The decay positions must
be identical and the values equal to within that drift.
"""

from __future__ import annotations

import json
import math
from fractions import Fraction
from pathlib import Path
from typing import Any

import pytest

from stepsched_cli.schedule import StepSchedule, intended_value

FIXTURE = json.loads((Path(__file__).parent / "data" / "torch_parity.json").read_text())
CASES: list[dict[str, Any]] = [
    case
    for case in FIXTURE["cases"]
    # Repeated, unsorted or zero milestones (torch keeps a Counter and tests membership)
    # are torch-format features, tested with the torch format; the core refuses them.
    if case.get("milestones") is None
    or (case["milestones"] == sorted(set(case["milestones"])) and min(case["milestones"]) >= 1)
]
TOTAL = FIXTURE["header"]["total_steps"]


def case_id(case: dict[str, Any]) -> str:
    decay = case.get("step_size", case.get("milestones"))
    return f"{case['scheduler']}-{case['initial_lr']}-{decay}-{case['gamma']}"


def schedule_of(case: dict[str, Any]) -> StepSchedule:
    if case["scheduler"] == "StepLR":
        return StepSchedule(case["initial_lr"], step_size=case["step_size"], gamma=case["gamma"])
    return StepSchedule(case["initial_lr"], milestones=case["milestones"], gamma=case["gamma"])


def test_fixture_covers_enough() -> None:
    assert TOTAL >= 3000
    assert len([c for c in CASES if c["scheduler"] == "StepLR"]) >= 30
    assert len([c for c in CASES if c["scheduler"] == "MultiStepLR"]) >= 10


@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_values_match_torch_at_every_step(case: dict[str, Any]) -> None:
    schedule = schedule_of(case)
    for first, last, torch_lr in case["runs"]:
        for position in {first, (first + last) // 2, last}:
            ours = schedule.lr_at(position)
            assert math.isclose(ours, torch_lr, rel_tol=1e-12, abs_tol=1e-300), (position, ours)


@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_decay_positions_match_torch(case: dict[str, Any]) -> None:
    schedule = schedule_of(case)
    # Deep in the subnormal range torch's drifting values and ours may merge differently.
    cutoff = next((first for first, _, lr in case["runs"] if lr < 1e-280), TOTAL + 1)
    torch_changes = [first for first, _, _ in case["runs"][1:] if first < cutoff]
    assert list(schedule.boundaries(1, cutoff)) == torch_changes


@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_we_are_never_further_from_exact_than_torch(case: dict[str, Any]) -> None:
    schedule = schedule_of(case)
    for first, _, torch_lr in case["runs"]:
        k = schedule.decays_at(first)
        exact = intended_value(case["initial_lr"]) * intended_value(case["gamma"]) ** k
        ours = schedule.lr_at(first)
        assert abs(Fraction(ours) - exact) <= abs(Fraction(torch_lr) - exact)


def test_torch_drifts_where_we_do_not() -> None:
    """The seed example: torch gives 0.0010000000000000002 at step 60; we give 0.001."""
    seed = next(
        c
        for c in CASES
        if c["scheduler"] == "StepLR"
        and (c["initial_lr"], c["step_size"], c["gamma"]) == (0.1, 30, 0.1)
    )
    torch_at_60 = next(lr for first, last, lr in seed["runs"] if first <= 60 <= last)
    assert torch_at_60 == 0.0010000000000000002
    assert StepSchedule(0.1, 30, 0.1).lr_at(60) == 0.001


@pytest.mark.torch
def test_live_torch_parity() -> None:
    torch = pytest.importorskip("torch")
    parameter = torch.nn.Parameter(torch.zeros(1))
    optimizer = torch.optim.SGD([parameter], lr=0.05)
    scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=7, gamma=0.9)
    ours = StepSchedule(0.05, step_size=7, gamma=0.9)
    for position in range(3001):
        assert math.isclose(scheduler.get_last_lr()[0], ours.lr_at(position), rel_tol=1e-12)
        optimizer.step()
        scheduler.step()
