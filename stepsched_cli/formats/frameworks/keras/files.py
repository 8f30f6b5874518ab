"""The files a Keras user has: a ``.keras`` model, its ``config.json``, an optimizer's config.

:mod:`~stepsched_cli.formats.frameworks.keras.schedule` is the schedule model (``ExponentialDecay``,
``PiecewiseConstantDecay`` and Keras's float32 arithmetic); this module finds the
schedule in what Keras 3 writes:

- ``model.save("m.keras")``: a zip of ``metadata.json``, ``config.json`` and
  ``model.weights.h5``.  The schedule is the optimizer's ``learning_rate`` at
  ``compile_config.optimizer.config.learning_rate`` in ``config.json``; the position is
  the optimizer's ``iterations``, the scalar dataset ``optimizer/vars/0`` of
  ``model.weights.h5`` (int32 on the torch backend), read with h5py when it is
  installed (``stepsched[keras]``), in memory, from a member of bounded size.
- The model's ``config.json`` alone, ``keras.optimizers.serialize(optimizer)``
  (``{"class_name": "SGD", "config": {..., "learning_rate": ...}}``) and
  ``optimizer.get_config()`` (``{"name": "sgd", "learning_rate": ..., ...}``).
  These hold no position: it is read at ``--position``.

The optimizer's class is matched by nothing but its ``learning_rate``: on the torch
backend its ``module`` is ``keras.src.backend.torch.optimizers.torch_sgd``.  A plain
float ``learning_rate`` (a constant lr, held in the optimizer's variables) is refused
with that reason.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from stepsched_cli import validate
from stepsched_cli.errors import StateError, StateFileError
from stepsched_cli.formats.frameworks.keras import schedule as keras
from stepsched_cli.formats.frameworks.keras.schedule import KerasSchedule
from stepsched_cli.formats.sandbox import ZipArchiveError, ZipKind, read_members

CONFIG_MEMBER = "config.json"
WEIGHTS_MEMBER = "model.weights.h5"
ITERATIONS_DATASET = "optimizer/vars/0"
INNER_ITERATIONS_DATASET = "optimizer/inner_optimizer/vars/0"
WRAPPER_NAME = "loss_scale_optimizer"
"""The name Keras 3 gives a LossScaleOptimizer's variables (mixed precision)."""
MAX_CONFIG_BYTES = 1 << 20
MAX_WEIGHTS_BYTES = 256 << 20
"""The largest ``model.weights.h5`` read (into memory) for the optimizer's iterations."""

POSITION_NOTE = (
    "the position is the optimizer's iterations, the dataset optimizer/vars/0 in the "
    "model's model.weights.h5 (inside the .keras zip); give it with --position"
)


WRAPPED_NOTE = (
    "mixed precision: the optimizer is wrapped in a LossScaleOptimizer; the position is the "
    f"inner optimizer's iterations ({INNER_ITERATIONS_DATASET}), not the wrapper's"
)


CONFIG_POSITION_NOTE = (
    "Keras's position is the optimizer's iterations: the dataset optimizer/vars/0 in "
    "model.weights.h5, inside the .keras file (read it directly: stepsched inspect "
    "model.keras); this config holds none, so it is read at --position"
)


def _learning_rate(document: Mapping[str, Any]) -> tuple[bool, object]:
    """``(found, value)``: the optimizer's ``learning_rate`` in any of the JSON shapes."""
    compiled = document.get("compile_config")
    if isinstance(compiled, Mapping) and isinstance(compiled.get("optimizer"), Mapping):
        document = compiled["optimizer"]  # a model's config.json: its optimizer
    config = document.get("config")
    if "class_name" in document and isinstance(config, Mapping) and "learning_rate" in config:
        return True, config["learning_rate"]  # keras.optimizers.serialize(optimizer)
    if "learning_rate" in document and "name" in document:
        return True, document["learning_rate"]  # optimizer.get_config()
    return False, None


def detect(document: object) -> bool:
    """Whether ``document`` is a Keras schedule, optimizer config or model config."""
    if keras.detect(document):
        return True
    return isinstance(document, Mapping) and _learning_rate(document)[0]


