"""Voiced seconds count talking, not file length."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from voice_avatar.audio import Audio, load_audio
from voice_avatar.audio.vad import detect_speech

SHARED = Path(__file__).resolve().parents[2].parent / "shared"
CLIP = SHARED / "voices/librispeech/2609/2609-156975-0004.flac"


def test_silence_padding_does_not_add_speech() -> None:
    speech = load_audio(CLIP)
    padded = Audio(np.concatenate([np.zeros(16000 * 4, np.float32), speech.samples, np.zeros(16000 * 4, np.float32)]), 16000)
    talking = detect_speech(speech).speech_seconds
    assert 0.6 * speech.duration < talking <= speech.duration
    assert detect_speech(padded).speech_seconds == pytest.approx(talking, abs=0.5)


def test_noise_and_tones_are_not_speech() -> None:
    rng = np.random.default_rng(1)
    noise = Audio((0.1 * rng.standard_normal(16000 * 4)).astype(np.float32), 16000)
    tone = Audio((0.3 * np.sin(2 * np.pi * 440 * np.arange(16000 * 4) / 16000)).astype(np.float32), 16000)
    assert detect_speech(noise).speech_seconds < 0.3
    assert detect_speech(tone).speech_seconds < 0.3


def test_speech_mask_follows_the_speech_at_another_rate() -> None:
    speech = load_audio(CLIP)
    padded = Audio(np.concatenate([np.zeros(16000 * 2, np.float32), speech.samples]), 16000).at_rate(22050)
    mask = detect_speech(padded).speech_mask(22050, len(padded.samples))
    assert len(mask) == len(padded.samples)
    assert mask[: 22050 * 1].mean() == 0.0
    assert mask[22050 * 3 :].mean() > 0.6
