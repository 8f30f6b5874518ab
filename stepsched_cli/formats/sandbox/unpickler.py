"""Read the pickle inside a torch checkpoint without executing it and without torch.

A pickle is a small program: its ``GLOBAL``/``STACK_GLOBAL`` opcodes import any
callable and ``REDUCE`` calls it, so loading an untrusted checkpoint with :mod:`pickle`
runs whatever its author wanted.  :class:`RestrictedUnpickler` resolves a global only
when it is on a short allowlist of inert types, and even those are replaced by stand-ins
written here: ``collections.OrderedDict`` becomes :class:`PickledOrderedDict`, torch's
tensor rebuild functions return a :class:`TensorStub` that records shape and dtype and
never touches tensor bytes, and ``argparse.Namespace`` or numpy values become
:class:`InertObject` records.  Any other global raises
:class:`~stepsched_cli.formats.checkpoint_errors.UnsafeCheckpointError` naming it.  The stand-ins
are shared by every load, so ``BUILD`` may set the state of none of them (nor of the
tensor stubs); only dicts, ``Counter``s and :class:`InertObject` records take state.

Before a single opcode runs, :func:`safe_loads` runs the pickle on shapes
(:class:`~stepsched_cli.formats.sandbox.bounds.PickleBounds`) to reject what the C
unpickler would otherwise trust: declared lengths longer than the data
(``BINUNICODE8`` claiming 2**40 bytes), memo indices that would make it allocate
gigabytes, integers too long to print or compute with, opcodes torch never writes,
containers nested too deeply or keys too costly to hash before anything hashes them,
and loads of more than :data:`MAX_PICKLE_WORK` steps.  After loading, the nesting
depth of the value is measured once more, visiting each object once
(:func:`~stepsched_cli.formats.sandbox.nesting.check_nesting`).  Messages show
values from the pickle only through :func:`~stepsched_cli.describe.describe`.  Every
failure is a :class:`~stepsched_cli.formats.checkpoint_errors.CheckpointError` with a one-line
message; docs/security.md lists the limits.

Example:
    >>> import pickle
    >>> from collections import OrderedDict
    >>> data = pickle.dumps({"sched": OrderedDict(last_epoch=3)}, protocol=2)
    >>> loaded = safe_loads(data, source="ckpt.pt")
    >>> type(loaded["sched"]).__name__, dict(loaded["sched"])
    ('PickledOrderedDict', {'last_epoch': 3})
    >>> safe_loads(pickle.dumps(print), source="ckpt.pt")
    Traceback (most recent call last):
    ...
    stepsched_cli.formats.checkpoint_errors.UnsafeCheckpointError: refusing to load 'ckpt.pt': its \
pickle references builtins.print, which is not on the allowlist of inert types

Size: about 680 lines, over the house's ~500: the allowlist of inert globals and the
stand-ins that replace them must be read together with the unpickler they guard.
"""

from __future__ import annotations

import _compat_pickle
import collections
import io
import pickle
import struct
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import IO, Any, ClassVar

from stepsched_cli.describe import describe
from stepsched_cli.formats.checkpoint_errors import CheckpointError, UnsafeCheckpointError
from stepsched_cli.formats.sandbox.bounds import (
    MAX_HASHED_SIZE,
    MAX_INTEGER_BYTES,
    MAX_INTEGER_DIGITS,
    MAX_NESTING_DEPTH,
    Effect,
    PickleBounds,
)
from stepsched_cli.formats.sandbox.nesting import check_nesting
from stepsched_cli.formats.sandbox.opcodes import (
    MAX_PICKLE_BYTES,
    MAX_PICKLE_WORK,
    PickleStream,
    malformed,
)

