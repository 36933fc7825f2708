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

import random
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
# Short, common words that Whisper tiny.en hears reliably, checked by reading each aloud with
# Piper: "red" came back as "read", "garden" as "guard in", "silver jacket" as "silverjack at",
# "forest" as "force", teens like "fourteen" as "for it".
_COLOURS = ("green", "blue", "yellow", "purple", "orange", "golden", "brown", "pink")
_THINGS = (
    "apple", "river", "rocket", "pencil", "window", "tiger", "candle", "bottle",
    "basket", "castle", "dragon", "guitar", "island",
)
#: Two-word numbers (21-99, not multiples of ten) are heard better than teens and tens.
_NUMBERS = tuple(n for n in range(21, 100) if n % 10)
#: Words of the code that may be misheard: one, so that speech recognition's slips do not lock
#: people out, while an old recording (a different code) still fails.
CODE_WORDS_TOLERATED = 1


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


def new_challenge(rng: random.Random | None = None) -> Challenge:
    """A fresh phrase whose code (colour, thing, number) has 7,488 possibilities.

    Codes come from the system's secure random source; tests may pass a seeded `rng`.
    """
    choose = rng.choice if rng is not None else secrets.choice
    code = " ".join((choose(_COLOURS), choose(_THINGS), num2words(choose(_NUMBERS)).replace("-", " ")))
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
        return ConsentResult(
            False,
            "",
            None,
            None,
            None,
            [f"the consent recording has {speech_seconds:.1f} s of speech: read the whole phrase aloud"],
        )
    heard = transcribe(clip).text
    phrase_wer = word_error_rate(phrase, heard)
    if phrase_wer > thresholds.max_phrase_wer:
        reasons.append(f"the consent recording does not say the phrase (heard {heard!r})")
    code_heard = None
    if code:
        code_heard = _nearly_contains(words(heard), words(code), CODE_WORDS_TOLERATED)
        if not code_heard:
            reasons.append(f"the consent recording does not say this enrollment's code {code!r}: read the new phrase")
    voice_similarity = _voice_similarity(clip, sample_embedding)
    if voice_similarity < thresholds.min_voice_similarity:
        reasons.append(
            "the consent recording is not in the same voice as the sample: the person being cloned must read it"
        )
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


def _nearly_contains(haystack: list[str], needle: list[str], tolerated: int) -> bool:
    """True when some run of `haystack` is within `tolerated` word edits of `needle`."""
    if not needle:
        return True
    # Edit distance of `needle` against the best-matching substring (free start and end in haystack).
    previous = [0] * (len(haystack) + 1)
    for i, word in enumerate(needle, start=1):
        current = [i] + [0] * len(haystack)
        for j, heard in enumerate(haystack, start=1):
            current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (word != heard))
        previous = current
    return min(previous) <= tolerated
