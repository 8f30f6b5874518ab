"""Which counter of a ``model.weights.h5`` is the schedule's position: Keras 3 and tf.keras 2.

Under ``mixed_float16`` Keras wraps the optimizer in a ``LossScaleOptimizer``: in Keras 3
``optimizer/vars/0`` is then the wrapper's own counter, 0 after any training, and the
schedule's counter is ``optimizer/inner_optimizer/vars/0``.  Reading the first showed
position 0 and the initial lr for a trained model.  The real files (Keras 3.15 on jax and
tensorflow, tf.keras 2.15) are read at the iterations Keras reported; a layout that does
not establish the counter is refused, saying why.
"""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest

from stepsched_cli.errors import StateFileError
from stepsched_cli.formats import registry
from stepsched_cli.formats.frameworks.keras import files as keras_files
from stepsched_cli.formats.frameworks.keras.files import WRAPPED_NOTE, read_iterations
from stepsched_cli.formats.hints import Hints

REAL = Path(__file__).resolve().parents[2] / "data" / "real"


def reported(framework: str, suffix: str) -> list[tuple[str, dict[str, Any]]]:
    manifest = json.loads((REAL / framework / "manifest.json").read_text())
    return [
        (f"{framework}/{relative}", entry["reported"])
        for relative, entry in sorted(manifest["files"].items())
        if relative.endswith(suffix)
    ]


MODELS = reported("keras3", ".keras") + reported("tfkeras", ".keras")


@pytest.mark.parametrize(("relative", "values"), MODELS, ids=[name for name, _ in MODELS])
def test_keras_files_are_read_at_the_iterations_keras_reported(
    relative: str, values: dict[str, Any]
) -> None:
    pytest.importorskip("h5py")
    reading = registry.read_state(str(REAL / relative))
    assert (reading.format, reading.records_position) == ("keras-model", True)
    assert reading.view.position == values["iterations"]
    assert reading.view.framework_lr == values["lr"]
    wrapped = values["optimizer"].startswith("LossScaleOptimizer")
    assert (WRAPPED_NOTE in reading.view.notes) is wrapped


@pytest.mark.parametrize(
    ("relative", "dtype", "wrapper_counter", "inner_counter"),
    [
        ("keras3/jax/mixed_sgd_model.weights.h5", "int32", 0, 17),
        ("keras3/tensorflow/mixed_sgd_model.weights.h5", "int64", 0, 18),
        ("keras3/torch/mixed_sgd_model.weights.h5", "int32", 0, 17),
        ("tfkeras/mixed_sgd_model.weights.h5", "int64", 18, 18),
    ],
)
def test_mixed_precision_reads_the_inner_counter_not_the_wrappers(
    relative: str, dtype: str, wrapper_counter: int, inner_counter: int
) -> None:
    pytest.importorskip("h5py")
    framework, name = relative.split("/", 1)
    values = dict(reported(framework, name))[relative]
    scalars = " ".join(values["h5_scalars"])
    # What the file holds, as h5py listed it when Keras wrote it: the wrapper's counter
    # and the inner optimizer's differ in Keras 3.
    assert f"optimizer/vars/0 ({dtype}) = {wrapper_counter}" in scalars
    assert f"optimizer/inner_optimizer/vars/0 ({dtype}) = {inner_counter}" in scalars
    assert values["iterations"] == inner_counter
    data = (REAL / relative).read_bytes()
    assert read_iterations(data, "w.keras", "sgd" if "keras3" in relative else "SGD") == (
        inner_counter,
        WRAPPED_NOTE,
    )


UNNAMED_CONFIGS = reported("tfkeras", "_config.json")


@pytest.mark.parametrize(
    ("relative", "values"), UNNAMED_CONFIGS, ids=[name for name, _ in UNNAMED_CONFIGS]
)
def test_tf_keras_schedules_with_a_null_name_are_read(
    relative: str, values: dict[str, Any]
) -> None:
    if "schedule_config" in values:
        assert values["schedule_config"]["name"] is None
    for step, lr in values["lr_at"].items():
        reading = registry.read_state(str(REAL / relative), hints=Hints(position=int(step)))
        assert reading.view.framework_lr == lr, step


