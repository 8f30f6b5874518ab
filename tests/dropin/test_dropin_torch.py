"""stepsched_cli.torch against real PyTorch: parity, exactness, state dicts both ways.

Skipped where torch is not installed (CI); run with the scratch environment:
``PYTHONPATH=. /work/scratch/venv-torch/bin/python -m pytest tests/dropin``.

The contract: our ``StepLR``/``MultiStepLR`` decay at exactly the positions torch's do,
give torch's value wherever torch's is the correctly rounded one, and everywhere give
``float(Fraction(lr) * Fraction(gamma) ** k)`` (the decimals as typed), which torch's
repeated multiplication drifts away from.
"""

from __future__ import annotations

import copy
import io
import math
import warnings
from collections import Counter
from fractions import Fraction
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from stepsched_cli.errors import ScheduleError
from stepsched_cli.powers import intended_value

pytestmark = pytest.mark.torch
torch = pytest.importorskip("torch")
ours = pytest.importorskip("stepsched_cli.torch")
reference = torch.optim.lr_scheduler


def exact(lr: float, gamma: float, decays: int) -> float:
    return float(intended_value(lr) * intended_value(gamma) ** decays)


def optimizer(*lrs: float) -> Any:
    parameters = [torch.nn.Parameter(torch.zeros(1)) for _ in lrs]
    groups = [{"params": [p], "lr": lr} for p, lr in zip(parameters, lrs, strict=True)]
    return torch.optim.SGD(groups, lr=lrs[0])


def run(scheduler: Any, opt: Any, steps: int) -> list[list[float]]:
    """get_last_lr() at positions 0..steps, stepping as the documented loop does."""
    seen = [list(scheduler.get_last_lr())]
    for _ in range(steps):
        opt.step()
        scheduler.step()
        seen.append(list(scheduler.get_last_lr()))
    return seen


STEP_CASES = [
    (0.1, 30, 0.1),
    (0.1, 3, 0.1),
    (1.0, 1, 0.5),
    (3e-4, 7, 0.97),
    (0.05, 2, 0.3333),
    (2.5e-5, 1, 0.9),
    (0.7, 100, 0.999),
]


@pytest.mark.parametrize(("lr", "step_size", "gamma"), STEP_CASES)
def test_steplr_decays_where_torch_does_and_is_exact_everywhere(
    lr: float, step_size: int, gamma: float
) -> None:
    mine_opt, torch_opt = optimizer(lr, lr / 3), optimizer(lr, lr / 3)
    mine = run(ours.StepLR(mine_opt, step_size, gamma), mine_opt, 600)
    theirs = run(reference.StepLR(torch_opt, step_size, gamma), torch_opt, 600)
    assert changes(mine) == changes(theirs)
    exact_in_torch = 0
    for position, (mine_lrs, torch_lrs) in enumerate(zip(mine, theirs, strict=True)):
        decays = position // step_size
        expected = [exact(lr, gamma, decays), exact(lr / 3, gamma, decays)]
        assert mine_lrs == expected
        # Where torch's product happens to be the correctly rounded value, the bits agree.
        for value, torch_value, wanted in zip(mine_lrs, torch_lrs, expected, strict=True):
            exact_in_torch += torch_value == wanted
            assert value == torch_value or torch_value != wanted
            assert math.isclose(value, torch_value, rel_tol=1e-12)
    assert exact_in_torch >= 2 * step_size  # at least every value before the first decay


def changes(series: list[list[float]]) -> list[int]:
    """The positions at which any group's lr changes."""
    return [t for t in range(1, len(series)) if series[t] != series[t - 1]]


MULTI_CASES = [
    (0.1, [30, 60, 90], 0.1),
    (0.1, [30, 30, 80], 0.1),
    (1.0, [1, 2, 3, 4, 5], 0.5),
    (0.05, [0, 7], 0.1),
    (0.01, [10, 10, 10], 0.9),
    (0.7, [500, 100, 150], 0.999),
]


