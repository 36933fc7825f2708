"""The clone gate: an avatar is only `ready` if it measurably sounds like its person and speaks well.

After fitting, the avatar reads a fixed set of sentences. We score them against the sample with
the project's own measures: speaker similarity (GE2E cosine to the sample's speaker embedding),
naturalness (DNSMOS OVRL) and intelligibility (Whisper word error rate). For the local engine
the clone must also be closer to the person than the stock voice it starts from, or the
"clone" is just Piper with a filter. Thresholds are per engine, in the settings.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass

import numpy as np

from voice_avatar.audio import Audio

#: Short, varied assistant sentences: numbers, a question, a name, a longer clause.
GATE_SENTENCES = (
    "Your meeting with the design team starts at half past three.",
    "Would you like me to remind you again tomorrow morning?",
    "I have added milk, eggs and fresh bread to your shopping list.",
)


@dataclass(frozen=True)
class GateThresholds:
    """Per-engine bars on our scales (GE2E cosine, DNSMOS OVRL, WER as a fraction)."""

    min_similarity: float
    min_dnsmos: float
    max_wer: float
    min_gain_over_stock: float | None = None


@dataclass(frozen=True)
class GateResult:
    passed: bool
    scores: dict[str, float]
    reasons: list[str]
    advice: list[str]

    def to_json(self) -> dict:
        return asdict(self)


def score_clone(
    speak: Callable[[str], Audio],
    reference_embedding: np.ndarray,
    sentences: Sequence[str] = GATE_SENTENCES,
    speak_stock: Callable[[str], Audio] | None = None,
) -> dict[str, float]:
    """Similarity, naturalness and intelligibility of `speak` on `sentences` (means over sentences)."""
    from voice_avatar.asr import transcribe
    from voice_avatar.quality.dnsmos import dnsmos
    from voice_avatar.quality.wer import word_error_rate
    from voice_avatar.speaker import SpeakerEncoder, similarity

    encoder = SpeakerEncoder()
    spoken = [speak(s) for s in sentences]
    embeddings = encoder.embed_utterances([_speech(a) for a in spoken])
    scores = {
        "similarity": float(np.mean([similarity(e, reference_embedding) for e in embeddings])),
        "dnsmos": float(np.mean([dnsmos(a.samples, a.sample_rate)["ovrl"] for a in spoken])),
        "wer": float(np.mean([word_error_rate(s, transcribe(a).text) for s, a in zip(sentences, spoken)])),
    }
    if speak_stock is not None:
        stock = encoder.embed_utterances([_speech(speak_stock(s)) for s in sentences])
        scores["stock_similarity"] = float(np.mean([similarity(e, reference_embedding) for e in stock]))
    return {k: round(v, 3) for k, v in scores.items()}


def _speech(audio: Audio) -> np.ndarray:
    """Encoder input; a clone so broken that no speech is found is embedded as it is (and scores low)."""
    from voice_avatar.errors import InputError
    from voice_avatar.speaker import preprocess

    try:
        return preprocess(audio)
    except InputError:
        return preprocess(audio, trim_silences=False)


def judge(scores: dict[str, float], thresholds: GateThresholds) -> GateResult:
    """Pass or reject the scores, with a reason per failed bar and what the person can do."""
    reasons, advice = [], []
    if scores["similarity"] < thresholds.min_similarity:
        reasons.append(f"similarity {scores['similarity']:.2f} < {thresholds.min_similarity:.2f}")
    gain = thresholds.min_gain_over_stock
    if gain is not None and "stock_similarity" in scores and scores["similarity"] - scores["stock_similarity"] < gain:
        reasons.append(
            f"similarity {scores['similarity']:.2f} is not {gain:.2f} above the stock voice's "
            f"{scores['stock_similarity']:.2f}"
        )
    if reasons:
        advice.append(
            "the avatar does not sound enough like you: record again in a quiet room, alone, "
            "speaking naturally, with more speech (a minute or more)"
        )
    if scores["dnsmos"] < thresholds.min_dnsmos:
        reasons.append(f"naturalness (DNSMOS) {scores['dnsmos']:.2f} < {thresholds.min_dnsmos:.2f}")
        advice.append("the avatar sounds rough: record without background noise or echo, close to the microphone")
    if scores["wer"] > thresholds.max_wer:
        reasons.append(f"word error rate {scores['wer']:.0%} > {thresholds.max_wer:.0%}")
        advice.append("the avatar is hard to understand: record clear, fluent speech at an even pace")
    return GateResult(passed=not reasons, scores=scores, reasons=reasons, advice=advice)