def _weights(layout: dict[str, tuple[str | None, int]]) -> bytes:
    """A weights file with ``group/vars`` named ``name`` holding ``vars/0 = value``."""
    h5py = pytest.importorskip("h5py")
    numpy = pytest.importorskip("numpy")
    buffer = io.BytesIO()
    with h5py.File(buffer, "w") as weights:
        for group, (name, value) in layout.items():
            variables = weights.create_group(f"{group}/vars")
            if name is not None:
                variables.attrs["name"] = name
            variables["0"] = numpy.int64(value)
    return buffer.getvalue()


WRAPPER = "optimizer"
INNER = "optimizer/inner_optimizer"


@pytest.mark.parametrize(
    ("layout", "optimizer_name", "message"),
    [
        (
            {WRAPPER: ("loss_scale_optimizer", 0)},
            "sgd",
            "w.keras: model.weights.h5's optimizer/vars belong to a LossScaleOptimizer (mixed "
            "precision) but there is no optimizer/inner_optimizer: its vars/0 is the wrapper's "
            "own counter, not the schedule's, so the position is unknown",
        ),
        (
            {WRAPPER: ("adam", 5), INNER: ("sgd", 7)},
            "sgd",
            "w.keras: model.weights.h5 has optimizer/inner_optimizer under an optimizer whose "
            "variables are named 'adam', not a LossScaleOptimizer's: which counter drives the "
            "schedule is not established",
        ),
        (
            {WRAPPER: ("adam", 5)},
            "sgd",
            "w.keras: model.weights.h5's optimizer/vars/0 belongs to an optimizer named 'adam', "
            "but config.json's optimizer is named 'sgd': the file does not establish its counter",
        ),
        (
            {WRAPPER: ("loss_scale_optimizer", 0), INNER: ("sgd_1", 7)},
            "sgd",
            "w.keras: model.weights.h5's optimizer/inner_optimizer/vars/0 belongs to an "
            "optimizer named 'sgd_1', but config.json's optimizer is named 'sgd': the file "
            "does not establish its counter",
        ),
    ],
    ids=["wrapper-alone", "inner-under-another", "plain-named-otherwise", "inner-named-otherwise"],
)
def test_layouts_that_do_not_establish_the_counter_are_refused(
    layout: dict[str, tuple[str | None, int]], optimizer_name: str, message: str
) -> None:
    with pytest.raises(StateFileError) as raised:
        read_iterations(_weights(layout), "w.keras", optimizer_name)
    assert str(raised.value) == message


@pytest.mark.parametrize(
    ("layout", "optimizer_name", "expected"),
    [
        ({WRAPPER: ("sgd", 23)}, "sgd", (23, None)),
        ({WRAPPER: (None, 23)}, "SGD", (23, None)),  # tf.keras 2 names no group
        ({WRAPPER: ("sgd", 23)}, None, (23, None)),  # a config without a name
        ({WRAPPER: (None, 18), INNER: (None, 18)}, "SGD", (18, WRAPPED_NOTE)),
        ({WRAPPER: ("loss_scale_optimizer", 0), INNER: ("sgd", 17)}, "sgd", (17, WRAPPED_NOTE)),
    ],
)
def test_the_layouts_keras_writes_give_their_counter(
    layout: dict[str, tuple[str | None, int]],
    optimizer_name: str | None,
    expected: tuple[int, str | None],
) -> None:
    assert read_iterations(_weights(layout), "w.keras", optimizer_name) == expected


@pytest.mark.parametrize(
    ("relative", "expected"),
    [
        ("tfkeras/mixed_sgd_config.json", "SGD"),
        ("keras/exponential_adam_config.json", "adam"),
        ("keras/momentum_constant_config.json", "sgd_3"),
        ("keras/config_uncompiled.json", None),
    ],
)
def test_the_optimizer_name_comes_from_the_compiled_config(
    relative: str, expected: str | None
) -> None:
    document = json.loads((REAL / relative).read_text())
    assert keras_files.optimizer_name(document) == expected
