"""Read PyTorch checkpoints (`torch.save` files) into numpy arrays without importing torch.

Why: torch is a 700 MB dependency that the product only needed to read one small set of
encoder weights. Both of torch's on-disk formats are pickles whose tensors point at raw
storages through "persistent ids", so a restricted unpickler is enough:

- the legacy format (torch < 1.6, and resemblyzer's `pretrained.pt`): five things back to
  back in one stream: a pickled magic number, protocol version and sys-info dict; the pickled
  object; the pickled list of storage keys; then, for each key in that order, an int64
  element count followed by the storage's raw little-endian bytes;
- the zip format (torch >= 1.6): `<folder>/data.pkl` plus one raw file per storage in
  `<folder>/data/<key>`.

Security: unpickling can run arbitrary code, so `find_class` resolves only the handful of
globals a tensor checkpoint needs (tensor rebuild functions, `OrderedDict`, storage types)
to harmless stand-ins of our own; any other global is refused with `UnsafeCheckpointError`.
"""

from __future__ import annotations

import io
import pickle
import zipfile
from collections import OrderedDict
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from voice_avatar.errors import EngineError

_LEGACY_MAGIC = 0x1950A86A20F9469CFC6C
_LEGACY_PROTOCOL = 1001

#: torch storage type name -> numpy dtype of its elements (bfloat16 is read as raw uint16).
_STORAGE_DTYPES: dict[str, np.dtype] = {
    "DoubleStorage": np.dtype("<f8"),
    "FloatStorage": np.dtype("<f4"),
    "HalfStorage": np.dtype("<f2"),
    "BFloat16Storage": np.dtype("<u2"),
    "LongStorage": np.dtype("<i8"),
    "IntStorage": np.dtype("<i4"),
    "ShortStorage": np.dtype("<i2"),
    "CharStorage": np.dtype("i1"),
    "ByteStorage": np.dtype("u1"),
    "BoolStorage": np.dtype("?"),
    "ComplexFloatStorage": np.dtype("<c8"),
    "ComplexDoubleStorage": np.dtype("<c16"),
}


class CheckpointError(EngineError):
    """Raised when a checkpoint file is truncated, corrupted or not a PyTorch checkpoint."""


class UnsafeCheckpointError(CheckpointError):
    """Raised when a checkpoint's pickle asks for a global outside the tensor allow-list."""


def load_checkpoint(source: str | Path | bytes) -> Any:
    """Load a `torch.save` file; every tensor in it comes back as a contiguous numpy array.

    Containers (dict, OrderedDict, list, tuple) and plain values keep their shape.
    Raises `CheckpointError` on damaged input and `UnsafeCheckpointError` on foreign globals.
    """
    label = "<checkpoint bytes>" if isinstance(source, bytes) else str(source)
    if isinstance(source, bytes):
        data = source
    else:
        try:
            data = Path(source).read_bytes()
        except OSError as exc:
            raise CheckpointError(f"{label}: cannot be read ({exc.strerror})") from exc
    try:
        if zipfile.is_zipfile(io.BytesIO(data)):
            return _load_zip(data, label)
        return _load_legacy(data, label)
    except CheckpointError:
        raise
    except Exception as exc:  # untrusted bytes: pickle, zipfile and zlib fail in many ways
        raise CheckpointError(
            f"{label}: not a readable PyTorch checkpoint ({type(exc).__name__}: {exc})"
        ) from exc


# -- stand-ins returned by find_class -------------------------------------------------------
# All are immutable (named tuples, empty slots): a hostile BUILD opcode cannot alter them,
# neither to change how the next file is read nor to bypass the checks on shapes and strides.
# (Frozen dataclasses would not do: BUILD reaches their __dict__ or generated __setstate__.)


class _StorageType(NamedTuple):
    """What `torch.FloatStorage` and friends become: a name and a dtype, not callable."""

    name: str
    dtype: np.dtype


class _StorageRef(NamedTuple):
    """A persistent id resolved to (storage key, storage type, element offset of a view)."""

    key: str
    kind: _StorageType
    offset: int = 0


class _LazyTensor(NamedTuple):
    """A tensor whose storage bytes may come later in the stream (legacy format)."""

    storage: _StorageRef
    offset: int
    shape: tuple[int, ...]
    stride: tuple[int, ...]