_SCHEDULE_KEYS = frozenset({"class_name", "initial_learning_rate", "boundaries", "values"})
_MODEL_KEYS = frozenset({"compile_config", "build_config"})


def _refuse_other_documents(document: Mapping[str, Any]) -> None:
    """Refuse, in Keras's terms, a document with no optimizer and no schedule in it.

    Without this, the bare-config fallback reads any JSON object as a schedule config
    and complains about a PiecewiseConstantDecay or a class_name it never was.

    Raises:
        StateError: a model config without an optimizer, or no Keras document at all.
    """
    if _MODEL_KEYS & set(document):
        compiled = document.get("compile_config")
        optimizer = compiled.get("optimizer") if isinstance(compiled, Mapping) else None
        if optimizer is None:
            raise StateError(
                "this Keras model config has no optimizer: compile_config is "
                f"{validate.shown(compiled)} (the model was saved without compile()), so it "
                "holds no learning-rate schedule"
            )
        raise StateError(
            "this Keras model config's compile_config.optimizer has no learning_rate: "
            f"{validate.shown(optimizer)}"
        )
    if not _SCHEDULE_KEYS & set(document):
        keys = ", ".join(validate.shown(str(key)) for key in list(document)[:8])
        raise StateError(
            "a Keras document is a schedule (serialize() or get_config(): "
            "initial_learning_rate, decay_steps, decay_rate or boundaries, values), an "
            "optimizer's config (learning_rate) or a model's config.json "
            f"(compile_config.optimizer); got keys {keys or 'none'}"
        )


def parse(document: object) -> KerasSchedule:
    """The schedule in any Keras document (see the module docstring).

    Raises:
        StateError: as :func:`keras.parse`, or an optimizer whose ``learning_rate`` is
            a plain number (no schedule).
    """
    if not isinstance(document, Mapping) or keras.detect(document):
        return keras.parse(document)
    found, value = _learning_rate(document)
    if not found:
        _refuse_other_documents(document)
        return keras.parse(document)
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        raise StateError(
            f"the optimizer's learning_rate is the plain number {value!r}: a constant lr, "
            "not a schedule (Keras keeps it in the optimizer's variables); stepsched reads "
            "ExponentialDecay and PiecewiseConstantDecay"
        )
    return keras.parse(value)


KERAS_ZIP = ZipKind(
    noun="a .keras file",
    members="three",
    reader="Keras",
    writer="Keras's model.save",
)


def read_model_file(path: str) -> tuple[object, int | None, str | None]:
    """A ``.keras`` file's ``config.json`` document and the optimizer's iterations.

    The zip is read through :mod:`~stepsched_cli.formats.sandbox.zip_archive`, with the same
    limits as a torch checkpoint's.

    Returns:
        ``(document, iterations, note)``: ``iterations`` is None when h5py is not
        installed or the weights hold none, and ``note`` then says where it lives.

    Raises:
        StateFileError: not a zip, no ``config.json``, a member above its size limit,
            a zip over the sandbox's zip limits, or invalid JSON; in Keras's terms,
            naming the file.
    """
    from stepsched_cli.state import parse_json_bytes

    def wanted(names: Sequence[str]) -> list[tuple[str, int]]:
        if CONFIG_MEMBER not in names:
            shown = ", ".join(validate.shown(name) for name in names[:8]) or "none"
            raise StateFileError(f"{path}: a .keras zip needs {CONFIG_MEMBER} (members: {shown})")
        members = [(CONFIG_MEMBER, MAX_CONFIG_BYTES)]
        if WEIGHTS_MEMBER in names:
            members.append((WEIGHTS_MEMBER, MAX_WEIGHTS_BYTES))
        return members

    try:
        with open(path, "rb") as handle:
            members = read_members(handle, KERAS_ZIP, wanted)
    except ZipArchiveError as error:
        raise StateFileError(f"{path}: is not a readable .keras zip: {error}") from None
    except OSError as error:
        raise StateFileError(f"{path}: cannot be read: {error.strerror or error}") from None
    document = parse_json_bytes(members[CONFIG_MEMBER], f"{path}:{CONFIG_MEMBER}")
    weights = members.get(WEIGHTS_MEMBER)
    if weights is None:
        return document, None, f"{path} has no {WEIGHTS_MEMBER}: " + POSITION_NOTE
    iterations, note = read_iterations(weights, path, optimizer_name(document))
    return document, iterations, note


