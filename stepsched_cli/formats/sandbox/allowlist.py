"""The inert stand-ins a checkpoint's pickle may build, and the allowlist of its globals.

:class:`~stepsched_cli.formats.sandbox.unpickler.RestrictedUnpickler` resolves a global
only through :data:`ALLOWLIST`, and every entry is a stand-in written here:
``collections.OrderedDict`` becomes :class:`PickledOrderedDict`, torch's tensor rebuild
functions return a :class:`TensorStub` that records shape and dtype and never touches
tensor bytes, and ``argparse.Namespace`` or numpy values become :class:`InertObject`
records.  The stand-ins are shared by every load, so ``BUILD`` may set the state of none
of them (nor of the tensor stubs); only dicts, ``Counter``s and :class:`InertObject`
records take state.
"""

from __future__ import annotations

import collections
import pickle
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any, ClassVar

from stepsched_cli.describe import describe

__all__ = [
    "ALLOWLIST",
    "InertObject",
    "PickledCounter",
    "PickledOrderedDict",
    "StorageStub",
    "StorageType",
    "TensorStub",
    "TensorType",
    "TorchDevice",
    "TorchDtype",
]


# --- inert stand-ins ---------------------------------------------------------------------


class _RefusesBuild:
    """A stand-in whose state no pickle may set.

    The ``BUILD`` opcode calls ``__setstate__`` when there is one and otherwise writes
    straight into ``__dict__``, past ``frozen=True``.  The allowlisted globals are shared
    by every load, so without this a crafted pickle could rename ``torch.float32`` or
    rewrite a rebuild function for the rest of the process.  Only
    :class:`PickledOrderedDict`, :class:`PickledCounter` and :class:`InertObject` take
    state.
    """

    __slots__ = ()

    def __setstate__(self, state: object) -> None:
        raise pickle.UnpicklingError(
            f"BUILD may not set the state of {self._build_target()}; only dicts, Counters "
            "and inert records take state"
        )

    def _build_target(self) -> str:
        return f"a {type(self).__name__}"

    def __reduce__(self) -> tuple[type, tuple[object, ...]]:
        # copy and pickle rebuild from the fields instead of calling __setstate__.
        return type(self), tuple(vars(self).values())


@dataclass(frozen=True)
class TorchDtype(_RefusesBuild):
    """A torch dtype global such as ``torch.float32``, by name (``"float32"``)."""

    name: str


@dataclass(frozen=True)
class StorageType(_RefusesBuild):
    """A torch storage class such as ``torch.FloatStorage``, by element dtype."""

    dtype: str


@dataclass(frozen=True)
class TensorType(_RefusesBuild):
    """A tensor class named in a pickle (``torch.Tensor`` or ``torch.nn.Parameter``)."""

    name: str


@dataclass(frozen=True)
class TorchDevice(_RefusesBuild):
    """A ``torch.device`` value: its type (``"cpu"``, ``"cuda"``) and optional index."""

    type: str
    index: int | None = None


@dataclass(frozen=True)
class StorageStub(_RefusesBuild):
    """A tensor storage named by a pickle's persistent id; its bytes are never read.

    Attributes:
        dtype: Element dtype name, e.g. ``"float32"``.
        key: The storage's key: the zip member ``data/<key>``, or a legacy root key.
        location: Device tag recorded by torch, e.g. ``"cpu"`` or ``"cuda:0"``.
        numel: Number of elements in the storage.
    """

    dtype: str
    key: str
    location: str
    numel: int


@dataclass(frozen=True)
class TensorStub(_RefusesBuild):
    """A tensor in a checkpoint, described without reading its values.

    Attributes:
        shape: Size of each dimension; ``()`` for a 0-dim (scalar) tensor.
        stride: Stride of each dimension, in elements.
        dtype: Element dtype name, e.g. ``"float32"``.
        storage_key: Key of the storage holding the values.
        storage_offset: Offset of the first element in the storage, in elements.
        device: Device tag recorded by torch, e.g. ``"cpu"``.
        requires_grad: Whether the tensor required gradients when saved.
        is_parameter: Whether it was saved as an ``nn.Parameter``.

    Example:
        >>> stub = TensorStub((), (), "float32", "0", 0, "cpu")
        >>> stub.is_scalar, stub.numel
        (True, 1)
        >>> stub
        TensorStub(shape=(), dtype=float32, device=cpu, value unknown)
    """

    shape: tuple[int, ...]
    stride: tuple[int, ...]
    dtype: str
    storage_key: str
    storage_offset: int
    device: str
    requires_grad: bool = False
    is_parameter: bool = False

    @property
    def is_scalar(self) -> bool:
        """True for a 0-dim tensor, such as an lr saved as ``torch.tensor(0.1)``."""
        return self.shape == ()

    @property
    def numel(self) -> int:
        """The number of elements (1 for a 0-dim tensor)."""
        count = 1
        for size in self.shape:
            count *= size
        return count

    def __repr__(self) -> str:
        kind = "Parameter" if self.is_parameter else "TensorStub"
        return (
            f"{kind}(shape={self.shape}, dtype={self.dtype}, device={self.device}, value unknown)"
        )


