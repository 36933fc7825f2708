"""WORLD analysis (F0 and spectral envelope) on a 16 kHz copy of the speech.

The conversion is fitted and computed below 8 kHz: that band carries the identity cues a
listener (and a speaker encoder) uses, and keeping it narrow makes WORLD cheap. Nothing is
resynthesised with WORLD: its vocoder costs about 0.5-0.7 DNSMOS on Piper's speech; the
envelopes only drive a filter on Piper's own waveform (`shaping`).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np

from voice_avatar.engines.local.parallel import in_halves

with warnings.catch_warnings():  # pyworld 0.3.5 imports the deprecated pkg_resources
    warnings.simplefilter("ignore")
    import pyworld

#: Rate of the band-limited copy the analysis works on.
RATE = 16_000
#: WORLD frame hop, milliseconds.
FRAME_MS = 5.0
#: Size of the coded (mel-cepstrum-like) envelope the mapping works on.
CODED_DIMS = 40
#: CheapTrick's FFT size at `RATE`: envelopes have FFT_SIZE // 2 + 1 bins from 0 to 8 kHz.
FFT_SIZE = 1024


@dataclass
class Frames:
    """WORLD parameters of one utterance: F0 (Hz, 0 = unvoiced) and power envelope per 5 ms."""

    f0: np.ndarray
    sp: np.ndarray

    @property
    def voiced(self) -> np.ndarray:
        return self.f0 > 0

    def __getitem__(self, index: slice) -> Frames:
        return Frames(self.f0[index], self.sp[index])


def analyze(samples16k: np.ndarray) -> Frames:
    """F0 by dio + stonemask (harvest is slower and no better here), envelope by CheapTrick.

    dio runs on a 4x decimated copy (`speed=4`): six times faster, and stonemask refines F0.
    """
    x = samples16k.astype(np.float64)
    f0, t = pyworld.dio(x, RATE, f0_floor=60.0, f0_ceil=500.0, frame_period=FRAME_MS, speed=4)
    f0 = pyworld.stonemask(x, f0, t, RATE)
    sp = pyworld.cheaptrick(x, f0, t, RATE, fft_size=FFT_SIZE)
    return Frames(f0, sp)


def analyze_at(samples16k: np.ndarray, times: np.ndarray) -> Frames:
    """Like `analyze`, but with F0 and envelope only at `times` (seconds), e.g. a filter's STFT frames.

    F0 is tracked on the 5 ms grid (dio needs the context) and taken from the nearest frame;
    stonemask and CheapTrick, which work frame by frame, then run only where they are needed,
    the two halves of the frames on the two threads of `in_halves`.
    """
    x = samples16k.astype(np.float64)
    f0, t = pyworld.dio(x, RATE, f0_floor=60.0, f0_ceil=500.0, frame_period=FRAME_MS, speed=4)
    nearest = np.clip(np.round(np.asarray(times) * 1000.0 / FRAME_MS).astype(int), 0, len(f0) - 1)

    def refine(f0_part: np.ndarray, t_part: np.ndarray) -> np.ndarray:
        f0_part = pyworld.stonemask(x, np.ascontiguousarray(f0_part), np.ascontiguousarray(t_part), RATE)
        sp = pyworld.cheaptrick(x, f0_part, np.ascontiguousarray(t_part), RATE, fft_size=FFT_SIZE)
        return np.concatenate([f0_part[:, None], sp], axis=1)

    both = in_halves(refine, f0[nearest], t[nearest])
    return Frames(both[:, 0].copy(), np.ascontiguousarray(both[:, 1:]))


def encode(sp: np.ndarray) -> np.ndarray:
    """Coded envelope (log mel spectrum through a DCT): small, smooth, and invertible."""
    return pyworld.code_spectral_envelope(np.ascontiguousarray(sp), RATE, CODED_DIMS)


def decode(coded: np.ndarray) -> np.ndarray:
    """Power envelope back from `encode`'s output."""
    return pyworld.decode_spectral_envelope(np.ascontiguousarray(coded), RATE, FFT_SIZE)


def speech_mask(frames: Frames, floor_db: float = 35.0) -> np.ndarray:
    """Frames within `floor_db` of the utterance's loud frames: speech, not pauses or breath."""
    energy_db = 10.0 * np.log10(frames.sp.sum(axis=1) + 1e-12)
    return energy_db > np.percentile(energy_db, 95) - floor_db
