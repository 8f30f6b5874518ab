"""timm's ``StepLRScheduler`` and ``MultiStepLRScheduler`` as JSON, with timm's exact values.

Every framework module in :mod:`stepsched_cli.formats` (``timm``, ``keras``, ``optax``)
offers the same small interface, so a registry can treat them alike:

- ``FORMAT_NAME``: the name used on the command line (``"timm"``).
- ``detect(document) -> bool``: whether a parsed JSON document is in this format.
- ``parse(document) -> TimmSchedule``: validate a document; raises
  :class:`~stepsched_cli.errors.StateError` for malformed input and
  :class:`~stepsched_cli.errors.ConversionError` for features whose values cannot be
  reproduced (timm's random noise).
- ``TimmSchedule.lr_at(t)``: the lr timm itself computes at position ``t``, quirks
  included; ``.to_schedule()``: the equivalent :class:`StepSchedule` or
  ``ConversionError``; ``.to_document()``: the canonical JSON document; ``.notes``:
  one-line remarks a user should see (timm's early multistep decay).
- ``from_schedule(schedule) -> dict``: a timm document for a :class:`StepSchedule`, or
  ``ConversionError`` naming what timm cannot express.

JSON shape: the scheduler's constructor keyword arguments plus a ``"timm"`` marker
naming the class and the base ``"lr"`` (in timm it comes from the optimizer's param
group, so it must be given)::

    {"timm": "StepLRScheduler", "lr": 0.1, "decay_t": 30, "decay_rate": 0.1,
     "warmup_t": 0, "warmup_lr_init": 0.0, "warmup_prefix": true, "t_in_epochs": true}
    {"timm": "MultiStepLRScheduler", "lr": 0.1, "decay_t": [30, 60], "decay_rate": 0.1}

Missing keys take timm's constructor defaults (``decay_rate=1.0``, ``warmup_t=0``,
``warmup_lr_init=0.0``, ``warmup_prefix=true``, ``t_in_epochs=true``).  The noise
options are accepted only while noise is off (``noise_range_t`` absent or null);
``initialize`` is accepted and ignored.  Any other key is refused.

Semantics (timm 1.0, ``timm/scheduler/step_lr.py`` and ``multistep_lr.py``): timm's
state holds no position; the caller passes it (``step(epoch)`` when ``t_in_epochs``,
``step_update(num_updates)`` otherwise), so ``t`` here is that argument.  With
``s = (lr - warmup_lr_init) / warmup_t``:

- ``t < warmup_t``: ``warmup_lr_init + t * s``.
- otherwise, with ``u = t - warmup_t`` if ``warmup_prefix`` else ``u = t``:
  StepLR gives ``lr * decay_rate ** (u // decay_t)``; MultiStepLR gives
  ``lr * decay_rate ** bisect_right(decay_t, u + 1)``, so a ``decay_t`` entry ``d``
  takes effect at ``u = d - 1``, one position before the milestone (timm keeps this on
  purpose for compatibility).  Converting to stepsched therefore gives milestone
  ``d - 1``, and stepsched's milestone ``m`` is written as ``decay_t`` entry ``m + 1``:
  the lr at every position is unchanged.
- Without ``warmup_prefix`` the decay clock does not wait for the warmup: stepsched's
  default (absolute decay positions); with it, stepsched's ``warmup_prefix=True``.

:meth:`TimmSchedule.lr_at` computes in float64 exactly as timm does (``decay_rate ** k``
then one multiplication), so it matches timm bit for bit; the converted
:class:`StepSchedule` rounds the exact decimal product once instead, so the two differ by
at most about ``k + 2`` ulps after ``k`` decays.

Example:
    >>> timm_schedule = parse({"timm": "MultiStepLRScheduler", "lr": 0.1,
    ...                        "decay_t": [30, 60], "decay_rate": 0.1})
    >>> [timm_schedule.lr_at(t) for t in (28, 29, 58, 59)]
    [0.1, 0.010000000000000002, 0.010000000000000002, 0.0010000000000000002]
    >>> timm_schedule.to_schedule().milestones
    (29, 59)
"""

from __future__ import annotations

import bisect
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal, cast

from stepsched_cli import validate
from stepsched_cli.errors import ConversionError, ScheduleError, StateError
from stepsched_cli.formats.frameworks.common import (
    boolean,
    check_keys,
    checked_schedule,
    decay_rate,
    number,
    positive_number,
    whole_period,
)
from stepsched_cli.numbers import format_items
from stepsched_cli.schedule import StepSchedule, check_position
from stepsched_cli.validate import shown

