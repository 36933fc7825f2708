"""Decode any common audio file into mono float32 samples, with errors that name the file.

libsndfile (through `soundfile`) reads WAV, FLAC, OGG/Vorbis/Opus and MP3 without copying
the whole file twice; what it cannot read (WebM/Opus from browsers, M4A/AAC, ...) goes
through FFmpeg's libraries bundled in PyAV. Both paths end in the same checks so that an
empty, silent-by-corruption or absurdly long file is refused the same way.
"""

from __future__ import annotations

import io
import re
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
#: Decoded (mono) samples are also capped whatever the rate, so a header claiming a huge rate cannot
#: make 15 minutes mean gigabytes: 15 minutes at 48 kHz (about 170 MB of float32).
MAX_SAMPLES = MAX_SECONDS * 48_000
#: Sample rates a real recording can have; a header outside them lies (or is not audio).
MIN_RATE, MAX_RATE = 4_000, 384_000
#: Frames decoded at a time: memory stays bounded however many channels the file claims.
_BLOCK_SAMPLES = 1 << 20


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
    _check_wav_length(data, label)  # after: a file with no audio at all is refused as such
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
            _check_rate(rate, label)
            limit = _max_samples(rate)
            if declared > limit * 1.01 and declared < 2**62:
                raise AudioDecodeError(label, _too_long(rate))
            # Block by block, mixed to mono at once: a lying header (unknown length, many channels)
            # costs no more memory than the audio really decoded, which stops at the cap.
            chunks: list[np.ndarray] = []
            total = 0
            block_frames = max(1024, _BLOCK_SAMPLES // f.channels)
            while True:
                block = f.read(frames=block_frames, dtype="float32", always_2d=True)
                if len(block):
                    chunks.append(block.mean(axis=1))
                total += len(block)
                if total > limit:
                    raise AudioDecodeError(label, _too_long(rate))
                if len(block) < block_frames:  # the end (or where a truncated file breaks off)
                    break
    except AudioDecodeError:
        raise
    except (soundfile.LibsndfileError, RuntimeError) as exc:
        if "format not recognised" in str(exc).lower() or "unknown format" in str(exc).lower():
            raise _Unsupported from exc
        raise AudioDecodeError(label, f"damaged or truncated audio ({_short(exc)})") from exc
    except MemoryError:
        raise AudioDecodeError(label, "the file claims more audio than we can decode") from None
    samples = np.concatenate(chunks) if chunks else np.zeros(0, np.float32)
    return samples.astype(np.float32, copy=False), rate


def _check_rate(rate: int, label: str) -> None:
    if not MIN_RATE <= rate <= MAX_RATE:
        accepted = f"audio between {MIN_RATE} and {MAX_RATE} Hz is accepted"
        raise AudioDecodeError(label, f"the header claims a sample rate of {rate} Hz; {accepted}")


def _check_wav_length(data: bytes, label: str) -> None:
    """A WAV whose data chunk claims more bytes than the file holds was cut short (or lies).

    libsndfile quietly reads what is there; we refuse it, naming both lengths. 0 and 0xFFFFFFFF
    are the "length unknown" of streamed WAVs (as `streaming_wav_header` writes) and pass.
    """
    if data[:4] != b"RIFF" or data[8:12] != b"WAVE":
        return
    offset = 12
    while offset + 8 <= len(data):
        chunk, size = data[offset : offset + 4], int.from_bytes(data[offset + 4 : offset + 8], "little")
        if chunk == b"data":
            held = len(data) - offset - 8
            if size not in (0, 0xFFFFFFFF) and held < size * 0.99:
                raise AudioDecodeError(
                    label, f"truncated: the header declares {size} bytes of audio but the file holds {held}"
                )
            return
        offset += 8 + size + (size & 1)


def _max_samples(rate: int) -> int:
    return min(int(MAX_SECONDS * rate), MAX_SAMPLES)


def _too_long(rate: int) -> str:
    minutes = _max_samples(rate) / rate / 60
    return f"longer than the {minutes:.3g} minutes we accept" + (f" at {rate} Hz" if minutes < MAX_SECONDS / 60 else "")


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
                    _check_rate(rate, label)
                    chunk = out.to_ndarray().reshape(-1)
                    chunks.append(chunk)
                    total += len(chunk)
                if rate and total > _max_samples(rate):
                    raise AudioDecodeError(label, _too_long(rate))
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
    text = re.sub(r"^Error opening <[^>]*>: ", "", text)  # our BytesIO's repr tells the caller nothing
    return text[:160]