class InertObject:
    """Stands in for an allowlisted plain object (``argparse.Namespace``, numpy values).

    It records what the pickle passed, and nothing it holds is ever called.

    Attributes:
        type_name: The fully qualified name the pickle used, e.g. ``"argparse.Namespace"``.
        args: Positional arguments the pickle constructed it with.
        state: The state the pickle's ``BUILD`` opcode supplied, or ``None``.
    """

    type_name: ClassVar[str] = "object"
    args: tuple[object, ...]
    state: object

    def __new__(cls, *args: object) -> InertObject:
        instance = super().__new__(cls)
        instance.args = args
        instance.state = None
        return instance

    def __setstate__(self, state: object) -> None:
        self.state = state

    def __repr__(self) -> str:
        return (
            f"InertObject({self.type_name}, args={describe(self.args)}, "
            f"state={describe(self.state)})"
        )


_INERT_TYPES: dict[str, type[InertObject]] = {}


def _inert_type(type_name: str) -> type[InertObject]:
    """Return the InertObject subclass for ``type_name`` (``NEWOBJ`` needs a class)."""
    if type_name not in _INERT_TYPES:
        namespace = {"type_name": type_name, "__module__": __name__}
        _INERT_TYPES[type_name] = type(type_name.rsplit(".", 1)[-1], (InertObject,), namespace)
    return _INERT_TYPES[type_name]


class _GuardedAttributes:
    """Accept the pickle ``BUILD`` opcode only for attribute names that shadow nothing."""

    def __setstate__(self, state: object) -> None:
        # torch's state_dict() is an OrderedDict carrying a `_metadata` attribute, which
        # arrives through BUILD.  Names that would shadow a method are refused, so a
        # crafted pickle cannot replace, say, `items` on the object we hand back.
        if not isinstance(state, dict):
            raise pickle.UnpicklingError(
                f"BUILD state for {type(self).__name__} must be a dict, got {type(state).__name__}"
            )
        for name, value in state.items():
            if not isinstance(name, str) or name.startswith("__") or hasattr(type(self), name):
                raise pickle.UnpicklingError(
                    f"BUILD may not set attribute {describe(name)} on {type(self).__name__}"
                )
            self.__dict__[name] = value


class PickledOrderedDict(_GuardedAttributes, collections.OrderedDict[Any, Any]):
    """An ``OrderedDict`` read from a pickle; torch's ``_metadata`` is kept as an attribute."""


class PickledCounter(_GuardedAttributes, collections.Counter[Any]):
    """A ``Counter`` read from a pickle, such as MultiStepLR's ``milestones``."""


# --- allowlisted callables -------------------------------------------------------------


class _AllowedFunction(_RefusesBuild):
    """An allowlisted function as the unpickler sees it: callable, and immune to BUILD.

    A plain function would let ``BUILD`` replace its ``__defaults__`` or add attributes.
    """

    __slots__ = ("_function", "qualified_name")
    _function: Callable[..., Any]
    qualified_name: str

    def __init__(self, qualified_name: str, function: Callable[..., Any]) -> None:
        object.__setattr__(self, "qualified_name", qualified_name)
        object.__setattr__(self, "_function", function)

    def __call__(self, *args: object) -> Any:
        return self._function(*args)

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError(f"{self.qualified_name} is read-only")

    def _build_target(self) -> str:
        return f"the function {self.qualified_name}"

    def __reduce__(self) -> tuple[type, tuple[object, ...]]:
        return type(self), (self.qualified_name, self._function)

    def __repr__(self) -> str:
        return f"<allowlisted {self.qualified_name}>"


def _ints(value: object, what: str) -> tuple[int, ...]:
    if not isinstance(value, tuple | list) or not all(
        isinstance(item, int) and not isinstance(item, bool) for item in value
    ):
        raise pickle.UnpicklingError(f"{what} must be a tuple of ints, got {describe(value)}")
    return tuple(value)


def _storage(value: object) -> StorageStub:
    if not isinstance(value, StorageStub):
        raise pickle.UnpicklingError(
            f"tensor storage must come from a persistent id, got {type(value).__name__}"
        )
    return value


