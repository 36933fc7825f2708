"""DNSMOS P.835 (Microsoft's non-intrusive speech quality estimate) with onnxruntime only.

Why not `speechmos.dnsmos`: it imports librosa (numba, slow start) and requests. We reuse the
ONNX models that the `speechmos` package ships and reproduce its `DNSMOS.__call__` exactly,
with `voice_avatar.speaker.mel` standing in for librosa. Scores agree with speechmos within
0.01 (tested).

The scoring follows Microsoft's reference script, quirks included so that numbers stay
comparable with published ones: audio shorter than 9.01 s is repeated until long enough;
9.01 s windows start every second; and a window whose float-computed bounds come out one
sample short (`int((i + 9.01) * 16000)` rounds down for some `i`) is skipped.
"""

from __future__ import annotations

import importlib.util
from functools import lru_cache
from pathlib import Path

import numpy as np

from voice_avatar.audio import resample
from voice_avatar.errors import EngineError
from voice_avatar.speaker.mel import melspectrogram, power_to_db

SAMPLE_RATE = 16000
INPUT_LENGTH = 9.01  # seconds per scored window
P808_HOP = 160
_WINDOW = int(INPUT_LENGTH * SAMPLE_RATE)  # 144160 samples
BATCH = 8  # windows per ONNX call: 8 x 9 s of float32 is 4.6 MB, whatever the input length

# Second-order polynomials that map the raw network outputs to MOS (non-personalised model).
_POLY_SIG = np.poly1d([-0.08397278, 1.22083953, 0.0052439])
_POLY_BAK = np.poly1d([-0.13166888, 1.60915514, -0.39604546])
_POLY_OVR = np.poly1d([-0.06766283, 1.11546468, 0.04602535])


def models_dir() -> Path:
    """Where `speechmos` keeps its DNSMOS ONNX files, found without importing it."""
    spec = importlib.util.find_spec("speechmos")
    if spec is None or not spec.submodule_search_locations:
        raise EngineError("DNSMOS needs the ONNX models shipped in the 'speechmos' package; install it")
    return Path(next(iter(spec.submodule_search_locations))) / "dnsmos_models"


@lru_cache(maxsize=4)
def _sessions(num_threads: int) -> tuple[object, object]:
    """(P.835 session, P.808 session), created once per thread count."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = num_threads
    options.inter_op_num_threads = 1
    folder = models_dir()
    try:
        return tuple(
            ort.InferenceSession(str(folder / name), sess_options=options, providers=["CPUExecutionProvider"])
            for name in ("sig_bak_ovr.onnx", "model_v8.onnx")
        )  # type: ignore[return-value]
    except Exception as exc:  # onnxruntime raises its own untyped errors for missing/bad files
        raise EngineError(f"cannot load the DNSMOS models from {folder}: {exc}") from exc


def dnsmos(samples: np.ndarray, sample_rate: int = SAMPLE_RATE, num_threads: int = 1) -> dict[str, float]:
    """DNSMOS scores of mono speech in [-1, 1]: `ovrl`, `sig`, `bak` (P.835) and `p808`, about 1-5.

    Other sample rates are resampled to 16 kHz first. One intra-op thread by default: the
    models are small and the service runs several jobs on two cores.
    """
    audio = np.asarray(samples, dtype=np.float32)
    if audio.ndim != 1 or len(audio) == 0:
        raise ValueError(f"expected non-empty mono samples (1-D), got shape {audio.shape}")
    if not np.all(np.isfinite(audio)) or np.max(np.abs(audio)) > 1.0:
        raise ValueError("samples must be finite and within [-1, 1]")
    if sample_rate != SAMPLE_RATE:
        audio = np.clip(resample(audio, sample_rate, SAMPLE_RATE), -1.0, 1.0)
    audio = _looped(audio)

    primary, p808 = _sessions(num_threads)
    starts = _window_starts(audio)
    raw_parts, p808_parts = [], []
    for first in range(0, len(starts), BATCH):
        windows = np.stack([audio[s : s + _WINDOW] for s in starts[first : first + BATCH]])
        p808_features = np.stack([_p808_features(w) for w in windows])
        raw_parts.append(primary.run(None, {"input_1": windows})[0])  # type: ignore[attr-defined]
        p808_parts.append(p808.run(None, {"input_1": p808_features})[0][:, 0])  # type: ignore[attr-defined]
    raw, p808_mos = np.concatenate(raw_parts), np.concatenate(p808_parts)
    return {
        "ovrl": float(np.mean(_POLY_OVR(raw[:, 2]))),
        "sig": float(np.mean(_POLY_SIG(raw[:, 0]))),
        "bak": float(np.mean(_POLY_BAK(raw[:, 1]))),
        "p808": float(np.mean(p808_mos)),
    }


def _looped(audio: np.ndarray) -> np.ndarray:
    """Short input doubled until it fills one window, as the reference does."""
    while len(audio) < _WINDOW:
        audio = np.concatenate([audio, audio])
    return audio


def _window_starts(audio: np.ndarray) -> list[int]:
    """First samples of the 9.01 s windows the reference scores (one per second, quirk kept)."""
    num_hops = int(np.floor(len(audio) / SAMPLE_RATE) - INPUT_LENGTH) + 1
    return [
        i * SAMPLE_RATE
        for i in range(num_hops)
        if len(audio[int(i * SAMPLE_RATE) : int((i + INPUT_LENGTH) * SAMPLE_RATE)]) >= _WINDOW
    ]


def _p808_features(window: np.ndarray) -> np.ndarray:
    """Log-mel input of the P.808 model: 120 bands of 321-point frames, scaled to about [0, 1]."""
    mel = melspectrogram(window[:-P808_HOP], SAMPLE_RATE, n_fft=321, hop_length=P808_HOP, n_mels=120)
    return ((power_to_db(mel) + 40.0) / 40.0).astype(np.float32)
