"""DNSMOS without librosa: the same scores as speechmos, and noise scores lower."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from voice_avatar.audio import load_audio
from voice_avatar.quality import dnsmos

SHARED = Path(__file__).resolve().parents[2].parent / "shared"
VOICES = SHARED / "voices/librispeech"
# 3.5 s (looped to fill a window), 13.3 s, and 21.5 s (where the reference skips some windows)
CLIPS = ["2033/2033-164914-0005.flac", "1998/1998-15444-0000.flac", "3331/3331-159605-0008.flac"]


def _speech(name: str) -> np.ndarray:
    return load_audio(VOICES / name, sample_rate=16000).samples


@pytest.mark.parametrize("name", CLIPS)
def test_matches_speechmos(name: str) -> None:
    pytest.importorskip("librosa")
    from speechmos import dnsmos as reference

    samples = _speech(name)
    ours = dnsmos(samples)
    theirs = reference.run(samples, sr=16000)
    print(f"\n{name}: ours {ours} speechmos { {k: round(float(v), 4) for k, v in theirs.items()} }")
    for key in ("ovrl", "sig", "bak", "p808"):
        assert ours[key] == pytest.approx(float(theirs[f"{key}_mos"]), abs=0.01), key


def test_noise_at_0_db_snr_scores_lower() -> None:
    clean = _speech(CLIPS[1])
    rng = np.random.default_rng(0)
    noise = rng.standard_normal(len(clean)).astype(np.float32)
    noise *= np.sqrt(np.mean(clean**2) / np.mean(noise**2))  # 0 dB SNR
    noisy = clean + noise
    noisy /= max(1.0, float(np.max(np.abs(noisy))))
    clean_scores, noisy_scores = dnsmos(clean), dnsmos(noisy)
    print(f"\nclean {clean_scores}\nnoisy {noisy_scores}")
    assert clean_scores["ovrl"] > noisy_scores["ovrl"] + 0.5
    assert clean_scores["bak"] > noisy_scores["bak"] + 1.0
    assert all(1.0 <= v <= 5.0 for v in (*clean_scores.values(), *noisy_scores.values()))


def test_other_sample_rates_are_resampled() -> None:
    clean = load_audio(VOICES / CLIPS[0])
    at_16k = dnsmos(clean.samples)
    at_24k = dnsmos(clean.at_rate(24000).samples, sample_rate=24000)
    assert at_24k["ovrl"] == pytest.approx(at_16k["ovrl"], abs=0.1)


def test_refuses_what_the_models_cannot_score() -> None:
    for bad in (
        np.zeros(0, np.float32),
        np.full(16000, 1.5, np.float32),
        np.zeros((2, 16000), np.float32),
        np.full(16000, np.nan, np.float32),
    ):
        with pytest.raises(ValueError):
            dnsmos(bad)
