"""Exact drop-ins for torch's ``StepLR`` and ``MultiStepLR``.

``StepLR(optimizer, step_size, gamma=0.1, last_epoch=-1)`` and ``MultiStepLR(optimizer,
milestones, gamma=0.1, last_epoch=-1)`` are ``torch.optim.lr_scheduler.LRScheduler``
subclasses with torch's constructors, ``step()``, ``get_last_lr()`` and state dict
keys, so Lightning, the Hugging Face Trainer and Ignite take them as they take torch's,
and a state dict saved by one loads into the other.  timm's training loop calls
``step(epoch, metric)`` and ``step_update(num_updates, metric)``, which torch's classes
lack; ours take them once ``t_in_epochs`` says which one counts.  The difference is
the value: torch multiplies the previous lr by gamma at each decay and drifts (12.5
ulps after 100,000 decays with gamma 0.999, ``0.0010000000000000002`` already at the
second decay of 0.1); here every group's lr is the float nearest to the exact
``base_lr * gamma ** k`` with both read as the decimals they stand for
(docs/design.md, "Exact powers"), computed from ``last_epoch`` alone, so it is the
same at any position however it was reached.

Import this module only where torch is installed: importing ``stepsched_cli`` does
not import it.

Example:
    >>> import torch
    >>> from stepsched_cli.torch import StepLR
    >>> optimizer = torch.optim.SGD(torch.nn.Linear(1, 1).parameters(), lr=0.1)
    >>> scheduler = StepLR(optimizer, step_size=30, gamma=0.1)
    >>> for _ in range(60):
    ...     optimizer.step()
    ...     scheduler.step()
    >>> scheduler.get_last_lr(), optimizer.param_groups[0]["lr"]
    ([0.001], 0.001)
"""

from __future__ import annotations

import bisect
import itertools
import math
import operator
import sys
import warnings
from collections import Counter
from collections.abc import Iterable, Iterator
from typing import Any

from torch import Tensor
from torch.optim import Optimizer
from torch.optim.lr_scheduler import LRScheduler

from stepsched_cli.decay_rows import DecayRows
from stepsched_cli.errors import ScheduleError
from stepsched_cli.validate import boolean, finite_number, integer, integers, listed, shown

__all__ = ["MultiStepLR", "StepLR"]

# Attributes of ours that are not torch's: left out of state_dict(), so the keys are
# torch's and a state dict moves between our classes and torch's both ways.
_OWN_PREFIX = "_exact_"
# itertools counts are C ssize_ts; no run takes this many steps (2**63 - 1 on 64 bits).
_MOST_REPEATS = sys.maxsize


def _check_gamma(gamma: object) -> float:
    value = finite_number(gamma, "gamma", error=ScheduleError)
    if not 0 < value < 1:
        raise ScheduleError(
            f"gamma must be a number with 0 < gamma < 1, got {gamma!r}", parameter="gamma"
        )
    return value


# Our caches in the scheduler's __dict__ (made again when missing).
_CACHES = ("_exact_now", "_exact_order")

# ``step(epoch)`` without a metric is torch's call; timm's loop passes one (even None).
_NO_METRIC: Any = object()


def _check_unit(t_in_epochs: object) -> bool | None:
    if t_in_epochs is None:
        return None
    return boolean(t_in_epochs, "t_in_epochs", error=ScheduleError)


class _Now:
    """The lrs at one epoch, the rows of the epochs after it, and what made them.

    ``current`` holds the lrs at epoch ``expected - 1``; ``stream`` yields those of
    ``expected``, ``expected + 1``, ... (a C-level chain of repeated rows of
    :class:`~stepsched_cli.decay_rows.DecayRows`).  ``raw``, ``gamma`` and ``schedule``
    (the step size, or the milestones) are what the rows were computed from: the base
    lrs and gamma compared by value, the schedule by identity, so a loaded state dict
    or an attribute assigned anew is seen at the next step.
    """

    __slots__ = ("current", "expected", "gamma", "plain", "raw", "schedule", "stream", "zeros")

    def __init__(self, owner: _ExactLR, epoch: int) -> None:
        self.raw, self.gamma, self.schedule = list(owner.base_lrs), owner.gamma, owner._schedule()
        bases = _base_lrs(self.raw)
        # 0.0 == -0.0: with a zero base lr, its sign is compared too.
        self.zeros = _signs(bases) if 0.0 in bases else None
        rows = DecayRows(bases, _check_gamma(self.gamma), owner._decays(epoch))
        self.current, self.expected = rows.values, epoch + 1
        self.stream = owner._epoch_rows(epoch, rows)
        self.plain = False


