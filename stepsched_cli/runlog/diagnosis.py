"""Naming the likely cause of a mismatch between a log and its schedule.

:class:`Evidence` is what a whole log left standing of each hypothesis (see
:mod:`stepsched_cli.runlog.checking`); :func:`diagnose` turns it into a
:class:`Diagnosis` with a message for people.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

from stepsched_cli.runlog.decays import DecayRow, constant_shift
from stepsched_cli.runlog.intervals import IntervalSet, approx
from stepsched_cli.schedule import StepSchedule

DiagnosisKind = Literal[
    "early", "late", "ahead_by_one", "behind_by_one", "shifted", "reset", "constant", "unknown"
]


@dataclass(frozen=True)
class Diagnosis:
    """The likely cause of a mismatch between a log and its schedule.

    Attributes:
        kind: Machine-readable cause:

            * ``"early"``: decays ``factor`` times too early; the log at step ``t``
              holds the schedule's lr at a position in ``[k*t, k*t + k - 1]`` (the
              scheduler stepped per micro-batch under gradient accumulation ``k``,
              or per batch while step_size counts epochs).
            * ``"late"``: decays ``factor`` times too late; the log at ``t`` holds
              the lr at ``t / k`` rounded down or up (stepped once per ``k`` steps).
            * ``"ahead_by_one"``: ``log(t) == lr(t + 1)`` (``scheduler.step()``
              before ``optimizer.step()``, or the lr read after ``scheduler.step()``).
            * ``"behind_by_one"``: ``log(t) == lr(t - 1)`` (steps numbered from 1,
              or each value logged one step late; the first value skipped).
            * ``"shifted"``: every decay came the same number of steps late (or early,
              a negative ``shift``), the lrs on either side as planned: an
              off-by-one in an epoch count, or milestones counted after the warmup.
            * ``"reset"``: the log follows the schedule up to ``resume_at``, then
              follows it again from position 0: ``log(t) == lr(t - resume_at)``
              (resumed without loading the scheduler's state).
            * ``"constant"``: every logged lr is the same (scheduler never stepped).
            * ``"unknown"``: none of the above explains every point.
        message: One or two sentences for people.
        factor: For early/late: the factor, when the log pins it to one value.
        factor_range: For early/late: every factor the log admits, ``(low, high)``,
            ``high`` None when unbounded.
        resume_at: For reset: the schedule position where the lr restarted, when the
            log pins it to one value.
        resume_range: For reset: every resume position the log admits.
        shift: For shifted: the steps each decay came late (negative: early), when
            the log pins it to one value.
        shift_range: For shifted: every shift the log admits, ``(low, high)``.
        headline: The cause in a few words, for a picture's title (the message's
            first clause); not part of the JSON form.
        also_consistent: Other kinds that explain every point equally well (a short
            log may not tell them apart).
        units_mixed: The log's steps and the schedule's positions are probably in
            different units (an epoch schedule checked without steps per epoch against
            a log of optimizer steps, or the reverse): the code may well be right.
            Not part of the JSON form (the message says it).

    Positions (``resume_at``) are in the schedule's unit: epochs in epoch mode.
    """

    kind: DiagnosisKind
    message: str
    factor: int | None = None
    factor_range: tuple[int, int | None] | None = None
    resume_at: int | None = None
    resume_range: tuple[int, int | None] | None = None
    also_consistent: tuple[DiagnosisKind, ...] = ()
    units_mixed: bool = False
    shift: int | None = None
    shift_range: tuple[int, int] | None = None
    # The message's first clause: derived, so left out of comparisons.
    headline: str = field(default="", compare=False)

    def to_dict(self) -> dict[str, object]:
        """The JSON form: every attribute, ranges as two-element lists."""
        return {
            "kind": self.kind,
            "message": self.message,
            "factor": self.factor,
            "factor_range": None if self.factor_range is None else list(self.factor_range),
            "resume_at": self.resume_at,
            "resume_range": None if self.resume_range is None else list(self.resume_range),
            "shift": self.shift,
            "shift_range": None if self.shift_range is None else list(self.shift_range),
            "also_consistent": list(self.also_consistent),
        }


@dataclass(frozen=True)
class CheckResult:
    """The outcome of :func:`check_log`.

    Attributes:
        ok: Every logged lr matched the schedule within the tolerance.
        first_mismatch_step: The logged step of the first mismatching point, in log
            order (None when ok).
        expected_lr: The schedule's lr there (None when ok).
        logged_lr: The logged lr there (None when ok).
        diagnosis: The likely cause (None when ok).
        points_checked: How many points were compared.
        mismatches: How many of them did not match.
        decays: The schedule's decays inside the log beside the lr changes the log
            shows after the warmup, paired in order (ok or not).
        steps_from: Where the logged steps start: 0 (step t holds ``lr(t)``) or 1
            (step s holds ``lr(s - 1)``; see :mod:`~stepsched_cli.runlog.counting`).
        counting_note: Why the steps start there, when a recognised format said so.
    """

    ok: bool
    first_mismatch_step: int | None
    expected_lr: float | None
    logged_lr: float | None
    diagnosis: Diagnosis | None
    points_checked: int
    mismatches: int = 0
    decays: tuple[DecayRow, ...] = ()
    steps_from: int = 0
    counting_note: str | None = None

    def to_dict(self) -> dict[str, object]:
        """The JSON contract of ``stepsched check --json``."""
        return {
            "ok": self.ok,
            "first_mismatch_step": self.first_mismatch_step,
            "expected_lr": self.expected_lr,
            "logged_lr": self.logged_lr,
            "diagnosis": None if self.diagnosis is None else self.diagnosis.to_dict(),
            "points_checked": self.points_checked,
            "decays": [row.to_dict() for row in self.decays],
            "steps_from": self.steps_from,
            "counting_note": self.counting_note,
        }


@dataclass(frozen=True)
class Evidence:
    """What every point of a log admits, hypothesis by hypothesis.

    Attributes:
        tolerance: The relative tolerance the points were compared with.
        first_lr: The first logged lr (None for an empty log).
        constant: Every logged lr equals the first.
        ahead: Every point holds ``lr(t + 1)``.
        behind: Every point holds ``lr(t - 1)``.
        early: The early factors admitted by every point (None: ruled out).
        late: The late factors admitted by every point (None: ruled out).
        reset: The resume positions admitted by every point (None: ruled out).
        largest_step: The largest logged step.
    """

    tolerance: float
    first_lr: float | None
    constant: bool
    ahead: bool
    behind: bool
    early: IntervalSet | None
    late: IntervalSet | None
    reset: IntervalSet | None
    largest_step: int = 0


def diagnose(
    evidence: Evidence,
    schedule: StepSchedule,
    first_mismatch: tuple[int, float, float],
    scale: int,
    steps_per_epoch: int | None,
    decays: Sequence[DecayRow] = (),
) -> Diagnosis:
    """The likeliest cause of the mismatch, the others that explain every point too."""
    step, expected, logged = first_mismatch
    where = f"first mismatch at step {step}: expected {expected!r}, logged {logged!r}"
    unit = "epoch" if schedule.mode == "epoch" else "step"
    found: list[Diagnosis] = []
    if evidence.constant:
        found.append(_constant_diagnosis(evidence, schedule, where))
    if evidence.ahead:
        found.append(_one_off_diagnosis("ahead_by_one", unit, where))
    if evidence.behind:
        found.append(_one_off_diagnosis("behind_by_one", unit, where))
    shifted = _shift_diagnosis(decays, evidence, schedule, step, scale, steps_per_epoch, where)
    if shifted is not None:
        found.append(shifted)
    if evidence.early:
        found.append(_factor_diagnosis("early", evidence.early, where, unit, steps_per_epoch))
    if evidence.late:
        found.append(_factor_diagnosis("late", evidence.late, where, unit, steps_per_epoch))
    if evidence.reset:
        found.append(_reset_diagnosis(evidence.reset, where, unit, scale))
    best = found[0] if found else Diagnosis("unknown", f"unknown: {where}", headline="unknown")
    mixed = steps_per_epoch is None and _units_mixed(best, evidence, schedule)
    message = best.message + (_units_note(best) if mixed else "")
    return Diagnosis(
        best.kind,
        message,
        factor=best.factor,
        factor_range=best.factor_range,
        resume_at=best.resume_at,
        resume_range=best.resume_range,
        also_consistent=tuple(diagnosis.kind for diagnosis in found[1:]),
        units_mixed=best.units_mixed or mixed,
        shift=best.shift,
        shift_range=best.shift_range,
        headline=best.headline,
    )


def _constant_diagnosis(evidence: Evidence, schedule: StepSchedule, where: str) -> Diagnosis:
    first_lr = evidence.first_lr
    if first_lr is not None and approx(first_lr, schedule.initial_lr, evidence.tolerance):
        cause = "the scheduler was never stepped"
    else:
        cause = (
            f"it is not even the schedule's initial lr {schedule.initial_lr!r}: the "
            "scheduler was never stepped, or the lr comes from somewhere else"
        )
    headline = f"the logged lr is constant at {first_lr!r}"
    return Diagnosis("constant", f"{headline}: {cause} ({where})", headline=headline)


# The causes of a log one position off, in the schedule's unit: a step-mode run is off
# by one optimizer step, an epoch-mode run by one whole epoch.
_ONE_OFF_CAUSES: dict[tuple[str, str], str] = {
    ("ahead_by_one", "step"): "scheduler.step() is called before optimizer.step(), or the "
    "lr is read after scheduler.step()",
    ("ahead_by_one", "epoch"): "scheduler.step() is called at the start of each epoch "
    "instead of at its end, or the lr is read after scheduler.step()",
    ("behind_by_one", "step"): "the logged steps count from 1, or each lr is logged one "
    "step late, as if the first value were skipped",
    ("behind_by_one", "epoch"): "the epochs count from 1, or the scheduler is stepped "
    "one epoch late (once before the first epoch is trained is missing)",
}


def _one_off_diagnosis(kind: DiagnosisKind, unit: str, where: str) -> Diagnosis:
    ahead = kind == "ahead_by_one"
    side, sign = ("ahead of", "+") if ahead else ("behind", "-")
    headline = f"the log is one {unit} {side} the schedule"
    return Diagnosis(
        kind,
        f"{headline}, log(t) == lr(t {sign} 1 {unit}): {_ONE_OFF_CAUSES[(kind, unit)]} ({where})",
        headline=headline,
    )


def _shift_diagnosis(
    decays: Sequence[DecayRow],
    evidence: Evidence,
    schedule: StepSchedule,
    first_mismatch_step: int,
    scale: int,
    steps_per_epoch: int | None,
    where: str,
) -> Diagnosis | None:
    """Every decay moved by one constant, the warmup and the lr levels as planned."""
    rows = list(decays)
    shift = constant_shift(rows, evidence.tolerance, evidence.largest_step)
    first = rows[0] if rows else None
    if shift is None or first is None or first.planned_at is None or first.observed_at is None:
        return None
    if first_mismatch_step < min(first.planned_at, first.last_before or 0):
        return None  # something before the first decay is wrong too
    low, high = shift
    amount = (
        abs(low)
        if low == high
        else f"between {abs(high if low < 0 else low)} and " + (f"{abs(low if low < 0 else high)}")
    )
    direction = "late" if low > 0 else "early"
    in_epochs = ""
    epoch_steps = steps_per_epoch or (scale if scale > 1 else None)
    if low == high and epoch_steps and low % epoch_steps == 0:
        epochs = abs(low) // epoch_steps
        in_epochs = f" ({epochs} epoch{'s' if epochs != 1 else ''})"
    planned = ", ".join(str(row.planned_at) for row in rows if row.observed_at is not None)
    observed = ", ".join(str(row.observed_at) for row in rows if row.observed_at is not None)
    hint = (
        "the decay clock starts after the warmup, as torch's SequentialLR restarts the "
        "second scheduler's count at its switch (timm's warmup_prefix=True)"
        if low == high == schedule.warmup_steps * scale and low > 0
        else "the milestones are off by a constant, as with epochs counted from 1"
    )
    headline = f"each decay came {amount} steps{in_epochs} {direction}"
    return Diagnosis(
        "shifted",
        f"{headline}, the lrs as planned: planned at steps {planned}, first seen at "
        f"{observed}; {hint} ({where})",
        shift=low if low == high else None,
        shift_range=shift,
        headline=headline,
    )


# The fewest optimizer steps per epoch taken as a plausible epoch (a late factor at
# least this large, with an epoch schedule and no steps per epoch, suggests units).
PLAUSIBLE_STEPS_PER_EPOCH = 20
# A log whose steps reach this many times the schedule's first three decays is
# "far beyond the schedule's epochs".
_FAR_BEYOND = 50


def _units_mixed(best: Diagnosis, evidence: Evidence, schedule: StepSchedule) -> bool:
    """An epoch schedule, no steps per epoch, and a log that looks indexed by steps."""
    if schedule.mode != "epoch":
        return False
    late = best.factor_range if best.kind == "late" else None
    if late is not None and late[0] >= PLAUSIBLE_STEPS_PER_EPOCH:
        return True
    span = schedule.boundary(min(3, schedule.boundary_count)) or 1
    return evidence.largest_step >= _FAR_BEYOND * span


def _units_note(best: Diagnosis) -> str:
    probably = ""
    if best.kind == "late" and best.factor_range is not None:
        probably = f", probably {_describe_range(*best.factor_range)}"
    return (
        "; but the schedule counts epochs and no steps per epoch were given, so each "
        "logged step was taken as an epoch: if the log counts optimizer steps, the units "
        "are mixed and the code may well be right: give the steps per epoch "
        f"(steps_per_epoch{probably}) before changing it"
    )


def _describe_range(low: int, high: int | None) -> str:
    if high is None:
        return f"at least {low}"
    return str(low) if low == high else f"between {low} and {high}"


def _factor_diagnosis(
    kind: DiagnosisKind,
    admitted: IntervalSet,
    where: str,
    unit: str,
    steps_per_epoch: int | None,
) -> Diagnosis:
    low, high = admitted[0][0], admitted[-1][1]
    factor = low if low == high else None
    amount = _describe_range(low, high)
    shown = str(factor) if factor is not None else "k"
    if kind == "early":
        message = (
            f"the lr decays {amount} times too early: at step t the log holds the "
            f"schedule's lr at {shown}*t ({where}); the scheduler is stepped {shown} times "
            "per optimizer step: per micro-batch under gradient accumulation, or per batch "
            "while step_size counts epochs"
        )
    else:
        message = (
            f"the lr decays {amount} times too late: at step t the log holds the "
            f"schedule's lr at t/{shown} ({where}); the scheduler is stepped once every "
            f"{shown} optimizer steps: per epoch while step_size counts steps, or only "
            "every few steps"
        )
    note, mixed = _steps_per_epoch_note(kind, factor, (low, high), unit, steps_per_epoch)
    return Diagnosis(
        kind,
        message + note,
        factor=factor,
        factor_range=(low, high),
        units_mixed=mixed,
        headline=f"the lr decays {amount} times too {kind}",
    )


def _steps_per_epoch_note(
    kind: DiagnosisKind,
    factor: int | None,
    admitted: tuple[int, int | None],
    unit: str,
    steps_per_epoch: int | None,
) -> tuple[str, bool]:
    """What a known steps per epoch says about an early or late factor; units mixed?"""
    if steps_per_epoch is None:
        return "", False
    if factor == steps_per_epoch:
        return (
            f"; the factor equals steps_per_epoch ({steps_per_epoch})"
            + (
                ": scheduler.step() runs every batch but the schedule counts epochs"
                if kind == "early"
                else ": scheduler.step() runs once per epoch but the schedule counts steps"
            ),
            False,
        )
    if factor is not None:
        note = f"; the factor is not steps_per_epoch ({steps_per_epoch})"
        if kind == "early":
            note += f", so gradient accumulation over {factor} micro-batches is likelier"
        return note, False
    low, high = admitted
    if steps_per_epoch < low or (high is not None and steps_per_epoch > high):
        return "", False
    if kind == "early" and unit == "epoch":
        cause = (
            "the log's step column probably counts epochs while the schedule converts "
            "optimizer steps to epochs: the units are mixed, and the code may well be right"
        )
    elif kind == "early":
        cause = "scheduler.step() probably runs every batch but the schedule counts epochs"
    else:
        cause = "scheduler.step() probably runs once per epoch but the schedule counts steps"
    return f"; steps_per_epoch ({steps_per_epoch}) is in that range: {cause}", unit == "epoch"


def _reset_diagnosis(admitted: IntervalSet, where: str, unit: str, scale: int) -> Diagnosis:
    low, high = admitted[0][0], admitted[-1][1]
    resume_at = low if low == high else None
    in_steps = f" (step {low * scale})" if scale > 1 and resume_at is not None else ""
    message = (
        f"the lr was reset to the start of the schedule at {unit} "
        f"{_describe_range(low, high)}{in_steps}: from there the log follows the schedule "
        "from 0 again, as when a run is resumed without loading the scheduler's state "
        f"({where})"
    )
    headline = (
        f"the lr was reset to the start of the schedule at {unit} {_describe_range(low, high)}"
    )
    return Diagnosis(
        "reset", message, resume_at=resume_at, resume_range=(low, high), headline=headline
    )


__all__ = ["CheckResult", "Diagnosis", "DiagnosisKind", "Evidence", "diagnose"]
