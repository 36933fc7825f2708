"""Decoding every format we accept, and refusing bad files with a message that names them."""

from __future__ import annotations

import io
import struct
from pathlib import Path

import av
import numpy as np
import pytest
import soundfile

from voice_avatar.audio import Audio, load_audio, resample
from voice_avatar.audio.encode import encode
from voice_avatar.errors import AudioDecodeError

SHARED = Path(__file__).resolve().parents[2].parent / "shared"
CLIP = SHARED / "voices/librispeech/1998/1998-15444-0001.flac"


@pytest.fixture(scope="module")
def speech() -> Audio:
    return load_audio(CLIP)


def _encode_with_av(audio: Audio, container: str, codec: str, rate: int) -> bytes:
    """What a browser's MediaRecorder or a phone produces (WebM/Opus, M4A/AAC)."""
    samples = resample(audio.samples, audio.sample_rate, rate)
    buffer = io.BytesIO()
    with av.open(buffer, mode="w", format=container) as out:
        stream = out.add_stream(codec, rate=rate, layout="mono")
        frame_size = 960
        for start in range(0, len(samples), frame_size):
            chunk = samples[start : start + frame_size]
            frame = av.AudioFrame.from_ndarray(chunk[None, :].astype(np.float32), format="flt", layout="mono")
            frame.sample_rate = rate
            frame.pts = start
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)
    return buffer.getvalue()


def test_flac_from_disk_is_mono_float(speech: Audio) -> None:
    assert speech.sample_rate == 16000
    assert speech.samples.dtype == np.float32 and speech.samples.ndim == 1
    assert speech.duration == pytest.approx(soundfile.info(CLIP).duration, abs=1e-3)
    assert 0.05 < np.max(np.abs(speech.samples)) <= 1.0


@pytest.mark.parametrize("fmt", ["wav", "flac", "ogg", "mp3"])
def test_round_trip_through_each_written_format(speech: Audio, fmt: str, tmp_path: Path) -> None:
    path = tmp_path / f"sample.{fmt}"
    path.write_bytes(encode(speech, fmt))
    back = load_audio(path, sample_rate=16000)
    assert back.duration == pytest.approx(speech.duration, abs=0.08)
    # Same signal, not just the same length: the loudness envelopes line up (codecs may delay).
    n = (min(len(back.samples), len(speech.samples)) // 160) * 160
    a = np.abs(speech.samples[:n]).reshape(-1, 160).mean(axis=1)
    b = np.abs(back.samples[:n]).reshape(-1, 160).mean(axis=1)
    lag = int(np.argmax(np.correlate(b[:400], a[:400], mode="full"))) - 399
    assert abs(lag) <= 10
    assert np.corrcoef(np.roll(b, -lag), a)[0, 1] > 0.9


@pytest.mark.parametrize(("container", "codec", "rate"), [("webm", "libopus", 48000), ("mp4", "aac", 44100)])
def test_browser_and_phone_containers(speech: Audio, container: str, codec: str, rate: int) -> None:
    data = _encode_with_av(speech, container, codec, rate)
    back = load_audio(data, sample_rate=16000, name=f"recording.{container}")
    assert back.sample_rate == 16000
    assert back.duration == pytest.approx(speech.duration, abs=0.15)
    assert np.sqrt(np.mean(back.samples**2)) == pytest.approx(np.sqrt(np.mean(speech.samples**2)), rel=0.3)


def test_stereo_44k_is_mixed_down_and_resampled(tmp_path: Path) -> None:
    rate = 44100
    t = np.arange(rate) / rate
    left = 0.5 * np.sin(2 * np.pi * 440 * t)
    right = 0.5 * np.sin(2 * np.pi * 440 * t)
    path = tmp_path / "stereo.wav"
    soundfile.write(path, np.stack([left, right], axis=1), rate, subtype="PCM_24")
    audio = load_audio(path, sample_rate=16000)
    assert audio.sample_rate == 16000 and len(audio.samples) == 16000
    spectrum = np.abs(np.fft.rfft(audio.samples))
    assert np.argmax(spectrum) == pytest.approx(440, abs=1)


def test_resample_keeps_pitch_and_length() -> None:
    rate = 22050
    tone = np.sin(2 * np.pi * 1000 * np.arange(rate) / rate).astype(np.float32)
    out = resample(tone, rate, 16000)
    assert len(out) == 16000
    assert np.argmax(np.abs(np.fft.rfft(out))) == 1000


def _riff_header(data_len: int, rate: int = 16000) -> bytes:
    fmt = struct.pack("<HHIIHH", 1, 1, rate, rate * 2, 2, 16)
    return b"RIFF" + struct.pack("<I", 36 + data_len) + b"WAVEfmt " + struct.pack("<I", 16) + fmt + b"data" + struct.pack("<I", data_len)


@pytest.mark.parametrize(
    ("filename", "content", "reason"),
    [
        ("empty.wav", b"", "empty"),
        ("garbage.wav", b"this is not audio at all, just text " * 40, "not a readable audio file"),
        ("random.mp3", np.random.default_rng(0).bytes(20000), "not a readable audio file"),
        ("header-only.wav", _riff_header(0), "no audio"),
        ("lying-header.wav", _riff_header(10_000_000) + b"\x00\x01" * 40, "no audio"),
    ],
)
def test_bad_files_name_the_file(tmp_path: Path, filename: str, content: bytes, reason: str) -> None:
    path = tmp_path / filename
    path.write_bytes(content)
    with pytest.raises(AudioDecodeError) as caught:
        load_audio(path)
    assert filename in str(caught.value)
    assert reason in str(caught.value)


def test_truncated_flac_is_refused_or_shorter(tmp_path: Path) -> None:
    data = CLIP.read_bytes()
    path = tmp_path / "cut.flac"
    path.write_bytes(data[: len(data) // 3])
    try:
        audio = load_audio(path)
    except AudioDecodeError as exc:
        assert "cut.flac" in str(exc)
    else:  # libsndfile may decode the frames that are whole; it must not invent the rest
        assert audio.duration < soundfile.info(CLIP).duration * 0.5


def test_missing_file_and_folder(tmp_path: Path) -> None:
    with pytest.raises(AudioDecodeError, match="no such file"):
        load_audio(tmp_path / "nope.wav")
    with pytest.raises(AudioDecodeError, match="not a regular file"):
        load_audio(tmp_path)


def test_nan_samples_are_refused(tmp_path: Path) -> None:
    samples = np.zeros(16000, dtype=np.float32)
    samples[100] = np.nan
    path = tmp_path / "nan.wav"
    soundfile.write(path, samples, 16000, subtype="FLOAT")
    with pytest.raises(AudioDecodeError, match="NaN"):
        load_audio(path)


def test_overlong_declared_length_is_refused_before_decoding(tmp_path: Path) -> None:
    path = tmp_path / "long.wav"
    rate = 8000
    with soundfile.SoundFile(path, "w", rate, 1, subtype="PCM_U8") as f:
        f.write(np.zeros(rate * 16 * 60, dtype=np.float32))
    with pytest.raises(AudioDecodeError, match="minutes"):
        load_audio(path)
