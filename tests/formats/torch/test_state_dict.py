"""Tests for formats/torch/state_dict.py: torch StepLR/MultiStepLR state dicts and checkpoints.

Expected values come from fixtures recorded with real torch 2.13 (tests/data/checkpoints/
expected.json, torch_parity.json and torch_state_dicts.json, each with the script that
made it); only the tests marked ``torch`` need torch itself.
"""

from __future__ import annotations

import json
import math
import pickle
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from stepsched_cli.errors import ConversionError, StateError, StepschedError
from stepsched_cli.formats.checkpoint_errors import (
    AmbiguousCheckpointError,
    CheckpointError,
    UnsafeCheckpointError,
)
from stepsched_cli.formats.sandbox.unpickler import safe_loads
from stepsched_cli.formats.torch import state_dict as torch_format
from stepsched_cli.formats.torch.checkpoint import read_checkpoint
from stepsched_cli.formats.torch.container import looks_like_checkpoint
from stepsched_cli.formats.torch.optimizer_check import check_optimizer
from stepsched_cli.formats.torch.search import format_key_path
from stepsched_cli.formats.torch.state_dict import (
    TorchStepState,
    dumps_torch_state,
    parse,
    to_torch_state_dict,
    torch_state_dict_from_json,
)
from stepsched_cli.schedule import StepSchedule, scaled_power
from stepsched_cli.scheduler import SchedulerState

DATA = Path(__file__).resolve().parents[2] / "data"
CHECKPOINTS = DATA / "checkpoints"
EXPECTED: dict[str, Any] = json.loads((CHECKPOINTS / "expected.json").read_text())["files"]
PARITY: list[dict[str, Any]] = json.loads((DATA / "torch_parity.json").read_text())["cases"]
STATE_DICTS: list[dict[str, Any]] = json.loads((DATA / "torch_state_dicts.json").read_text())[
    "cases"
]
SINGLE_SCHEDULER = sorted(name for name, facts in EXPECTED.items() if len(facts["schedulers"]) == 1)


def close(a: float, b: float) -> bool:
    return math.isclose(a, b, rel_tol=1e-12, abs_tol=1e-300)


def read(name: str, key: str | None = None) -> TorchStepState:
    if EXPECTED[name]["layout"] == "json":
        return parse(json.loads((CHECKPOINTS / name).read_text()))
    return read_checkpoint(CHECKPOINTS / name, key).state


STEP_STATE = {
    "step_size": 30,
    "gamma": 0.1,
    "base_lrs": [0.1],
    "last_epoch": 45,
    "_step_count": 46,
    "_is_initial": False,
    "_get_lr_called_within_step": False,
    "_last_lr": [0.010000000000000002],
}


# -- reading: every committed layout ---------------------------------------------


