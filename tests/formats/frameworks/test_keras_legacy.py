"""Legacy Keras ``.h5`` model files (``model.save("x.h5")``), Keras 3 and tf.keras 2.

The real files are read at the iterations Keras reported, with the lr Keras applied
there (the manifests under tests/data/real); files whose counter the layout does not
establish, or that hold no schedule, are refused in one line saying why.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from stepsched_cli.errors import StateFileError
from stepsched_cli.formats import registry
from stepsched_cli.formats.frameworks.keras import legacy as keras_legacy
from stepsched_cli.formats.hints import Hints

REAL = Path(__file__).resolve().parents[2] / "data" / "real"


def legacy_files() -> list[tuple[str, dict[str, Any]]]:
    found = []
    for framework in ("keras3", "tfkeras"):
        manifest = json.loads((REAL / framework / "manifest.json").read_text())
        for relative, entry in sorted(manifest["files"].items()):
            if relative.endswith(".h5") and "weights" not in relative:
                found.append((f"{framework}/{relative}", entry["reported"]))
    return found


LEGACY = legacy_files()


@pytest.mark.parametrize(("relative", "values"), LEGACY, ids=[name for name, _ in LEGACY])
def test_legacy_files_are_read_at_the_iterations_keras_reported(
    relative: str, values: dict[str, Any]
) -> None:
    pytest.importorskip("h5py")
    reading = registry.read_state(str(REAL / relative))
    assert (reading.format, reading.records_position) == ("keras-h5", True)
    assert reading.view.position == values["iterations"]
    assert reading.view.framework_lr == values["lr"]
    assert reading.view.framework_lr == values["lr_at"].get(str(values["iterations"]), values["lr"])
    wrapped = values["optimizer"].startswith("LossScaleOptimizer")
    assert (keras_legacy.WRAPPED_NOTE in reading.view.notes) is wrapped


def test_the_wrappers_own_counter_is_not_the_position() -> None:
    pytest.importorskip("h5py")
    values = dict(LEGACY)["keras3/jax/mixed_sgd.h5"]
    assert "optimizer_weights/loss_scale_optimizer/iteration (int32) = 0" in values["h5_scalars"]
    assert registry.read_state(str(REAL / "keras3/jax/mixed_sgd.h5")).view.position == 17


SGD = {
    "class_name": "SGD",
    "config": {
        "name": "sgd",
        "learning_rate": {
            "class_name": "ExponentialDecay",
            "config": {
                "initial_learning_rate": 0.1,
                "decay_steps": 10,
                "decay_rate": 0.5,
                "staircase": True,
                "name": None,
            },
        },
    },
}


def legacy(
    tmp_path: Path,
    training: object = None,
    version: str | None = "3.15.1",
    counters: dict[str, int] | None = None,
    weight_names: list[str] | None = None,
    extra: Callable[[Any], object] | None = None,
) -> str:
    """A legacy .h5 file: attributes as Keras writes them, the counters given."""
    h5py = pytest.importorskip("h5py")
    numpy = pytest.importorskip("numpy")
    path = tmp_path / "model.h5"
    with h5py.File(path, "w") as model:
        if training is not None:
            model.attrs["training_config"] = json.dumps(training)
        if version is not None:
            model.attrs["keras_version"] = version
        if counters is not None:
            group = model.create_group("optimizer_weights")
            if weight_names is not None:
                group.attrs["weight_names"] = [name.encode() for name in weight_names]
            for name, value in counters.items():
                model[f"optimizer_weights/{name}"] = numpy.int64(value)
        if extra is not None:
            extra(model)
    return str(path)


@pytest.mark.parametrize(
    ("version", "counters", "names", "expected"),
    [
        ("3.15.1", {"sgd/iteration": 23}, None, 23),
        ("2.15.0", {"iteration:0": 23}, ["iteration:0", "SGD/m/dense/kernel:0"], 23),
    ],
)
def test_each_keras_versions_counter(
    tmp_path: Path, version: str, counters: dict[str, int], names: list[str] | None, expected: int
) -> None:
    path = legacy(tmp_path, {"optimizer_config": SGD}, version, counters, names)
    reading = registry.read_state(path)
    assert (reading.view.position, reading.view.framework_lr) == (expected, 0.02500000037252903)


def test_without_optimizer_weights_the_file_is_read_at_position(tmp_path: Path) -> None:
    path = legacy(tmp_path, {"optimizer_config": SGD})
    reading = registry.read_state(path, hints=Hints(position=12))
    assert (reading.records_position, reading.view.position) == (False, 12)
    assert reading.view.notes[-1] == keras_legacy.NO_COUNTER_NOTE


WRAPPER_WITHOUT_INNER = {"class_name": "LossScaleOptimizer", "config": {"name": "lso"}}


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (
            {"training": None},
            "is an HDF5 file without training_config: weights only (save_weights(), a .keras "
            "file's model.weights.h5); the schedule is in the model saved with model.save() "
            "(.keras or .h5)",
        ),
        (
            {"training": {"loss": "mse"}},
            "its training_config has no optimizer_config (the model was saved without "
            "compile()), so it holds no learning-rate schedule",
        ),
        (
            {"training": {"optimizer_config": WRAPPER_WITHOUT_INNER}},
            "its optimizer is a LossScaleOptimizer without an inner_optimizer config: the "
            "schedule is not in the file",
        ),
        (
            {"training": {"optimizer_config": SGD}, "version": "1.2.3", "counters": {}},
            "was written by Keras '1.2.3': stepsched knows where Keras 3 and tf.keras 2 keep the "
            "optimizer's iterations, not this version's",
        ),
        (
            {"training": {"optimizer_config": SGD}, "version": None, "counters": {}},
            "was written by Keras None: stepsched knows where Keras 3 and tf.keras 2 keep the "
            "optimizer's iterations, not this version's",
        ),
        (
            {
                "training": {"optimizer_config": SGD},
                "version": "2.15.0",
                "counters": {"iteration:0": 3},
                "weight_names": ["SGD/m:0", "iteration:0"],
            },
            "its optimizer_weights list 'SGD/m:0' first, not tf.keras 2's iteration:0: the "
            "counter is not established",
        ),
        (
            {"training": {"optimizer_config": SGD}, "counters": {"adam/iteration": 3}},
            "optimizer_weights/sgd/iteration is missing",
        ),
        (
            {
                "training": {"optimizer_config": {**SGD, "config": {**SGD["config"], "name": 7}}},
                "counters": {},
            },
            "its optimizer config has no usable name (7): Keras 3 keeps the counter at "
            "optimizer_weights/<name>/iteration",
        ),
    ],
    ids=[
        "weights-only",
        "no-optimizer",
        "wrapper-without-inner",
        "unknown-version",
        "no-version",
        "tf-keras-order",
        "counter-elsewhere",
        "unnamed",
    ],
)
def test_files_that_do_not_establish_the_schedule_or_counter_are_refused(
    tmp_path: Path, arguments: dict[str, Any], message: str
) -> None:
    path = legacy(tmp_path, **arguments)
    with pytest.raises(StateFileError) as raised:
        registry.read_state(path)
    assert str(raised.value) == f"{path}: {message}"


def test_a_counter_stored_outside_the_file_is_refused(tmp_path: Path) -> None:
    numpy = pytest.importorskip("numpy")

    def external(model: Any) -> None:
        model.create_dataset(
            "optimizer_weights/sgd/iteration",
            shape=(1,),
            dtype=numpy.int64,
            external=[("/dev/zero", 0, 8)],
        )

    path = legacy(tmp_path, {"optimizer_config": SGD}, extra=external)
    with pytest.raises(StateFileError) as raised:
        registry.read_state(path)
    assert str(raised.value) == (
        f"{path}: optimizer_weights/sgd/iteration must be the optimizer's iterations, a scalar "
        "integer dataset in the file; got shape (1,), type 'int64', stored outside the file"
    )


def test_a_huge_training_config_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(keras_legacy, "MAX_CONFIG_BYTES", 100)
    path = legacy(tmp_path, {"optimizer_config": SGD})
    with pytest.raises(StateFileError) as raised:
        registry.read_state(path)
    size = len(json.dumps({"optimizer_config": SGD}))
    assert str(raised.value) == (
        f"{path}: its training_config attribute is {size} characters, more than the limit of "
        "100 for a configuration"
    )


def test_a_file_over_the_weights_limit_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = legacy(tmp_path, {"optimizer_config": SGD})
    monkeypatch.setattr(keras_legacy, "MAX_WEIGHTS_BYTES", 1000)
    with pytest.raises(StateFileError) as raised:
        registry.read_state(path)
    size = Path(path).stat().st_size
    assert str(raised.value) == (
        f"{path}: is {size} bytes; a legacy Keras .h5 file is at most 1000 bytes"
    )


def test_without_h5py_the_file_is_named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "model.h5"
    path.write_bytes(b"\x89HDF\r\n\x1a\n" + bytes(64))
    monkeypatch.setitem(sys.modules, "h5py", None)
    with pytest.raises(StateFileError) as raised:
        registry.read_state(str(path))
    assert str(raised.value) == (
        f"{path}: is an HDF5 file (a legacy Keras .h5 model, or weights only); reading it "
        "needs h5py: pip install 'stepsched[keras]'"
    )


def test_a_damaged_file_is_refused(tmp_path: Path) -> None:
    pytest.importorskip("h5py")
    path = tmp_path / "model.h5"
    path.write_bytes(b"\x89HDF\r\n\x1a\n" + bytes(64))
    with pytest.raises(StateFileError, match=r"model\.h5: is not a readable HDF5 file: "):
        registry.read_state(str(path))
