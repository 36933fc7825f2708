"""Each way of recording badly is caught by the check named for it; a clean recording passes."""

from __future__ import annotations

from pathlib import Path

import pytest

from voice_avatar.audio import Audio, load_audio
from voice_avatar.quality.degrade import degradations, joined
from voice_avatar.quality.sample_checks import Thresholds, check_sample

VOICES = Path(__file__).resolve().parents[2].parent / "shared" / "voices" / "librispeech"


def _clips(speaker: str) -> list[Audio]:
    return [load_audio(p, 16000) for p in sorted((VOICES / speaker).glob("*.flac"))]


@pytest.fixture(scope="module")
def own() -> list[Audio]:
    return _clips("2033")


@pytest.fixture(scope="module")
def other() -> list[Audio]:
    return _clips("3331")


def test_clean_sample_passes_with_advice_free_report(own: list[Audio]) -> None:
    report = check_sample([joined(own[:5])])
    assert report.ok, report.to_json()
    assert report.advice == []
    assert [c.name for c in report.checks] == ["speech_duration", "clipping", "snr", "loudness", "single_speaker"]


@pytest.mark.parametrize(
    "kind", ["noise_5db", "clipped_+12db", "clipped_then_quieter", "too_quiet_-30db", "mostly_silence", "two_speakers_turns"]
)
def test_each_degradation_fails_on_its_own_check(own: list[Audio], other: list[Audio], kind: str) -> None:
    expected, make = degradations(own, other, seed=3)[kind]
    report = check_sample([make()])
    assert not report.ok
    assert expected in report.failed()
    failing = next(c for c in report.checks if c.name == expected)
    assert failing.advice and len(failing.advice) > 20


def test_speech_adds_up_across_files_and_tier_minimum_applies(own: list[Audio]) -> None:
    files = own[:3]
    assert check_sample(files, Thresholds(min_speech_seconds=10)).ok
    premium = check_sample(files, Thresholds(min_speech_seconds=60))
    assert premium.failed() == ["speech_duration"]


def test_prompt_match_by_speech_recognition() -> None:
    from voice_avatar.engines import piper_voice

    prompt = "The quick brown fox jumps over the lazy dog near the river bank."
    spoken = piper_voice.synthesize(prompt)
    lenient = Thresholds(min_speech_seconds=1)
    read_right = check_sample([spoken], lenient, prompt=prompt)
    read_wrong = check_sample([spoken], lenient, prompt="Please remind me to water the plants every Sunday morning.")
    assert "prompt_match" not in read_right.failed()
    assert "prompt_match" in read_wrong.failed()