@pytest.mark.parametrize("name", SINGLE_SCHEDULER)
def test_reads_position_lrs_and_decay_of_every_layout(name: str) -> None:
    facts = EXPECTED[name]["schedulers"][0]
    state = read(name)
    assert state.last_epoch == facts["last_epoch"]
    assert state.base_lrs == tuple(facts["base_lrs"])
    assert state.gamma == facts["gamma"]
    assert all(
        close(ours, theirs) for ours, theirs in zip(state.lrs, facts["_last_lr"], strict=True)
    )
    if "step_size" in facts:
        assert (state.kind, state.step_size) == ("StepLR", facts["step_size"])
        expected_next = (facts["last_epoch"] // facts["step_size"] + 1) * facts["step_size"]
    else:
        counts = {int(m): c for m, c in facts["milestones"].items()}
        assert (state.kind, dict(state.milestones or ())) == ("MultiStepLR", counts)
        expected_next = min((m for m in counts if m > facts["last_epoch"]), default=None)
    assert state.next_boundary(state.last_epoch) == expected_next


@pytest.mark.parametrize("name", [n for n in SINGLE_SCHEDULER if EXPECTED[n]["layout"] != "json"])
def test_checkpoint_key_path_is_reported(name: str) -> None:
    reading = read_checkpoint(CHECKPOINTS / name)
    path = EXPECTED[name]["schedulers"][0]["path"]
    assert reading.key == format_key_path(tuple(path))


def test_fixture_facts_in_detail() -> None:
    two = read("two_groups.pt")
    assert (two.lrs, two.next_boundary(5), two.lrs_at(6)) == ((0.025, 0.0025), 6, (0.0125, 0.00125))
    multi = read("multistep.pt")
    assert multi.milestones == ((30, 2), (80, 1))
    assert multi.describe() == "MultiStepLR(milestones=[30 (x2), 80], gamma=0.1), base_lrs 0.1"
    assert (multi.last_epoch, multi.lrs, multi.next_boundary(85)) == (85, (0.0001,), None)
    assert read("multisteplr_state.json").lrs == (0.001,)  # gamma**2 at 30, exact
    assert read("lightning.ckpt").lrs == (0.09409,)
    assert read_checkpoint(CHECKPOINTS / "bare_scheduler.pt").key == "(top level)"


def test_two_schedulers_are_ambiguous_and_listed() -> None:
    with pytest.raises(AmbiguousCheckpointError, match="2 LR scheduler states found") as caught:
        read_checkpoint(CHECKPOINTS / "two_schedulers.pt")
    assert [c.describe() for c in caught.value.candidates] == [
        "scheduler  StepLR  last_epoch 20",
        "sched  MultiStepLR  last_epoch 20",
    ]
    assert caught.value.requested is None


def test_two_schedulers_key_picks_one_and_the_chained_lr_is_caught() -> None:
    # Both schedulers drive one optimizer, so torch's lr is the product of both decays:
    # neither state alone explains its _last_lr, and that is reported, not hidden.
    with pytest.raises(StateError, match=r"two_schedulers.pt \[scheduler\]: field '_last_lr\[0\]'"):
        read_checkpoint(CHECKPOINTS / "two_schedulers.pt", key="scheduler")
    with pytest.raises(AmbiguousCheckpointError, match="no LR scheduler state at key 'nope'"):
        read_checkpoint(CHECKPOINTS / "two_schedulers.pt", key="nope")


def test_no_scheduler_is_a_clear_error() -> None:
    with pytest.raises(
        CheckpointError, match="no LR scheduler state found.*optimizer at optimizer"
    ):
        read_checkpoint(CHECKPOINTS / "no_scheduler.pt")


def test_resume_mismatch_is_reported_with_the_numbers() -> None:
    reading = read_checkpoint(CHECKPOINTS / "resume_mismatch.pt")
    assert reading.optimizer_key == "optimizer"
    assert len(reading.mismatches) == 2
    assert "param_groups[0] lr is 0.1 but the scheduler gives 0.0001" in reading.mismatches[0]
    assert reading.mismatches[0].startswith(
        "the optimizer at optimizer disagrees with the scheduler at lr_scheduler (last_epoch 100)"
    )
    assert "has no initial_lr" in reading.mismatches[1]


@pytest.mark.parametrize("name", [n for n in SINGLE_SCHEDULER if n != "resume_mismatch.pt"])
def test_consistent_checkpoints_have_no_mismatch(name: str) -> None:
    if EXPECTED[name]["layout"] != "json":
        assert read_checkpoint(CHECKPOINTS / name).mismatches == ()


def test_check_optimizer_initial_lr_disagreement() -> None:
    state = parse(STEP_STATE)
    lines = check_optimizer(state, [{"lr": 0.01, "initial_lr": 0.2, "params": [0]}])
    assert lines == ["param_groups[0] initial_lr is 0.2 but the scheduler's base_lrs[0] is 0.1"]


def test_check_optimizer_reports_ints_too_large_for_a_float() -> None:
    state = parse(STEP_STATE)
    lines = check_optimizer(state, [{"lr": 10**400, "initial_lr": -(10**5000), "params": [0]}])
    assert lines == [
        "param_groups[0] lr is an integer of 1329 bits but the scheduler gives 0.01",
        "param_groups[0] initial_lr is a negative integer of 16610 bits but the scheduler's "
        "base_lrs[0] is 0.1",
    ]


def test_hostile_checkpoint_is_refused_without_running(tmp_path: Path) -> None:
    with pytest.raises(UnsafeCheckpointError, match="os.system"):
        read_checkpoint(DATA / "hostile" / "os_system.pt")


def test_checkpoint_errors_are_stepsched_errors() -> None:
    assert issubclass(CheckpointError, StepschedError)
    assert issubclass(CheckpointError, ValueError)


# -- reading: key sets of torch 2.0 to current ------------------------------------------


@pytest.mark.parametrize(
    "extra",
    [
        {"verbose": False},  # torch 2.0, 2.1
        {"verbose": "deprecated"},  # torch 2.2 to 2.6
        {},
    ],
)
@pytest.mark.parametrize("drop", [(), ("_is_initial",), ("_last_lr", "_step_count")])
def test_accepts_every_torch_key_set(extra: dict[str, Any], drop: tuple[str, ...]) -> None:
    document = {k: v for k, v in STEP_STATE.items() if k not in drop} | extra
    state = parse(document)
    assert (state.last_epoch, state.lrs, state.next_boundary(45)) == (45, (0.01,), 60)


@pytest.mark.parametrize(
    "milestones",
    [{"30": 2, "80": 1}, Counter({30: 2, 80: 1}), {30: 2, 80: 1}, [80, 30, 30]],
)
def test_milestones_in_every_shape(milestones: object) -> None:
    state = parse({"milestones": milestones, "gamma": 0.1, "base_lrs": [0.1], "last_epoch": 45})
    assert state.milestones == ((30, 2), (80, 1))


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ({"T_max": 10, "eta_min": 0, "base_lrs": [0.1], "last_epoch": 3}, "CosineAnnealingLR"),
        ({"lr_lambdas": [None], "base_lrs": [0.1], "last_epoch": 3}, "LambdaLR"),
        ({"gamma": 0.9, "base_lrs": [0.1], "last_epoch": 3}, "ExponentialLR"),
        ({"_schedulers": [], "_milestones": [5], "base_lrs": [0.1], "last_epoch": 3}, "Sequent"),
        ({"base_lrs": [0.1], "last_epoch": 3, "_last_lr": [0.1]}, "an unknown scheduler"),
    ],
)
def test_other_schedulers_are_refused_by_name(document: dict[str, Any], message: str) -> None:
    with pytest.raises(StateError, match=f"not a step-decay scheduler: it looks like .*{message}"):
        parse(document)


