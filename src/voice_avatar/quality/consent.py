"""Consent: the person whose voice is cloned reads a challenge phrase, and we check both halves.

A recording only proves consent if it could not have been made earlier or by someone else:
the phrase ends in a random code issued for this enrollment (so an old recording does not
fit), speech recognition must find the phrase (so any other speech does not fit), and the
voice must be the sample's speaker (so a friend cannot consent for you).

Thresholds, measured on `../shared/voices/librispeech` (GE2E cosine of a 6 s clip to the
speaker embedding of five other clips): the same person 0.91-0.97, another person at most
0.64. `min_voice_similarity` sits between, leaving room for a different room and microphone.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np
from num2words import num2words

from voice_avatar.audio import Audio
from voice_avatar.audio.vad import VAD_RATE, detect_speech
from voice_avatar.quality.wer import word_error_rate, words

PHRASE_TEMPLATE = "I am recording my own voice for my voice avatar, and I agree to its use. My code is {code}."
# Short, common words that Whisper tiny.en hears reliably and that do not sound alike.
_COLOURS = ("red", "green", "blue", "yellow", "purple", "orange", "silver", "golden", "brown", "pink")
_THINGS = (
    "apple", "river", "garden", "rocket", "pencil", "window", "tiger", "candle",
    "bottle", "basket", "castle", "dragon", "forest", "guitar", "island", "jacket",
)


@dataclass(frozen=True)
class ConsentThresholds:
    min_speech_seconds: float = 1.5
    max_phrase_wer: float = 0.25
    min_voice_similarity: float = 0.75


@dataclass(frozen=True)
class Challenge:
    """A phrase to read aloud; `code` is its random part, which must be heard word for word."""

    text: str
    code: str


@dataclass(frozen=True)
class ConsentResult:
    accepted: bool
    heard: str
    phrase_wer: float | None
    code_heard: bool | None
    voice_similarity: float | None
    reasons: list[str]

    def to_json(self) -> dict:
        return asdict(self)


def new_challenge() -> Challenge:
    """A fresh phrase whose code (colour, thing, number 10-99) has about 14,000 possibilities."""
    code = " ".join(
        (
            secrets.choice(_COLOURS),
            secrets.choice(_THINGS),
            num2words(10 + secrets.randbelow(90)).replace("-", " "),
        )
    )
    return Challenge(text=PHRASE_TEMPLATE.format(code=code), code=code)


def code_of(phrase: str) -> str | None:
    """The random code of a phrase we issued (the words after "My code is"), or None for any other phrase."""
    match = re.search(r"\bmy code is\s+(.+?)[.!\s]*$", phrase.strip(), flags=re.IGNORECASE)
    return match.group(1).strip() if match else None


def verify_consent(
    consent: Audio,
    phrase: str,
    sample_embedding: np.ndarray,
    code: str | None = None,
    thresholds: ConsentThresholds = ConsentThresholds(),
) -> ConsentResult:
    """Accept when the recording says `phrase` (and its `code`, if issued) in the sample speaker's voice.

    Every check runs, so a rejection lists all its reasons at once.
    """
    from voice_avatar.asr import transcribe

    reasons: list[str] = []
    clip = consent.at_rate(VAD_RATE)
    speech_seconds = detect_speech(clip).speech_seconds
    if speech_seconds < thresholds.min_speech_seconds:
        return ConsentResult(False, "", None, None, None, [
            f"the consent recording has {speech_seconds:.1f} s of speech: read the whole phrase aloud"
        ])
    heard = transcribe(clip).text
    phrase_wer = word_error_rate(phrase, heard)
    if phrase_wer > thresholds.max_phrase_wer:
        reasons.append(f"the consent recording does not say the phrase (heard {heard!r})")
    code_heard = None
    if code:
        code_heard = _contains(words(heard), words(code))
        if not code_heard:
            reasons.append(f"the consent recording does not say this enrollment's code {code!r}: read the new phrase")
    voice_similarity = _voice_similarity(clip, sample_embedding)
    if voice_similarity < thresholds.min_voice_similarity:
        reasons.append("the consent recording is not in the same voice as the sample: the person being cloned must read it")
    return ConsentResult(
        accepted=not reasons,
        heard=heard,
        phrase_wer=round(phrase_wer, 3),
        code_heard=code_heard,
        voice_similarity=round(voice_similarity, 3),
        reasons=reasons,
    )


def sample_embedding(recordings: Sequence[Audio]) -> np.ndarray:
    """The speaker embedding of an enrollment's recordings, for the voice half of the check."""
    from voice_avatar.speaker import SpeakerEncoder, preprocess

    return SpeakerEncoder().embed_speaker([preprocess(r) for r in recordings])


def _voice_similarity(clip: Audio, reference: np.ndarray) -> float:
    from voice_avatar.errors import InputError
    from voice_avatar.speaker import SpeakerEncoder, preprocess, similarity

    try:
        samples = preprocess(clip)
    except InputError:
        return 0.0
    return similarity(SpeakerEncoder().embed_utterance(samples), reference)


def _contains(haystack: list[str], needle: list[str]) -> bool:
    """True when `needle` occurs in `haystack` as consecutive words."""
    n = len(needle)
    return any(haystack[i : i + n] == needle for i in range(len(haystack) - n + 1))
