"""Word error rate between what should have been said and what ASR heard.

Both sides go through the same speech normaliser and lose case and punctuation, so "3:30" and
"three thirty" count as the same words.
"""

from __future__ import annotations

import re

import numpy as np

_WORD = re.compile(r"[a-z0-9']+")


def words(text: str) -> list[str]:
    """Lower-case words of `text` after normalisation for speech (numbers spelled, etc.)."""
    from voice_avatar.text import normalize_for_speech

    spoken = normalize_for_speech(text).lower().replace("-", " ").replace(".", "")
    return [w.strip("'") for w in _WORD.findall(spoken) if w.strip("'")]


def word_error_rate(reference: str, hypothesis: str) -> float:
    """(substitutions + deletions + insertions) / reference words; 0 for two empty texts."""
    ref, hyp = words(reference), words(hypothesis)
    if not ref:
        return 0.0 if not hyp else 1.0
    distance = np.arange(len(hyp) + 1)
    for i, r in enumerate(ref, start=1):
        previous, distance = distance, np.empty_like(distance)
        distance[0] = i
        for j, h in enumerate(hyp, start=1):
            distance[j] = min(previous[j] + 1, distance[j - 1] + 1, previous[j - 1] + (r != h))
    return float(distance[-1]) / len(ref)