@pytest.mark.parametrize(("lr", "milestones", "gamma"), MULTI_CASES)
def test_multisteplr_decays_where_torch_does_and_is_exact(
    lr: float, milestones: list[int], gamma: float
) -> None:
    mine_opt, torch_opt = optimizer(lr), optimizer(lr)
    mine = run(ours.MultiStepLR(mine_opt, milestones, gamma), mine_opt, 600)
    theirs = run(reference.MultiStepLR(torch_opt, milestones, gamma), torch_opt, 600)
    assert changes(mine) == changes(theirs)
    for position, (mine_lrs, torch_lrs) in enumerate(zip(mine, theirs, strict=True)):
        decays = sum(1 for milestone in milestones if milestone <= position)
        assert mine_lrs == [exact(lr, gamma, decays)]
        assert math.isclose(mine_lrs[0], torch_lrs[0], rel_tol=1e-12)
        if decays == 0:
            assert mine_lrs == torch_lrs


def test_torch_drifts_where_ours_stays_exact() -> None:
    """gamma 0.999 decaying every step: torch is 12 ulps off after 10**5 decays."""
    mine_opt, torch_opt = optimizer(0.1), optimizer(0.1)
    mine = ours.StepLR(mine_opt, step_size=1, gamma=0.999)
    theirs = reference.StepLR(torch_opt, step_size=1, gamma=0.999)
    mine_opt.step()
    torch_opt.step()
    for _ in range(10**5):
        mine.step()
        theirs.step()
    expected = float(Fraction(1, 10) * Fraction(999, 1000) ** 10**5)
    assert mine.get_last_lr() == [expected] == [mine_opt.param_groups[0]["lr"]]
    drift = abs(theirs.get_last_lr()[0] - expected) / math.ulp(expected)
    assert drift >= 10


@settings(max_examples=25)
@given(
    position=st.integers(0, 10**6),
    step_size=st.integers(1, 1000),
    gamma=st.sampled_from([0.1, 0.5, 0.9, 0.97, 0.999]),
)
def test_resumed_at_any_position_gives_the_exact_value(
    position: int, step_size: int, gamma: float
) -> None:
    opt = optimizer(0.1, 0.02)
    for group in opt.param_groups:
        group["initial_lr"] = group["lr"]
    scheduler = ours.StepLR(opt, step_size, gamma, last_epoch=position - 1)
    decays = position // step_size
    expected = [exact(0.1, gamma, decays), exact(0.02, gamma, decays)]
    assert scheduler.last_epoch == position
    assert scheduler.get_last_lr() == expected == [g["lr"] for g in opt.param_groups]


def test_a_group_at_zero_stays_at_zero() -> None:
    opt = optimizer(0.1, 0.0)
    scheduler = ours.StepLR(opt, 2, 0.5)
    assert run(scheduler, opt, 4)[-1] == [0.025, 0.0]


@pytest.mark.parametrize(
    ("lrs", "gamma"),
    [
        # shared, signed and zero base lrs, walked ahead in batches of 2, 4, ..., 64
        ((0.1, 0.02, 0.1, -0.1, 0.0, -0.0), 0.9),
        ((3e-4, 0.7), 0.999999),
        # reaching 0.0 part-way through a batch (at 24 and 326 decays), then staying there
        ((1e-300, 0.1), 0.1),
    ],
)
def test_decaying_every_step_stays_exact_across_the_values_walked_ahead(
    lrs: tuple[float, ...], gamma: float
) -> None:
    opt = optimizer(*[abs(lr) or 0.1 for lr in lrs])
    for group, lr in zip(opt.param_groups, lrs, strict=True):
        group["lr"] = lr
    scheduler = ours.StepLR(opt, 1, gamma)
    seen = run(scheduler, opt, 400)
    for decays, values in enumerate(seen):
        expected = [math.copysign(exact(abs(lr), gamma, decays), lr) for lr in lrs]
        assert values == expected
        assert [math.copysign(1.0, v) for v in values] == [math.copysign(1.0, v) for v in expected]
    assert [group["lr"] for group in opt.param_groups] == seen[-1]


