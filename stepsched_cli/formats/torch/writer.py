"""Writing torch ``StepLR``/``MultiStepLR`` state dicts: what torch itself would hold.

:func:`to_torch_state_dict` gives the state dict torch holds at a
:class:`~stepsched_cli.scheduler.SchedulerState`'s position, ``_last_lr`` drift
included; :func:`dumps_torch_state` writes it as JSON; :func:`check_writable` refuses
what StepLR cannot hold (``code --framework torch`` asks it too).  Re-exported by
:mod:`stepsched_cli.formats.torch.state_dict`, the module of torch state dicts.
"""

from __future__ import annotations

import bisect
import json
from collections import Counter
from typing import Any

from stepsched_cli.errors import ConversionError
from stepsched_cli.schedule import StepSchedule, scaled_power
from stepsched_cli.scheduler import SchedulerState

__all__ = ["CHAIN_REPLAY_BUDGET", "check_writable", "dumps_torch_state", "to_torch_state_dict"]

# How many multiplications the writer replays, over all distinct base lrs together, to
# reproduce torch's float drift in ``_last_lr`` (one per decay per base lr).  Beyond it
# the exact closed form is written for every group: within a few ulps of torch's value,
# and torch recomputes ``_last_lr`` at the next step anyway.  The bound keeps a state of
# 15,000 groups at a million decays from taking half an hour.
CHAIN_REPLAY_BUDGET = 2_000_000


def _replayed_lr(base: float, gamma: float, decays: int) -> float:
    """``base`` multiplied by ``gamma`` ``decays`` times, one rounding each, as torch does."""
    lr = base
    for _ in range(decays):
        lr = lr * gamma
        if lr == 0.0:
            break
    return lr


def _torch_last_lrs(state: SchedulerState, base_lrs: list[float]) -> list[float]:
    """The lrs torch itself holds at the state's position, one per group.

    torch applies gamma one decay at a time, and that drift is replayed once per
    distinct base lr while the work stays within :data:`CHAIN_REPLAY_BUDGET`
    multiplications; beyond it every group gets the closed form, which does not
    reproduce torch's drift (it is the exactly rounded value, a few ulps away).
    """
    schedule = state.schedule
    if schedule.milestones is not None:
        # Each stepsched milestone counts once: torch multiplies by gamma ** 1 there.
        decays = bisect.bisect_right(schedule.milestones, state.position)
    else:
        decays = state.position // (schedule.step_size or 1)
    distinct = {base for base in base_lrs if base != 0}
    replay = decays * len(distinct) <= CHAIN_REPLAY_BUDGET
    lrs = {
        base: (
            _replayed_lr(base, schedule.gamma, decays)
            if replay
            else scaled_power(base, schedule.gamma, decays)
        )
        for base in distinct
    }
    return [0.0 if base == 0 else lrs[base] for base in base_lrs]


def check_writable(schedule: StepSchedule) -> None:
    """Refuse a schedule torch's StepLR and MultiStepLR cannot hold.

    Raises:
        ConversionError: a warmup or an lr floor (torch's StepLR and MultiStepLR have
            neither); the message names the class and the parameter.
    """
    kind = "StepLR" if schedule.milestones is None else "MultiStepLR"
    if schedule.warmup_steps:
        raise ConversionError(
            f"torch {kind} has no warmup, so warmup_steps={schedule.warmup_steps} cannot be "
            "written; use stepsched's StepScheduler, which does",
            parameter="warmup_steps",
        )
    if schedule.min_lr:
        raise ConversionError(
            f"torch {kind} has no lr floor, so min_lr={schedule.min_lr!r} cannot be written; "
            "use stepsched's StepScheduler, which has one",
            parameter="min_lr",
        )


def to_torch_state_dict(state: SchedulerState) -> dict[str, Any]:
    """The state dict torch's StepLR or MultiStepLR holds at ``state``'s position.

    It is what ``scheduler.state_dict()`` returns in torch 2.13 after ``position``
    steps of a fresh scheduler, key for key (``_last_lr`` replays torch's float
    arithmetic, drift included, up to :data:`CHAIN_REPLAY_BUDGET` multiplications over
    all groups; a larger state gets the closed form, a few ulps from torch's drift),
    with the milestones as a ``Counter``.  Pass it to
    ``load_state_dict`` of a StepLR/MultiStepLR built over an optimizer with as many
    parameter groups as ``base_lrs`` has, and load the optimizer's own state too:
    torch continues from the optimizer's current lrs.  Older torch versions (2.0 on)
    accept it as well.  The position is written as ``last_epoch`` whatever the mode.

    Raises:
        ConversionError: the schedule has a warmup or an lr floor (torch's StepLR and
            MultiStepLR have neither), or it is a ``scheduler_first`` state not yet
            started (torch's constructor has always stepped once).
    """
    schedule = state.schedule
    check_writable(schedule)
    if not state.started:
        raise ConversionError(
            "the state is a scheduler_first run whose step() was never called; torch has no "
            "such state (its constructor steps once), so write it after the first step()"
        )
    base_lrs = list(state.group_initial_lrs) or [schedule.initial_lr]
    decay: dict[str, Any] = (
        {"step_size": schedule.step_size}
        if schedule.milestones is None
        else {"milestones": Counter(schedule.milestones)}
    )
    return {
        **decay,
        "gamma": schedule.gamma,
        "base_lrs": base_lrs,
        "last_epoch": state.position,
        "_step_count": state.position + 1,
        "_is_initial": False,
        "_get_lr_called_within_step": False,
        "_last_lr": _torch_last_lrs(state, base_lrs),
    }


def dumps_torch_state(state: SchedulerState) -> bytes:
    """:func:`to_torch_state_dict` as the JSON ``json.dump(scheduler.state_dict(), f)`` writes.

    Milestone keys become strings, as in any JSON; read it back with
    :func:`torch_state_dict_from_json` (or convert the keys to int yourself) before
    ``load_state_dict``.

    Raises:
        ConversionError: as :func:`to_torch_state_dict`.
    """
    document = to_torch_state_dict(state)
    if "milestones" in document:
        document["milestones"] = {str(m): c for m, c in sorted(document["milestones"].items())}
    return (json.dumps(document, allow_nan=False) + "\n").encode("utf-8")