def optimizer_name(document: object) -> str | None:
    """The ``name`` of a model config's compiled optimizer, if it has one."""
    compiled = document.get("compile_config") if isinstance(document, Mapping) else None
    optimizer = compiled.get("optimizer") if isinstance(compiled, Mapping) else None
    config = optimizer.get("config") if isinstance(optimizer, Mapping) else None
    name = config.get("name") if isinstance(config, Mapping) else None
    return name if isinstance(name, str) else None


def read_iterations(
    weights: bytes, path: str, optimizer_name: str | None = None
) -> tuple[int | None, str | None]:
    """The optimizer's iterations in a ``model.weights.h5``'s bytes, with h5py.

    Only what the bytes hold is read: every step of the counter's path must be a hard
    link, and the dataset a scalar integer stored in the file (HDF5 lets a dataset live
    in another file, raw or virtual, and a link point to another file: external raw
    storage read a local file's first bytes as the iterations).  Which counter is the
    schedule's is decided by the layout (:func:`_counter_path`); a layout that does
    not establish it is refused.

    Args:
        weights: The bytes of ``model.weights.h5``.
        path: The file named in messages.
        optimizer_name: The optimizer's ``name`` in ``config.json``, if known: the
            variables read must carry it when they carry a name.

    Returns:
        ``(iterations, note)``: ``note`` says where a wrapped optimizer's counter was
        read; ``(None, note)`` when h5py is missing or the file holds no optimizer
        variables.

    Raises:
        StateFileError: the weights are not HDF5, the layout does not establish the
            counter, or it is not a scalar integer dataset of the file, or not an
            integer >= 0.
    """
    import io

    try:
        import h5py  # the optional extra stepsched[keras]
    except ImportError:
        return None, "h5py is not installed (pip install 'stepsched[keras]'): " + POSITION_NOTE
    try:
        with h5py.File(io.BytesIO(weights), "r") as weights_file:
            counter = _counter_path(h5py, weights_file, path, optimizer_name)
            if counter is None:
                return None, f"{path}: {WEIGHTS_MEMBER} holds no {ITERATIONS_DATASET}: " + (
                    POSITION_NOTE
                )
            value = scalar_dataset(h5py, weights_file, counter, path)[()].item()
    except StateFileError:
        raise
    except (OSError, KeyError, RuntimeError, ValueError, TypeError) as error:
        # h5py reports a damaged file by any of these, in its own words.
        problem = " ".join(str(error).split())[:120] or type(error).__name__
        raise StateFileError(f"{path}: {WEIGHTS_MEMBER} is not HDF5: {problem}") from None
    iterations = validate.integer(
        value, "iterations", minimum=0, error=StateFileError, parameter="iterations"
    )
    return iterations, WRAPPED_NOTE if counter == INNER_ITERATIONS_DATASET else None


