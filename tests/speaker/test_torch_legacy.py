"""The checkpoint reader: right arrays from real files, clear errors from broken or hostile ones."""

from __future__ import annotations

import importlib.util
import io
import struct
import zipfile
from pathlib import Path

import numpy as np
import pytest

from voice_avatar.speaker.torch_legacy import CheckpointError, UnsafeCheckpointError, load_checkpoint

# -- a tiny pickle assembler, so that test checkpoints need no torch -----------------------


def _str(s: str) -> bytes:
    data = s.encode()
    return b"X" + struct.pack("<I", len(data)) + data


def _int(v: int) -> bytes:
    return b"J" + struct.pack("<i", v)


def _tuple(*items: bytes) -> bytes:
    return b"(" + b"".join(items) + b"t"


def _global(module: str, name: str) -> bytes:
    return b"c" + f"{module}\n{name}\n".encode()


def _tensor(
    key: str,
    numel: int,
    offset: int,
    shape: tuple[int, ...],
    stride: tuple[int, ...],
    storage: str = "FloatStorage",
) -> bytes:
    pid = _tuple(_str("storage"), _global("torch", storage), _str(key), _str("cpu"), _int(numel), b"N") + b"Q"
    args = _tuple(
        pid,
        _int(offset),
        _tuple(*map(_int, shape)),
        _tuple(*map(_int, stride)),
        b"\x89",
        _global("collections", "OrderedDict") + b")R",
    )
    return _global("torch._utils", "_rebuild_tensor_v2") + args + b"R"


def _dict(**items: bytes) -> bytes:
    return b"}(" + b"".join(_str(k) + v for k, v in items.items()) + b"u"


def _pickle(body: bytes) -> bytes:
    return b"\x80\x02" + body + b"."


def _legacy(body: bytes, storages: dict[str, np.ndarray]) -> bytes:
    """A legacy-format file: magic, protocol, sys info, object, storage keys, raw storages."""
    header = b"".join(
        [
            _pickle(b"\x8a\x0a" + (0x1950A86A20F9469CFC6C).to_bytes(10, "little")),
            _pickle(b"M" + struct.pack("<H", 1001)),
            _pickle(_dict(little_endian=b"\x88")),
        ]
    )
    keys = _pickle(b"](" + b"".join(_str(k) for k in storages) + b"e")
    raw = b"".join(struct.pack("<q", a.size) + a.astype("<f4").tobytes() for a in storages.values())
    return header + _pickle(body) + keys + raw


STORAGE = np.arange(12, dtype=np.float32)


def _sample_file() -> bytes:
    # "w" is a 3x2 view at offset 2 with a transposed stride; "v" shares the same storage.
    return _legacy(
        _dict(w=_tensor("0", 12, 2, (3, 2), (1, 3)), v=_tensor("0", 12, 0, (4,), (1,))), {"0": STORAGE}
    )


def test_reads_strided_views_of_a_shared_storage() -> None:
    out = load_checkpoint(_sample_file())
    np.testing.assert_array_equal(out["w"], STORAGE[2:8].reshape(2, 3).T)
    np.testing.assert_array_equal(out["v"], STORAGE[:4])
    assert out["w"].flags["C_CONTIGUOUS"] and out["w"].flags["WRITEABLE"]


def test_every_truncation_is_a_checkpoint_error() -> None:
    data = _sample_file()
    for cut in range(len(data)):
        with pytest.raises(CheckpointError):
            load_checkpoint(data[:cut])


def test_garbage_and_wrong_magic_are_checkpoint_errors(tmp_path: Path) -> None:
    data = _sample_file()
    for bad in (b"", b"not a checkpoint at all", bytes(range(256)) * 4, data[:4] + b"\x00" + data[5:]):
        with pytest.raises(CheckpointError):
            load_checkpoint(bad)
    with pytest.raises(CheckpointError, match="cannot be read"):
        load_checkpoint(tmp_path / "missing.pt")


def test_a_storage_size_that_lies_is_refused() -> None:
    data = bytearray(_sample_file())
    size_at = len(data) - STORAGE.nbytes - 8
    data[size_at : size_at + 8] = struct.pack("<q", 10**9)
    with pytest.raises(CheckpointError, match="storage 0"):
        load_checkpoint(bytes(data))


def test_a_tensor_reaching_past_its_storage_is_refused() -> None:
    data = _legacy(_dict(w=_tensor("0", 12, 8, (3, 2), (1, 3))), {"0": STORAGE})
    with pytest.raises(CheckpointError, match="past the end"):
        load_checkpoint(data)


