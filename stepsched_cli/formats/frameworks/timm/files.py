"""The files a timm user has: a scheduler's ``state_dict()``, ``train.py``'s args, YAML.

:mod:`~stepsched_cli.formats.frameworks.timm.schedule` is the schedule model (a
``{"timm": ...}`` document and timm's exact arithmetic); this module turns what timm
itself writes into that model, with timm's own rules for every value (timm 1.0,
``timm/scheduler/scheduler_factory.py`` and ``train.py``):

- :func:`schedule_from_state`: ``StepLRScheduler``/``MultiStepLRScheduler``
  ``.state_dict()``, the object's attributes (``base_values``, ``decay_t``,
  ``decay_rate``, ``warmup_t``, ``warmup_lr_init``, ``warmup_prefix``,
  ``t_in_epochs``, the noise fields).  It holds no position: the checkpoint's
  ``epoch`` gives it.  Its ``warmup_steps`` is the warmup slope per group, not a count.
- :func:`schedule_from_args`: ``train.py``'s arguments (``args.yaml``, the same as
  JSON, or the ``scheduler_kwargs()`` dict) with ``sched: step|multistep``.  As
  ``create_scheduler_v2`` does: ``decay_epochs`` is StepLR's ``decay_t``,
  ``decay_milestones`` MultiStepLR's; ``warmup_epochs``/``warmup_lr`` the warmup;
  ``warmup_prefix`` defaults to false there (the classes default to true); with
  ``sched_on_updates`` every epoch count is multiplied by the loader's updates per
  epoch (not in the args: give it); step and multistep ignore ``min_lr``;
  ``lr_noise`` fractions of ``epochs`` give the noise range.
- :func:`resume_position`: where ``train.py`` resumes from a ``CheckpointSaver`` file
  holding ``epoch``: ``epoch + 1``, in updates when ``sched_on_updates``.

Example:
    >>> args = {"sched": "multistep", "lr": 0.2, "decay_milestones": [2, 4],
    ...         "decay_rate": 0.1, "warmup_epochs": 0, "epochs": 5}
    >>> schedule = schedule_from_args(args)
    >>> schedule.decay_t, [schedule.lr_at(t) for t in (0, 1, 3)]
    ((2, 4), [0.2, 0.020000000000000004, 0.0020000000000000005])
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from stepsched_cli import validate
from stepsched_cli.errors import StateError, StateFileError
from stepsched_cli.formats.frameworks.timm import schedule as timm
from stepsched_cli.formats.frameworks.timm.schedule import TimmSchedule

STATE_KEYS = frozenset({"base_values", "decay_t", "decay_rate", "warmup_t"})
"""Keys every step/multistep ``state_dict()`` holds (how a state is recognised)."""

_STATE_FIELDS = timm.SCHEDULER_FIELDS
_STATE_IGNORED = frozenset(
    {"base_values", "warmup_steps", "param_group_field", "_initial_param_group_field"}
    | {"metric", "noise_type"}
)
SCHEDS = {"step": "StepLRScheduler", "multistep": "MultiStepLRScheduler"}
MAX_YAML_BYTES = 64 << 10
"""The largest ``args.yaml`` read: train.py writes about 3 KB; PyYAML parses about
100 KB a second without libyaml (1 MiB of keys took 10 s)."""


def is_state(document: object) -> bool:
    """Whether ``document`` looks like a timm step scheduler's ``state_dict()``."""
    return isinstance(document, Mapping) and set(document) >= STATE_KEYS


def is_args(document: object) -> bool:
    """Whether ``document`` looks like ``train.py``'s args or ``scheduler_kwargs()``."""
    return (
        isinstance(document, Mapping)
        and "sched" in document
        and ("decay_epochs" in document or "decay_milestones" in document)
    )


def detect(document: object) -> bool:
    """Whether ``document`` is any timm document: marked, a state, or train args."""
    return timm.detect(document) or is_state(document) or is_args(document)


