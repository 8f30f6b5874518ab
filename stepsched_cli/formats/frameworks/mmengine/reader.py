"""MMEngine's schedulers found in a checkpoint or a JSON document, read as one reading.

A Runner checkpoint (``epoch_N.pth``, ``iter_N.pth``) is read at its saved position:
``meta.epoch`` for a run that counts epochs, else ``meta.iter``, with every param
scheduler's factor applied at its own clock, and the optimizer saved beside them
checked against the result.  A scheduler's own ``state_dict()`` (``torch.save`` or
JSON) is read at its ``_global_step``.  Where the lr changes next is listed in the unit
the scheduler counts; a scheduler counting the other unit whose changes are still
ahead (a warmup in iterations inside an epoch-based run, before it ended) leaves the
lrs ahead unknown, and says so.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, replace
from typing import Any

from stepsched_cli.errors import StateError, StateFileError
from stepsched_cli.formats.frameworks.mmengine.schedulers import (
    MMEngineScheduler,
    RunnerState,
    check_stored,
    is_runner_checkpoint,
    is_scheduler_state,
    parse_runner,
    parse_scheduler,
)
from stepsched_cli.formats.hints import NoHints
from stepsched_cli.formats.reading import Reading, Request, changes_view, request_data, state_view
from stepsched_cli.numbers import format_items
from stepsched_cli.schedule import Mode, StepSchedule
from stepsched_cli.scheduler import SchedulerState
from stepsched_cli.state import parse_json_bytes

__all__ = [
    "FORMAT_NAME",
    "FoundMMEngine",
    "find_mmengine",
    "mmengine_detect",
    "read_mmengine",
    "read_mmengine_json",
]

FORMAT_NAME = "mmengine"  # frameworks/__init__.py names it too, without importing this

mmengine_detect = is_scheduler_state


@dataclass(frozen=True)
class FoundMMEngine:
    """MMEngine's schedulers in a loaded checkpoint, not yet parsed.

    Attributes:
        runner: The Runner checkpoint, None for a scheduler's own state.
        state: The scheduler's own state dict, None for a Runner checkpoint.
    """

    runner: Mapping[str, object] | None = None
    state: Mapping[str, object] | None = None


def find_mmengine(checkpoint: object) -> FoundMMEngine | None:
    """A Runner checkpoint or an MMEngine scheduler's own state, None when neither."""
    if is_runner_checkpoint(checkpoint) and isinstance(checkpoint, Mapping):
        return FoundMMEngine(runner=checkpoint)
    if is_scheduler_state(checkpoint) and isinstance(checkpoint, Mapping):
        return FoundMMEngine(state=checkpoint)
    return None


def read_mmengine(found: FoundMMEngine, format: str, source: str, hints: NoHints) -> Reading:
    """The reading of what :func:`find_mmengine` found, as ``format``."""
    try:
        if found.runner is not None:
            runner = parse_runner(found.runner)
            reading = _runner_reading(runner, format, source)
            return replace(reading, warnings=_optimizer_warnings(runner, found.runner))
        scheduler = parse_scheduler(found.state)
        check_stored(scheduler)
    except StateError as error:
        raise StateFileError(f"{source}: {error}", parameter=error.parameter) from None
    return _scheduler_reading(scheduler, format, source)


def read_mmengine_json(request: Request[NoHints]) -> Reading:
    """An MMEngine scheduler's ``state_dict()`` saved as JSON."""
    document = parse_json_bytes(request_data(request), request.source)
    if not isinstance(document, Mapping):  # pragma: no cover - detected as a state dict
        raise StateFileError(f"{request.source}: an MMEngine state dict must be an object")
    return read_mmengine(FoundMMEngine(state=document), FORMAT_NAME, request.source, NoHints())


def _changes(schedulers: tuple[MMEngineScheduler, ...], g: int) -> Iterator[int]:
    """The global steps after ``g`` where one of ``schedulers`` changes its factor."""
    while True:
        found = [s.next_change(g) for s in schedulers]
        following = min((t for t in found if t is not None), default=None)
        if following is None:
            return
        yield following
        g = following


def _details(
    schedulers: tuple[MMEngineScheduler, ...], reason: str | None
) -> tuple[tuple[str, Any], ...]:
    return (
        ("mmengine_schedulers", [s.kind for s in schedulers]),
        ("by_epoch", [s.by_epoch for s in schedulers]),
        ("convertible", reason is None),
        ("reason", reason),
    )


