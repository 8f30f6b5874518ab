"""StepScheduler: counter semantics, optimizer driving, state round trips."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from stepsched_cli.errors import ScheduleError, StateError
from stepsched_cli.schedule import StepSchedule
from stepsched_cli.scheduler import SchedulerState, StepScheduler


class FakeOptimizer:
    """Shaped like a torch optimizer: param_groups is a list of dicts with an "lr"."""

    def __init__(self, *lrs: float, **extra: Any) -> None:
        self.param_groups: list[dict[str, Any]] = [{"lr": lr, **extra} for lr in lrs]


def run(scheduler: StepScheduler, steps: int) -> list[float]:
    """The lr each iteration trains with, under optimizer.step(); scheduler.step()."""
    used = []
    for _ in range(steps):
        used.append(scheduler.get_lr())
        scheduler.step()
    return used


def test_fresh_scheduler_is_at_position_zero_with_the_initial_lr() -> None:
    scheduler = StepScheduler(0.1, step_size=30, gamma=0.1)
    assert (scheduler.position, scheduler.last_epoch, scheduler.get_lr()) == (0, 0, 0.1)
    assert scheduler.get_last_lr() == [0.1]


def test_seed_example_through_the_scheduler() -> None:
    scheduler = StepScheduler(0.1, step_size=30, gamma=0.1)
    used = run(scheduler, 121)
    assert used[:30] == [0.1] * 30
    assert used[30:60] == [0.01] * 30
    assert used[60:90] == [0.001] * 30
    assert used[90:120] == [0.0001] * 30
    assert scheduler.position == 121


def test_after_n_steps_the_position_is_n() -> None:
    scheduler = StepScheduler(1.0, step_size=3, gamma=0.5)
    for n in range(1, 20):
        scheduler.step()
        assert scheduler.position == n
        assert scheduler.get_lr() == scheduler.lr_at(n)


def test_lr_at_does_not_move_the_scheduler() -> None:
    scheduler = StepScheduler(1.0, step_size=3, gamma=0.5)
    assert scheduler.lr_at(10**18) == 0.0
    assert scheduler.position == 0


def test_scheduler_first_order_trains_iteration_i_with_lr_at_i() -> None:
    scheduler = StepScheduler(1.0, step_size=2, gamma=0.5, order="scheduler_first")
    used = []
    for _ in range(6):
        scheduler.step()
        used.append(scheduler.get_lr())
    assert used == [1.0, 1.0, 0.5, 0.5, 0.25, 0.25]
    assert scheduler.position == 5


def test_milestones_warmup_and_floor_through_the_scheduler() -> None:
    scheduler = StepScheduler(
        0.1, milestones=[3, 5], gamma=0.1, warmup_steps=2, warmup_start_lr=0.0, min_lr=0.002,
        warmup_prefix=True,
    )  # fmt: skip
    assert run(scheduler, 9) == [0.0, 0.05, 0.1, 0.1, 0.1, 0.01, 0.01, 0.002, 0.002]


# -- optimizer driving ----------------------------------------------------------


def test_drives_every_param_group_from_its_own_initial_lr() -> None:
    optimizer = FakeOptimizer(0.1, 0.02)
    scheduler = StepScheduler(0.1, step_size=2, gamma=0.5, optimizer=optimizer)
    assert [g["initial_lr"] for g in optimizer.param_groups] == [0.1, 0.02]
    seen = []
    for _ in range(5):
        seen.append([g["lr"] for g in optimizer.param_groups])
        scheduler.step()
    assert seen == [[0.1, 0.02], [0.1, 0.02], [0.05, 0.01], [0.05, 0.01], [0.025, 0.005]]
    assert scheduler.get_last_lr() == [0.025, 0.005]


def test_existing_initial_lr_key_wins_over_the_current_lr() -> None:
    optimizer = FakeOptimizer(0.0001, initial_lr=0.1)
    StepScheduler(0.1, step_size=30, optimizer=optimizer)
    assert optimizer.param_groups[0]["lr"] == 0.1


def test_group_with_zero_lr_stays_frozen() -> None:
    optimizer = FakeOptimizer(0.1, 0.0)
    scheduler = StepScheduler(0.1, step_size=1, gamma=0.5, optimizer=optimizer)
    scheduler.step()
    assert [g["lr"] for g in optimizer.param_groups] == [0.05, 0.0]


def test_lr_written_every_step_even_if_something_else_changed_it() -> None:
    optimizer = FakeOptimizer(0.1)
    scheduler = StepScheduler(0.1, step_size=30, optimizer=optimizer)
    optimizer.param_groups[0]["lr"] = 123.0
    scheduler.step()
    assert optimizer.param_groups[0]["lr"] == 0.1


def test_param_groups_added_after_attaching_are_reported() -> None:
    optimizer = FakeOptimizer(0.1)
    scheduler = StepScheduler(0.1, optimizer=optimizer)
    optimizer.param_groups.append({"lr": 0.5})
    with pytest.raises(ScheduleError, match="the optimizer now has 2 param_groups but had 1"):
        scheduler.step()


def test_callback_receives_every_new_lr() -> None:
    received: list[float] = []
    scheduler = StepScheduler(1.0, step_size=2, gamma=0.5, on_lr=received.append)
    for _ in range(4):
        scheduler.step()
    assert received == [1.0, 1.0, 0.5, 0.5, 0.25]


@pytest.mark.parametrize(
    ("optimizer", "message"),
    [
        (object(), "optimizer must have param_groups"),
        (FakeOptimizer(), "optimizer must have param_groups"),
        (type("O", (), {"param_groups": [{"momentum": 0.9}]})(), r"param_groups\[0\] must be"),
        (FakeOptimizer(-0.1), "initial lr must be a finite number >= 0, got -0.1"),
        (FakeOptimizer(float("nan")), "initial lr must be a finite number >= 0, got nan"),
    ],
)
def test_bad_optimizers_are_refused(optimizer: Any, message: str) -> None:
    with pytest.raises(ScheduleError, match=message):
        StepScheduler(0.1, optimizer=optimizer)


def test_group_below_the_floor_is_refused() -> None:
    with pytest.raises(ScheduleError, match=r"param_groups\[1\] initial lr 0.001 must be > min_lr"):
        StepScheduler(0.1, min_lr=0.01, optimizer=FakeOptimizer(0.1, 0.001))


# -- state ---------------------------------------------------------------------


def test_state_dict_is_plain_json_with_every_field() -> None:
    scheduler = StepScheduler(0.1, step_size=30, optimizer=FakeOptimizer(0.1, 0.02))
    run(scheduler, 31)
    state = scheduler.state_dict()
    assert json.loads(json.dumps(state)) == state
    assert state == {
        "format": "stepsched.state",
        "version": 1,
        "mode": "step",
        "step": 31,
        "initial_lr": 0.1,
        "lr": 0.01,
        "gamma": 0.1,
        "step_size": 30,
        "warmup_steps": 0,
        "warmup_start_lr": 0.0,
        "warmup_prefix": False,
        "min_lr": 0.0,
        "order": "optimizer_first",
        "started": True,
        "steps_per_epoch": None,
        "param_groups": [{"initial_lr": 0.1, "lr": 0.01}, {"initial_lr": 0.02, "lr": 0.002}],
    }


def test_resume_continues_exactly_like_an_uninterrupted_run() -> None:
    straight = StepScheduler(0.3, step_size=7, gamma=0.7)
    expected = run(straight, 100)
    first = StepScheduler(0.3, step_size=7, gamma=0.7)
    used = run(first, 45)
    resumed = StepScheduler(1.0)  # constructor arguments are replaced by the state
    resumed.load_state_dict(json.loads(json.dumps(first.state_dict())))
    used += run(resumed, 55)
    assert used == expected


def test_load_applies_the_lr_to_the_optimizer_at_once() -> None:
    source = StepScheduler(0.1, step_size=10, optimizer=FakeOptimizer(0.1))
    run(source, 25)
    optimizer = FakeOptimizer(0.1)
    StepScheduler(0.1, step_size=10, optimizer=optimizer).load_state_dict(source.state_dict())
    assert optimizer.param_groups[0]["lr"] == 0.001


def test_group_count_mismatch_is_refused() -> None:
    source = StepScheduler(0.1, optimizer=FakeOptimizer(0.1, 0.2))
    target = StepScheduler(0.1, optimizer=FakeOptimizer(0.1))
    with pytest.raises(StateError, match="state has 2 parameter groups but the optimizer has 1"):
        target.load_state_dict(source.state_dict())


def valid_state() -> dict[str, Any]:
    scheduler = StepScheduler(0.1, step_size=30, optimizer=FakeOptimizer(0.1))
    run(scheduler, 40)
    return scheduler.state_dict()


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"format": "torch"}, "field 'format' must be 'stepsched.state', got 'torch'"),
        ({"version": 2}, "field 'version' is 2, newer than this stepsched understands"),
        ({"version": 0}, "field 'version' must be 1, got 0"),
        ({"version": True}, "field 'version' must be 1, got True"),
        # 1.0 == 1 in Python, but a version is an integer, as 30.0 is no step_size.
        ({"version": 1.0}, "field 'version' must be 1, got 1.0"),
        ({"version": "1"}, "field 'version' must be 1, got '1'"),
        ({"version": 2.0}, "field 'version' must be 1, got 2.0"),
        ({"step": -1}, "field 'step' must be an integer >= 0, got -1"),
        ({"step": 40.0}, "field 'step' must be an integer >= 0, got 40.0"),
        ({"step": True}, "field 'step' must be an integer >= 0, got True"),
        ({"step_size": 0}, "field 'step_size' must be an integer >= 1, got 0"),
        ({"step_size": "30"}, "field 'step_size' must be an integer >= 1, got '30'"),
        ({"gamma": 1.0}, "invalid schedule: gamma must be a number with 0 < gamma < 1, got 1.0"),
        ({"gamma": None}, "field 'gamma' must be a number, got None"),
        ({"initial_lr": -0.1}, "invalid schedule: initial_lr must be a finite number > 0"),
        ({"initial_lr": 10**400}, "field 'initial_lr' must be a finite number"),
        ({"lr": 0.1}, "field 'lr' is 0.1 but the schedule gives 0.01 at step 40"),
        ({"mode": "batch"}, "field 'mode' must be 'step' or 'epoch', got 'batch'"),
        ({"order": "sideways"}, "field 'order' must be 'optimizer_first' or 'scheduler_first'"),
        ({"started": 1}, "field 'started' must be true or false, got 1"),
        ({"warmup_prefix": "yes"}, "field 'warmup_prefix' must be true or false, got 'yes'"),
        ({"steps_per_epoch": 0}, "field 'steps_per_epoch' must be an integer >= 1, got 0"),
        ({"milestones": [10]}, "exactly one of the fields 'step_size' and 'milestones'"),
        ({"surprise": 1}, "unknown field 'surprise'"),
        ({"param_groups": {}}, "field 'param_groups' must be a list"),
        ({"param_groups": [{"lr": 0.01}]}, r"field 'param_groups\[0\]' must be an object"),
        (
            {"param_groups": [{"initial_lr": 0.1, "lr": 0.1}]},
            r"field 'param_groups\[0\].lr' is 0.1 but the schedule gives 0.01 at step 40",
        ),
    ],
)
def test_invalid_state_is_refused_with_the_field_named(
    change: dict[str, Any], message: str
) -> None:
    state = {**valid_state(), **change}
    with pytest.raises(StateError, match=message):
        SchedulerState.from_dict(state)


@pytest.mark.parametrize("field", ["format", "mode", "step", "initial_lr", "lr", "gamma"])
def test_missing_required_field(field: str) -> None:
    state = valid_state()
    del state[field]
    with pytest.raises(StateError, match=f"'{field}'"):
        SchedulerState.from_dict(state)


def test_not_an_object() -> None:
    with pytest.raises(StateError, match="a state must be a JSON object, got list"):
        SchedulerState.from_dict([])


def test_failed_load_changes_nothing() -> None:
    optimizer = FakeOptimizer(0.1)
    scheduler = StepScheduler(0.1, step_size=5, optimizer=optimizer)
    run(scheduler, 7)
    before = (scheduler.state_dict(), copy.deepcopy(optimizer.param_groups))
    bad = {**valid_state(), "lr": 0.5}
    with pytest.raises(StateError):
        scheduler.load_state_dict(bad)
    assert (scheduler.state_dict(), optimizer.param_groups) == before


def test_minimal_state_uses_defaults() -> None:
    state = SchedulerState.from_dict(
        {
            "format": "stepsched.state",
            "mode": "epoch",
            "version": 1,
            "step": 3,
            "initial_lr": 1,
            "lr": 1,
            "gamma": 0.5,
            "milestones": [4],
        }
    )
    assert state.schedule == StepSchedule(1.0, milestones=(4,), gamma=0.5, mode="epoch")
    assert (state.position, state.order, state.started, state.group_initial_lrs) == (
        3,
        "optimizer_first",
        True,
        (),
    )


schedules = st.builds(
    StepSchedule,
    initial_lr=st.floats(1e-6, 10.0),
    step_size=st.integers(1, 100),
    gamma=st.floats(0.01, 0.99),
    warmup_steps=st.integers(0, 5),
    mode=st.sampled_from(["step", "epoch"]),
)


@given(schedule=schedules, steps=st.integers(0, 300), groups=st.integers(0, 3))
def test_state_round_trip_is_identity(schedule: StepSchedule, steps: int, groups: int) -> None:
    optimizer = FakeOptimizer(*[schedule.initial_lr * (i + 1) for i in range(groups)])
    scheduler = StepScheduler.from_schedule(schedule, optimizer=optimizer if groups else None)
    run(scheduler, steps)
    state = scheduler.state_dict()
    assert SchedulerState.from_dict(json.loads(json.dumps(state))).to_dict() == state


@given(
    field=st.sampled_from(
        ["step", "initial_lr", "lr", "gamma", "step_size", "mode", "warmup_steps", "min_lr"]
    ),
    value=st.one_of(
        st.none(),
        st.booleans(),
        st.integers(-(2**70), 2**70),
        st.floats(allow_nan=False, allow_infinity=False),
        st.text(max_size=5),
    ),
)
def test_any_mutated_state_is_equivalent_or_rejected(field: str, value: object) -> None:
    """A mutation gives a self-consistent state or a StateError; it never half-loads."""
    original = valid_state()
    mutated = {**original, field: value}
    optimizer = FakeOptimizer(0.1)
    scheduler = StepScheduler(0.1, step_size=30, optimizer=optimizer)
    run(scheduler, 40)
    try:
        scheduler.load_state_dict(mutated)
    except StateError:
        assert scheduler.state_dict() == original
        assert optimizer.param_groups[0]["lr"] == original["lr"]
        return
    loaded = scheduler.state_dict()
    assert loaded["lr"] == scheduler.lr_at(loaded["step"])
    assert optimizer.param_groups[0]["lr"] == loaded["param_groups"][0]["lr"]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"order": "sideways"}, "order must be 'optimizer_first' or 'scheduler_first'"),
        ({"steps_per_epoch": 0}, "steps_per_epoch must be an integer >= 1 or null, got 0"),
        ({"steps_per_epoch": True}, "steps_per_epoch must be an integer >= 1 or null, got True"),
        ({"position": -1}, "step must be an integer >= 0, got -1"),
    ],
)
def test_state_values_validate_themselves(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        SchedulerState(StepSchedule(0.1), **kwargs)


def test_state_without_groups_loads_into_a_scheduler_with_an_optimizer() -> None:
    source = StepScheduler(0.1, step_size=10)
    run(source, 12)
    optimizer = FakeOptimizer(0.1, 0.05)
    target = StepScheduler(0.1, optimizer=optimizer)
    target.load_state_dict(source.state_dict())
    assert [g["lr"] for g in optimizer.param_groups] == [0.01, 0.005]
    assert target.state_dict()["param_groups"] == [
        {"initial_lr": 0.1, "lr": 0.01},
        {"initial_lr": 0.05, "lr": 0.005},
    ]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"gamma": float("nan")}, "field 'gamma' must be a finite number, got nan"),
        ({"milestones": "30", "step_size": None}, "field 'milestones' must be a list of integers"),
        (
            {"param_groups": [{"initial_lr": -0.1, "lr": 0.0}]},
            r"field 'param_groups\[0\].initial_lr' must be >= 0, got -0.1",
        ),
        (
            {"min_lr": 0.005, "lr": 0.01, "param_groups": [{"initial_lr": 0.001, "lr": 0.001}]},
            r"field 'param_groups\[0\]': param_groups\[0\] initial lr 0.001 must be > min_lr",
        ),
    ],
)
def test_more_invalid_states(change: dict[str, Any], message: str) -> None:
    state = {**valid_state(), **change}
    state = {key: value for key, value in state.items() if value is not None}
    with pytest.raises(StateError, match=message):
        SchedulerState.from_dict(state)


def test_group_initial_lr_must_be_a_number() -> None:
    with pytest.raises(ScheduleError, match=r"param_groups\[0\] initial lr must be a finite"):
        StepScheduler(0.1, optimizer=FakeOptimizer("0.1"))  # type: ignore[arg-type]


def test_repr_names_schedule_and_position() -> None:
    scheduler = StepScheduler(0.1, step_size=3)
    scheduler.step()
    assert repr(scheduler) == (
        "StepScheduler(schedule=StepSchedule(initial_lr=0.1, step_size=3, gamma=0.1, "
        "milestones=None, warmup_steps=0, warmup_start_lr=0.0, min_lr=0.0, mode='step', "
        "warmup_prefix=False), position=1)"
    )
    assert scheduler.schedule == StepSchedule(0.1, step_size=3)


def test_every_group_keeps_decaying_after_the_schedule_reaches_its_floor() -> None:
    """Group 1 starts 10x higher, so it reaches min_lr two decays after the schedule."""
    optimizer = FakeOptimizer(0.1, 1.0)
    scheduler = StepScheduler(0.1, step_size=2, gamma=0.1, min_lr=0.01, optimizer=optimizer)
    seen = []
    for _ in range(8):
        seen.append([group["lr"] for group in optimizer.param_groups])
        scheduler.step()
    assert seen == [
        [0.1, 1.0],
        [0.1, 1.0],
        [0.01, 0.1],
        [0.01, 0.1],
        [0.01, 0.01],
        [0.01, 0.01],
        [0.01, 0.01],
        [0.01, 0.01],
    ]
    assert scheduler.state_dict()["param_groups"][1]["lr"] == optimizer.param_groups[1]["lr"]


def test_loading_a_state_whose_floor_is_above_a_group_is_a_state_error() -> None:
    source = StepScheduler(0.1, step_size=5, min_lr=0.01)
    optimizer = FakeOptimizer(0.1, 0.001)
    target = StepScheduler(0.1, step_size=5, optimizer=optimizer)
    with pytest.raises(StateError, match=r"param_groups: param_groups\[1\] initial lr 0.001"):
        target.load_state_dict(source.state_dict())
    assert [group["lr"] for group in optimizer.param_groups] == [0.1, 0.001]


# -- step(): one multiplication per boundary, the same values as lr_at ---------------


@settings(max_examples=25, deadline=None)
@given(
    gamma=st.sampled_from([0.1, 0.5, 0.97, 0.999999, 0.3333]) | st.floats(0.01, 0.999),
    step_size=st.integers(1, 4),
    lrs=st.lists(st.sampled_from([0.1, 0.05, 0.0, 3e-4, 0.1]), min_size=1, max_size=4),
    min_lr=st.sampled_from([0.0, 1e-5]),
    start=st.integers(0, 10**9),
)
def test_every_step_gives_the_closed_form_value_of_every_group(
    gamma: float, step_size: int, lrs: list[float], min_lr: float, start: int
) -> None:
    """Walked incrementally or not, step() writes exactly lr_at of each group's schedule."""
    if any(0 < lr <= min_lr for lr in lrs):
        lrs = [lr if lr == 0 or lr > min_lr else 0.1 for lr in lrs]
    optimizer = FakeOptimizer(*lrs)
    scheduler = StepScheduler(0.1, step_size, gamma, min_lr=min_lr, optimizer=optimizer)
    state = scheduler.state_dict()
    state["step"] = start
    schedule = scheduler.schedule
    state["lr"] = schedule.lr_at(start)
    for group in state["param_groups"]:
        group["lr"] = (
            schedule.replace(initial_lr=group["initial_lr"]).lr_at(start)
            if group["initial_lr"]
            else 0.0
        )
    scheduler.load_state_dict(state)  # a jump: the walk starts anywhere
    for position in range(start + 1, start + 200):
        scheduler.step()
        expected = [schedule.replace(initial_lr=lr).lr_at(position) if lr else 0.0 for lr in lrs]
        assert [group["lr"] for group in optimizer.param_groups] == expected
        assert scheduler.get_lr() == schedule.lr_at(position)