FORMAT_NAME = "timm"
MARKER = "timm"

TimmKind = Literal["StepLRScheduler", "MultiStepLRScheduler"]
KINDS: tuple[TimmKind, ...] = ("StepLRScheduler", "MultiStepLRScheduler")

# The scheduler's own parameters, as timm names them (its state_dict() holds them too).
SCHEDULER_FIELDS = (
    "decay_t",
    "decay_rate",
    "warmup_t",
    "warmup_lr_init",
    "warmup_prefix",
    "t_in_epochs",
    "noise_range_t",
    "noise_pct",
    "noise_std",
    "noise_seed",
)
_ALLOWED_KEYS = frozenset({MARKER, "lr", *SCHEDULER_FIELDS, "initialize"})


@dataclass(frozen=True)
class TimmSchedule:
    """A timm step scheduler's parameters, evaluated the way timm evaluates them.

    Attributes:
        kind: ``"StepLRScheduler"`` or ``"MultiStepLRScheduler"``.
        lr: The optimizer's base lr (timm's ``base_values``), > 0.
        decay_t: Positions between decays (StepLR; an int, or a float as timm allows)
            or the sorted decay positions (MultiStepLR; ints >= 0).
        decay_rate: Factor per decay, 0 < decay_rate <= 1 (1 never decays).
        warmup_t: Positions of linear warmup, >= 0.
        warmup_lr_init: The lr at position 0 during warmup, >= 0.
        warmup_prefix: Whether the decay clock starts after the warmup.
        t_in_epochs: Whether positions are epochs (``step``) or updates (``step_update``).
    """

    kind: TimmKind
    lr: float
    decay_t: int | float | tuple[int, ...]
    decay_rate: float = 1.0
    warmup_t: int = 0
    warmup_lr_init: float = 0.0
    warmup_prefix: bool = True
    t_in_epochs: bool = True
    noise_range_t: float | tuple[float, ...] | None = None

    def lr_at(self, t: int) -> float:
        """The lr timm sets for position ``t``, computed with timm's float64 arithmetic.

        Raises:
            ScheduleError: ``t`` is not an integer >= 0, or so large that timm's own
                arithmetic overflows (Python's ``decay_rate ** decays`` raises
                OverflowError past about 1.8e308 decays).
        """
        position = check_position(t)
        if position < self.warmup_t:
            slope = (self.lr - self.warmup_lr_init) / self.warmup_t
            return self.warmup_lr_init + position * slope
        clock = position - self.warmup_t if self.warmup_prefix else position
        try:
            if isinstance(self.decay_t, tuple):
                decays: int | float = bisect.bisect_right(self.decay_t, clock + 1)
            else:
                decays = clock // self.decay_t
            return self.lr * (self.decay_rate**decays)
        except OverflowError:
            raise ScheduleError(
                f"timm cannot evaluate t of {position.bit_length()} bits: its float "
                "arithmetic overflows there (Python raises OverflowError)"
            ) from None

    @property
    def notes(self) -> tuple[str, ...]:
        """Remarks about timm's behaviour that a user converting this schedule should see."""
        notes: list[str] = []
        if self.noise_range_t is not None:
            notes.append(_noise_note(self.noise_range_t))
        if self.kind != "MultiStepLRScheduler" or not self.decay_t:
            return tuple(notes)
        milestones = cast(tuple[int, ...], self.decay_t)
        offset = self.warmup_t if self.warmup_prefix else 0
        effective = [max(0, offset + d - 1) for d in milestones]
        notes.insert(
            0,
            "timm's MultiStepLRScheduler decays one position before each decay_t entry "
            f"(bisect on t + 1): decay_t=[{format_items(milestones)}] decays at "
            f"t=[{format_items(effective)}]",
        )
        return tuple(notes)

    def to_schedule(self) -> StepSchedule:
        """The :class:`StepSchedule` giving the same lr at every position.

        Raises:
            ConversionError: timm's behaviour has no exact stepsched equivalent: no decay
                (``decay_rate`` 1), a fractional ``decay_t``, a multistep entry that
                decays before the first position, or a repeated entry (a double decay
                at one position).
        """
        if self.noise_range_t is not None:
            raise ConversionError(
                f"timm noise_range_t={_shown_range(self.noise_range_t)} adds random noise "
                "drawn from torch's generator, which cannot be reproduced; set it to null"
            )
        if self.decay_rate == 1.0:
            raise ConversionError("timm decay_rate=1.0 never decays; stepsched needs 0 < gamma < 1")
        mode: Literal["step", "epoch"] = "epoch" if self.t_in_epochs else "step"
        common: dict[str, Any] = {
            "initial_lr": self.lr,
            "gamma": self.decay_rate,
            "warmup_steps": self.warmup_t,
            "warmup_start_lr": self.warmup_lr_init,
            "mode": mode,
            "warmup_prefix": self.warmup_prefix and self.warmup_t > 0,
        }
        if isinstance(self.decay_t, tuple):
            common["milestones"] = _milestones_from_timm(self.decay_t)
        else:
            common["step_size"] = whole_period(self.decay_t, "timm decay_t")
        return checked_schedule("timm", **common)

    def to_document(self) -> dict[str, Any]:
        """The canonical JSON document (every key written, defaults included)."""
        decay_t = list(self.decay_t) if isinstance(self.decay_t, tuple) else self.decay_t
        return {
            MARKER: self.kind,
            "lr": self.lr,
            "decay_t": decay_t,
            "decay_rate": self.decay_rate,
            "warmup_t": self.warmup_t,
            "warmup_lr_init": self.warmup_lr_init,
            "warmup_prefix": self.warmup_prefix,
            "t_in_epochs": self.t_in_epochs,
        } | (
            {}
            if self.noise_range_t is None
            else {"noise_range_t": _shown_range(self.noise_range_t)}
        )


