"""Attacks on the torch drop-ins' engine: inputs at its edges, state changed mid-run.

Skipped where torch is not installed (CI); run with the scratch environment:
``PYTHONPATH=. /work/scratch/venv-torch/bin/python -m pytest tests/dropin``.

Every lr is compared with ``float(Fraction(lr) * Fraction(gamma) ** k)`` (the decimals
as typed), computed here without the package's arithmetic.
"""

from __future__ import annotations

import copy
import math
import warnings
from fractions import Fraction
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from stepsched_cli.errors import ScheduleError

pytestmark = pytest.mark.torch
torch = pytest.importorskip("torch")
ours = pytest.importorskip("stepsched_cli.torch")
reference = torch.optim.lr_scheduler


def exact(lr: float, gamma: float, decays: int) -> float:
    """The float nearest to the exact value; the lr's own zero for a zero lr."""
    if not lr:
        return lr
    return float(Fraction(repr(lr)) * Fraction(repr(gamma)) ** decays)


def optimizer(*lrs: float) -> Any:
    parameters = [torch.nn.Parameter(torch.zeros(1)) for _ in lrs]
    groups = [{"params": [p], "lr": lr} for p, lr in zip(parameters, lrs, strict=True)]
    return torch.optim.SGD(groups, lr=1.0)


def steps(scheduler: Any, count: int) -> list[list[float]]:
    """get_last_lr() after each of ``count`` optimizer and scheduler steps."""
    seen = []
    for _ in range(count):
        scheduler.optimizer.step()
        scheduler.step()
        seen.append(list(scheduler.get_last_lr()))
    return seen


