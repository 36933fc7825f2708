"""The numpy mel spectrogram reproduces librosa's, which both models were trained on."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from voice_avatar.audio import load_audio
from voice_avatar.speaker.mel import mel_filterbank, melspectrogram, power_to_db

SHARED = Path(__file__).resolve().parents[2].parent / "shared"
CLIP = SHARED / "voices/librispeech/1998/1998-15444-0000.flac"


@pytest.fixture(scope="module")
def speech() -> np.ndarray:
    return load_audio(CLIP, sample_rate=16000).samples


@pytest.mark.parametrize(("n_fft", "hop", "n_mels"), [(400, 160, 40), (321, 160, 120), (2048, 512, 128)])
def test_matches_librosa(speech: np.ndarray, n_fft: int, hop: int, n_mels: int) -> None:
    librosa = pytest.importorskip("librosa")
    for samples in (speech, speech[:12345]):
        expected = librosa.feature.melspectrogram(
            y=samples, sr=16000, n_fft=n_fft, hop_length=hop, n_mels=n_mels
        ).T
        got = melspectrogram(samples, 16000, n_fft, hop, n_mels)
        assert got.shape == expected.shape and got.dtype == np.float32
        np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-6 * float(expected.max()))


def test_power_to_db_matches_librosa(speech: np.ndarray) -> None:
    librosa = pytest.importorskip("librosa")
    spectrum = melspectrogram(speech[:144000], 16000, 321, 160, 120)
    expected = librosa.power_to_db(spectrum.T, ref=np.max).T
    np.testing.assert_allclose(power_to_db(spectrum), expected, atol=1e-4)


def test_filterbank_matches_librosa() -> None:
    librosa = pytest.importorskip("librosa")
    for n_fft, n_mels in ((400, 40), (321, 120)):
        np.testing.assert_allclose(
            mel_filterbank(16000, n_fft, n_mels),
            librosa.filters.mel(sr=16000, n_fft=n_fft, n_mels=n_mels),
            atol=1e-7,
        )


def test_a_tone_lands_in_the_right_band() -> None:
    t = np.arange(16000) / 16000
    tone = np.sin(2 * np.pi * 1000 * t).astype(np.float32)
    mel = melspectrogram(tone)
    assert mel.shape == (101, 40)
    centres = (
        np.fft.rfftfreq(400, 1 / 16000)
        @ mel_filterbank(16000, 400, 40).T
        / mel_filterbank(16000, 400, 40).sum(axis=1)
    )
    assert abs(centres[int(np.argmax(mel[50]))] - 1000) < 100
    db = power_to_db(mel)
    assert db.max() == pytest.approx(0.0, abs=1e-4) and db.min() >= db.max() - 80.0
