"""Decode any common audio file into mono float32 samples, with errors that name the file.

libsndfile (through `soundfile`) reads WAV, FLAC, OGG/Vorbis/Opus and MP3 without copying
the whole file twice; what it cannot read (WebM/Opus from browsers, M4A/AAC, ...) goes
through FFmpeg's libraries bundled in PyAV. Both paths end in the same checks so that an
empty, silent-by-corruption or absurdly long file is refused the same way.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from math import gcd
from pathlib import Path

import numpy as np
import soundfile
from scipy.signal import resample_poly

from voice_avatar.errors import AudioDecodeError

#: Longer input is refused before it is decoded in full: a guard against decompression bombs.
MAX_SECONDS = 15 * 60
MIN_SAMPLES = 160


@dataclass(frozen=True)
class Audio:
    """Mono float32 samples in [-1, 1] and their sample rate."""

    samples: np.ndarray
    sample_rate: int

    @property
    def duration(self) -> float:
        return len(self.samples) / self.sample_rate

    def at_rate(self, sample_rate: int) -> Audio:
        """The same audio at another sample rate (itself when the rate already matches)."""
        if sample_rate == self.sample_rate:
            return self
        return Audio(resample(self.samples, self.sample_rate, sample_rate), sample_rate)


def resample(samples: np.ndarray, from_rate: int, to_rate: int) -> np.ndarray:
    """Polyphase resampling; exact for rational ratios such as 44.1 kHz to 16 kHz."""
    if from_rate == to_rate:
        return samples.astype(np.float32, copy=False)
    g = gcd(int(from_rate), int(to_rate))
    out = resample_poly(samples.astype(np.float64), to_rate // g, from_rate // g)
    return out.astype(np.float32)


def load_audio(source: str | Path | bytes, sample_rate: int | None = None, name: str | None = None) -> Audio:
    """Decode a file path or in-memory bytes to mono; resample when `sample_rate` is given.

    `name` is what error messages call the input (defaults to the path).
    """
    label = name or (str(source) if not isinstance(source, bytes) else "<audio bytes>")
    data = _read_bytes(source, label)
    if not data:
        raise AudioDecodeError(label, "the file is empty")
    try:
        samples, rate = _decode_with_soundfile(data, label)
    except _Unsupported:
        samples, rate = _decode_with_av(data, label)
    audio = _checked(samples, rate, label)
    return audio.at_rate(sample_rate) if sample_rate else audio


class _Unsupported(Exception):
    """libsndfile does not know the container; try FFmpeg."""


def _read_bytes(source: str | Path | bytes, label: str) -> bytes:
    if isinstance(source, bytes):
        return source
    path = Path(source)
    if not path.exists():
        raise AudioDecodeError(label, "no such file")
    if not path.is_file():
        raise AudioDecodeError(label, "not a regular file")
    try:
        return path.read_bytes()
    except OSError as exc:
        raise AudioDecodeError(label, f"cannot be read ({exc.strerror})") from exc


def _decode_with_soundfile(data: bytes, label: str) -> tuple[np.ndarray, int]:
    try:
        with soundfile.SoundFile(io.BytesIO(data)) as f:
            rate = f.samplerate
            declared = f.frames
            if rate <= 0 or f.channels <= 0:
                raise AudioDecodeError(label, "the header declares no sample rate or channels")
            if declared > MAX_SECONDS * rate * 1.01 and declared < 2**62:
                raise AudioDecodeError(label, f"longer than the {MAX_SECONDS // 60} minutes we accept")
            samples = f.read(frames=int(MAX_SECONDS * rate) + 1, dtype="float32", always_2d=True)
    except AudioDecodeError:
        raise
    except (soundfile.LibsndfileError, RuntimeError) as exc:
        if "format not recognised" in str(exc).lower() or "unknown format" in str(exc).lower():
            raise _Unsupported from exc
        raise AudioDecodeError(label, f"damaged or truncated audio ({_short(exc)})") from exc
    return samples.mean(axis=1), rate


def _decode_with_av(data: bytes, label: str) -> tuple[np.ndarray, int]:
    import av  # FFmpeg's decoders; imported lazily because most input never needs them

    chunks: list[np.ndarray] = []
    rate = 0
    total = 0
    try:
        with av.open(io.BytesIO(data), mode="r") as container:
            streams = [s for s in container.streams if s.type == "audio"]
            if not streams:
                raise AudioDecodeError(label, "not an audio file (no audio stream found)")
            resampler = av.AudioResampler(format="flt", layout="mono")
            for frame in container.decode(streams[0]):
                for out in resampler.resample(frame):
                    rate = out.sample_rate
                    chunk = out.to_ndarray().reshape(-1)
                    chunks.append(chunk)
                    total += len(chunk)
                if rate and total > MAX_SECONDS * rate:
                    raise AudioDecodeError(label, f"longer than the {MAX_SECONDS // 60} minutes we accept")
    except AudioDecodeError:
        raise
    except (av.error.FFmpegError, ValueError, OSError) as exc:
        raise AudioDecodeError(label, f"not a readable audio file ({_short(exc)})") from exc
    if not chunks:
        raise AudioDecodeError(label, "the file holds no audio samples")
    return np.concatenate(chunks).astype(np.float32), rate


def _checked(samples: np.ndarray, rate: int, label: str) -> Audio:
    if len(samples) < MIN_SAMPLES:
        raise AudioDecodeError(label, "the file holds no audio (or only a few samples)")
    if not np.all(np.isfinite(samples)):
        raise AudioDecodeError(label, "the samples contain NaN or infinite values")
    peak = float(np.max(np.abs(samples)))
    if peak > 1.0:
        samples = samples / peak
    return Audio(np.ascontiguousarray(samples, dtype=np.float32), int(rate))


def _short(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return text[:160]