def _scheduler_reading(scheduler: MMEngineScheduler, format: str, source: str) -> Reading:
    """A scheduler's own state: converted when a stepsched schedule is it, else by its rules."""
    described = (("mmengine", scheduler.describe()),)
    mode: Mode = "epoch" if scheduler.by_epoch else "step"
    text = f"{scheduler.unit} {scheduler.position}"
    reason = scheduler.unrepresentable_reason()
    if reason is None:
        factor = scheduler.factor
        schedule = StepSchedule(
            initial_lr=scheduler.base_values[0],
            step_size=factor.step_size,
            gamma=factor.gamma,
            milestones=tuple(m for m, _ in factor.milestones) if factor.milestones else None,
            mode=mode,
        )
        state = SchedulerState(
            schedule, position=scheduler.position, group_initial_lrs=scheduler.base_values
        )
        view = state_view(state, described=described, details=_details((scheduler,), None))
        return Reading(format, source, replace(view, position_text=text), state)
    reason = f"this MMEngine {scheduler.kind} cannot be a stepsched state: {reason}"
    view = changes_view(
        scheduler.position,
        mode,
        text,
        scheduler.lrs_at,
        _changes((scheduler,), scheduler.position),
        described=described,
        details=_details((scheduler,), reason),
    )
    return Reading(format, source, view, None, reason)


def _runner_reading(runner: RunnerState, format: str, source: str) -> Reading:
    """A Runner checkpoint at its saved position, by MMEngine's rules (a Runner of one
    scheduler as that scheduler, at the Runner's position)."""
    if len(runner.schedulers) == 1:
        reading = _scheduler_reading(runner.schedulers[0], format, source)
        text = (
            f"{reading.view.position_text} (Runner epoch {runner.epoch}, "
            f"iteration {runner.iteration})"
        )
        return replace(
            reading, view=replace(reading.view, position_text=text), key="param_schedulers"
        )
    by_epoch = runner.by_epoch
    position = runner.epoch if by_epoch else runner.iteration
    text = (
        f"epoch {runner.epoch} (iteration {runner.iteration})"
        if by_epoch
        else f"iteration {runner.iteration}"
    )
    own = tuple(s for s in runner.schedulers if s.by_epoch == by_epoch)
    other = tuple(s for s in runner.schedulers if s.by_epoch != by_epoch)
    pending = [s for s in other if s.next_change(s.position) is not None]
    notes: tuple[str, ...] = tuple(
        f"{s.kind} counts {s.unit}s and changes next at {s.unit} {s.next_change(s.position)}: "
        "the lrs after that are not listed"
        for s in pending
    )

    def lrs_at(t: int) -> tuple[float, ...]:
        clocks = [
            (s.factor, s.clock(t if s.by_epoch == by_epoch else s.position))
            for s in runner.schedulers
        ]
        return _chain(runner.schedulers[0].base_values, clocks)

    reason = (
        f"this MMEngine Runner's schedulers ({format_items([s.kind for s in runner.schedulers])}) "
        "are applied together, each on its own clock; a stepsched state is one schedule"
    )
    view = changes_view(
        position,
        "epoch" if by_epoch else "step",
        text,
        lrs_at,
        iter(()) if pending else _changes(own, position),
        described=(("mmengine", runner.describe()),),
        notes=notes,
        details=(
            ("epoch", runner.epoch),
            ("iteration", runner.iteration),
            *_details(runner.schedulers, reason),
        ),
    )
    return Reading(format, source, view, None, reason, key="param_schedulers")


def _chain(base_values: tuple[float, ...], clocks: Any) -> tuple[float, ...]:
    from stepsched_cli.formats.torch import chain_lrs

    return chain_lrs(base_values, clocks)


def _optimizer_warnings(runner: RunnerState, checkpoint: Mapping[str, object]) -> tuple[str, ...]:
    """The optimizer saved beside the schedulers, checked against their lrs."""
    optimizer = checkpoint.get("optimizer")
    groups = optimizer.get("param_groups") if isinstance(optimizer, Mapping) else None
    if not isinstance(groups, list) or not all(isinstance(g, dict) for g in groups):
        return ()
    from stepsched_cli.formats.torch import check_param_groups

    lines = check_param_groups(runner.lrs, runner.schedulers[0].base_values, groups)
    return tuple(
        f"the optimizer at optimizer disagrees with the param schedulers (epoch "
        f"{runner.epoch}, iteration {runner.iteration}): {line}"
        for line in lines
    )