def _rebuild_tensor(
    storage: object, storage_offset: object, size: object, stride: object
) -> TensorStub:
    stub = _storage(storage)
    if not isinstance(storage_offset, int):
        raise pickle.UnpicklingError(
            f"storage_offset must be an int, got {describe(storage_offset)}"
        )
    return TensorStub(
        shape=_ints(size, "tensor size"),
        stride=_ints(stride, "tensor stride"),
        dtype=stub.dtype,
        storage_key=stub.key,
        storage_offset=storage_offset,
        device=stub.location,
    )


def _rebuild_tensor_v2(
    storage: object,
    storage_offset: object,
    size: object,
    stride: object,
    requires_grad: object = False,
    backward_hooks: object = None,
    metadata: object = None,
) -> TensorStub:
    stub = _rebuild_tensor(storage, storage_offset, size, stride)
    return replace(stub, requires_grad=requires_grad is True)


def _rebuild_parameter(data: object, requires_grad: object, backward_hooks: object) -> TensorStub:
    if not isinstance(data, TensorStub):
        raise pickle.UnpicklingError(f"parameter data must be a tensor, got {type(data).__name__}")
    return replace(data, requires_grad=requires_grad is True, is_parameter=True)


def _rebuild_parameter_with_state(
    data: object, requires_grad: object, backward_hooks: object, state: object
) -> TensorStub:
    return _rebuild_parameter(data, requires_grad, backward_hooks)


_TENSOR_REBUILDERS: dict[str, Callable[..., TensorStub]] = {
    "_rebuild_tensor": _rebuild_tensor,
    "_rebuild_tensor_v2": _rebuild_tensor_v2,
    "_rebuild_parameter": _rebuild_parameter,
    "_rebuild_parameter_with_state": _rebuild_parameter_with_state,
}
_ALLOWED_REBUILDERS = {
    name: _AllowedFunction(f"torch._utils.{name}", function)
    for name, function in _TENSOR_REBUILDERS.items()
}


def _rebuild_from_type_v2(func: object, new_type: object, args: object, state: object) -> object:
    if not isinstance(func, _AllowedFunction) or func not in _ALLOWED_REBUILDERS.values():
        raise pickle.UnpicklingError("_rebuild_from_type_v2 must wrap a tensor rebuild function")
    if not isinstance(new_type, TensorType) or not isinstance(args, tuple):
        raise pickle.UnpicklingError("_rebuild_from_type_v2 needs a tensor type and an arg tuple")
    stub = func(*args)
    if new_type.name == "torch.nn.parameter.Parameter":
        stub = replace(stub, is_parameter=True)
    return stub


def _torch_size(dims: object = ()) -> tuple[int, ...]:
    return _ints(dims, "torch.Size")


def _torch_device(kind: object, index: object = None) -> TorchDevice:
    if not isinstance(kind, str) or not (index is None or isinstance(index, int)):
        raise pickle.UnpicklingError(
            f"torch.device arguments must be (str, int), got {describe((kind, index))}"
        )
    return TorchDevice(kind, index)


def _encode_latin1(text: object, encoding: object = "utf-8") -> bytes:
    # Protocol 2 writes bytes as _codecs.encode(str, "latin1"); nothing else is needed.
    if not isinstance(text, str) or encoding not in ("latin1", "latin-1"):
        raise pickle.UnpicklingError("_codecs.encode is allowed only for (str, 'latin1')")
    return text.encode("latin-1")


def _bytes_from(*args: object) -> bytes:
    # bytes(n) would allocate n zero bytes, so only data already in the pickle is accepted.
    if not args:
        return b""
    if len(args) == 2 and isinstance(args[0], str):
        return _encode_latin1(*args)
    if len(args) == 1 and isinstance(args[0], bytes | bytearray | list):
        return bytes(args[0])
    raise pickle.UnpicklingError("bytes() is allowed only on data stored in the pickle")


def _bytearray_from(*args: object) -> bytearray:
    return bytearray(_bytes_from(*args))


_STORAGE_DTYPES = {
    "DoubleStorage": "float64",
    "FloatStorage": "float32",
    "HalfStorage": "float16",
    "LongStorage": "int64",
    "IntStorage": "int32",
    "ShortStorage": "int16",
    "CharStorage": "int8",
    "ByteStorage": "uint8",
    "BoolStorage": "bool",
    "BFloat16Storage": "bfloat16",
    "ComplexDoubleStorage": "complex128",
    "ComplexFloatStorage": "complex64",
    "QInt8Storage": "qint8",
    "QInt32Storage": "qint32",
    "QUInt8Storage": "quint8",
    "QUInt4x2Storage": "quint4x2",
    "QUInt2x4Storage": "quint2x4",
    "UntypedStorage": "uint8",
}