def test_cosine_refusal_names_its_keys() -> None:
    with pytest.raises(StateError, match=r"\(it has T_max, eta_min, last_epoch\)"):
        parse({"T_max": 10, "eta_min": 0, "base_lrs": [0.1], "last_epoch": 3})


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"last_epoch": -1}, "field 'last_epoch' must be an integer >= 0, got -1"),
        ({"last_epoch": 4.0}, "field 'last_epoch' must be an integer >= 0, got 4.0"),
        ({"step_size": 0}, "field 'step_size' must be an integer >= 1, got 0"),
        ({"gamma": 1.5}, "field 'gamma' must be a number with 0 < gamma < 1, got 1.5"),
        ({"gamma": True}, "field 'gamma' must be a number, got True"),
        ({"base_lrs": []}, "field 'base_lrs' must be a non-empty list"),
        ({"base_lrs": [-0.1]}, "field 'base_lrs\\[0\\]' must be a number >= 0"),
        ({"_last_lr": [0.5]}, "field '_last_lr\\[0\\]' is 0.5 but StepLR"),
        ({"_last_lr": [0.01, 0.01]}, "field '_last_lr' has 2 entries but 'base_lrs' has 1"),
        ({"_is_initial": "no"}, "field '_is_initial' must be true or false"),
        ({"eta_min": 0}, "unknown field 'eta_min'"),
    ],
)
def test_invalid_fields_are_named(change: dict[str, Any], message: str) -> None:
    with pytest.raises(StateError, match=message):
        parse(STEP_STATE | change)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            {"last_epoch": 10**40},
            "field 'last_epoch' must be an integer below 10**40, got an integer of 133 bits",
        ),
        (
            {"last_epoch": -(10**5000)},
            "field 'last_epoch' must be an integer >= 0, got a negative integer of 16610 bits",
        ),
        (
            {"step_size": 10**5000},
            "field 'step_size' must be an integer below 10**40, got an integer of 16610 bits",
        ),
        (
            {"_step_count": 2**200},
            "field '_step_count' must be an integer below 10**40, got an integer of 201 bits",
        ),
        (
            {"_is_initial": 10**5000},
            "field '_is_initial' must be true or false, got an integer of 16610 bits",
        ),
        (
            {"step_size": [10**5000]},
            "field 'step_size' must be an integer >= 1, got [<int of 16610 bits>]",
        ),
        (
            {"step_size": ..., "milestones": {10**40: 1}},
            "field 'milestones' must have integer keys below 10**40, got an integer of 133 bits",
        ),
        (
            {"step_size": ..., "milestones": {30: 10**400}},
            "field 'milestones[30]' must be an integer below 10**40, got an integer of 1329 bits",
        ),
    ],
)
def test_integers_beyond_40_digits_are_refused_by_size(
    change: dict[str, Any], message: str
) -> None:
    """Pickled ints have no length limit; JSON's 40 digits apply to every integer field."""
    document = {key: value for key, value in (STEP_STATE | change).items() if value is not ...}
    document.pop("_last_lr")
    with pytest.raises(StateError) as caught:
        parse(document)
    assert str(caught.value) == message