def parse(
    document: object, *, lr: float | None = None, updates_per_epoch: int | None = None
) -> TimmSchedule:
    """Read any timm document (see :func:`detect`).

    ``lr`` and ``updates_per_epoch`` complete train.py's args where they say nothing
    (see :func:`schedule_from_args`); other documents need neither.

    Raises:
        StateError: as :func:`timm.parse`, or a document that is none of them.
    """
    if isinstance(document, Mapping) and timm.MARKER not in document:
        if is_state(document):
            return schedule_from_state(document)
        if is_args(document):
            return schedule_from_args(document, updates_per_epoch, lr=lr)
        keys = _some_keys(document) or "none"
        raise StateError(
            "a timm document is a scheduler's state_dict() (base_values, decay_t, "
            "decay_rate, warmup_t, ...), train.py's args (sched, decay_epochs, ...) or a "
            f'{{"timm": "StepLRScheduler", ...}} document; got keys {keys}'
        )
    return timm.parse(document)


def schedule_from_state(state: Mapping[str, Any]) -> TimmSchedule:
    """The schedule of a ``StepLRScheduler``/``MultiStepLRScheduler`` ``state_dict()``.

    A list ``decay_t`` is a MultiStepLRScheduler.  The base lr is ``base_values``
    (every parameter group's; stepsched reads groups that share one).

    Raises:
        StateError: a missing or malformed field, groups with different base lrs, or
            the state of another timm scheduler.
    """
    unknown = [key for key in state if key not in _STATE_IGNORED | set(_STATE_FIELDS)]
    if unknown:
        raise StateError(
            "timm state has key(s) of a scheduler other than StepLRScheduler/"
            f"MultiStepLRScheduler: {_some_keys(unknown)}"
        )
    base_values = state.get("base_values")
    if not isinstance(base_values, list) or not base_values:
        raise StateError(f"base_values must be a list of lrs, got {validate.shown(base_values)}")
    for index, value in enumerate(base_values):
        # Numbers first: comparing two shared-list DAGs (a YAML alias or pickle memo
        # away) visits every path through them.
        validate.finite_number(
            value, f"base_values[{index}]", error=StateError, parameter="base_values"
        )
    if any(value != base_values[0] for value in base_values):
        raise StateError(
            f"base_values {validate.shown(base_values)} give the parameter groups different "
            "lrs; stepsched reads a timm schedule of groups that share one"
        )
    kind = "MultiStepLRScheduler" if isinstance(state.get("decay_t"), list) else "StepLRScheduler"
    document = {key: state[key] for key in _STATE_FIELDS if key in state}
    return timm.parse({timm.MARKER: kind, "lr": base_values[0], **document})


def _some_keys(keys: Iterable[object], count: int = 8) -> str:
    """The first ``count`` keys in sorted order, each cut to 60 characters, and how many
    more (a document of 70,000 keys, or one of 900,000 characters, was echoed whole).

    Example:
        >>> _some_keys(["b", "x" * 100, "a"], 2)
        'a, b and 1 more'
        >>> _some_keys(["y" * 100])
        "'yyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyy... (str of 100 characters)"
    """
    names = sorted(str(key) for key in keys)
    shown = ", ".join(name if len(name) <= 60 else validate.shown(name) for name in names[:count])
    return shown + (f" and {len(names) - count} more" if len(names) > count else "")


def _arg(args: Mapping[str, Any], names: tuple[str, ...], default: object) -> object:
    """The first of ``names`` in ``args`` (train.py's name, then scheduler_kwargs'), as
    timm's ``getattr(cfg, name, default)``."""
    for name in names:
        if name in args:
            return args[name]
    return default


def _epochs(value: object, name: str) -> float:
    number = validate.finite_number(value, name, error=StateError, parameter=name)
    if number < 0:
        raise StateError(f"{name} must be a number >= 0, got {validate.shown(value)}")
    return number


def updates_per_epoch_of(args: Mapping[str, Any], given: int | None) -> int | None:
    """The loader's updates per epoch when the args step per update, else None.

    ``given`` is the caller's value (``--updates-per-epoch``); the args may record one.

    Raises:
        StateError: per update, and neither gives it; or they disagree.
    """
    on_updates = args.get("sched_on_updates", not args.get("step_on_epochs", True))
    if not timm_bool(on_updates, "sched_on_updates"):
        return None
    recorded = args.get("updates_per_epoch")
    value = _given_or_recorded(given, recorded, "updates_per_epoch", "--updates-per-epoch")
    if value is None:
        raise StateError(
            "sched_on_updates is true: timm multiplies every epoch count by the loader's "
            "updates per epoch (len(loader_train) // grad_accum_steps), which train.py's "
            "args do not record; give it (--updates-per-epoch N)",
            parameter="updates_per_epoch",
        )
    return validate.integer(
        value, "updates_per_epoch", minimum=1, error=StateError, parameter="updates_per_epoch"
    )


