"""Legacy Keras ``.h5`` model files: ``model.save("x.h5")`` in Keras 3 and tf.keras 2.

The whole model in one HDF5 file (read with h5py, ``stepsched[keras]``, under the same
bounds as a ``.keras`` file's weights: at most
:data:`~stepsched_cli.formats.frameworks.keras.files.MAX_WEIGHTS_BYTES`, read in memory, every
link a hard link, the counter a scalar integer stored in the file):

- the root attribute ``training_config`` (JSON) holds ``optimizer_config``,
  ``{"class_name": ..., "config": {..., "learning_rate": <schedule>}}``; under mixed
  precision the class is ``LossScaleOptimizer`` (``LossScaleOptimizerV3`` in tf.keras)
  and the optimizer that holds the schedule is ``config.inner_optimizer``;
- the root attribute ``keras_version`` says who wrote the counter, and where:
  Keras 3 writes ``optimizer_weights/<optimizer name>/iteration`` (the name is the
  config's; a LossScaleOptimizer's own ``loss_scale_optimizer/iteration`` stays 0),
  tf.keras 2 writes ``optimizer_weights/iteration:0``, listed first in the group's
  ``weight_names``.

A file without ``training_config`` holds weights only (``save_weights()``,
``model.weights.h5``) and is refused saying so; one without ``optimizer_weights``
(``include_optimizer=False``) is read at ``--position`` with a note.
"""

from __future__ import annotations

import io
from collections.abc import Mapping
from typing import Any

from stepsched_cli import validate
from stepsched_cli.errors import StateFileError
from stepsched_cli.fileio import FileReadError, read_bytes_bounded
from stepsched_cli.formats.frameworks.keras.files import (
    MAX_CONFIG_BYTES,
    MAX_WEIGHTS_BYTES,
    hard_child,
    scalar_dataset,
)

WRAPPERS = ("LossScaleOptimizer", "LossScaleOptimizerV3")
"""The mixed-precision wrappers' class names (Keras 3, tf.keras 2)."""
TF_KERAS_COUNTER = "optimizer_weights/iteration:0"
WRAPPED_NOTE = (
    "mixed precision: the optimizer is wrapped in a LossScaleOptimizer; the schedule and "
    "the position are the inner optimizer's"
)
NO_COUNTER_NOTE = (
    "the file holds no optimizer_weights (saved with include_optimizer=False): the "
    "position is read at --position"
)


def read_legacy_file(path: str) -> tuple[object, int | None, tuple[str, ...]]:
    """The optimizer config holding the schedule, the optimizer's iterations, and notes.

    Returns:
        ``(optimizer, iterations, notes)``: ``optimizer`` is ``{"class_name": ...,
        "config": ...}`` (the inner one under mixed precision), ``iterations`` None
        when the file holds no optimizer weights.

    Raises:
        StateFileError: h5py is missing, the file is over the limit, not HDF5, holds no
            training_config or optimizer, or its counter is not established.
    """
    try:
        import h5py  # the optional extra stepsched[keras]
    except ImportError:
        raise StateFileError(
            f"{path}: is an HDF5 file (a legacy Keras .h5 model, or weights only); reading it "
            "needs h5py: pip install 'stepsched[keras]'"
        ) from None
    try:
        data = read_bytes_bounded(path, MAX_WEIGHTS_BYTES, "legacy Keras .h5 file")
    except FileReadError as error:
        raise StateFileError(str(error)) from None
    try:
        with h5py.File(io.BytesIO(data), "r") as model:
            return _read_model(h5py, model, path)
    except StateFileError:
        raise
    except (OSError, KeyError, RuntimeError, ValueError, TypeError) as error:
        # h5py reports a damaged file by any of these, in its own words.
        problem = " ".join(str(error).split())[:120] or type(error).__name__
        raise StateFileError(f"{path}: is not a readable HDF5 file: {problem}") from None


