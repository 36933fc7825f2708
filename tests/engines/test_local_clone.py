"""The local clone engine on a real voice: enrollment, synthesis, profile storage, bad input."""

from __future__ import annotations

from itertools import pairwise
from pathlib import Path

import numpy as np
import pytest

from voice_avatar.audio import Audio, load_audio
from voice_avatar.engines.local import LocalCloneEngine, VoiceProfile, fit_profile
from voice_avatar.errors import InputError
from voice_avatar.speaker import SpeakerEncoder, preprocess

SHARED = Path(__file__).resolve().parents[2].parent / "shared"
SPEAKER = SHARED / "voices" / "librispeech" / "3331"
SENTENCE = "Your meeting has been moved to three thirty this afternoon."

pytestmark = pytest.mark.skipif(not SPEAKER.is_dir(), reason=f"no test voices at {SPEAKER}")


@pytest.fixture(scope="module")
def clips() -> list[Audio]:
    return [load_audio(p) for p in sorted(SPEAKER.glob("*.flac"))]


@pytest.fixture(scope="module")
def profile(clips: list[Audio]) -> VoiceProfile:
    steps: list[tuple[float, str]] = []
    fitted = fit_profile(clips[:3], progress=lambda f, m: steps.append((f, m)))
    assert steps[0][0] == 0.0 and steps[-1][0] == 1.0
    assert all(a[0] <= b[0] for a, b in pairwise(steps)), "progress must not go backwards"
    return fitted


def test_converted_speech_is_closer_to_the_speaker_than_raw_piper(clips: list[Audio], profile: VoiceProfile) -> None:
    engine = LocalCloneEngine()
    encoder = SpeakerEncoder()
    reference = encoder.embed_speaker([preprocess(c) for c in clips[5:]])

    def secs(audio: Audio) -> float:
        return float(encoder.embed_utterance(preprocess(audio)) @ reference)

    converted = engine.synthesize(SENTENCE, profile)
    raw = engine.synthesize_raw(SENTENCE)
    assert converted.sample_rate == engine.sample_rate >= 22_050
    assert np.all(np.isfinite(converted.samples)) and np.abs(converted.samples).max() <= 1.0
    assert 0.6 < converted.duration / raw.duration < 2.0
    assert secs(converted) > secs(raw) + 0.05


def test_profile_survives_save_and_load(profile: VoiceProfile, tmp_path: Path) -> None:
    path = tmp_path / "voice.npz"
    profile.save(path)
    loaded = VoiceProfile.load(path)
    assert path.stat().st_size < 3_000_000
    for name, value in vars(profile).items():
        np.testing.assert_array_equal(np.asarray(getattr(loaded, name)), np.asarray(value), err_msg=name)


def test_profile_load_refuses_other_files(tmp_path: Path) -> None:
    path = tmp_path / "not-a-profile.npz"
    np.savez(path, something=np.zeros(3))
    with pytest.raises(InputError, match="not a voice profile"):
        VoiceProfile.load(path)


def test_too_little_speech_is_refused(clips: list[Audio]) -> None:
    short = Audio(clips[0].samples[: 3 * clips[0].sample_rate], clips[0].sample_rate)
    with pytest.raises(InputError, match="s of speech; at least 5 s are needed"):
        fit_profile([short])