class _RebuildTensor:
    """Stand-in for `torch._utils._rebuild_tensor_v2`: records where the tensor's data lives."""

    __slots__ = ()

    def __call__(self, storage: Any, storage_offset: Any, size: Any, stride: Any, *_: Any) -> _LazyTensor:
        if not isinstance(storage, _StorageRef):
            raise CheckpointError(f"tensor rebuilt from {type(storage).__name__}, not from a storage")
        shape, strides = _int_tuple(size), _int_tuple(stride)
        if len(shape) != len(strides) or any(n < 0 for n in shape) or any(s < 0 for s in strides):
            raise CheckpointError(f"tensor with inconsistent size {shape} and stride {strides}")
        if not isinstance(storage_offset, int) or storage_offset < 0:
            raise CheckpointError(f"tensor with invalid storage offset {storage_offset!r:.40}")
        return _LazyTensor(storage, storage_offset, shape, strides)


class _RebuildParameter:
    """Stand-in for `torch._utils._rebuild_parameter`: a Parameter is just its tensor here."""

    __slots__ = ()

    def __call__(self, data: Any, *_: Any) -> Any:
        return data


def _int_tuple(values: Any) -> tuple[int, ...]:
    if not isinstance(values, (tuple, list)) or not all(isinstance(v, int) for v in values):
        raise CheckpointError(f"expected a tuple of ints, got {values!r:.80}")
    return tuple(values)


_ALLOWED_GLOBALS: dict[tuple[str, str], Any] = {
    ("collections", "OrderedDict"): OrderedDict,
    ("torch._utils", "_rebuild_tensor_v2"): _RebuildTensor(),
    ("torch._utils", "_rebuild_parameter"): _RebuildParameter(),
    **{("torch", name): _StorageType(name, dtype) for name, dtype in _STORAGE_DTYPES.items()},
}


class _RestrictedUnpickler(pickle.Unpickler):
    """Resolves only allow-listed globals; storages are described, never materialised here."""

    def __init__(self, file: io.BytesIO, allow_tensors: bool) -> None:
        super().__init__(file)
        self._allow_tensors = allow_tensors
        #: storage key -> (type, element count), as declared by the persistent ids
        self.storages: dict[str, tuple[_StorageType, int]] = {}

    def find_class(self, module: str, name: str) -> Any:
        target = _ALLOWED_GLOBALS.get((module, name)) if self._allow_tensors else None
        if target is None:
            raise UnsafeCheckpointError(
                f"refusing to load global {module}.{name}: only tensors, storages and OrderedDict are allowed"
            )
        return target

    def persistent_load(self, pid: Any) -> Any:
        if not self._allow_tensors:
            raise UnsafeCheckpointError("unexpected persistent id in the checkpoint header")
        if not isinstance(pid, tuple) or len(pid) < 5 or pid[0] not in ("storage", b"storage"):
            raise UnsafeCheckpointError(f"unsupported persistent id {pid!r:.80} (only storages are allowed)")
        storage_type, key, _location, numel = pid[1:5]
        view = pid[5] if len(pid) > 5 else None
        if not isinstance(storage_type, _StorageType):
            raise CheckpointError(f"persistent id names {storage_type!r:.60}, not a storage type")
        key = key.decode("ascii") if isinstance(key, bytes) else str(key)
        if not isinstance(numel, int) or numel < 0:
            raise CheckpointError(f"storage {key} declares an invalid size {numel!r:.40}")
        known = self.storages.setdefault(key, (storage_type, numel))
        if known != (storage_type, numel):
            raise CheckpointError(f"storage {key} declared twice, as {known} and {(storage_type, numel)}")
        if view is None:
            return _StorageRef(key, storage_type)
        _view_key, offset, view_size = view
        if not (
            isinstance(offset, int)
            and isinstance(view_size, int)
            and 0 <= offset <= offset + view_size <= numel
        ):
            raise CheckpointError(f"storage view {view!r:.80} lies outside storage {key}")
        return _StorageRef(key, storage_type, offset)


# -- the two file formats -------------------------------------------------------------------