@pytest.mark.parametrize(
    "hostile",
    [
        _global("posix", "system") + _tuple(_str("touch {marker}")) + b"R",
        _global("builtins", "eval") + _tuple(_str("open('{marker}', 'w')")) + b"R",
        _global("torch", "load") + _tuple(_str("{marker}")) + b"R",
    ],
)
def test_find_class_refuses_other_globals(hostile: bytes, tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    body = _dict(x=hostile.replace(b"{marker}", str(marker).encode()))
    for data in (_legacy(body, {}), _zip(body, {})):
        with pytest.raises(UnsafeCheckpointError, match="refusing to load global"):
            load_checkpoint(data)
    assert not marker.exists()


@pytest.mark.parametrize("target", [("torch", "FloatStorage"), ("torch._utils", "_rebuild_tensor_v2")])
def test_allowed_globals_cannot_be_altered_by_a_file(target: tuple[str, str]) -> None:
    for state in (_dict(name=_str("BFloat16Storage")), _tuple(b"N", _dict(dtype=_str("f8")))):
        with pytest.raises(CheckpointError):
            load_checkpoint(_legacy(_dict(x=_global(*target) + state + b"b"), {}))  # b"b" is BUILD
    np.testing.assert_array_equal(load_checkpoint(_sample_file())["v"], STORAGE[:4])


def test_persistent_ids_other_than_storages_are_refused() -> None:
    body = _dict(m=_tuple(_str("module"), _str("os"), _str("x.py"), _str("import os")) + b"Q")
    with pytest.raises(UnsafeCheckpointError, match="persistent id"):
        load_checkpoint(_legacy(body, {}))


def test_globals_in_the_header_are_refused() -> None:
    data = _sample_file()
    hostile = _pickle(_global("posix", "system") + _tuple(_str("true")) + b"R")
    with pytest.raises(UnsafeCheckpointError):
        load_checkpoint(hostile + data)


def _zip(body: bytes, storages: dict[str, np.ndarray]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("model/data.pkl", _pickle(body))
        archive.writestr("model/byteorder", "little")
        for key, array in storages.items():
            archive.writestr(f"model/data/{key}", array.astype("<f4").tobytes())
    return buffer.getvalue()


def test_zip_format() -> None:
    body = _dict(w=_tensor("0", 12, 2, (3, 2), (1, 3)))
    np.testing.assert_array_equal(
        load_checkpoint(_zip(body, {"0": STORAGE}))["w"], STORAGE[2:8].reshape(2, 3).T
    )
    with pytest.raises(CheckpointError, match="missing"):
        load_checkpoint(_zip(body, {}))


# -- the real file --------------------------------------------------------------------------


def _pretrained() -> Path:
    spec = importlib.util.find_spec("resemblyzer")
    if spec is None:
        pytest.skip("resemblyzer (which ships the encoder weights) is not installed")
    return Path(next(iter(spec.submodule_search_locations))) / "pretrained.pt"


def test_reads_resemblyzers_bundled_weights() -> None:
    state = load_checkpoint(_pretrained())["model_state"]
    assert state["lstm.weight_ih_l0"].shape == (1024, 40)
    assert state["lstm.weight_hh_l2"].shape == (1024, 256)
    assert state["linear.weight"].shape == (256, 256)
    assert all(a.dtype == np.float32 and np.all(np.isfinite(a)) for a in state.values())


def test_truncated_real_checkpoint_is_a_checkpoint_error() -> None:
    data = _pretrained().read_bytes()
    for cut in (10, 150, 3000, len(data) // 2, len(data) - 1):
        with pytest.raises(CheckpointError):
            load_checkpoint(data[:cut])


def test_matches_torch_load_in_both_formats(tmp_path: Path) -> None:
    torch = pytest.importorskip("torch")
    base = torch.arange(24, dtype=torch.float32).reshape(4, 6)
    state = {
        "f32": base,
        "transposed": base.t(),
        "slice": base[1:, 2:5],
        "f64": torch.linspace(0, 1, 5, dtype=torch.float64),
        "f16": torch.tensor([0.5, -2.0], dtype=torch.float16),
        "bf16": torch.tensor([1.5, -2.25, 3.0], dtype=torch.bfloat16),
        "i64": torch.arange(5)[2:],
        "bool": torch.tensor([True, False]),
        "empty": torch.zeros(0, 3),
        "nested": [base[0], (1, "x", {"q": base[:, 0]})],
    }
    for zipped in (True, False):
        path = tmp_path / f"state-{zipped}.pt"
        torch.save(state, path, _use_new_zipfile_serialization=zipped)
        out = load_checkpoint(path)
        for key in ("f32", "transposed", "slice", "f64", "f16", "i64", "bool", "empty"):
            np.testing.assert_array_equal(out[key], state[key].numpy(), err_msg=key)
        np.testing.assert_array_equal(out["bf16"], state["bf16"].float().numpy())
        np.testing.assert_array_equal(out["nested"][1][2]["q"], base[:, 0].numpy())