class _ExactLR(LRScheduler):  # type: ignore[misc]  # torch is untyped here (optional)
    """The closed form shared by both schedulers: lrs from ``last_epoch`` alone.

    ``get_lr()`` is torch's hook, called by ``step()``; it returns one lr per
    parameter group, derived from the group's base lr and the decay count at
    ``last_epoch``.  The rows of the coming epochs are an iterator (:class:`_Now`), so
    a step takes the next one whether it decays or not; any other epoch (a resumed
    or changed schedule) starts the rows over from a random-access power.  Changes made
    to a group's lr from outside (another scheduler chained on the same optimizer) are
    not composed, as with torch's closed form.
    """

    gamma: float
    base_lrs: list[Any]
    last_epoch: int

    def _decays(self, epoch: int) -> int:
        """The decay count at ``epoch``."""
        raise NotImplementedError

    def _epoch_rows(self, epoch: int, rows: DecayRows) -> Iterator[list[float]]:
        """The lrs at each epoch after ``epoch``, from ``rows`` (at ``epoch``'s count)."""
        raise NotImplementedError

    def _schedule(self) -> object:
        """What the decay count is computed from: the step size, or the milestones."""
        raise NotImplementedError

    def step(self, epoch: int | None = None, metric: object = _NO_METRIC) -> None:
        """torch's ``step()``; plain float lrs after the first steps take a shorter path.

        The path sets what torch's sets (``_step_count``, ``last_epoch``, each group's
        ``lr``, ``_last_lr``); the first steps (where torch warns about the call order),
        ``step(epoch)`` and tensor lrs go through torch's own ``step()``.  timm's
        ``step(epoch, metric)``, and ``step(epoch)`` once ``t_in_epochs`` is said, go
        to :meth:`_timm_step`.
        """
        if metric is not _NO_METRIC or (epoch is not None and self.t_in_epochs is not None):
            self._timm_step(epoch, metric)
            return
        now: _Now | None = self.__dict__.get("_exact_now")
        groups = self.optimizer.param_groups
        if epoch is not None or now is None or not now.plain or self._step_count <= 1:
            super().step(epoch)
            now = self.__dict__.get("_exact_now")
            if now is not None:
                now.plain = all(type(group["lr"]) is float for group in groups)
            return
        self._step_count += 1
        epoch = self.last_epoch = self.last_epoch + 1
        if (
            epoch == now.expected
            and now.gamma == self.gamma
            and now.schedule is self._schedule()
            and now.raw == self.base_lrs
            and (now.zeros is None or now.zeros == _signs(self.base_lrs))
        ):
            now.current = row = next(now.stream)
            now.expected = epoch + 1
            values = list(row)
        else:
            values = self._exact_lrs()
        for group, lr in zip(groups, values, strict=False):  # as torch's step()
            group["lr"] = lr
        self._last_lr = values

    # timm's training loop (train.py) drives a scheduler by the position it counts:
    # step(epoch, metric) after each epoch, step_update(num_updates, metric) after
    # each optimizer update, and reads t_in_epochs.  See docs/dropin.md.

    @property
    def t_in_epochs(self) -> bool | None:
        """What timm's calls count: True epochs, False updates, None not said (refused)."""
        unit: bool | None = self.__dict__.get("_exact_t_in_epochs")
        return unit

    def step_update(self, num_updates: int, metric: object = None) -> None:
        """timm's call after each optimizer update: the position is ``num_updates``.

        With ``t_in_epochs=False`` the lrs become those at ``last_epoch = num_updates``
        (as ``num_updates`` calls of ``step()`` would leave them); with ``True`` the
        call does nothing, as for timm's own schedulers.  ``metric`` is not used.

        Raises:
            ScheduleError: ``t_in_epochs`` not given, ``num_updates`` not an integer
                >= 0, or a group with timm's ``lr_scale``.

        Example:
            >>> import torch
            >>> optimizer = torch.optim.SGD(torch.nn.Linear(1, 1).parameters(), lr=0.1)
            >>> scheduler = StepLR(optimizer, step_size=30, t_in_epochs=False)
            >>> scheduler.step_update(num_updates=60, metric=None)
            >>> scheduler.get_last_lr(), scheduler.last_epoch
            ([0.001], 60)
        """
        if self._timm_unit("step_update(num_updates)") is False:
            self._move_to(integer(num_updates, "num_updates", limit=None, error=ScheduleError))

    def _timm_step(self, epoch: object, metric: object) -> None:
        """timm's ``step(epoch, metric)``: the position is ``epoch`` when it counts epochs."""
        if self._timm_unit("step(epoch, metric)"):
            self._move_to(integer(epoch, "epoch", limit=None, error=ScheduleError))
        elif metric is _NO_METRIC:
            raise ScheduleError(
                f"step({shown(epoch)}) sets an epoch, but this scheduler counts updates "
                "(t_in_epochs=False): call step_update(num_updates) instead "
                "(timm's train.py does with --sched-on-updates)",
                parameter="epoch",
            )
        # else: timm's per-epoch call to a scheduler that counts updates does nothing.

    def _timm_unit(self, call: str) -> bool:
        unit = self.t_in_epochs
        if unit is None:
            name = type(self).__name__
            raise ScheduleError(
                f"t_in_epochs must be True or False for timm's {call}: its loop calls "
                "both step(epoch, metric) and step_update(num_updates, metric); "
                f"{name}(..., t_in_epochs=True) counts epochs, False updates",
                parameter="t_in_epochs",
            )
        for index, group in enumerate(self.optimizer.param_groups):
            scale = group.get("lr_scale", 1.0)
            if scale != 1.0:
                raise ScheduleError(
                    f"param_groups[{index}]['lr_scale'] is {shown(scale)}: timm's layer "
                    "decay, which torch's schedulers do not apply; give the group its own "
                    "lr instead",
                    parameter="lr_scale",
                )
        return unit

    def _move_to(self, position: int) -> None:
        """What torch's ``step(position)`` sets, without its deprecation warning."""
        self._step_count += 1
        self.last_epoch = position
        groups = self.optimizer.param_groups
        for group, lr in zip(groups, self._exact_lrs(), strict=True):
            if isinstance(group["lr"], Tensor):
                group["lr"].fill_(lr)
            else:
                group["lr"] = lr
        self._last_lr = [
            group["lr"].clone() if isinstance(group["lr"], Tensor) else group["lr"]
            for group in groups
        ]

    def get_lr(self) -> list[float]:
        """The lrs at ``last_epoch``; use :meth:`get_last_lr` for the applied ones."""
        if not getattr(self, "_get_lr_called_within_step", False):
            warnings.warn(
                "To get the last learning rate computed by the scheduler, "
                "please use `get_last_lr()`.",
                UserWarning,
                stacklevel=2,
            )
        return self._exact_lrs()

    def _get_closed_form_lr(self) -> list[float]:
        # torch calls this for the deprecated step(epoch): the same values.
        return self._exact_lrs()

    def _exact_lrs(self) -> list[float]:
        """A new list of the exact lrs at ``last_epoch``."""
        epoch = self.last_epoch
        now: _Now | None = self.__dict__.get("_exact_now")
        if (
            now is not None
            and now.gamma == self.gamma
            and now.schedule is self._schedule()
            and now.raw == self.base_lrs
            and (now.zeros is None or now.zeros == _signs(self.base_lrs))
        ):
            if epoch == now.expected:
                now.current = next(now.stream)
                now.expected = epoch + 1
                return list(now.current)
            if epoch == now.expected - 1:
                return list(now.current)
        now = self.__dict__["_exact_now"] = _Now(self, epoch)
        return list(now.current)

    def __getstate__(self) -> dict[str, Any]:
        """What pickling (``copy.deepcopy``, ``torch.save`` of the object) keeps: every
        attribute but the caches of rows, which hold iterators; they are made again at
        the next step, from the same attributes."""
        return {key: value for key, value in self.__dict__.items() if key not in _CACHES}

    def state_dict(self) -> dict[str, Any]:
        """torch's state dict: every attribute but the optimizer (and our cache)."""
        state: dict[str, Any] = super().state_dict()
        return {key: value for key, value in state.items() if not key.startswith(_OWN_PREFIX)}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Load a state dict written by this class or by torch's own."""
        super().load_state_dict(
            {key: value for key, value in state_dict.items() if not key.startswith(_OWN_PREFIX)}
        )
        for cache in _CACHES:
            self.__dict__.pop(cache, None)