def _counter_path(
    h5py: Any, weights_file: Any, path: str, optimizer_name: str | None
) -> str | None:
    """Where the schedule's counter is in an open weights file, None when absent.

    The layouts Keras writes (seen in Keras 3.15 on every backend and tf.keras 2.15):

    - one optimizer: its variables in ``optimizer/vars``, iterations first
      (``vars/0``); Keras 3 names the group by the optimizer's ``name``;
    - mixed precision (``LossScaleOptimizer``): the wrapper's variables in
      ``optimizer/vars`` (Keras 3 names the group ``loss_scale_optimizer``; its
      ``vars/0`` is its own unused counter, 0) and the inner optimizer's in
      ``optimizer/inner_optimizer/vars``, whose ``vars/0`` is the schedule's counter.

    Raises:
        StateFileError: a layout that does not establish which counter the schedule
            reads (a wrapper without an inner optimizer, an inner optimizer under
            something else, variables named for another optimizer than config.json's).
    """
    optimizer = hard_child(h5py, weights_file, "optimizer", path)
    if optimizer is None:
        return None
    outer = _vars_name(h5py, optimizer, path)
    if hard_child(h5py, optimizer, "inner_optimizer", path) is None:
        if outer == WRAPPER_NAME:
            raise StateFileError(
                f"{path}: {WEIGHTS_MEMBER}'s optimizer/vars belong to a LossScaleOptimizer "
                "(mixed precision) but there is no optimizer/inner_optimizer: its vars/0 is "
                "the wrapper's own counter, not the schedule's, so the position is unknown"
            )
        _check_name(outer, optimizer_name, ITERATIONS_DATASET, path)
        variables = hard_child(h5py, optimizer, "vars", path)
        if not isinstance(variables, h5py.Group) or variables.get("0", getlink=True) is None:
            return None
        return ITERATIONS_DATASET
    if outer not in (None, WRAPPER_NAME):
        raise StateFileError(
            f"{path}: {WEIGHTS_MEMBER} has optimizer/inner_optimizer under an optimizer whose "
            f"variables are named {validate.shown(outer)}, not a LossScaleOptimizer's: which "
            "counter drives the schedule is not established"
        )
    inner = _vars_name(h5py, optimizer["inner_optimizer"], path)
    _check_name(inner, optimizer_name, INNER_ITERATIONS_DATASET, path)
    return INNER_ITERATIONS_DATASET


def hard_child(
    h5py: Any,
    group: Any,
    name: str,
    path: str,
    where: str | None = None,
    within: str = f"{WEIGHTS_MEMBER}'s ",
) -> Any:
    """``group[name]`` reached through a hard link, None when absent; ``where`` is the
    path the message names (by default the child's), ``within`` what holds it."""
    link = group.get(name, getlink=True)
    if link is None:
        return None
    if not isinstance(link, h5py.HardLink):
        shown = where or f"{group.name.strip('/')}/{name}".lstrip("/")
        raise StateFileError(
            f"{path}: {within}{shown} goes through an HDF5 {type(link).__name__} "
            f"at {name!r}; Keras writes the variables in the file"
        )
    return group[name]


def _vars_name(h5py: Any, group: Any, path: str) -> str | None:
    """The ``name`` attribute of ``group/vars`` (Keras 3 writes it; tf.keras 2 does not)."""
    variables = hard_child(h5py, group, "vars", path)
    if not isinstance(variables, h5py.Group):
        return None
    name = variables.attrs.get("name")
    if isinstance(name, bytes):
        name = name.decode("utf-8", "replace")
    return name if isinstance(name, str) else None


def _check_name(found: str | None, expected: str | None, dataset: str, path: str) -> None:
    if found is not None and expected is not None and found != expected:
        raise StateFileError(
            f"{path}: {WEIGHTS_MEMBER}'s {dataset} belongs to an optimizer named "
            f"{validate.shown(found)}, but config.json's optimizer is named "
            f"{validate.shown(expected)}: the file does not establish its counter"
        )


def scalar_dataset(
    h5py: Any, weights_file: Any, dataset: str, path: str, within: str = f"{WEIGHTS_MEMBER}'s "
) -> Any:
    """The dataset at ``dataset``, every step a hard link, a scalar integer in the file;
    ``within`` is what the message says holds it.

    Raises:
        StateFileError: a step of its path is a soft or external link, or it is not a
            scalar integer dataset stored in the file.
    """
    node = weights_file
    for part in dataset.split("/"):
        node = hard_child(h5py, node, part, path, dataset, within)
        if node is None:
            raise StateFileError(f"{path}: {within}{dataset} is missing")
    if not isinstance(node, h5py.Dataset):
        raise StateFileError(
            f"{path}: {within}{dataset} is a group, not the optimizer's "
            "iterations (a scalar integer dataset)"
        )
    stored_elsewhere = node.external is not None or node.is_virtual
    if node.shape != () or node.dtype.kind not in "iu" or stored_elsewhere:
        where = "stored outside the file" if stored_elsewhere else "a scalar"
        raise StateFileError(
            f"{path}: {within}{dataset} must be the optimizer's "
            f"iterations, a scalar integer dataset in the file; got shape {node.shape}, "
            f"type {validate.shown(str(node.dtype))}" + (f", {where}" if stored_elsewhere else "")
        )
    return node
