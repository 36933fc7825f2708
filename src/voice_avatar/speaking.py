"""Speech for the service: normalised text in an avatar's voice, whole or sentence by sentence, cached.

The cache key names everything that changes the sound (engine, avatar, normalised text,
format, speed), so a hit is byte-for-byte what a fresh synthesis would have been asked for.
Quota and billing are the caller's: this module only makes and caches audio.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from voice_avatar.audio import Audio
from voice_avatar.audio.encode import encode, streaming_wav_header
from voice_avatar.cache import AudioCache, avatar_cache_key, cache_key
from voice_avatar.engines.local import LocalCloneEngine
from voice_avatar.engines.local.engine import SENTENCE_GAP
from voice_avatar.enrollment import load_profile
from voice_avatar.errors import InputError
from voice_avatar.store import AvatarRecord, AvatarRef, AvatarStore
from voice_avatar.text import normalize_for_speech, split_for_streaming

#: Formats whose pieces can be sent as they are made and still play as one file.
STREAMABLE = ("mp3", "wav", "pcm")
SPEED_RANGE = (0.25, 4.0)
#: A streamed message's first sentence longer than this is cut at a clause, so the first audio
#: comes from a shorter piece (see `split_for_streaming`): "Good morning," is ready in about
#: 0.4x the time of "Good morning, here is your briefing for today." (bench/perf_first_audio.py).
FIRST_PIECE_CHARS = 40
#: How a piece cut at a clause ends (`text.sentences` cuts after these).
_CLAUSE_MARKS = (",", ";", ":", "-", "\u2013", "\u2014")


@dataclass(frozen=True)
class Utterance:
    """What to say and how: the normalised text is what the engine reads and the cache keys on."""

    spoken: str
    fmt: str
    speed: float = 1.0
    rate: int | None = None  # None: the engine's own rate

    def encoded(self, audio: Audio, fmt: str | None = None) -> bytes:
        return encode(audio.at_rate(self.rate) if self.rate else audio, fmt or self.fmt)


def prepare(text: str, fmt: str, speed: float = 1.0, rate: int | None = None) -> Utterance:
    if not text or not text.strip():
        raise InputError("the text is empty: nothing to say")
    if not SPEED_RANGE[0] <= speed <= SPEED_RANGE[1]:
        raise InputError(f"speed must be between {SPEED_RANGE[0]} and {SPEED_RANGE[1]}, not {speed}")
    bad = next((ch for ch in text if ch not in "\t\n\r" and unicodedata.category(ch) in ("Cc", "Cs")), None)
    if bad is not None:
        surrogate = unicodedata.category(bad) == "Cs"
        what = "a lone surrogate: the text is not valid UTF-8" if surrogate else "a control character"
        raise InputError(f"the text contains U+{ord(bad):04X} ({what}): send plain text")
    spoken = _normalized(text)
    if not any(ch.isalnum() for ch in spoken):
        raise InputError("the text has nothing to pronounce")
    return Utterance(spoken, fmt, round(float(speed), 3), rate)


@lru_cache(maxsize=1024)
def _normalized(text: str) -> str:
    """Normalisation is pure, and repeated messages (the cache hits) are common: about 0.4 ms each saved."""
    return normalize_for_speech(text)


class Voices:
    """Makes an avatar's audio through the local engine, with the shared cache in front."""

    def __init__(self, cache: AudioCache) -> None:
        self.cache = cache
        self.engine = LocalCloneEngine()

    def key(self, record: AvatarRef | AvatarRecord, utterance: Utterance, engine: str = "local") -> str:
        """Names everything that changes the sound: engine, avatar, words, format, speed, rate.

        Prefixed with the avatar's id (``<avatar id>:<sha256>``) so `AudioCache.forget_voice` finds it.
        """
        digest = cache_key(
            engine, record.id, utterance.spoken, utterance.fmt, {"speed": utterance.speed, "rate": utterance.rate}
        )
        return avatar_cache_key(record.id, digest)

    def cached(self, record: AvatarRecord, utterance: Utterance) -> bytes | None:
        return self.cache.get(self.key(record, utterance))

    def whole(self, store: AvatarStore, record: AvatarRecord, utterance: Utterance) -> bytes:
        """The complete file (cached afterwards)."""
        audio = self.engine.synthesize(utterance.spoken, load_profile(store, record), utterance.speed, record.id)
        data = utterance.encoded(audio)
        self.cache.set(self.key(record, utterance), data)
        return data

    def stream(self, store: AvatarStore, record: AvatarRecord, utterance: Utterance) -> Iterator[bytes]:
        """The file in pieces, one sentence each as soon as it is made; the whole is cached at the end."""
        if utterance.fmt not in STREAMABLE:
            raise InputError(f"streaming supports {', '.join(STREAMABLE)}, not {utterance.fmt}")
        profile = load_profile(store, record)
        rate = self.engine.sample_rate
        gap = np.zeros(int(SENTENCE_GAP * rate), np.float32)
        pieces: list[np.ndarray] = []
        previous = ""
        if utterance.fmt == "wav":
            yield streaming_wav_header(utterance.rate or rate)
        for sentence in split_for_streaming(utterance.spoken, first_max_chars=FIRST_PIECE_CHARS):
            audio = self.engine.synthesize_sentence(sentence, profile, utterance.speed, record.id)
            if not len(audio.samples):
                continue
            # After a piece cut at a clause, Piper's own trailing pause (~0.25 s after a comma) is
            # already the pause the uncut sentence has: adding the sentence gap would double it.
            joined = [audio.samples] if not pieces or previous.endswith(_CLAUSE_MARKS) else [gap, audio.samples]
            chunk = np.concatenate(joined)
            previous = sentence
            pieces.append(chunk)
            yield utterance.encoded(Audio(chunk, rate), "pcm" if utterance.fmt == "wav" else None)
        if pieces:
            whole = Audio(np.concatenate(pieces), rate)
            self.cache.set(self.key(record, utterance), utterance.encoded(whole))