def _milestones_from_timm(decay_t: tuple[int, ...]) -> tuple[int, ...]:
    if not decay_t:
        raise ConversionError(
            "timm decay_t=[] never decays; stepsched needs at least one milestone"
        )
    previous: int | None = None
    for entry in decay_t:
        if entry <= 1:
            raise ConversionError(
                f"timm decay_t entry {entry} decays at t={entry - 1}, before the first "
                "position can run undecayed; stepsched milestones must be >= 1 "
                "(timm decays one position before each entry)"
            )
        if entry == previous:
            raise ConversionError(
                f"timm decay_t repeats {entry}, decaying twice at once; stepsched "
                "milestones must be strictly increasing"
            )
        previous = entry
    return tuple(entry - 1 for entry in decay_t)


def detect(document: object) -> bool:
    """Whether ``document`` is a timm schedule document (it carries the ``"timm"`` marker)."""
    return isinstance(document, Mapping) and document.get(MARKER) in KINDS


def parse(document: object) -> TimmSchedule:
    """Read a timm schedule document (see the module docstring for its shape).

    Raises:
        StateError: not a JSON object, an unknown marker or key, or a field of the
            wrong type or range; the message names the field and the value.
        ConversionError: noise is switched on (timm draws it from torch's random
            generator, which stepsched cannot reproduce).
    """
    if not isinstance(document, Mapping):
        raise StateError(f"a timm schedule must be a JSON object, got {type(document).__name__}")
    kind = document.get(MARKER)
    if kind not in KINDS:
        raise StateError(
            f"timm must be 'StepLRScheduler' or 'MultiStepLRScheduler', got {shown(kind)}"
        )
    check_keys(document, _ALLOWED_KEYS, f"timm {kind} document")
    if "lr" not in document:
        raise StateError("timm document needs 'lr', the optimizer's base learning rate")
    if "decay_t" not in document:
        raise StateError(f"timm {kind} document needs 'decay_t'")
    lr = positive_number(document["lr"], "lr")
    rate = decay_rate(document.get("decay_rate", 1.0))
    warmup_t = _integer(document.get("warmup_t", 0), "warmup_t", 0)
    warmup_lr_init = number(document.get("warmup_lr_init", 0.0), "warmup_lr_init")
    if warmup_lr_init < 0:
        raise StateError(
            f"warmup_lr_init must be a finite number >= 0, got {shown(document['warmup_lr_init'])}"
        )
    decay_t = (
        _step_decay_t(document["decay_t"])
        if kind == "StepLRScheduler"
        else _multistep_decay_t(document["decay_t"])
    )
    return TimmSchedule(
        kind=cast(TimmKind, kind),
        lr=lr,
        decay_t=decay_t,
        decay_rate=rate,
        warmup_t=warmup_t,
        warmup_lr_init=warmup_lr_init,
        warmup_prefix=boolean(document.get("warmup_prefix", True), "warmup_prefix"),
        t_in_epochs=boolean(document.get("t_in_epochs", True), "t_in_epochs"),
        noise_range_t=_noise_range(document.get("noise_range_t")),
    )