def test_the_largest_accepted_position_is_the_same_from_json_and_from_a_pickle() -> None:
    largest = 10**40 - 1
    document = {"step_size": 30, "gamma": 0.5, "base_lrs": [0.1], "last_epoch": largest}
    from_json = parse(json.loads(json.dumps(document)))
    from_pickle = parse(safe_loads(pickle.dumps(document, protocol=2)))
    assert from_json == from_pickle
    assert from_pickle.lrs == (0.0,)


@pytest.mark.parametrize(
    ("extra", "shown"),
    [
        ({5: 1}, "5"),
        ({5: 1, "zz": 2}, "5"),
        ({(1, "a" * 100): 0}, "(1, '" + "a" * 55 + "... (tuple of 2 items)"),
        ({None: 0, 2.5: 0, b"k": 0, 7: 0, 8: 0}, "None, 2.5, b'k' and 2 more"),
    ],
)
def test_keys_that_are_not_strings_are_named(extra: dict[object, int], shown: str) -> None:
    """A pickled dict may have any keys; sorting or startswith on them once crashed."""
    for document in (STEP_STATE | extra, {"last_epoch": 0, "base_lrs": [0.1], **extra}):
        with pytest.raises(StateError) as caught:
            parse(document)
        assert str(caught.value) == f"a torch state dict's keys must be strings, got {shown}"


def test_missing_field_and_non_object() -> None:
    with pytest.raises(StateError, match="missing required field 'gamma'"):
        parse({k: v for k, v in STEP_STATE.items() if k != "gamma"})
    with pytest.raises(StateError, match="must be an object, got list"):
        parse([1, 2])


@pytest.mark.parametrize("milestones", [{"x": 1}, {"-5": 1}, {"30": 0}, "30,80"])
def test_invalid_milestones(milestones: object) -> None:
    with pytest.raises(StateError, match="milestones"):
        parse({"milestones": milestones, "gamma": 0.1, "base_lrs": [0.1], "last_epoch": 0})


@pytest.mark.parametrize(
    ("milestones", "count"),
    [({"30": 10**12}, 10**12), ({30: 999_999, "30": 2}, 1_000_001)],
)
def test_a_milestone_repeated_past_the_limit_is_refused(milestones: object, count: int) -> None:
    """A crafted Counter's count is bounded at parse time, never expanded."""
    document = {"milestones": milestones, "gamma": 0.5, "base_lrs": [0.1], "last_epoch": 0}
    with pytest.raises(StateError) as caught:
        parse(document)
    assert str(caught.value) == (
        f"field 'milestones' repeats milestone 30 {count} times, more than the limit of 1000000"
    )