def test_a_jump_after_steps_walked_ahead_gives_the_exact_values() -> None:
    opt = optimizer(0.1, 0.02)
    scheduler = ours.StepLR(opt, 1, 0.97)
    run(scheduler, opt, 40)
    with pytest.warns(UserWarning, match="epoch parameter"):
        scheduler.step(1000)  # the deprecated step(epoch): a jump
    assert scheduler.get_last_lr() == [exact(0.1, 0.97, 1000), exact(0.02, 0.97, 1000)]
    seen = run(scheduler, opt, 100)
    assert seen[-1] == [exact(0.1, 0.97, 1100), exact(0.02, 0.97, 1100)]


def roundtrip(state: dict[str, Any]) -> dict[str, Any]:
    """Through torch.save / torch.load as a checkpoint does (weights_only, the default)."""
    buffer = io.BytesIO()
    torch.save(state, buffer)
    buffer.seek(0)
    loaded: dict[str, Any] = torch.load(buffer, weights_only=True)
    return loaded


PAIRS = [
    (lambda o: ours.StepLR(o, 3, 0.1), lambda o: reference.StepLR(o, 3, 0.1)),
    (
        lambda o: ours.MultiStepLR(o, [2, 5, 5, 9], 0.1),
        lambda o: reference.MultiStepLR(o, [2, 5, 5, 9], 0.1),
    ),
]


