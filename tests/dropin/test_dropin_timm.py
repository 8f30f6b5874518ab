"""stepsched_cli.torch in timm's training loop: ``step(epoch, metric)``, ``step_update``.

timm's ``train.py`` (timm 1.0.x) drives its scheduler by positions it counts itself:
``main()`` calls ``step(start_epoch)`` or ``step_update(start_epoch * updates_per_epoch)``
on resuming, reads ``lr_scheduler.t_in_epochs``, and after each epoch calls
``step(epoch + 1, metric)``; ``train_one_epoch()`` calls
``step_update(num_updates=n, metric=loss)`` after each optimizer update.  Ours take
those calls once ``t_in_epochs`` says which one counts, and set the lr at that absolute
position (the closed form, never a count of calls).

Skipped where torch is not installed (CI).  The unit tests need torch alone
(``PYTHONPATH=. /work/scratch/venv-torch/bin/python -m pytest tests/dropin``); the
loop test also needs timm and timm's ``train.py``, which is in timm's repository, not
its package::

    TIMM_TRAIN_PY=/path/to/pytorch-image-models/train.py PYTHONPATH=. \\
        /work/scratch/venv-timm/bin/python -m pytest tests/dropin/test_dropin_timm.py
"""

from __future__ import annotations

import importlib.util
import json
import os
import warnings
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from stepsched_cli.powers import intended_value
from tests.dropin.exact_values import assert_refused

pytestmark = pytest.mark.torch
torch = pytest.importorskip("torch")
ours = pytest.importorskip("stepsched_cli.torch")
reference = torch.optim.lr_scheduler

ROOT = Path(__file__).resolve().parent.parent
UPDATES_PER_EPOCH = 4


def exact(lr: float, gamma: float, decays: int) -> float:
    return float(intended_value(lr) * intended_value(gamma) ** decays)


def optimizer(lr: float = 0.1) -> Any:
    return torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=lr)


def timm_loop(scheduler: Any, opt: Any, epochs: int, start_epoch: int, on_updates: bool) -> Any:
    """The scheduler calls of timm's train.py, in its order; the lr of every update.

    ``main()`` places a resumed scheduler (``step(start)`` or ``step_update(start *
    updates_per_epoch)``), ``train_one_epoch()`` calls ``step_update`` after each
    update, and ``main()`` calls ``step(epoch + 1, metric)`` after each epoch.
    """
    if start_epoch > 0:
        if on_updates:
            scheduler.step_update(start_epoch * UPDATES_PER_EPOCH)
        else:
            scheduler.step(start_epoch)
    lrs = []
    for epoch in range(start_epoch, epochs):
        num_updates = epoch * UPDATES_PER_EPOCH
        for _ in range(UPDATES_PER_EPOCH):
            lrs.append(opt.param_groups[0]["lr"])
            opt.step()
            num_updates += 1
            scheduler.step_update(num_updates=num_updates, metric=0.5)
        scheduler.step(epoch + 1, 0.25)
    return lrs


