"""A ``.keras`` file's ``model.weights.h5`` is read only for a scalar held in the file.

HDF5 lets a dataset live in another file (external raw storage, virtual datasets) and
a link point to another file or loop: a crafted weights file read a local file's first
bytes as the optimizer's iterations, or allocated 8 GiB for a dataset of 10**9
compressed integers.  Each is refused in one line naming the file.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from stepsched_cli.errors import StateFileError
from stepsched_cli.formats.frameworks.keras.files import read_iterations

h5py = pytest.importorskip("h5py")
np = pytest.importorskip("numpy")

VARS = "optimizer/vars"
NOT_SCALAR = (
    "w.keras: model.weights.h5's optimizer/vars/0 must be the optimizer's iterations, a "
    "scalar integer dataset in the file; got "
)


def _weights(fill: Callable[[Any], object]) -> bytes:
    buffer = io.BytesIO()
    with h5py.File(buffer, "w") as weights:
        fill(weights)
    return buffer.getvalue()


def _link(link: Any) -> Callable[[Any], object]:
    def fill(weights: Any) -> None:
        weights.create_group(VARS)
        weights[f"{VARS}/0"] = link

    return fill


def _virtual(target: Path) -> Callable[[Any], object]:
    def fill(weights: Any) -> None:
        layout = h5py.VirtualLayout(shape=(), dtype=np.int64)
        layout[()] = h5py.VirtualSource(str(target), "x", shape=())
        weights.create_virtual_dataset(f"{VARS}/0", layout)

    return fill


def _external(weights: Any) -> None:
    weights.create_dataset(
        f"{VARS}/0", shape=(16,), dtype=np.int64, external=[("/dev/zero", 0, 128)]
    )


def _huge(weights: Any) -> None:
    weights.create_dataset(
        f"{VARS}/0", shape=(1 << 30,), dtype=np.int64, chunks=(1 << 20,), compression="gzip"
    )


@pytest.fixture
def target(tmp_path: Path) -> Path:
    """Another HDF5 file on the disk, holding what a link or a virtual dataset points at."""
    path = tmp_path / "target.h5"
    with h5py.File(path, "w") as other:
        other.create_dataset("x", data=np.int64(12345))
    return path


@pytest.mark.parametrize(
    ("build", "message"),
    [
        pytest.param(
            lambda t: _link(h5py.ExternalLink(str(t), "/x")),
            "w.keras: model.weights.h5's optimizer/vars/0 goes through an HDF5 ExternalLink "
            "at '0'; Keras writes the variables in the file",
            id="external-link",
        ),
        pytest.param(
            lambda t: _link(h5py.SoftLink(f"/{VARS}/0")),
            "w.keras: model.weights.h5's optimizer/vars/0 goes through an HDF5 SoftLink at "
            "'0'; Keras writes the variables in the file",
            id="soft-link-loop",
        ),
        pytest.param(
            _virtual,
            NOT_SCALAR + "shape (), type 'int64', stored outside the file",
            id="virtual-dataset",
        ),
        pytest.param(
            lambda t: _external,
            NOT_SCALAR + "shape (16,), type 'int64', stored outside the file",
            id="external-storage",
        ),
        pytest.param(lambda t: _huge, NOT_SCALAR + "shape (1073741824,), type 'int64'", id="8-GiB"),
        pytest.param(
            lambda t: lambda w: w.create_dataset(f"{VARS}/0", data=np.array([1, 2])),
            NOT_SCALAR + "shape (2,), type 'int64'",
            id="two-values",
        ),
        pytest.param(
            lambda t: lambda w: w.create_dataset(f"{VARS}/0", data=np.float64(7.0)),
            NOT_SCALAR + "shape (), type 'float64'",
            id="float",
        ),
        pytest.param(
            lambda t: lambda w: w.create_group(f"{VARS}/0"),
            "w.keras: model.weights.h5's optimizer/vars/0 is a group, not the optimizer's "
            "iterations (a scalar integer dataset)",
            id="group",
        ),
    ],
)
def test_iterations_outside_the_file_or_not_a_scalar_integer_are_refused(
    build: Callable[[Path], Callable[[Any], object]], message: str, target: Path
) -> None:
    with pytest.raises(StateFileError) as raised:
        read_iterations(_weights(build(target)), "w.keras")
    assert str(raised.value) == message


def test_a_damaged_weights_file_is_refused_in_hdf5_words() -> None:
    whole = _weights(lambda w: w.create_dataset(f"{VARS}/0", data=np.int32(7)))
    with pytest.raises(StateFileError) as raised:
        read_iterations(whole[:600], "w.keras")
    assert str(raised.value).startswith(
        "w.keras: model.weights.h5 is not HDF5: Unable to synchronously open file "
        "(truncated file: eof = 600"
    )


@pytest.mark.parametrize("dtype", ["int32", "int64", "uint32"])
def test_a_scalar_integer_in_the_file_is_the_position(dtype: str) -> None:
    weights = _weights(lambda w: w.create_dataset(f"{VARS}/0", data=np.dtype(dtype).type(7)))
    assert read_iterations(weights, "w.keras") == (7, None)