def test_a_repeated_milestone_is_described_by_its_count_not_listed() -> None:
    limit = torch_format.MAX_MILESTONE_COUNT
    state = parse(
        {"milestones": {"30": limit, "80": 1}, "gamma": 0.5, "base_lrs": [0.1], "last_epoch": 31}
    )
    assert state.describe() == (
        f"MultiStepLR(milestones=[30 (x{limit}), 80], gamma=0.5), base_lrs 0.1"
    )
    assert (state.lrs, state.next_boundary(31)) == ((0.0,), 80)


def test_detect() -> None:
    assert torch_format.detect(STEP_STATE)
    assert not torch_format.detect({"format": "stepsched.state", "last_epoch": 0, "base_lrs": []})
    assert not torch_format.detect([STEP_STATE])


# -- torch's own semantics: repeated, unsorted and zero milestones ------------------------


def multistep_state(case: dict[str, Any], position: int) -> TorchStepState:
    return parse(
        {
            "milestones": case["milestones"],
            "gamma": case["gamma"],
            "base_lrs": [case["initial_lr"]],
            "last_epoch": position,
        }
    )


@pytest.mark.parametrize(
    "case",
    [c for c in PARITY if c["scheduler"] == "MultiStepLR"],
    ids=lambda c: f"{c['milestones']}-{c['gamma']}",
)
def test_multistep_evaluator_matches_torch(case: dict[str, Any]) -> None:
    """Including [30, 30, 80] (gamma**2 at 30), unsorted milestones and milestone 0."""
    state = multistep_state(case, 0)
    for first, last, torch_lr in case["runs"]:
        for position in (first, last):
            assert close(state.lrs_at(position)[0], torch_lr), (position, torch_lr)
    changes = [first for first, _, _ in case["runs"][1:]]
    assert list(state.boundaries_after(0))[: len(changes)] == changes


def test_milestone_zero_decays_at_position_zero() -> None:
    case = next(c for c in PARITY if c.get("milestones") == [0])
    state = multistep_state(case, 0)
    assert state.lrs == (0.005,)  # torch: 0.005000000000000001 from its constructor
    assert "milestone 0" in (state.unrepresentable_reason() or "")


@pytest.mark.parametrize(
    "case",
    [c for c in PARITY if c["scheduler"] == "StepLR"][::6],
    ids=lambda c: str(c["step_size"]),
)
def test_steplr_evaluator_matches_torch(case: dict[str, Any]) -> None:
    state = parse(
        {
            "step_size": case["step_size"],
            "gamma": case["gamma"],
            "base_lrs": [case["initial_lr"]],
            "last_epoch": 0,
        }
    )
    for first, _, torch_lr in case["runs"]:
        if torch_lr > 1e-280:
            assert close(state.lrs_at(first)[0], torch_lr)


# -- conversion to stepsched ---------------------------------------------------------


def test_to_state_keeps_position_and_every_group() -> None:
    state = read("two_groups.pt").to_state()
    assert state.schedule == StepSchedule(0.1, step_size=2, gamma=0.5)
    assert (state.position, state.group_initial_lrs, state.group_lrs) == (
        5,
        (0.1, 0.01),
        (0.025, 0.0025),
    )


def test_to_state_refuses_repeated_milestones_with_the_reason() -> None:
    with pytest.raises(ConversionError, match="milestone 30 appears 2 times"):
        read("multistep.pt").to_state()


def test_to_state_refuses_a_zero_first_base_lr() -> None:
    state = parse(STEP_STATE | {"base_lrs": [0.0], "_last_lr": [0.0]})
    with pytest.raises(ConversionError, match="base_lrs\\[0\\] is 0"):
        state.to_state()


# -- writing ------------------------------------------------------------------------