def _signs(lrs: list[Any]) -> list[float]:
    return [math.copysign(1.0, lr) for lr in lrs]


def _base_lrs(raw: list[Any]) -> list[float]:
    return [_base_lr(index, value) for index, value in enumerate(raw)]


def _base_lr(index: int, value: object) -> float:
    number = value.item() if hasattr(value, "item") else value  # a tensor lr
    return finite_number(
        number, f"param_groups[{index}]['initial_lr']", error=ScheduleError, parameter="base_lrs"
    )


class StepLR(_ExactLR):
    """torch's ``StepLR``, exact: ``base_lr * gamma ** (last_epoch // step_size)``.

    Args:
        optimizer: A ``torch.optim.Optimizer``; each parameter group is scaled from
            its own initial lr (``initial_lr``, set from ``lr`` when ``last_epoch`` is
            -1), as torch does.
        step_size: Epochs (or steps, as you call ``step()``) between decays, an
            integer >= 1.
        gamma: The decay factor, 0 < gamma < 1.
        last_epoch: -1 to start; the index of the last epoch when resuming.
        t_in_epochs: Only for timm's training loop (keyword only, timm's name): True
            when ``step_size`` counts epochs (``step(epoch, metric)`` sets the position,
            ``step_update`` does nothing), False when it counts optimizer updates
            (``step_update(num_updates, metric)`` sets it, ``step(epoch, metric)`` does
            nothing).  None (the default): timm's calls are refused.  Not part of the
            state dict.

    Raises:
        ScheduleError: (a ``ValueError``) ``step_size`` or ``gamma`` out of range, or a
            group's initial lr not a finite number.
    """

    def __init__(
        self,
        optimizer: Optimizer,
        step_size: int,
        gamma: float = 0.1,
        last_epoch: int = -1,
        *,
        t_in_epochs: bool | None = None,
    ) -> None:
        self._exact_t_in_epochs = _check_unit(t_in_epochs)
        self.step_size = integer(step_size, "step_size", minimum=1, limit=None, error=ScheduleError)
        self.gamma = _check_gamma(gamma)
        super().__init__(
            optimizer,
            integer(last_epoch, "last_epoch", minimum=-1, limit=None, error=ScheduleError),
        )

    def _decays(self, epoch: int) -> int:
        # Checked again: a state dict (torch's accepts 30.0) or an assignment may set it.
        size = integer(self.step_size, "step_size", minimum=1, limit=None, error=ScheduleError)
        return max(0, epoch // size)

    def _epoch_rows(self, epoch: int, rows: DecayRows) -> Iterator[list[float]]:
        size = min(self.step_size, _MOST_REPEATS)
        # the epochs after it with its count
        rest = min((rows.k + 1) * self.step_size - 1 - epoch, _MOST_REPEATS)
        later = map(itertools.repeat, rows.following(), itertools.repeat(size))
        return itertools.chain(
            itertools.repeat(rows.values, rest), itertools.chain.from_iterable(later)
        )

    def _schedule(self) -> object:
        return self.step_size


class MultiStepLR(_ExactLR):
    """torch's ``MultiStepLR``, exact: one decay per milestone at or before ``last_epoch``.

    Milestones are kept in a ``Counter`` as torch keeps them, so a repeated milestone
    decays once per repetition and the state dict is torch's.  They are read when
    assigned (here, by ``load_state_dict``, or ``scheduler.milestones = Counter(...)``);
    a ``Counter`` changed in place is not seen.

    Args:
        optimizer: As for :class:`StepLR`.
        milestones: Epoch indices (integers >= 0); the lr is multiplied by ``gamma`` at
            each, as torch's ``MultiStepLR`` does.
        gamma: The decay factor, 0 < gamma < 1.
        last_epoch: -1 to start; the index of the last epoch when resuming.
        t_in_epochs: As for :class:`StepLR`: what timm's loop's calls count (the
            milestones' unit).

    Raises:
        ScheduleError: a milestone that is not an integer >= 0, or ``gamma`` out of
            range.
    """

    def __init__(
        self,
        optimizer: Optimizer,
        milestones: Iterable[int],
        gamma: float = 0.1,
        last_epoch: int = -1,
        *,
        t_in_epochs: bool | None = None,
    ) -> None:
        self._exact_t_in_epochs = _check_unit(t_in_epochs)
        checked = integers(milestones, "milestones", minimum=0, error=ScheduleError)
        self.milestones = Counter(checked)
        self.gamma = _check_gamma(gamma)
        super().__init__(
            optimizer,
            integer(last_epoch, "last_epoch", minimum=-1, limit=None, error=ScheduleError),
        )

    def _order(self) -> _Milestones:
        order: _Milestones | None = self.__dict__.get("_exact_order")
        if order is None or order.counter is not self.milestones:
            order = self.__dict__["_exact_order"] = _Milestones(self.milestones)
        return order

    def _decays(self, epoch: int) -> int:
        # One decay per milestone (repetitions counted) at or before epoch, as torch's
        # sum over its Counter.
        order = self._order()
        return order.decays[bisect.bisect_right(order.sorted, epoch)]

    def _epoch_rows(self, epoch: int, rows: DecayRows) -> Iterator[list[float]]:
        return self._order().epoch_rows(epoch, rows)

    def _schedule(self) -> object:
        return self.milestones


# The most decays a milestone Counter may count in all (torch's from a list this long
# is far beyond any schedule; the walk keeps one byte per decay).
_MOST_DECAYS = 2**24


class _Milestones:
    """A milestone Counter in order (those counted 0 times left out: they change
    nothing), the decays passed after each, and which rows a walk keeps.

    ``decays[i]`` is the decay count before milestone ``i``; ``keep`` has one byte
    per decay, 1 at the last decay of each milestone (a milestone counted ``n`` times
    moves ``n`` rows on and shows the last).
    """

    __slots__ = ("counter", "decays", "keep", "sorted")

    def __init__(self, counter: Counter[int]) -> None:
        self.counter = counter
        # Checked here too: a state dict (torch's accepts 30.0) or an assignment sets them.
        odd = [m for m in counter if isinstance(m, bool) or not isinstance(m, int) or m < 0]
        if odd:
            raise ScheduleError(
                "milestones must be integers >= 0, got " + listed(shown(m) for m in odd),
                parameter="milestones",
            )
        bad = [m for m in sorted(counter) if type(counter[m]) is not int or counter[m] < 0]
        if bad:
            raise ScheduleError(
                "milestones must count each milestone's decays as an integer >= 0, got "
                + listed(f"{m!r}: {counter[m]!r}" for m in bad),
                parameter="milestones",
            )
        self.sorted = sorted(m for m in counter if counter[m])
        counts = [counter[m] for m in self.sorted]
        self.decays = [0, *itertools.accumulate(counts)]
        if self.decays[-1] > _MOST_DECAYS:
            raise ScheduleError(
                f"milestones count {self.decays[-1]:,} decays in all; at most "
                f"{_MOST_DECAYS:,} are supported",
                parameter="milestones",
            )
        self.keep = b"".join(bytes(count - 1) + b"\1" for count in counts)

    def epoch_rows(self, epoch: int, rows: DecayRows) -> Iterator[list[float]]:
        """The lrs at each epoch after ``epoch``; ``rows`` is at ``epoch``'s count.

        One C-level chain: the current row until the next milestone, then each
        milestone's row repeated until the one after it, the last one forever.
        """
        passed = bisect.bisect_right(self.sorted, epoch)
        if passed == len(self.sorted):
            return itertools.repeat(rows.values)
        keep = itertools.islice(self.keep, self.decays[passed], None)
        kept = itertools.compress(rows.following(), keep)
        gaps = map(operator.sub, self.sorted[passed + 1 :], self.sorted[passed:])
        if self.sorted[-1] > _MOST_REPEATS:  # (only then: a call per milestone)
            gaps = map(min, gaps, itertools.repeat(_MOST_REPEATS))
        between = map(itertools.repeat, itertools.islice(kept, len(self.sorted) - passed - 1), gaps)
        return itertools.chain(
            itertools.repeat(rows.values, min(self.sorted[passed] - 1 - epoch, _MOST_REPEATS)),
            itertools.chain.from_iterable(between),
            itertools.chain.from_iterable(_forever(kept)),
        )


def _forever(rows: Iterator[list[float]]) -> Iterator[Iterator[list[float]]]:
    """The next row, repeated without end (taken only when it is reached)."""
    yield itertools.repeat(next(rows))
