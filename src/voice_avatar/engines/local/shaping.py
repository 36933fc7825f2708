"""Filtering Piper's own waveform towards the speaker: the conversion's only synthesis step.

Two time-varying gains are applied in one STFT pass at Piper's rate:

* the envelope gain: the speaker's mapped envelope over Piper's, frame by frame, both as
  coded (smooth) envelopes so that Piper's fine spectral detail passes untouched;
* a harmonic mask below `HARMONIC_BAND_HZ`: Piper's `joe` has a rough low band (about 7 dB
  harmonics-to-noise below 500 Hz, against 20-30 dB for the recorded speakers), and a speaker
  encoder hears that roughness as `joe`. Attenuating the energy between harmonics there raised
  SECS by about 0.05 with Piper's phase and naturalness intact; replacing the low band with a
  WORLD resynthesis did the same for similarity but cost 0.5 DNSMOS.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.ndimage import uniform_filter1d
from scipy.signal import istft, stft

from voice_avatar.engines.local import features
from voice_avatar.engines.local.parallel import in_halves

#: Envelope gains are smoothed over this many STFT frames (HOP apart) and limited to +-GAIN_LIMIT_DB.
GAIN_SMOOTH_FRAMES = 3
GAIN_LIMIT_DB = 24.0
HARMONIC_BAND_HZ = 600.0
#: The mask fades out over this width above HARMONIC_BAND_HZ.
HARMONIC_FADE_HZ = 200.0
#: Level between harmonics, relative to the harmonics.
HARMONIC_FLOOR_DB = -30.0
#: Width (standard deviation) of the pass band around each harmonic.
HARMONIC_WIDTH_HZ = 25.0
#: STFT size and hop at Piper's 22.05 kHz: 46 ms windows resolve harmonics down to ~70 Hz.
N_FFT = 1024
HOP = 256


def envelope_gain_db(source_coded: np.ndarray, target_coded: np.ndarray) -> np.ndarray:
    """Amplitude gain in dB (frames x envelope bins) from one coded envelope to the other.

    Decoding is linear up to its final exponential, so the ratio of two decoded envelopes is
    the decoded difference of the codes: one decode instead of two, the same gain to 1e-13 dB.
    """
    tiny = np.finfo(np.float64).tiny
    ratio = in_halves(features.decode, target_coded - source_coded)
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        gain = 10.0 * np.log10(np.clip(ratio, tiny, None))
    # A profile fitted on poor audio can map far outside the range of speech: never emit NaN.
    gain = np.nan_to_num(gain, nan=0.0, posinf=GAIN_LIMIT_DB, neginf=-GAIN_LIMIT_DB)
    gain = uniform_filter1d(gain, GAIN_SMOOTH_FRAMES, axis=0)
    gain -= np.median(gain)  # the overall level is normalised later anyway
    return np.clip(gain, -GAIN_LIMIT_DB, GAIN_LIMIT_DB)


def harmonic_mask(freqs: np.ndarray, f0: np.ndarray) -> np.ndarray:
    """Linear gain (bins x frames): 1 at harmonics of `f0`, HARMONIC_FLOOR_DB between them."""
    f = freqs[:, None]
    pitch = np.maximum(f0[None, :], 1.0)
    nearest = np.maximum(np.round(f / pitch), 1.0) * pitch
    floor = 10.0 ** (HARMONIC_FLOOR_DB / 20.0)
    mask = floor + (1.0 - floor) * np.exp(-0.5 * ((f - nearest) / HARMONIC_WIDTH_HZ) ** 2)
    fade = np.clip((f - HARMONIC_BAND_HZ) / HARMONIC_FADE_HZ, 0.0, 1.0)
    mask = mask * (1.0 - fade) + fade
    return np.where(f0[None, :] > 0, mask, 1.0)


@dataclass(frozen=True)
class Spectrum:
    """Piper's waveform as STFT frames; the analysis runs at `times` so each frame has its own gain."""

    freqs: np.ndarray
    times: np.ndarray
    values: np.ndarray
    length: int


def spectrum(samples: np.ndarray, rate: int) -> Spectrum:
    freqs, times, values = stft(samples, fs=rate, nperseg=N_FFT, noverlap=N_FFT - HOP)
    return Spectrum(freqs, times, values, len(samples))


def apply(spec: Spectrum, rate: int, gain_db: np.ndarray, f0: np.ndarray) -> np.ndarray:
    """The waveform filtered by the per-frame envelope gain and the harmonic mask.

    `gain_db` and `f0` have one row per STFT frame, envelope bins from 0 to 8 kHz; above
    8 kHz the gain at the top of the analysed band is held.
    """
    bins = np.arange(gain_db.shape[1]) * features.RATE / features.FFT_SIZE
    # top 200 Hz of the 16 kHz copy sit in its resampling filter's roll-off: hold the gain below
    capped = np.minimum(spec.freqs, bins[-1] - 200.0)
    gains = np.stack([np.interp(capped, bins, g) for g in gain_db], axis=1)
    shaped = spec.values * 10.0 ** (gains / 20.0) * harmonic_mask(spec.freqs, f0)
    _, out = istft(shaped, fs=rate, nperseg=N_FFT, noverlap=N_FFT - HOP)
    return out[: spec.length].astype(np.float32)