def state_of_case(case: dict[str, Any]) -> SchedulerState:
    schedule = StepSchedule(
        case["group_lrs"][0],
        step_size=case.get("step_size"),
        milestones=tuple(case["milestones"]) if "milestones" in case else None,
        gamma=case["gamma"],
    )
    return SchedulerState(
        schedule, position=case["position"], group_initial_lrs=tuple(case["group_lrs"])
    )


@pytest.mark.parametrize(
    "case", STATE_DICTS, ids=lambda c: f"{c['scheduler']}-{len(c['group_lrs'])}-{c['position']}"
)
def test_writes_what_torch_saves_key_for_key(case: dict[str, Any]) -> None:
    written = json.loads(dumps_torch_state(state_of_case(case)))
    assert written == case["state_dict"]
    assert list(written) == list(case["state_dict"])  # torch's key order too


@pytest.mark.parametrize("case", STATE_DICTS, ids=lambda c: f"{c['scheduler']}-{c['position']}")
def test_written_dicts_read_back_to_the_same_state(case: dict[str, Any]) -> None:
    state = state_of_case(case)
    assert parse(json.loads(dumps_torch_state(state))).to_state() == state


def test_in_memory_dict_has_counter_milestones() -> None:
    state = state_of_case(next(c for c in STATE_DICTS if "milestones" in c))
    assert to_torch_state_dict(state)["milestones"] == Counter({30: 1, 80: 1})
    as_json = json.loads(dumps_torch_state(state))
    assert torch_state_dict_from_json(as_json)["milestones"] == Counter({30: 1, 80: 1})


@pytest.mark.parametrize(
    ("schedule", "message"),
    [
        (StepSchedule(0.1, 30, warmup_steps=5), "torch StepLR has no warmup"),
        (StepSchedule(0.1, 30, min_lr=1e-4), "torch StepLR has no lr floor"),
        (StepSchedule(0.1, milestones=(5,), min_lr=1e-4), "torch MultiStepLR has no lr floor"),
    ],
)
def test_writer_refuses_what_torch_cannot_hold(schedule: StepSchedule, message: str) -> None:
    with pytest.raises(ConversionError, match=message):
        dumps_torch_state(SchedulerState(schedule, position=3))


def test_writer_refuses_an_unstarted_scheduler_first_state() -> None:
    state = SchedulerState(StepSchedule(0.1, 30), order="scheduler_first", started=False)
    with pytest.raises(ConversionError, match="step\\(\\) was never called"):
        dumps_torch_state(state)


def test_writer_without_groups_uses_the_schedule_lr_and_handles_huge_positions() -> None:
    state = SchedulerState(StepSchedule(0.1, 3, gamma=0.5, mode="epoch"), position=2**63)
    document = json.loads(dumps_torch_state(state))
    assert (document["base_lrs"], document["last_epoch"], document["_last_lr"]) == (
        [0.1],
        2**63,
        [0.0],
    )


def replayed(base: float, gamma: float, decays: int) -> float:
    lr = base
    for _ in range(decays):
        lr *= gamma
    return lr


@pytest.mark.parametrize(
    ("group_initial_lrs", "replays"),
    [
        ((1.0, 0.5), True),  # 2 x 10**6 multiplications: the budget exactly
        ((1.0, 0.5, 0.0, 1.0, 0.5), True),  # repeats and zeros cost nothing
        ((1.0, 0.5, 0.25), False),
        (tuple(1.0 + i * 1e-9 for i in range(15_000)), False),
    ],
)
def test_last_lr_replays_torch_drift_within_the_budget_only(
    group_initial_lrs: tuple[float, ...], replays: bool
) -> None:
    """Beyond 2,000,000 multiplications over the distinct base lrs, the closed form."""
    gamma, decays = 0.9999999, 10**6
    state = SchedulerState(
        StepSchedule(1.0, 1, gamma=gamma), position=decays, group_initial_lrs=group_initial_lrs
    )
    last_lrs = to_torch_state_dict(state)["_last_lr"]
    distinct = sorted(set(group_initial_lrs) - {0.0})[:3]
    expected = {
        base: replayed(base, gamma, decays) if replays else scaled_power(base, gamma, decays)
        for base in distinct
    }
    pairs = list(zip(group_initial_lrs, last_lrs, strict=True))
    assert {base: lr for base, lr in pairs if base in expected} == expected
    assert all(lr == 0.0 for base, lr in pairs if base == 0.0)
    if replays:
        assert expected[1.0] != scaled_power(1.0, gamma, decays)  # the drift is really there