def _load_legacy(data: bytes, label: str) -> Any:
    stream = io.BytesIO(data)
    header = _RestrictedUnpickler(stream, allow_tensors=False)
    if header.load() != _LEGACY_MAGIC:
        raise CheckpointError(f"{label}: not a PyTorch checkpoint (wrong magic number)")
    protocol = header.load()
    if protocol != _LEGACY_PROTOCOL:
        raise CheckpointError(f"{label}: unsupported legacy protocol version {protocol!r:.40}")
    sys_info = header.load()
    if not isinstance(sys_info, dict) or not sys_info.get("little_endian", False):
        raise CheckpointError(f"{label}: only little-endian checkpoints are supported")

    body = _RestrictedUnpickler(stream, allow_tensors=True)
    obj = body.load()
    keys = _RestrictedUnpickler(stream, allow_tensors=False).load()
    if not isinstance(keys, list) or set(map(str, keys)) != set(body.storages):
        raise CheckpointError(f"{label}: the storage key list does not match the tensors")

    buffer = memoryview(data)
    pos = stream.tell()
    storages: dict[str, np.ndarray] = {}
    for key in map(str, keys):
        kind, declared = body.storages[key]
        dtype = kind.dtype
        if pos + 8 > len(data):
            raise CheckpointError(f"{label}: truncated before storage {key}")
        numel = int.from_bytes(buffer[pos : pos + 8], "little", signed=True)
        pos += 8
        nbytes = numel * dtype.itemsize
        if numel != declared or pos + nbytes > len(data):
            raise CheckpointError(
                f"{label}: truncated or corrupted storage {key} "
                f"(needs {nbytes} bytes, {len(data) - pos} left, {declared} elements declared)"
            )
        storages[key] = np.frombuffer(buffer, dtype=dtype, count=numel, offset=pos)
        pos += nbytes
    return _materialise(obj, storages, label)


def _load_zip(data: bytes, label: str) -> Any:
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        pickles = [n for n in archive.namelist() if n.endswith("/data.pkl") and n.count("/") == 1]
        if len(pickles) != 1:
            raise CheckpointError(f"{label}: zip archive without exactly one <folder>/data.pkl")
        prefix = pickles[0][: -len("data.pkl")]
        names = set(archive.namelist())
        if f"{prefix}byteorder" in names and archive.read(f"{prefix}byteorder").strip() != b"little":
            raise CheckpointError(f"{label}: only little-endian checkpoints are supported")
        unpickler = _RestrictedUnpickler(io.BytesIO(archive.read(pickles[0])), allow_tensors=True)
        obj = unpickler.load()
        storages: dict[str, np.ndarray] = {}
        for key, (kind, numel) in unpickler.storages.items():
            dtype = kind.dtype
            name = f"{prefix}data/{key}"
            if name not in names:
                raise CheckpointError(f"{label}: storage {key} is missing from the archive")
            raw = archive.read(name)
            if len(raw) < numel * dtype.itemsize:
                raise CheckpointError(f"{label}: storage {key} is truncated")
            storages[key] = np.frombuffer(raw, dtype=dtype, count=numel)
    return _materialise(obj, storages, label)


# -- turning lazy tensors into arrays -------------------------------------------------------


def _materialise(obj: Any, storages: dict[str, np.ndarray], label: str) -> Any:
    """Replace every lazy tensor in `obj` by its array; containers are walked once each."""
    memo: dict[int, Any] = {}

    def convert(item: Any) -> Any:
        if id(item) in memo:
            return memo[id(item)]
        if isinstance(item, _LazyTensor):
            memo[id(item)] = _to_array(item, storages[item.storage.key], label)
        elif isinstance(item, _StorageRef):  # a bare storage: its elements, as a 1-D array
            memo[id(item)] = np.array(storages[item.key][item.offset :])
        elif isinstance(item, dict):
            memo[id(item)] = item  # containers are updated in place, so cycles terminate
            for key, value in item.items():
                item[key] = convert(value)
        elif isinstance(item, list):
            memo[id(item)] = item
            item[:] = [convert(value) for value in item]
        elif isinstance(item, tuple):
            memo[id(item)] = tuple(convert(value) for value in item)
        else:
            return item
        return memo[id(item)]

    return convert(obj)


def _to_array(tensor: _LazyTensor, flat: np.ndarray, label: str) -> np.ndarray:
    """Copy a strided view out of its storage, after checking it stays inside the storage."""
    start = tensor.storage.offset + tensor.offset
    if 0 in tensor.shape:
        array = np.zeros(tensor.shape, dtype=flat.dtype)
    else:
        last = start + sum((n - 1) * s for n, s in zip(tensor.shape, tensor.stride, strict=True))
        if start < 0 or last >= len(flat):
            raise CheckpointError(f"{label}: a tensor reaches past the end of storage {tensor.storage.key}")
        view = np.lib.stride_tricks.as_strided(
            flat[start:],
            shape=tensor.shape,
            strides=tuple(s * flat.itemsize for s in tensor.stride),
            writeable=False,
        )
        array = np.array(view, copy=True, order="C")
    if tensor.storage.kind.name == "BFloat16Storage":  # numpy has no bfloat16: widen to float32
        array = (array.astype(np.uint32) << 16).view(np.float32)
    return array