def _given_or_recorded(given: object, recorded: object, name: str, option: str) -> object:
    """The value the file records, else the one given; both, they must agree."""
    if given is not None and recorded is not None and given != recorded:
        raise StateError(
            f"the file records {name} {validate.shown(recorded)}, but {option} gives "
            f"{validate.shown(given)}",
            parameter=name,
        )
    return recorded if recorded is not None else given


def timm_bool(value: object, name: str) -> bool:
    """A boolean argument (YAML and JSON both give booleans)."""
    return validate.boolean(value, name, error=StateError, parameter=name)


def _noise_range(args: Mapping[str, Any], t_initial: float) -> object:
    """``create_scheduler_v2``'s noise range: fractions of the schedule length."""
    noise = _arg(args, ("lr_noise", "noise"), None)
    if noise is None:
        return None
    if isinstance(noise, list):
        scaled = [_epochs(n, "lr_noise") * t_initial for n in noise]
        return scaled[0] if len(scaled) == 1 else scaled
    return _epochs(noise, "lr_noise") * t_initial


def schedule_from_args(
    args: Mapping[str, Any], updates_per_epoch: int | None = None, *, lr: float | None = None
) -> TimmSchedule:
    """The schedule ``train.py`` builds from its args (or ``scheduler_kwargs()``).

    Args:
        args: ``vars(args)``, ``args.yaml`` loaded, or the ``scheduler_kwargs()`` dict
            (which holds no lr: the optimizer holds it).
        updates_per_epoch: The loader's updates per epoch, needed when
            ``sched_on_updates`` (train.py's args do not record it); an
            ``"updates_per_epoch"`` key in ``args`` also gives it.
        lr: The optimizer's lr (train.py's ``--lr``), for args that hold none.

    Raises:
        StateError: not a step or multistep schedule, no lr (null, or absent from
            scheduler_kwargs), a missing ``updates_per_epoch``, or a malformed value.
    """
    sched = args.get("sched")
    if not isinstance(sched, str) or sched not in SCHEDS:
        raise StateError(
            f"timm sched {validate.shown(sched)} is not a step schedule; stepsched reads "
            "sched step and multistep"
        )
    base_lr = _given_or_recorded(lr, args.get("lr"), "lr", "--lr")
    if base_lr is None:
        raise StateError(
            "timm args hold no lr ('lr' is null or absent: train.py then derives it from "
            "lr_base and the batch size, scheduler_kwargs() never holds it; the optimizer "
            "does); give the optimizer's lr (--lr LR)",
            parameter="lr",
        )
    per_epoch = updates_per_epoch_of(args, updates_per_epoch)
    scale = 1 if per_epoch is None else per_epoch
    t_initial = _epochs(_arg(args, ("epochs", "num_epochs"), 300), "epochs") * scale
    document: dict[str, Any] = {
        timm.MARKER: SCHEDS[sched],
        "lr": base_lr,
        "decay_rate": _arg(args, ("decay_rate",), 0.1),
        "warmup_t": _epochs(_arg(args, ("warmup_epochs",), 5), "warmup_epochs") * scale,
        "warmup_lr_init": _arg(args, ("warmup_lr",), 1e-5),
        "warmup_prefix": _arg(args, ("warmup_prefix",), False),
        "t_in_epochs": per_epoch is None,
        "noise_range_t": _noise_range(args, t_initial),
    }
    if sched == "step":
        decay = _arg(args, ("decay_epochs",), 90)
        document["decay_t"] = _epochs(90 if decay is None else decay, "decay_epochs") * scale
    else:
        milestones = _arg(args, ("decay_milestones",), [90, 180, 270])
        if not isinstance(milestones, list):
            raise StateError(
                f"decay_milestones must be a list of epochs, got {validate.shown(milestones)}"
            )
        document["decay_t"] = [
            _epochs(m, f"decay_milestones[{i}]") * scale for i, m in enumerate(milestones)
        ]
    return timm.parse(document)


