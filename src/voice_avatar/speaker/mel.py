"""Mel spectrograms in numpy, matching `librosa.feature.melspectrogram` (librosa 0.11 defaults).

Why not librosa: it pulls numba/llvmlite and a slow import for two functions. The models we
run (resemblyzer's GE2E encoder, DNSMOS P.808) were trained on librosa features, so this
module reproduces librosa's exact conventions: periodic Hann window of `n_fft` samples,
`center=True` with zero padding of `n_fft // 2` on both sides (librosa >= 0.10's
`pad_mode="constant"`), `|STFT| ** power`, and a Slaney-scale filterbank with Slaney (area)
normalisation. Unlike librosa, results are frames-first: shape `(n_frames, n_mels)`, which is
what both models consume.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

#: STFT frames transformed per block: bounds memory on long input (15 min = 90k frames).
_BLOCK_FRAMES = 4096


def hz_to_mel(hz: np.ndarray | float) -> np.ndarray:
    """Slaney's auditory-toolbox mel scale: linear below 1 kHz, logarithmic above."""
    hz = np.asarray(hz, dtype=np.float64)
    f_sp, min_log_hz = 200.0 / 3, 1000.0
    min_log_mel, logstep = min_log_hz / f_sp, np.log(6.4) / 27.0
    linear = hz / f_sp
    safe = np.maximum(hz, min_log_hz)
    return np.where(hz >= min_log_hz, min_log_mel + np.log(safe / min_log_hz) / logstep, linear)


def mel_to_hz(mel: np.ndarray | float) -> np.ndarray:
    """Inverse of `hz_to_mel`."""
    mel = np.asarray(mel, dtype=np.float64)
    f_sp, min_log_hz = 200.0 / 3, 1000.0
    min_log_mel, logstep = min_log_hz / f_sp, np.log(6.4) / 27.0
    return np.where(mel >= min_log_mel, min_log_hz * np.exp(logstep * (mel - min_log_mel)), f_sp * mel)


@lru_cache(maxsize=16)
def mel_filterbank(
    sample_rate: int, n_fft: int, n_mels: int, fmin: float = 0.0, fmax: float | None = None
) -> np.ndarray:
    """Triangular Slaney-normalised filters, shape `(n_mels, 1 + n_fft // 2)`, float32, read-only."""
    fmax = sample_rate / 2.0 if fmax is None else float(fmax)
    fft_freqs = np.fft.rfftfreq(n_fft, d=1.0 / sample_rate)
    mel_f = mel_to_hz(np.linspace(hz_to_mel(fmin), hz_to_mel(fmax), n_mels + 2))
    fdiff = np.diff(mel_f)
    ramps = mel_f[:, None] - fft_freqs[None, :]
    lower = -ramps[:-2] / fdiff[:-1, None]
    upper = ramps[2:] / fdiff[1:, None]
    weights = np.maximum(0.0, np.minimum(lower, upper))
    weights *= (2.0 / (mel_f[2:] - mel_f[:-2]))[:, None]
    weights = weights.astype(np.float32)
    weights.flags.writeable = False
    return weights


@lru_cache(maxsize=16)
def _hann(n: int) -> np.ndarray:
    """Periodic Hann window (scipy's `get_window("hann", n, fftbins=True)`), float64."""
    window = 0.5 - 0.5 * np.cos(2.0 * np.pi * np.arange(n) / n)
    window.flags.writeable = False
    return window


def power_spectrogram(
    samples: np.ndarray, n_fft: int, hop_length: int, power: float = 2.0, center: bool = True
) -> np.ndarray:
    """`|STFT| ** power` with a periodic Hann window, shape `(n_frames, 1 + n_fft // 2)`, float32.

    The FFT runs in float64 like librosa's (its window is float64), then drops to float32.
    """
    y = np.asarray(samples, dtype=np.float32)
    if y.ndim != 1:
        raise ValueError(f"expected mono samples (1-D), got shape {y.shape}")
    if center:
        y = np.pad(y, n_fft // 2)
    if len(y) < n_fft:
        raise ValueError(f"input of {len(samples)} samples is too short for n_fft={n_fft}")
    frames = np.lib.stride_tricks.sliding_window_view(y, n_fft)[::hop_length]
    window = _hann(n_fft)
    out = np.empty((len(frames), n_fft // 2 + 1), dtype=np.float32)
    for start in range(0, len(frames), _BLOCK_FRAMES):
        spectrum = np.fft.rfft(frames[start : start + _BLOCK_FRAMES] * window, axis=-1)
        magnitude = np.abs(spectrum.astype(np.complex64))
        out[start : start + _BLOCK_FRAMES] = magnitude if power == 1.0 else magnitude**power
    return out


def melspectrogram(
    samples: np.ndarray,
    sample_rate: int = 16000,
    n_fft: int = 400,
    hop_length: int = 160,
    n_mels: int = 40,
    fmin: float = 0.0,
    fmax: float | None = None,
    power: float = 2.0,
    center: bool = True,
) -> np.ndarray:
    """Mel power spectrogram, shape `(n_frames, n_mels)`, float32 (librosa's, transposed).

    Defaults are resemblyzer's: 25 ms Hann window, 10 ms hop, 40 mel bands at 16 kHz.
    """
    spectrum = power_spectrogram(samples, n_fft, hop_length, power=power, center=center)
    return spectrum @ mel_filterbank(sample_rate, n_fft, n_mels, fmin, fmax).T


def power_to_db(
    spectrum: np.ndarray, ref: float | None = None, amin: float = 1e-10, top_db: float | None = 80.0
) -> np.ndarray:
    """`10 * log10(S / ref)`, floored at `top_db` below the peak, like `librosa.power_to_db`.

    `ref=None` means the spectrum's own maximum (librosa's `ref=np.max`).
    """
    spectrum = np.asarray(spectrum)
    ref_value = float(np.max(spectrum)) if ref is None else float(ref)
    log_spec = 10.0 * np.log10(np.maximum(amin, spectrum))
    log_spec -= 10.0 * np.log10(max(amin, ref_value))
    if top_db is not None:
        if top_db < 0:
            raise ValueError("top_db must be non-negative")
        log_spec = np.maximum(log_spec, log_spec.max() - top_db)
    return log_spec