def test_a_decay_at_every_step_stops_at_the_floor() -> None:
    scheduler = StepScheduler(1.0, step_size=1, gamma=0.5, optimizer=FakeOptimizer(1.0, 4.0))
    for _ in range(1080):
        scheduler.step()
    assert scheduler.get_last_lr() == [0.0, 0.0]
    assert scheduler._next_change == float("inf")
    scheduler = StepScheduler(1.0, step_size=1, gamma=0.5, optimizer=FakeOptimizer(1.0, 4.0))
    for _ in range(1074):
        scheduler.step()
    assert scheduler.get_last_lr() == [5e-324, 2e-323]


@pytest.mark.parametrize(
    ("stored", "decays_at"),
    [({}, [15, 25]), ({"warmup_prefix": True}, [15, 25]), ({"warmup_prefix": False}, [10, 20])],
)
def test_state_files_record_where_the_decays_are(
    stored: dict[str, Any], decays_at: list[int]
) -> None:
    """A file without warmup_prefix was written when decays always followed the warmup."""
    state = {
        "format": "stepsched.state",
        "version": 1,
        "mode": "step",
        "step": 0,
        "initial_lr": 0.1,
        "lr": 0.0,
        "gamma": 0.1,
        "step_size": 10,
        "warmup_steps": 5,
        **stored,
    }
    loaded = SchedulerState.from_dict(state)
    assert list(loaded.schedule.boundaries(0, 30)) == decays_at
    assert loaded.to_dict()["warmup_prefix"] is (decays_at == [15, 25])


def test_the_scheduler_takes_warmup_prefix() -> None:
    absolute = StepScheduler(0.1, milestones=[30, 60], warmup_steps=5)
    shifted = StepScheduler(0.1, milestones=[30, 60], warmup_steps=5, warmup_prefix=True)
    assert [absolute.lr_at(t) for t in (30, 35)] == [0.01, 0.01]
    assert [shifted.lr_at(t) for t in (30, 35)] == [0.1, 0.01]
