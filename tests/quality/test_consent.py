"""Consent: the right phrase in the right voice passes; a wrong phrase, silence or another voice does not.

The real-voice cases use LibriSpeech readers: the "phrase" is the sentence the reader read.
The issued-challenge cases need someone who can read our random code aloud, so the stock
Piper voice plays the person (its own sample is Piper reading other sentences).
"""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import pytest

from voice_avatar.audio import Audio, load_audio
from voice_avatar.engines.piper_voice import synthesize
from voice_avatar.quality.consent import code_of, new_challenge, sample_embedding, verify_consent

VOICES = Path(__file__).resolve().parents[2].parent / "shared" / "voices" / "librispeech"
# What the readers of these clips read (LibriSpeech, speakers 3331 and 2609).
READ_3331 = ("3331", 7, "He has known her all her life and has a good influence over her.")
READ_2609 = ("2609", 5, "The absence of the detailed reference to the Hebrews is therefore perfectly natural.")


def _clip(speaker: str, index: int) -> Audio:
    return load_audio(sorted((VOICES / speaker).glob("*.flac"))[index])


@pytest.fixture(scope="module")
def sample_3331() -> np.ndarray:
    return sample_embedding([_clip("3331", i) for i in range(5)])


def test_right_phrase_in_the_right_voice_is_accepted(sample_3331: np.ndarray) -> None:
    speaker, index, phrase = READ_3331
    result = verify_consent(_clip(speaker, index), phrase, sample_3331)
    assert result.accepted, result.reasons
    assert result.phrase_wer <= 0.25 and result.voice_similarity >= 0.75


def test_wrong_phrase_is_rejected_and_says_so(sample_3331: np.ndarray) -> None:
    speaker, index, _ = READ_3331
    result = verify_consent(_clip(speaker, index), "The later traditions tend to extend the period.", sample_3331)
    assert not result.accepted
    assert len(result.reasons) == 1 and "does not say the phrase" in result.reasons[0]


def test_silence_is_rejected(sample_3331: np.ndarray) -> None:
    result = verify_consent(Audio(np.zeros(5 * 16000, np.float32), 16000), READ_3331[2], sample_3331)
    assert not result.accepted and "speech" in result.reasons[0]


def test_another_person_reading_the_phrase_is_rejected(sample_3331: np.ndarray) -> None:
    speaker, index, phrase = READ_2609
    result = verify_consent(_clip(speaker, index), phrase, sample_3331)
    assert not result.accepted
    assert result.phrase_wer <= 0.25  # the words were right: only the voice gives it away
    assert any("not in the same voice" in r for r in result.reasons)


@pytest.fixture(scope="module")
def piper_sample() -> np.ndarray:
    return sample_embedding(
        [
            synthesize("The weather has been lovely this week, and the garden is full of flowers."),
            synthesize("Please remember to bring the tickets when we meet at the station on Friday."),
        ]
    )


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_an_issued_challenge_read_by_the_person_is_accepted(piper_sample: np.ndarray, seed: int) -> None:
    challenge = new_challenge(random.Random(seed))
    assert code_of(challenge.text) == challenge.code
    result = verify_consent(synthesize(challenge.text), challenge.text, piper_sample, code=challenge.code)
    assert result.accepted, result.reasons
    assert result.code_heard is True


def test_an_old_consent_recording_does_not_fit_a_new_challenge(piper_sample: np.ndarray) -> None:
    rng = random.Random(7)
    old, new = new_challenge(rng), new_challenge(rng)
    while any(a == b for a, b in zip(old.code.split()[:3], new.code.split()[:3], strict=True)):
        new = new_challenge(rng)  # a different colour, thing and number: what a replay would face
    result = verify_consent(synthesize(old.text), new.text, piper_sample, code=new.code)
    assert not result.accepted
    assert result.code_heard is False
    assert any("code" in r for r in result.reasons)


def test_challenges_differ_and_only_issued_phrases_have_a_code() -> None:
    assert len({new_challenge().code for _ in range(50)}) > 40
    assert code_of("I agree to clone my voice.") is None