def resume_position(epoch: int, schedule: TimmSchedule, updates_per_epoch: int | None) -> int:
    """Where timm's ``train.py`` resumes from a ``CheckpointSaver`` file's ``epoch``.

    train.py resumes at ``start_epoch = epoch + 1`` (also from ``recovery-E-B``) and
    calls ``scheduler.step(start_epoch)``, or ``step_update(start_epoch *
    updates_per_epoch)`` when the schedule steps per update.

    Raises:
        StateError: a per-update schedule without ``updates_per_epoch``.

    Example:
        >>> resume_position(4, schedule_from_args({"sched": "step", "lr": 0.1}), None)
        5
    """
    start = validate.integer(epoch, "epoch", minimum=0, error=StateError, parameter="epoch") + 1
    if schedule.t_in_epochs:
        return start
    if updates_per_epoch is None:
        raise StateError(
            "this timm schedule steps per update: the resume position is (epoch + 1) x "
            "updates per epoch, which the checkpoint does not record; give it "
            "(--updates-per-epoch N)",
            parameter="updates_per_epoch",
        )
    return start * updates_per_epoch


def load_document(data: bytes, source: str) -> object:
    """A timm document's bytes parsed: JSON when it starts with ``{``, else YAML
    (``args.yaml``, read with PyYAML's ``safe_load``: plain data, no objects).

    Raises:
        StateFileError: not valid JSON or YAML, in one line naming the file.
    """
    from stepsched_cli.state import parse_json_bytes

    if data.lstrip().startswith(b"{"):
        return parse_json_bytes(data, source)
    if len(data) > MAX_YAML_BYTES:
        raise StateFileError(
            f"{source}: is {len(data)} bytes of YAML; a timm args.yaml is at most "
            f"{MAX_YAML_BYTES} bytes (train.py writes about 3 KB)"
        )
    document = _safe_load(data, source)
    if not isinstance(document, dict):
        # A CSV log or a list parses as YAML too: say what it is, not "must be a JSON object".
        kind = _YAML_KINDS.get(type(document), "a scalar")
        raise StateFileError(
            f"{source}: is YAML holding {kind}, not a mapping: a timm args.yaml maps "
            "train.py's options (sched, decay_epochs, ...)"
        )
    return document


_YAML_KINDS = {list: "a list", str: "plain text", type(None): "nothing"}


def _safe_load(data: bytes, source: str) -> object:
    """``data`` parsed by PyYAML's ``safe_load`` rules: libyaml's parser when PyYAML has
    it (about 7 times faster, and it refuses nesting deeper than 1,000 levels itself),
    else the pure-Python one, whose recursion a deep document exhausts.

    Raises:
        StateFileError: not YAML, nested too deeply, or a value the YAML constructor
            refuses (an integer of more than 4,300 digits, the date 2001-13-45).
    """
    import yaml  # a runtime dependency, imported only for YAML (docs/design.md)

    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    try:
        return yaml.load(data, Loader=loader)  # a safe loader: plain data only
    except yaml.YAMLError as error:
        raise StateFileError(f"{source}: {_yaml_problem(error, data, source)}") from None
    except RecursionError:
        raise StateFileError(f"{source}: is not valid YAML: it nests too deeply") from None
    except (ValueError, OverflowError) as error:
        problem = " ".join(str(error).split())[:100]
        raise StateFileError(
            f"{source}: is not valid YAML: a value is refused: {problem}"
        ) from None


def _yaml_problem(error: Exception, data: bytes, source: str) -> str:
    """Why ``data`` is not YAML, in one line: a binary file by its kind, else the place."""
    from yaml.reader import ReaderError

    from stepsched_cli.formats.unknown import binary_kind

    kind = binary_kind(data, source)
    if kind is not None:
        return f"is not YAML: it is {kind}"
    if isinstance(error, ReaderError):  # bytes that are not text in a YAML encoding
        return "is not valid YAML: it is not UTF-8 text"
    mark = getattr(error, "problem_mark", None)
    where = "" if mark is None else f" at line {mark.line + 1} column {mark.column + 1}"
    problem = getattr(error, "problem", None) or type(error).__name__
    return f"is not valid YAML: {problem}{where}"
