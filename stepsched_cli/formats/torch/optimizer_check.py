"""Find the optimizer a parsed scheduler state drives, and cross-check its param groups.

The optimizer is the only one found with as many parameter groups as the scheduler
drives, or the one parallel to it (Lightning's ``optimizer_states[i]`` beside
``lr_schedulers[i]``).  Each group's ``lr`` must equal the scheduler's lr at its
position and its ``initial_lr`` the scheduler's initial lr; a disagreement is the
classic resume bug (an optimizer saved at another step, a fresh optimizer, a scheduler
restarted).  The check runs after the scheduler state is parsed, on its parsed lrs.
"""

from __future__ import annotations

import math
from typing import TypeGuard

from stepsched_cli.formats.torch.scheduler_states import (
    ParsedScheduler,
    ParsedState,
    driven_lrs,
)
from stepsched_cli.formats.torch.search import MAX_LISTED, FoundGroups, FoundState
from stepsched_cli.validate import lrs_agree, shown

__all__ = ["check_driving_optimizer", "check_optimizer", "check_param_groups"]


def check_driving_optimizer(
    parsed: ParsedState, optimizers: list[FoundGroups], scheduler: FoundState
) -> tuple[str | None, tuple[str, ...]]:
    """Where the optimizer driven by ``scheduler`` is (None when none is found) and its
    disagreements with the parsed state, each naming where the optimizer and scheduler
    are; nothing is checked when several optimizers fit and none is parallel, rather
    than the wrong one."""
    optimizer = _matching_optimizer(optimizers, scheduler.path, parsed.groups)
    if optimizer is None:
        return None, ()
    lines = check_param_groups(parsed.lrs, parsed.initial_lrs, optimizer.param_groups)
    if len(lines) > MAX_LISTED:  # 20,000 groups once gave 40,000 warnings
        lines[MAX_LISTED:] = [f"and {len(lines) - MAX_LISTED} more disagreements"]
    return optimizer.key, tuple(
        f"the optimizer at {optimizer.key} disagrees with the scheduler at "
        f"{scheduler.key} ({parsed.position}): {line}"
        for line in lines
    )


def _matching_optimizer(
    optimizers: list[FoundGroups], path: tuple[str | int, ...], count: int
) -> FoundGroups | None:
    """The only optimizer with ``count`` groups, or the one parallel to the scheduler at
    ``path`` (the same list index)."""
    fitting = [found for found in optimizers if len(found.param_groups) == count]
    if len(fitting) == 1:
        return fitting[0]
    index = path[-1] if path else None
    if isinstance(index, int):
        parallel = [found for found in fitting if found.path and found.path[-1] == index]
        if len(parallel) == 1:
            return parallel[0]
    return None


def check_optimizer(state: ParsedScheduler, param_groups: list[dict[str, object]]) -> list[str]:
    """Where an optimizer's param groups disagree with a scheduler state, one line each.

    Each group's ``lr`` must equal the scheduler's lr at its position and its
    ``initial_lr`` (set by torch, and by stepsched, when a scheduler is created) must
    equal the group's ``base_lrs`` entry (initial lr), both to a relative 1e-9.  A
    disagreement is the classic resume bug: the optimizer state of a fresh optimizer
    saved or loaded, or a scheduler restarted.  Tensor lrs are not compared (their
    values are not read).

    Example:
        >>> from stepsched_cli.formats.torch.state_dict import parse
        >>> state = parse({"step_size": 30, "gamma": 0.1, "base_lrs": [0.1], "last_epoch": 100})
        >>> check_optimizer(state, [{"lr": 0.1, "params": [0]}])
        ['param_groups[0] lr is 0.1 but the scheduler gives 0.0001', \
'param_groups[0] has no initial_lr (the optimizer was saved before any scheduler was created)']
    """
    return check_param_groups(*driven_lrs(state), param_groups)


def check_param_groups(
    expected_lrs: tuple[float, ...],
    base_lrs: tuple[float, ...] | None,
    param_groups: list[dict[str, object]],
) -> list[str]:
    """:func:`check_optimizer` given the lrs: each group's current and initial lr.

    ``base_lrs`` None skips the ``initial_lr`` check (a schedule without torch's key).
    """
    lines: list[str] = []
    for index, group in enumerate(param_groups[: len(expected_lrs)]):
        lr = group.get("lr")
        if _is_plain_number(lr) and not lrs_agree(lr, expected_lrs[index]):
            lines.append(
                f"param_groups[{index}] lr is {_shown_lr(lr)} but the scheduler gives "
                f"{expected_lrs[index]!r}"
            )
        initial_lr = group.get("initial_lr")
        if base_lrs is None or index >= len(base_lrs):
            continue
        if initial_lr is None:
            lines.append(
                f"param_groups[{index}] has no initial_lr (the optimizer was saved before any "
                "scheduler was created)"
            )
        elif _is_plain_number(initial_lr) and not lrs_agree(initial_lr, base_lrs[index]):
            lines.append(
                f"param_groups[{index}] initial_lr is {_shown_lr(initial_lr)} but the "
                f"scheduler's base_lrs[{index}] is {base_lrs[index]!r}"
            )
    return lines


def _is_plain_number(value: object) -> TypeGuard[int | float]:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _as_float(value: int | float) -> float:
    """``float(value)``, with an int too large for a float as infinity (never agreeing)."""
    if isinstance(value, int) and abs(value) > 2**1023:
        return math.inf if value > 0 else -math.inf
    return float(value)


def _shown_lr(value: int | float) -> str:
    number = _as_float(value)
    return repr(number) if math.isfinite(number) else shown(value)