__all__ = [
    "MAX_HASHED_SIZE",
    "MAX_INTEGER_BYTES",
    "MAX_INTEGER_DIGITS",
    "MAX_NESTING_DEPTH",
    "MAX_PICKLE_BYTES",
    "MAX_PICKLE_WORK",
    "InertObject",
    "PickleStream",
    "PickledCounter",
    "PickledOrderedDict",
    "RestrictedUnpickler",
    "StorageStub",
    "StorageType",
    "TensorStub",
    "TensorType",
    "TorchDevice",
    "TorchDtype",
    "safe_loads",
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


def _build_allowlist() -> dict[tuple[str, str], object]:
    functions: dict[tuple[str, str], Callable[..., Any]] = {
        ("builtins", "bytes"): _bytes_from,
        ("builtins", "bytearray"): _bytearray_from,
        ("_codecs", "encode"): _encode_latin1,
        ("torch._tensor", "_rebuild_from_type_v2"): _rebuild_from_type_v2,
        ("torch", "Size"): _torch_size,
        ("torch", "device"): _torch_device,
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


_ALLOWLIST = _build_allowlist()


def _python3_name(module: str, name: str) -> tuple[str, str]:
    """Undo the Python 2 renaming that protocols 0-2 apply (``__builtin__`` -> ``builtins``).

    The stock unpickler does this in its own ``find_class``, which ours replaces.  Only
    names are mapped; nothing is imported.
    """
    if (module, name) in _compat_pickle.NAME_MAPPING:
        return _compat_pickle.NAME_MAPPING[module, name]
    return _compat_pickle.IMPORT_MAPPING.get(module, module), name


def _resolve(source: str, module: str, name: str) -> object:
    """The allowlisted stand-in for ``module.name``, or raise naming it."""
    module, name = _python3_name(module, name)
    try:
        return _ALLOWLIST[module, name]
    except KeyError:
        raise _refuse_global(source, module, name) from None


def _refuse_global(source: str, module: str, name: str) -> UnsafeCheckpointError:
    qualified = f"{module}.{name}"
    return UnsafeCheckpointError(
        f"refusing to load {source!r}: its pickle references {qualified}, "
        "which is not on the allowlist of inert types",
        qualified,
    )


class RestrictedUnpickler(pickle.Unpickler):
    """An unpickler that resolves only allowlisted globals, each to an inert stand-in.

    Persistent ids, which torch uses for tensor storages, become :class:`StorageStub`
    records; the storage bytes are never read.  Use :func:`safe_loads`, which also
    validates the opcodes before this class runs them.

    Args:
        file: The pickle stream.
        source: A name for the data (usually the file path), used in error messages.
    """

    def __init__(self, file: IO[bytes], *, source: str) -> None:
        super().__init__(file)
        self.source = source

    def find_class(self, module: str, name: str) -> Any:
        """Return the stand-in for ``module.name``.

        Raises:
            UnsafeCheckpointError: ``module.name`` is not on the allowlist.
        """
        return _resolve(self.source, module, name)

    def persistent_load(self, pid: Any) -> StorageStub:
        """Turn torch's ``('storage', type, key, location, numel[, view])`` into a stub.

        The zip format passes five fields and the legacy format six (the last being
        view metadata); either way only the description is kept.
        """
        if not (isinstance(pid, tuple) and len(pid) in (5, 6) and pid[0] == "storage"):
            kind = pid[0] if isinstance(pid, tuple) and pid else pid
            raise pickle.UnpicklingError(f"unsupported persistent id {describe(kind)}")
        storage_type, key, location, numel = pid[1:5]
        if not isinstance(storage_type, StorageType):
            raise pickle.UnpicklingError(
                f"storage type must be a torch storage class, got {describe(storage_type)}"
            )
        if not isinstance(key, str) or not isinstance(location, str) or not isinstance(numel, int):
            raise pickle.UnpicklingError(
                "storage persistent id must be (str key, str location, int numel)"
            )
        return StorageStub(storage_type.dtype, key, location, numel)


def _effect(module: str, name: str, source: str) -> Effect:
    """What calling the allowlisted ``module.name`` does to the bounds of a load."""
    target = _resolve(source, module, name)
    if target in (set, PickledCounter):
        return Effect.HASHES_INTO_MUTABLE
    if target is PickledOrderedDict:
        return Effect.PAIRS_INTO_MUTABLE
    if target is complex:
        return Effect.COMPLEX
    if target is frozenset:
        return Effect.HASHES_INTO_FROZEN
    if isinstance(target, type) and issubclass(target, InertObject):
        return Effect.RECORD
    return Effect.VALUE


def safe_loads(
    data: bytes, *, source: str = "<bytes>", max_depth: int = MAX_NESTING_DEPTH
) -> object:
    """Load one pickle with :class:`RestrictedUnpickler`, after validating its opcodes.

    Args:
        data: The complete pickle stream (at most :data:`MAX_PICKLE_BYTES`).
        source: A name for the data (usually the file path), used in error messages.
        max_depth: The deepest container nesting accepted.

    Returns:
        The unpickled object, built only from plain Python values and the stand-ins of
        this module.

    Raises:
        UnsafeCheckpointError: The pickle references a global not on the allowlist.
            The message reads ``refusing to load '<source>': its pickle references
            <module>.<name>, which is not on the allowlist of inert types``.
        CheckpointError: The pickle is too large, truncated, malformed or too deeply
            nested: ``cannot read '<source>': <reason>``.

    Example:
        >>> safe_loads(b"\\x80\\x02]q\\x00(K\\x01K\\x02e.")
        [1, 2]
        >>> safe_loads(b"\\x80\\x02]q\\x00(K\\x01")
        Traceback (most recent call last):
        ...
        stepsched_cli.formats.checkpoint_errors.CheckpointError: cannot read '<bytes>': malformed \
pickle (pickle exhausted before seeing STOP)
    """
    if len(data) > MAX_PICKLE_BYTES:
        raise CheckpointError(
            f"cannot read {source!r}: its pickle is {len(data)} bytes, "
            f"more than the limit of {MAX_PICKLE_BYTES}"
        )
    PickleBounds(data, source, lambda module, name: _effect(module, name, source), max_depth).run()
    unpickler = RestrictedUnpickler(io.BytesIO(data), source=source)
    try:
        result = unpickler.load()
    except CheckpointError:
        raise
    except (
        pickle.UnpicklingError,
        EOFError,
        ValueError,
        TypeError,
        AttributeError,
        KeyError,
        IndexError,
        struct.error,
        OverflowError,
        RecursionError,
        MemoryError,
    ) as error:
        raise malformed(source, error) from None
    check_nesting(result, source, max_depth)
    return result
