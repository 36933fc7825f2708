"""Controlled degradations of real speech, used to calibrate and test the sample checks.

Each one imitates a way people really record badly (a noisy kitchen, a gain set too high, a
whisper, a sample that is mostly silence, two people taking turns) and names the check that
must catch it.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from voice_avatar.audio import Audio

RATE = 16000


def joined(clips: list[Audio]) -> Audio:
    gap = np.zeros(int(0.4 * RATE), np.float32)
    return Audio(np.concatenate([x for c in clips for x in (c.samples, gap)]), RATE)


def _with_noise(clean: Audio, snr_db: float, seed: int) -> Audio:
    rng = np.random.default_rng(seed)
    speech_power = np.mean(clean.samples[np.abs(clean.samples) > 0.01] ** 2)
    noise = rng.standard_normal(len(clean.samples))
    noise *= np.sqrt(speech_power / 10 ** (snr_db / 10) / np.mean(noise**2))
    mixed = clean.samples + noise
    return Audio((mixed / max(1.0, np.abs(mixed).max())).astype(np.float32), RATE)


def _clipped(clean: Audio, gain_db: float, then_db: float = 0.0) -> Audio:
    hot = np.clip(clean.samples * 10 ** (gain_db / 20), -1.0, 1.0) * 10 ** (then_db / 20)
    return Audio(hot.astype(np.float32), RATE)


def _gain(clean: Audio, db: float) -> Audio:
    return Audio((clean.samples * 10 ** (db / 20)).astype(np.float32), RATE)


def _mostly_silence(clip: Audio) -> Audio:
    silence = np.zeros(25 * RATE, np.float32)
    return Audio(np.concatenate([silence, clip.samples, silence]), RATE)


def _two_speakers_turns(a: list[Audio], b: list[Audio]) -> Audio:
    return joined([x for pair in zip(a[:3], b[:3]) for x in pair])


def degradations(own: list[Audio], other: list[Audio], seed: int) -> dict[str, tuple[str, Callable[[], Audio]]]:
    """Each degraded copy and the check that must fire on it."""
    clean = joined(own[:5])
    shortest = min(own, key=lambda c: c.duration)
    return {
        "noise_0db": ("snr", lambda: _with_noise(clean, 0, seed)),
        "noise_5db": ("snr", lambda: _with_noise(clean, 5, seed)),
        "noise_10db": ("snr", lambda: _with_noise(clean, 10, seed)),
        "clipped_+20db": ("clipping", lambda: _clipped(clean, 20)),
        "clipped_+12db": ("clipping", lambda: _clipped(clean, 12)),
        "clipped_then_quieter": ("clipping", lambda: _clipped(clean, 15, -10)),
        "too_quiet_-30db": ("loudness", lambda: _gain(clean, -30)),
        "mostly_silence": ("speech_duration", lambda: _mostly_silence(shortest)),
        "too_short": ("speech_duration", lambda: shortest),
        "two_speakers_turns": ("single_speaker", lambda: _two_speakers_turns(own, other)),
    }