CASES = [
    ("StepLR", {"step_size": 2}, lambda t: t // 2),
    ("StepLR", {"step_size": 3}, lambda t: t // 3),
    ("MultiStepLR", {"milestones": [1, 5, 6]}, lambda t: (t >= 1) + (t >= 5) + (t >= 6)),
    ("MultiStepLR", {"milestones": [3, 3, 9]}, lambda t: 2 * (t >= 3) + (t >= 9)),
]


@pytest.mark.parametrize(("name", "options", "decays"), CASES)
@pytest.mark.parametrize("on_updates", [False, True])
@pytest.mark.parametrize("start_epoch", [0, 3])
def test_timms_loop_trains_each_update_with_the_exact_lr_of_its_position(
    name: str, options: dict[str, Any], decays: Any, on_updates: bool, start_epoch: int
) -> None:
    """Per epoch the position is the epoch; per update it is the update; resumed alike."""
    opt = optimizer(0.1)
    scheduler = getattr(ours, name)(opt, gamma=0.1, t_in_epochs=not on_updates, **options)
    lrs = timm_loop(scheduler, opt, 6, start_epoch, on_updates)
    updates = range(start_epoch * UPDATES_PER_EPOCH, 6 * UPDATES_PER_EPOCH)
    positions = list(updates) if on_updates else [u // UPDATES_PER_EPOCH for u in updates]
    assert lrs == [exact(0.1, 0.1, decays(position)) for position in positions]
    assert scheduler.last_epoch == (24 if on_updates else 6)
    assert scheduler.get_last_lr() == [exact(0.1, 0.1, decays(scheduler.last_epoch))]


def test_the_loop_gets_the_exact_values_where_torchs_repeated_product_drifts() -> None:
    """``step_update`` at update 100,000 of a decay every update, gamma 0.999."""
    opt = optimizer(0.7)
    scheduler = ours.StepLR(opt, step_size=1, gamma=0.999, t_in_epochs=False)
    scheduler.step_update(num_updates=100_000, metric=None)
    assert opt.param_groups[0]["lr"] == exact(0.7, 0.999, 100_000)
    assert scheduler.last_epoch == 100_000


@settings(max_examples=60, deadline=None)
@given(
    calls=st.lists(
        st.tuples(st.booleans(), st.integers(0, 10**6), st.sampled_from([None, 0.5])),
        min_size=1,
        max_size=12,
    ),
    on_updates=st.booleans(),
)
def test_any_sequence_of_timm_calls_lands_on_the_closed_form(
    calls: list[tuple[bool, int, float | None]], on_updates: bool
) -> None:
    """Positions in any order (a resume goes back): the value of the last counted one."""
    opt = optimizer(0.05)
    scheduler = ours.MultiStepLR(opt, [7, 30, 30, 500], gamma=0.3333, t_in_epochs=not on_updates)
    position = 0
    for update, value, metric in calls:
        if update:
            scheduler.step_update(value, metric)
        else:
            scheduler.step(value, metric)
        if update == on_updates:
            position = value
    decays = sum(position >= milestone for milestone in (7, 30, 30, 500))
    assert scheduler.last_epoch == position
    assert scheduler.get_last_lr() == [opt.param_groups[0]["lr"]] == [exact(0.05, 0.3333, decays)]


def state(scheduler: Any) -> dict[str, Any]:
    return {key: value for key, value in scheduler.state_dict().items() if key != "_last_lr"} | {
        "lr": scheduler.optimizer.param_groups[0]["lr"]
    }


@pytest.mark.parametrize(
    ("t_in_epochs", "ignored"),
    [
        (True, lambda s: s.step_update(num_updates=5, metric=0.1)),
        (False, lambda s: s.step(5, metric=None)),
        (False, lambda s: s.step(5, 0.3)),
    ],
)
def test_the_call_of_the_other_unit_does_nothing(t_in_epochs: bool, ignored: Any) -> None:
    scheduler = ours.StepLR(optimizer(), step_size=2, t_in_epochs=t_in_epochs)
    before = state(scheduler)
    ignored(scheduler)
    assert state(scheduler) == before
    assert scheduler.last_epoch == 0


def test_t_in_epochs_stays_out_of_the_state_dict_and_torch_loads_it() -> None:
    for t_in_epochs in (None, True, False):
        mine = ours.StepLR(optimizer(), step_size=2, t_in_epochs=t_in_epochs)
        theirs = reference.StepLR(optimizer(), step_size=2)
        assert mine.t_in_epochs is t_in_epochs
        assert sorted(mine.state_dict()) == sorted(theirs.state_dict())
    mine.step_update(7)
    theirs.load_state_dict(mine.state_dict())
    assert theirs.last_epoch == 7
    resumed = ours.StepLR(optimizer(), step_size=2, t_in_epochs=False)
    resumed.load_state_dict(theirs.state_dict())
    assert resumed.t_in_epochs is False  # the constructor's, not the state's


def test_torchs_own_calls_are_unchanged_without_t_in_epochs() -> None:
    """``step(epoch)`` still warns as torch's; with t_in_epochs=True it is timm's call."""
    scheduler = ours.StepLR(opt := optimizer(), step_size=2)
    opt.step()
    with pytest.warns(UserWarning, match="epoch parameter"):
        scheduler.step(4)
    assert scheduler.get_last_lr() == [exact(0.1, 0.1, 2)]
    timms = ours.StepLR(optimizer(), step_size=2, t_in_epochs=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        timms.step(4)
        timms.step()
    assert timms.last_epoch == 5
    assert timms.get_last_lr() == [exact(0.1, 0.1, 2)]


def with_layer_decay() -> Any:
    opt = torch.optim.SGD(
        [
            {"params": [torch.nn.Parameter(torch.zeros(1))], "lr": 0.1},
            {"params": [torch.nn.Parameter(torch.zeros(1))], "lr": 0.1, "lr_scale": 0.5},
        ]
    )
    return ours.StepLR(opt, step_size=2, t_in_epochs=True)


@pytest.mark.parametrize(
    ("make", "message", "parameter"),
    [
        (
            lambda: ours.StepLR(optimizer(), 2).step_update(1, metric=None),
            "t_in_epochs must be True or False for timm's step_update(num_updates): its "
            "loop calls both step(epoch, metric) and step_update(num_updates, metric); "
            "StepLR(..., t_in_epochs=True) counts epochs, False updates",
            "t_in_epochs",
        ),
        (
            lambda: ours.MultiStepLR(optimizer(), [2]).step(1, metric=None),
            "t_in_epochs must be True or False for timm's step(epoch, metric)",
            "t_in_epochs",
        ),
        (
            lambda: ours.StepLR(optimizer(), 2, t_in_epochs=1),
            "t_in_epochs must be true or false, got 1",
            "t_in_epochs",
        ),
        (
            lambda: ours.StepLR(optimizer(), 2, t_in_epochs=False).step(3),
            "step(3) sets an epoch, but this scheduler counts updates (t_in_epochs=False): "
            "call step_update(num_updates) instead",
            "epoch",
        ),
        (
            lambda: ours.StepLR(optimizer(), 2, t_in_epochs=True).step(-1, 0.5),
            "epoch must be an integer >= 0, got -1",
            "epoch",
        ),
        (
            lambda: ours.StepLR(optimizer(), 2, t_in_epochs=True).step(None, 0.5),
            "epoch must be an integer >= 0, got None",
            "epoch",
        ),
        (
            lambda: ours.StepLR(optimizer(), 2, t_in_epochs=False).step_update(2.0),
            "num_updates must be an integer >= 0, got 2.0",
            "num_updates",
        ),
        (
            lambda: with_layer_decay().step(1, None),
            "param_groups[1]['lr_scale'] is 0.5: timm's layer decay, which torch's "
            "schedulers do not apply",
            "lr_scale",
        ),
    ],
)
def test_ambiguous_or_bad_timm_calls_are_refused_naming_the_parameter(
    make: Any, message: str, parameter: str
) -> None:
    assert_refused(make, message, parameter)


def test_a_refused_call_changes_nothing() -> None:
    scheduler = ours.StepLR(optimizer(), step_size=2, t_in_epochs=False)
    before = state(scheduler)
    with pytest.raises(ValueError, match="num_updates"):
        scheduler.step_update(-3)
    assert state(scheduler) == before


# timm's own train.py, where timm and the script are at hand.


def train_py() -> Path:
    pytest.importorskip("timm")
    pytest.importorskip("torchvision")
    path = os.environ.get("TIMM_TRAIN_PY")
    if not path or not Path(path).is_file():
        pytest.skip("set TIMM_TRAIN_PY to timm's train.py (timm's repository, not its package)")
    return Path(path)


def generator() -> Any:
    path = ROOT / "fixtures" / "make_dropin_timm_run.py"
    spec = importlib.util.spec_from_file_location("make_dropin_timm_run", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("run", ["epochs", "updates"])
def test_timms_train_py_logs_what_the_committed_run_logged(run: str, tmp_path: Path) -> None:
    """train.py's main(), checkpointed and resumed, again: the same lrs, the same log."""
    script = train_py()
    make = generator()
    entry = make.timm_run(make.load_train_py(script), tmp_path, run)
    committed = json.loads((ROOT / "data" / "dropin" / "timm" / "manifest.json").read_text())
    assert entry["reported"] == committed[run]["reported"]
    for log in entry["logs"]:
        fresh = [line.split(",")[::5] for line in (tmp_path / log).read_text().splitlines()]
        kept = (ROOT / "data" / "dropin" / "timm" / log).read_text().splitlines()
        assert fresh == [line.split(",")[::5] for line in kept]  # epoch and lr columns