def _read_model(h5py: Any, model: Any, path: str) -> tuple[object, int | None, tuple[str, ...]]:
    from stepsched_cli.state import parse_json_bytes

    text = _text_attribute(model, "training_config", path)
    if text is None:
        raise StateFileError(
            f"{path}: is an HDF5 file without training_config: weights only (save_weights(), "
            "a .keras file's model.weights.h5); the schedule is in the model saved with "
            "model.save() (.keras or .h5)"
        )
    training = parse_json_bytes(text.encode("utf-8"), f"{path}: training_config")
    optimizer, notes = _optimizer(training, path)
    if hard_child(h5py, model, "optimizer_weights", path, within="") is None:
        return optimizer, None, (*notes, NO_COUNTER_NOTE)
    counter = _counter(h5py, model, optimizer, path)
    value = scalar_dataset(h5py, model, counter, path, within="")[()].item()
    iterations = validate.integer(
        value, f"{path}: {counter}", minimum=0, error=StateFileError, parameter="iterations"
    )
    return optimizer, iterations, notes


def _text_attribute(model: Any, name: str, path: str) -> str | None:
    """A root attribute as text, at most :data:`MAX_CONFIG_BYTES`; None when absent."""
    if name not in model.attrs:
        return None
    value = model.attrs[name]
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    if not isinstance(value, str):
        raise StateFileError(f"{path}: its {name} attribute is not text (JSON)")
    if len(value) > MAX_CONFIG_BYTES:
        raise StateFileError(
            f"{path}: its {name} attribute is {len(value)} characters, more than the limit "
            f"of {MAX_CONFIG_BYTES} for a configuration"
        )
    return value


def _optimizer(training: object, path: str) -> tuple[Mapping[str, Any], tuple[str, ...]]:
    """The optimizer config that holds the schedule (the inner one when wrapped)."""
    config = training.get("optimizer_config") if isinstance(training, Mapping) else None
    if not isinstance(config, Mapping) or not isinstance(config.get("config"), Mapping):
        raise StateFileError(
            f"{path}: its training_config has no optimizer_config (the model was saved "
            "without compile()), so it holds no learning-rate schedule"
        )
    if config.get("class_name") not in WRAPPERS:
        return config, ()
    inner = config["config"].get("inner_optimizer")
    if not isinstance(inner, Mapping) or not isinstance(inner.get("config"), Mapping):
        raise StateFileError(
            f"{path}: its optimizer is a {config['class_name']} without an inner_optimizer "
            "config: the schedule is not in the file"
        )
    return inner, (WRAPPED_NOTE,)


def _usable_name(name: object) -> bool:
    """An optimizer name that is one HDF5 link name as Keras writes it: printable, at
    most 255 characters, no ``/``, not ``.`` (the group itself) or ``..``."""
    return (
        isinstance(name, str)
        and 0 < len(name) <= 255
        and name.isprintable()
        and "/" not in name
        and name not in (".", "..")
    )


def _counter(h5py: Any, model: Any, optimizer: Mapping[str, Any], path: str) -> str:
    """Where the writer's Keras keeps the optimizer's iterations (see the module).

    Raises:
        StateFileError: a Keras version whose layout is not known, or a counter not
            where that version writes it.
    """
    version = _text_attribute(model, "keras_version", path) or ""
    if version.startswith("3."):
        name = optimizer["config"].get("name")
        if not _usable_name(name):
            raise StateFileError(
                f"{path}: its optimizer config has no usable name ({validate.shown(name)}): "
                "Keras 3 keeps the counter at optimizer_weights/<name>/iteration"
            )
        return f"optimizer_weights/{name}/iteration"
    if version.startswith("2."):
        names = model["optimizer_weights"].attrs.get("weight_names")
        first = names[0] if names is not None and len(names) else None
        if isinstance(first, bytes):
            first = first.decode("utf-8", "replace")
        if first != "iteration:0":
            raise StateFileError(
                f"{path}: its optimizer_weights list {validate.shown(first)} first, not "
                "tf.keras 2's iteration:0: the counter is not established"
            )
        return TF_KERAS_COUNTER
    raise StateFileError(
        f"{path}: was written by Keras {validate.shown(version or None)}: stepsched knows where "
        "Keras 3 and tf.keras 2 keep the optimizer's iterations, not this version's"
    )


__all__ = ["NO_COUNTER_NOTE", "WRAPPED_NOTE", "WRAPPERS", "read_legacy_file"]