@pytest.mark.parametrize(("make_ours", "make_torch"), PAIRS)
def test_state_dicts_have_torchs_keys_and_load_both_ways(make_ours: Any, make_torch: Any) -> None:
    mine_opt, torch_opt = optimizer(0.1, 0.3), optimizer(0.1, 0.3)
    mine, theirs = make_ours(mine_opt), make_torch(torch_opt)
    run(mine, mine_opt, 7)
    run(theirs, torch_opt, 7)
    assert mine.state_dict().keys() == theirs.state_dict().keys()

    # torch's state into ours: ours continues at torch's position, exactly.
    switched_opt = optimizer(0.1, 0.3)
    switched_opt.load_state_dict(torch_opt.state_dict())
    switched = make_ours(switched_opt)
    switched.load_state_dict(roundtrip(theirs.state_dict()))
    assert switched.last_epoch == 7
    later = run(switched, switched_opt, 5)
    decays = [sum(1 for m in (2, 5, 5, 9) if m <= t) for t in range(7, 13)]
    if isinstance(switched, ours.StepLR):
        decays = [t // 3 for t in range(7, 13)]
    assert later[1:] == [[exact(0.1, 0.1, k), exact(0.3, 0.1, k)] for k in decays[1:]]

    # ours into torch's: torch continues from our position and our (exact) lrs.
    back_opt = optimizer(0.1, 0.3)
    back_opt.load_state_dict(mine_opt.state_dict())
    back = make_torch(back_opt)
    back.load_state_dict(roundtrip(mine.state_dict()))
    assert back.last_epoch == 7
    assert back.get_last_lr() == mine.get_last_lr()
    continued = run(back, back_opt, 5)
    mine_continued = run(mine, mine_opt, 5)
    for torch_lrs, mine_lrs in zip(continued, mine_continued, strict=True):
        assert torch_lrs == pytest.approx(mine_lrs, rel=1e-15)


def test_a_loaded_state_replaces_the_constructors_schedule() -> None:
    opt = optimizer(0.1)
    scheduler = ours.StepLR(opt, 3, 0.1)
    scheduler.load_state_dict({**scheduler.state_dict(), "step_size": 2, "gamma": 0.5})
    assert run(scheduler, opt, 4)[1:] == [[0.1], [0.05], [0.05], [0.025]]


def test_get_lr_outside_step_warns_as_torchs_does() -> None:
    scheduler = ours.StepLR(optimizer(0.1), 3)
    with pytest.warns(UserWarning, match="please use `get_last_lr\\(\\)`"):
        assert scheduler.get_lr() == [0.1]


def test_step_with_an_epoch_uses_the_closed_form() -> None:
    opt = optimizer(0.1)
    scheduler = ours.StepLR(opt, 30)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        scheduler.step(60)
    assert scheduler.get_last_lr() == [0.001] == [opt.param_groups[0]["lr"]]


@pytest.mark.parametrize(
    ("make", "message", "parameter"),
    [
        (lambda o: ours.StepLR(o, 0), "step_size must be an integer >= 1, got 0", "step_size"),
        (lambda o: ours.StepLR(o, 2.0), "step_size must be an integer >= 1, got 2.0", "step_size"),
        (lambda o: ours.StepLR(o, 3, 1.5), "gamma must be a number with 0 < gamma < 1", "gamma"),
        (lambda o: ours.StepLR(o, 3, True), "gamma must be a finite number, got True", "gamma"),
        (
            lambda o: ours.MultiStepLR(o, [3, -1]),
            "milestones[1] must be an integer >= 0, got -1",
            "milestones",
        ),
        (
            lambda o: ours.StepLR(o, 3, last_epoch=-2),
            "last_epoch must be an integer >= -1",
            "last_epoch",
        ),
    ],
)
def test_bad_parameters_are_refused_naming_them(make: Any, message: str, parameter: str) -> None:
    with pytest.raises(ScheduleError) as raised:
        make(optimizer(0.1))
    assert str(raised.value).startswith(message)
    assert raised.value.parameter == parameter


@pytest.mark.parametrize("event", ["ITERATION_STARTED", "ITERATION_COMPLETED"])
def test_ignite_drives_it_as_it_drives_torchs(event: str) -> None:
    """Ignite wraps any LRScheduler; ours gives the same series, exact (0.001, not ...02)."""
    handlers = pytest.importorskip("ignite.handlers.param_scheduler")
    engines = pytest.importorskip("ignite.engine")

    def lrs_under_ignite(make: Any) -> list[float]:
        opt = optimizer(0.1)
        scheduler = make(opt)
        assert isinstance(scheduler, reference.LRScheduler)
        seen: list[float] = []

        def update(engine: Any, batch: Any) -> None:
            seen.append(opt.param_groups[0]["lr"])
            opt.step()

        engine = engines.Engine(update)
        engine.add_event_handler(getattr(engines.Events, event), handlers.LRScheduler(scheduler))
        engine.run([0] * 9, max_epochs=1)
        return seen

    mine = lrs_under_ignite(lambda o: ours.StepLR(o, 2, 0.1))
    theirs = lrs_under_ignite(lambda o: reference.StepLR(o, 2, 0.1))
    assert changes([[v] for v in mine]) == changes([[v] for v in theirs])
    assert mine == pytest.approx(theirs, rel=1e-15)
    assert set(mine) <= {0.1, 0.01, 0.001, 0.0001, 1e-05}


def test_the_code_exact_snippet_runs_and_builds_our_class() -> None:
    """``stepsched code --framework torch --exact``'s text, run: our StepLR, exact lrs."""
    from stepsched_cli.formats.registry import snippets
    from stepsched_cli.schedule import StepSchedule

    snippet = {known.name: known for known in snippets()}["torch"]
    schedule = StepSchedule(0.1, milestones=(2, 4))
    assert snippet.exact is not None
    text = snippet.write(schedule, None) + snippet.exact(schedule, None)
    namespace: dict[str, Any] = {}
    exec(compile(text, "<torch --exact snippet>", "exec"), namespace)
    scheduler, opt = namespace["scheduler"], namespace["optimizer"]
    assert isinstance(scheduler, ours.MultiStepLR)
    assert [lrs[0] for lrs in run(scheduler, opt, 5)] == [0.1, 0.1, 0.01, 0.01, 0.001, 0.001]


def decays_at(counts: dict[int, int], position: int) -> int:
    return sum(count for milestone, count in counts.items() if milestone <= position)


@pytest.mark.parametrize(
    "counts",
    [
        {3: 1, 7: 2, 8: 1, 20: 3},
        {0: 2, 5: 0, 6: 1},  # a milestone counted 0 times changes nothing
        {1: 1},
    ],
)
def test_a_loaded_milestone_counter_is_followed_count_by_count(counts: dict[int, int]) -> None:
    opt = optimizer(0.1, 0.03)
    scheduler = ours.MultiStepLR(opt, [100])
    state = scheduler.state_dict()
    scheduler.load_state_dict({**state, "milestones": Counter(counts), "gamma": 0.5})
    scheduler.last_epoch = -1  # from the start, as the loaded state's position
    seen = run(scheduler, opt, 25)[1:]
    assert seen == [
        [exact(0.1, 0.5, decays_at(counts, t)), exact(0.03, 0.5, decays_at(counts, t))]
        for t in range(25)
    ]


def test_multisteplr_with_a_milestone_every_step_stays_exact_for_long() -> None:
    """3,000 milestones, one per step: each step takes the next row, as torch's decays."""
    opt = optimizer(0.1, 0.02, 0.0031)
    scheduler = ours.MultiStepLR(opt, range(1, 3001), 0.999)
    seen = run(scheduler, opt, 3100)
    for position in (0, 1, 2, 255, 256, 257, 1000, 2999, 3000, 3100):
        decays = min(position, 3000)
        assert seen[position] == [exact(lr, 0.999, decays) for lr in (0.1, 0.02, 0.0031)]


@pytest.mark.parametrize(
    ("change", "after"),
    [
        # each attribute assigned anew mid-run is seen at the next step
        (lambda s: setattr(s, "gamma", 0.5), lambda t: exact(0.1, 0.5, t // 3)),
        (lambda s: setattr(s, "step_size", 5), lambda t: exact(0.1, 0.9, t // 5)),
        (lambda s: setattr(s, "base_lrs", [0.2]), lambda t: exact(0.2, 0.9, t // 3)),
        # a position set by hand: the closed form at the new position
        (lambda s: setattr(s, "last_epoch", 99), lambda t: exact(0.1, 0.9, (t + 89) // 3)),
    ],
)
def test_attributes_changed_mid_run_give_the_closed_form_from_then_on(
    change: Any, after: Any
) -> None:
    opt = optimizer(0.1)
    scheduler = ours.StepLR(opt, 3, 0.9)
    run(scheduler, opt, 10)
    change(scheduler)
    seen = run(scheduler, opt, 20)[1:]
    assert [lrs[0] for lrs in seen] == [after(t) for t in range(11, 31)]


@pytest.mark.parametrize(
    ("counter", "message"),
    [
        (Counter({5: -1}), "milestones must count each milestone's decays as an integer >= 0"),
        (Counter({5: 2**25}), "milestones count 33,554,432 decays in all; at most 16,777,216"),
    ],
)
def test_a_milestone_counter_that_cannot_be_followed_is_refused(
    counter: Counter[int], message: str
) -> None:
    opt = optimizer(0.1)
    scheduler = ours.MultiStepLR(opt, [3])
    scheduler.load_state_dict({**scheduler.state_dict(), "milestones": counter})
    with pytest.raises(ScheduleError) as raised:
        run(scheduler, opt, 1)
    assert str(raised.value).startswith(message)
    assert raised.value.parameter == "milestones"


def test_a_tensor_lr_goes_through_torchs_own_update_with_the_same_values() -> None:
    parameter = torch.nn.Parameter(torch.zeros(1))
    opt = torch.optim.SGD([parameter], lr=torch.tensor(0.1, dtype=torch.float64))
    scheduler = ours.StepLR(opt, 1, 0.9)
    seen = [float(opt.param_groups[0]["lr"])]
    for _ in range(300):
        opt.step()
        scheduler.step()
        seen.append(float(opt.param_groups[0]["lr"]))
    assert seen == [exact(0.1, 0.9, t) for t in range(301)]


@pytest.mark.parametrize(
    "make", [lambda o: ours.StepLR(o, 1, 0.9), lambda o: ours.MultiStepLR(o, [2, 3, 3, 40], 0.5)]
)
def test_a_copied_or_pickled_scheduler_continues_with_the_same_values(make: Any) -> None:
    """deepcopy and torch.save of the object itself, as torch's own classes allow."""
    opt = optimizer(0.1, 0.03)
    scheduler = make(opt)
    run(scheduler, opt, 5)
    copied = copy.deepcopy(scheduler)
    buffer = io.BytesIO()
    torch.save(scheduler, buffer)
    buffer.seek(0)
    loaded = torch.load(buffer, weights_only=False)
    later = run(scheduler, opt, 50)
    for other in (copied, loaded):
        assert other.last_epoch == 5
        assert run(other, other.optimizer, 50) == later