def test_looks_like_checkpoint() -> None:
    assert looks_like_checkpoint(b"", "run.ckpt")
    assert looks_like_checkpoint(b"\x80\x02\x8a\x0a", "weights.bin")
    assert not looks_like_checkpoint(b'{"last_epoch": 0}', "state.json")


# -- real torch -------------------------------------------------------------------------

CONTINUE_CASES = [
    ("StepLR", 30, 0.1, [0.1], 0),
    ("StepLR", 30, 0.1, [0.1], 29),
    ("StepLR", 30, 0.1, [0.1], 75),
    ("StepLR", 1, 0.97, [0.05], 123),
    ("StepLR", 2, 0.5, [0.1, 0.01], 5),
    ("StepLR", 7, 0.3333, [0.1, 0.0003, 0.7], 100),
    ("MultiStepLR", [30, 80], 0.1, [0.1], 0),
    ("MultiStepLR", [30, 80], 0.1, [0.1], 45),
    ("MultiStepLR", [30, 80], 0.1, [0.1], 79),
    ("MultiStepLR", [5, 7, 100, 250], 0.5, [0.1, 0.01], 99),
]


@pytest.mark.torch
@pytest.mark.parametrize("case", CONTINUE_CASES, ids=lambda c: f"{c[0]}-{c[1]}-{c[4]}")
def test_real_torch_continues_the_run_exactly(case: tuple[Any, ...]) -> None:
    torch = pytest.importorskip("torch")
    kind, argument, gamma, group_lrs, position = case

    def build() -> tuple[Any, Any]:
        parameters = [torch.nn.Parameter(torch.zeros(1)) for _ in group_lrs]
        optimizer = torch.optim.SGD(
            [{"params": [p], "lr": lr} for p, lr in zip(parameters, group_lrs, strict=True)],
            lr=group_lrs[0],
        )
        if kind == "StepLR":
            return optimizer, torch.optim.lr_scheduler.StepLR(optimizer, argument, gamma)
        return optimizer, torch.optim.lr_scheduler.MultiStepLR(optimizer, argument, gamma)

    optimizer, scheduler = build()
    for _ in range(position):
        optimizer.step()
        scheduler.step()
    saved = json.loads(json.dumps(scheduler.state_dict()))
    # torch JSON -> stepsched state -> stepsched's torch JSON: what torch saved, exactly.
    ours = json.loads(dumps_torch_state(parse(saved).to_state()))
    assert ours == saved

    resumed_optimizer, resumed = build()  # the scheduler first: its constructor sets lrs
    resumed_optimizer.load_state_dict(optimizer.state_dict())
    resumed.load_state_dict(torch_state_dict_from_json(ours))
    assert resumed.get_last_lr() == scheduler.get_last_lr()
    for _ in range(300):
        optimizer.step()
        scheduler.step()
        resumed_optimizer.step()
        resumed.step()
        assert resumed.last_epoch == scheduler.last_epoch
        assert resumed.get_last_lr() == scheduler.get_last_lr(), resumed.last_epoch


@pytest.mark.torch
def test_real_torch_string_milestones_never_decay() -> None:
    """Why torch_state_dict_from_json exists: plain json.load freezes a MultiStepLR."""
    torch = pytest.importorskip("torch")
    state = SchedulerState(StepSchedule(0.1, milestones=(30, 80)), position=45)
    optimizer = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=0.01)
    scheduler = torch.optim.lr_scheduler.MultiStepLR(optimizer, [30, 80], 0.1)
    scheduler.load_state_dict(json.loads(dumps_torch_state(state)))
    for _ in range(40):
        optimizer.step()
        scheduler.step()
    assert scheduler.get_last_lr() == [0.01]  # no decay at 80: "80" != 80