def from_schedule(schedule: StepSchedule) -> dict[str, Any]:
    """A timm document that gives ``schedule``'s lr at every position.

    ``step_size`` becomes a ``StepLRScheduler``; ``milestones`` become a
    ``MultiStepLRScheduler`` whose ``decay_t`` entries are the milestones plus one
    (timm decays one position before each entry).  Warmup is written with the
    schedule's ``warmup_prefix``; ``mode="epoch"`` sets ``t_in_epochs``.

    Raises:
        ConversionError: ``schedule`` has a floor (``min_lr`` > 0), which timm's step
            schedulers lack.

    Example:
        >>> from_schedule(StepSchedule(0.1, milestones=(30, 80)))["decay_t"]
        [31, 81]
    """
    if schedule.min_lr > 0:
        raise ConversionError(
            f"min_lr={schedule.min_lr!r} cannot be written for timm: its step schedulers "
            "have no floor"
        )
    if schedule.milestones is not None:
        kind: TimmKind = "MultiStepLRScheduler"
        decay_t: int | float | tuple[int, ...] = tuple(m + 1 for m in schedule.milestones)
    else:
        kind = "StepLRScheduler"
        decay_t = cast(int, schedule.step_size)
    return TimmSchedule(
        kind=kind,
        lr=schedule.initial_lr,
        decay_t=decay_t,
        decay_rate=schedule.gamma,
        warmup_t=schedule.warmup_steps,
        warmup_lr_init=schedule.warmup_start_lr if schedule.warmup_steps else 0.0,
        warmup_prefix=schedule.warmup_prefix or not schedule.warmup_steps,
        t_in_epochs=schedule.mode == "epoch",
    ).to_document()


def _integer(value: object, name: str, minimum: int) -> int:
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return validate.integer(
        value, name, minimum=minimum, error=StateError, parameter=name.split("[")[0]
    )


def _step_decay_t(value: object) -> int | float:
    period = number(value, "decay_t")
    if period <= 0:
        raise StateError(f"decay_t must be a number > 0, got {shown(value)}")
    if isinstance(value, int) or period.is_integer():
        return int(period)
    return period


def _multistep_decay_t(value: object) -> tuple[int, ...]:
    if not isinstance(value, list):
        raise StateError(f"decay_t must be a list of sorted integers >= 0, got {shown(value)}")
    entries = tuple(_integer(entry, f"decay_t[{i}]", 0) for i, entry in enumerate(value))
    for index in range(1, len(entries)):
        if entries[index] < entries[index - 1]:
            raise StateError(
                "decay_t must be sorted (timm bisects it), got "
                f"{entries[index]} after {entries[index - 1]} at index {index}"
            )
    return entries


def _noise_range(value: object) -> float | tuple[float, ...] | None:
    """``noise_range_t``: None, a start (noise from there on), or ``[start, end]``."""
    if value is None:
        return None
    if isinstance(value, list):
        if not 1 <= len(value) <= 2:
            raise StateError(
                f"noise_range_t must be a number or [start, end], got {validate.shown(value)}"
            )
        return tuple(
            _kept(number(item, f"noise_range_t[{i}]"), item) for i, item in enumerate(value)
        )
    return _kept(number(value, "noise_range_t"), value)


def _kept(parsed: float, given: object) -> float:
    """An integral number as the int it was written as (for messages)."""
    return given if isinstance(given, int) else parsed


def _shown_range(noise: float | tuple[float, ...]) -> object:
    return list(noise) if isinstance(noise, tuple) else noise


def _noise_note(noise: float | tuple[float, ...]) -> str:
    if isinstance(noise, tuple) and len(noise) == 2:
        where = f"for {noise[0]!r} <= t < {noise[1]!r}"
    else:
        start = noise[0] if isinstance(noise, tuple) else noise
        where = f"from t={start!r} on"
    return (
        f"timm multiplies the lr by random noise {where} (torch.Generator seeded with "
        "noise_seed + t), which stepsched cannot reproduce: the lrs shown are without it"
    )