_TORCH_DTYPES = [
    "float64",
    "float32",
    "float16",
    "bfloat16",
    "int64",
    "int32",
    "int16",
    "int8",
    "uint8",
    "uint16",
    "uint32",
    "uint64",
    "bool",
    "complex128",
    "complex64",
    "complex32",
    "qint8",
    "qint32",
    "quint8",
    "quint4x2",
    "quint2x4",
    "float8_e4m3fn",
    "float8_e5m2",
    "float8_e4m3fnuz",
    "float8_e5m2fnuz",
    "double",
    "float",
    "half",
    "long",
    "int",
    "short",
    "cfloat",
    "cdouble",
]


_HISTORY_BUFFER = "mmengine.logging.history_buffer.HistoryBuffer"
_HISTORY_STATISTICS = frozenset({"min", "max", "current", "mean"})
"""What MMEngine's ``HistoryBuffer`` pickles as ``getattr(HistoryBuffer, name)``: its
statistics methods, kept by name in ``_statistics_methods``."""


class RefusedGlobal(pickle.UnpicklingError):
    """An allowlisted global called in a way it is not allowed: refused like a global off
    the allowlist (the unpickler names it).

    Attributes:
        qualified: The global's name, ``builtins.getattr``.
    """

    def __init__(self, qualified: str) -> None:
        super().__init__(qualified)
        self.qualified = qualified


def _inert_getattr(*args: object) -> InertObject:
    """``getattr(HistoryBuffer, "min")`` in an MMEngine checkpoint, as a record of the name.

    Nothing is looked up: the stand-in for ``HistoryBuffer`` is the only target and its
    statistics methods the only names accepted, and the result records which one it was.
    Any other call is refused as ``builtins.getattr`` off the allowlist.
    """
    history = _INERT_TYPES.get(_HISTORY_BUFFER)
    name = args[1] if len(args) == 2 and args[0] is history else None
    if not isinstance(name, str) or name not in _HISTORY_STATISTICS:  # a list is unhashable
        raise RefusedGlobal("builtins.getattr")
    return _inert_type(f"{_HISTORY_BUFFER}.{name}")()


def _build_allowlist() -> dict[tuple[str, str], object]:
    functions: dict[tuple[str, str], Callable[..., Any]] = {
        ("builtins", "bytes"): _bytes_from,
        ("builtins", "bytearray"): _bytearray_from,
        ("_codecs", "encode"): _encode_latin1,
        ("torch._tensor", "_rebuild_from_type_v2"): _rebuild_from_type_v2,
        ("torch", "Size"): _torch_size,
        ("torch", "device"): _torch_device,
        ("builtins", "getattr"): _inert_getattr,
    }
    allowed: dict[tuple[str, str], object] = {
        ("collections", "OrderedDict"): PickledOrderedDict,
        ("collections", "Counter"): PickledCounter,
        ("builtins", "set"): set,
        ("builtins", "frozenset"): frozenset,
        ("builtins", "complex"): complex,
        ("builtins", "slice"): slice,
        **{key: _AllowedFunction(".".join(key), function) for key, function in functions.items()},
        **{("torch._utils", name): wrapped for name, wrapped in _ALLOWED_REBUILDERS.items()},
        ("torch", "Tensor"): TensorType("torch.Tensor"),
        ("torch._tensor", "Tensor"): TensorType("torch.Tensor"),
        ("torch.nn.parameter", "Parameter"): TensorType("torch.nn.parameter.Parameter"),
        ("argparse", "Namespace"): _inert_type("argparse.Namespace"),
        ("mmengine.logging.history_buffer", "HistoryBuffer"): _inert_type(_HISTORY_BUFFER),
    }
    for storage_name, dtype in _STORAGE_DTYPES.items():
        allowed["torch", storage_name] = StorageType(dtype)
    for dtype in _TORCH_DTYPES:
        allowed["torch", dtype] = TorchDtype(dtype)
    for module in ("numpy.core.multiarray", "numpy._core.multiarray"):
        for name in ("scalar", "_reconstruct"):
            allowed[module, name] = _inert_type(f"{module}.{name}")
    allowed["numpy", "dtype"] = _inert_type("numpy.dtype")
    allowed["numpy", "ndarray"] = _inert_type("numpy.ndarray")
    return allowed


ALLOWLIST = _build_allowlist()
"""Every global a pickle may reference, by ``(module, name)``, and its stand-in."""