def step_decays(step_size: int) -> Any:
    return lambda position: max(0, position // step_size)


def milestone_decays(milestones: list[int]) -> Any:
    return lambda position: sum(1 for m in milestones if m <= position)


# --- counts beyond a C ssize_t ----------------------------------------------------


def test_a_step_size_beyond_a_c_integer_keeps_the_lr_and_decays_at_it() -> None:
    """``itertools.repeat`` takes a C ssize_t: a step size of 2**70 overflowed it."""
    size = 2**70
    scheduler = ours.StepLR(optimizer(0.1), step_size=size, gamma=0.5)
    theirs = reference.StepLR(optimizer(0.1), step_size=size, gamma=0.5)
    assert steps(scheduler, 3) == steps(theirs, 3) == [[0.1]] * 3
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # torch's step(epoch) deprecation
        scheduler.step(size - 1)
    assert steps(scheduler, 2) == [[0.05], [0.05]]


@pytest.mark.parametrize("milestones", [[2**70], [2, 2**70], [2, 2**70, 2**71]])
def test_milestones_beyond_a_c_integer_are_followed(milestones: list[int]) -> None:
    scheduler = ours.MultiStepLR(optimizer(0.1), milestones=milestones, gamma=0.5)
    seen = steps(scheduler, 4)
    assert seen == [[exact(0.1, 0.5, milestone_decays(milestones)(p))] for p in range(1, 5)]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        scheduler.step(2**70 - 1)
    assert steps(scheduler, 2) == [
        [exact(0.1, 0.5, milestone_decays(milestones)(p))] for p in (2**70, 2**70 + 1)
    ]


# --- a state dict (or an assignment) with a schedule torch takes and we do not ------


@pytest.mark.parametrize(
    ("make_torch", "make_ours", "parameter", "message"),
    [
        (
            lambda o: reference.StepLR(o, step_size=3.0, gamma=0.5),
            lambda o: ours.StepLR(o, step_size=3, gamma=0.5),
            "step_size",
            "step_size must be an integer >= 1, got 3.0",
        ),
        (
            lambda o: reference.MultiStepLR(o, milestones=[3.0, 5], gamma=0.5),
            lambda o: ours.MultiStepLR(o, milestones=[3, 5], gamma=0.5),
            "milestones",
            "milestones must be integers >= 0, got 3.0",
        ),
        (
            lambda o: reference.StepLR(o, step_size=0, gamma=0.5),
            lambda o: ours.StepLR(o, step_size=3, gamma=0.5),
            "step_size",
            "step_size must be an integer >= 1, got 0",
        ),
    ],
)
def test_a_loaded_schedule_we_refuse_is_refused_naming_it(
    make_torch: Any, make_ours: Any, parameter: str, message: str
) -> None:
    """torch's constructors take ``3.0``; ours refuse it, and so does the next step
    after loading it (it crashed with a TypeError, or divided by zero)."""
    theirs = make_torch(optimizer(0.1))
    scheduler = make_ours(optimizer(0.1))
    scheduler.load_state_dict(theirs.state_dict())
    with pytest.raises(ScheduleError) as raised:
        steps(scheduler, 1)
    assert str(raised.value) == message
    assert raised.value.parameter == parameter


def test_a_step_size_assigned_mid_run_is_checked_as_the_constructors() -> None:
    scheduler = ours.StepLR(optimizer(0.1), step_size=3, gamma=0.5)
    steps(scheduler, 4)
    scheduler.step_size = 2.5
    with pytest.raises(ScheduleError, match=r"^step_size must be an integer >= 1, got 2\.5$"):
        steps(scheduler, 1)


# --- values just below the smallest normal ------------------------------------------


@pytest.mark.parametrize(
    ("lr", "gamma", "k"), [(0.06249999999999999, 0.5, 1018), (1.1992286097500243e-05, 0.9, 6616)]
)
def test_the_lr_just_below_the_smallest_normal_is_rounded_once(
    lr: float, gamma: float, k: int
) -> None:
    """The exact value rounds down to the largest subnormal; a walk once gave 2**-1022."""
    expected = 2.225073858507201e-308
    assert exact(lr, gamma, k) == expected
    scheduler = ours.StepLR(optimizer(lr, -lr), step_size=1, gamma=gamma)
    seen = steps(scheduler, k + 1)
    assert seen[k - 1] == [expected, -expected]
    assert seen[k - 10 :] == [
        [exact(lr, gamma, p), -exact(lr, gamma, p)] for p in range(k - 9, k + 2)
    ]
    jumped = ours.StepLR(optimizer(lr), step_size=1, gamma=gamma, t_in_epochs=False)
    jumped.step_update(num_updates=k)
    assert jumped.get_last_lr() == [expected]


@pytest.mark.parametrize(("before", "after"), [(-0.0, 0.0), (0.0, -0.0)])
def test_a_zero_base_lr_changed_to_the_other_zero_is_seen(before: float, after: float) -> None:
    """``0.0 == -0.0``: comparing the base lrs by value missed the change of sign."""
    scheduler = ours.StepLR(optimizer(0.1, before), step_size=1, gamma=0.5)
    steps(scheduler, 3)
    scheduler.base_lrs[1] = after
    lrs = steps(scheduler, 2)
    assert lrs == [[0.1 * 0.5**4, after], [0.1 * 0.5**5, after]]
    assert [math.copysign(1, row[1]) for row in lrs] == [math.copysign(1, after)] * 2


@pytest.mark.xfail(
    strict=True,
    reason="design question: the fast step() path assigns floats to groups it found plain "
    "earlier; it does not look at each group's lr again (a check per group per step)",
)
def test_a_tensor_lr_set_after_the_first_steps_stays_a_tensor() -> None:
    """torch fills a tensor lr in place (what a captured graph reads); ours, once its
    steps take the fast path, replaced the tensor by a float."""
    scheduler = ours.StepLR(optimizer(0.1), step_size=1, gamma=0.5)
    steps(scheduler, 3)
    group = scheduler.optimizer.param_groups[0]
    tensor = group["lr"] = torch.tensor(group["lr"], dtype=torch.float64)
    steps(scheduler, 2)
    assert group["lr"] is tensor
    assert float(tensor) == 0.1 * 0.5**5


# --- any mix of calls, checked against the closed form after each step ---------------

LRS = st.lists(
    st.sampled_from([0.1, 3e-4, -0.2, 0.0, -0.0, 0.75, 1e-300, 2.0**-600, 2.0**600, 7.0]),
    min_size=1,
    max_size=4,
)
GAMMAS = st.sampled_from([0.1, 0.5, 0.75, 0.9, 0.999, 0.3333, 0.9999999999999999])
POSITIONS = st.integers(-1, 3) | st.integers(-1, 3000) | st.sampled_from([255, 256, 257, 511])
CALLS = st.lists(
    st.one_of(
        st.tuples(st.just("steps"), st.integers(1, 600)),
        st.tuples(st.just("step_epoch"), POSITIONS),
        st.tuples(st.just("last_epoch"), POSITIONS),
        st.tuples(st.just("get_lr"), st.just(0)),
        st.tuples(st.just("gamma"), GAMMAS),
        st.tuples(st.just("base_lr"), st.sampled_from([0.05, -1e-3, 0.0, 0.9])),
        st.tuples(st.just("reload_ours"), st.just(0)),
        st.tuples(st.just("load_torch"), POSITIONS),
        st.tuples(st.just("copy"), st.just(0)),
        st.tuples(st.just("timm_update"), st.integers(0, 3000)),
        st.tuples(st.just("timm_epoch"), st.integers(0, 3000)),
    ),
    max_size=8,
)


class Driven:
    """One of our schedulers and the closed form it must follow, driven call by call."""

    def __init__(
        self, kind: str, lrs: list[float], gamma: float, shape: Any, unit: bool | None
    ) -> None:
        self.kind, self.shape, self.unit = kind, shape, unit
        self.scheduler = self.make(lrs, gamma)

    def make(self, lrs: list[float], gamma: float, torchs: bool = False) -> Any:
        if torchs:
            if self.kind == "step":
                return reference.StepLR(optimizer(*lrs), step_size=self.shape, gamma=gamma)
            return reference.MultiStepLR(optimizer(*lrs), milestones=self.shape, gamma=gamma)
        if self.kind == "step":
            return ours.StepLR(
                optimizer(*lrs), step_size=self.shape, gamma=gamma, t_in_epochs=self.unit
            )
        return ours.MultiStepLR(
            optimizer(*lrs), milestones=self.shape, gamma=gamma, t_in_epochs=self.unit
        )

    def decays(self, position: int) -> int:
        if self.kind == "step":
            return max(0, position // self.shape)
        return sum(1 for m in self.shape if m <= position)

    def check(self) -> None:
        s = self.scheduler
        k = self.decays(s.last_epoch)
        wanted = [exact(lr, s.gamma, k) for lr in s.base_lrs]
        seen = s.get_last_lr()
        assert seen == wanted
        assert [math.copysign(1, x) for x in seen] == [math.copysign(1, x) for x in wanted]
        assert [group["lr"] for group in s.optimizer.param_groups] == wanted

    def call(self, name: str, value: Any) -> None:
        if name == "get_lr":
            s = self.scheduler
            wanted = [exact(lr, s.gamma, self.decays(s.last_epoch)) for lr in s.base_lrs]
            assert s.get_lr() == wanted
            return
        getattr(self, name)(value)
        self.check()

    def steps(self, count: int) -> None:
        steps(self.scheduler, count)

    def step_epoch(self, position: int) -> None:
        if self.unit is False:  # timm's updates: step(epoch) alone is refused
            with pytest.raises(ScheduleError, match="call step_update"):
                self.scheduler.step(position)
        elif self.unit and position < 0:  # timm's epochs: positions from 0
            with pytest.raises(ScheduleError, match="epoch must be an integer >= 0, got -1"):
                self.scheduler.step(position)
        else:
            self.scheduler.step(position)

    def last_epoch(self, position: int) -> None:
        self.scheduler.last_epoch = position
        steps(self.scheduler, 1)

    def gamma(self, gamma: float) -> None:
        self.scheduler.gamma = gamma
        steps(self.scheduler, 1)

    def base_lr(self, lr: float) -> None:
        self.scheduler.base_lrs[-1] = lr
        steps(self.scheduler, 1)

    def reload_ours(self, _: object) -> None:
        fresh = self.make([1.0] * len(self.scheduler.base_lrs), 0.5)
        fresh.load_state_dict(self.scheduler.state_dict())
        self.scheduler = fresh
        steps(fresh, 1)

    def load_torch(self, position: int) -> None:
        theirs = self.make(list(self.scheduler.base_lrs), self.scheduler.gamma, torchs=True)
        theirs.last_epoch = position
        self.scheduler.load_state_dict(theirs.state_dict())
        steps(self.scheduler, 1)

    def copy(self, _: object) -> None:
        self.scheduler = copy.deepcopy(self.scheduler)
        steps(self.scheduler, 1)

    def timm_update(self, position: int) -> None:
        """timm's step_update: sets the position when counting updates, else nothing."""
        s = self.scheduler
        if self.unit is None:
            with pytest.raises(ScheduleError, match="t_in_epochs must be True or False"):
                s.step_update(position, metric=0.5)
            return
        before = (s.last_epoch, s.get_last_lr())
        s.step_update(num_updates=position, metric=0.5)
        if self.unit:
            assert (s.last_epoch, s.get_last_lr()) == before
        else:
            assert s.last_epoch == position

    def timm_epoch(self, position: int) -> None:
        """timm's step(epoch, metric): sets the position when counting epochs."""
        s = self.scheduler
        if self.unit is None:
            with pytest.raises(ScheduleError, match="t_in_epochs must be True or False"):
                s.step(position, 0.5)
            return
        before = (s.last_epoch, s.get_last_lr())
        s.step(position, 0.5)
        if self.unit:
            assert s.last_epoch == position
        else:
            assert (s.last_epoch, s.get_last_lr()) == before


@settings(max_examples=40, deadline=None)
@given(
    kind=st.sampled_from(["step", "multistep"]),
    lrs=LRS,
    gamma=GAMMAS,
    step_size=st.sampled_from([1, 2, 3, 7, 256, 257]),
    milestones=st.lists(st.integers(0, 400), max_size=6),
    calls=CALLS,
    unit=st.sampled_from([None, True, False]),
)
def test_any_mix_of_calls_gives_the_closed_form(
    kind: str,
    lrs: list[float],
    gamma: float,
    step_size: int,
    milestones: list[int],
    calls: list[tuple[str, Any]],
    unit: bool | None,
) -> None:
    """After each call, every group's lr is the exact one at ``last_epoch``.  ``unit``
    is timm's ``t_in_epochs`` (None: timm's calls refused)."""
    driven = Driven(kind, lrs, gamma, step_size if kind == "step" else milestones, unit)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # step(epoch), get_lr(): torch's own
        driven.check()
        for name, value in calls:
            driven.call(name, value)
