"""Is a recording fit for cloning? Named checks, each with a measured value, a threshold and advice.

People record on phones in kitchens; each check answers one question a person can act on
("record in a quieter room"), so a failure always says what to do next. Thresholds are
calibrated by `bench/sample_checks.py` on real speech and degraded copies of it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np

from voice_avatar.audio import Audio
from voice_avatar.audio.vad import VAD_RATE, detect_speech

FRAME_SECONDS = 0.032


@dataclass(frozen=True)
class Thresholds:
    """Limits a sample must meet; `min_speech_seconds` depends on the tier."""

    min_speech_seconds: float = 10.0
    max_clipped_fraction: float = 0.0005
    min_snr_db: float = 12.0
    min_lufs: float = -40.0
    max_lufs: float = -6.0
    min_speaker_consistency: float = 0.80
    max_prompt_wer: float = 0.35


@dataclass(frozen=True)
class Check:
    """One named check: what was measured, the limit, and what to do when it fails."""

    name: str
    passed: bool
    value: float
    threshold: str
    advice: str | None = None


@dataclass(frozen=True)
class SampleReport:
    checks: list[Check]

    @property
    def ok(self) -> bool:
        return all(c.passed for c in self.checks)

    @property
    def advice(self) -> list[str]:
        return [c.advice for c in self.checks if not c.passed and c.advice]

    def failed(self) -> list[str]:
        return [c.name for c in self.checks if not c.passed]

    def to_json(self) -> dict:
        return {"ok": self.ok, "checks": [asdict(c) for c in self.checks], "advice": self.advice}


def check_sample(
    recordings: Sequence[Audio],
    thresholds: Thresholds = Thresholds(),
    prompt: str | None = None,
) -> SampleReport:
    """Run every check over the recordings of one enrollment (speech adds up; flaws take the worst file)."""
    clips = [r.at_rate(VAD_RATE) for r in recordings]
    activity = [detect_speech(c) for c in clips]
    speech = [c.samples[a.speech_mask(VAD_RATE, len(c.samples), pad_seconds=0.0)] for c, a in zip(clips, activity)]
    checks = [
        _speech_duration(sum(a.speech_seconds for a in activity), thresholds),
        _clipping(max(clipped_fraction(c.samples) for c in clips), thresholds),
        _snr(min(estimate_snr_db(c.samples, a.probabilities) for c, a in zip(clips, activity)), thresholds),
        _loudness(min(loudness_lufs(c) for c in clips), max(loudness_lufs(c) for c in clips), thresholds),
        _single_speaker(np.concatenate(speech) if speech else np.zeros(0, np.float32), thresholds),
    ]
    if prompt:
        checks.append(_prompt_match(clips, prompt, thresholds))
    return SampleReport(checks)


# -- measurements ------------------------------------------------------------------------------


def clipped_fraction(samples: np.ndarray) -> float:
    """Share of samples sitting on flat tops at the recording's peak (hard clipping, even after gain).

    Clean speech touches its peak in a handful of samples; a clipped recording rests on it in
    runs. Samples within 1 % of the peak that have a neighbour there too are counted.
    """
    magnitude = np.abs(samples)
    peak = float(magnitude.max()) if len(magnitude) else 0.0
    if peak < 1e-3:
        return 0.0
    at_peak = magnitude >= 0.99 * peak
    in_run = at_peak[1:] & at_peak[:-1]
    return float(np.count_nonzero(in_run)) / len(samples)


def estimate_snr_db(samples16k: np.ndarray, speech_probability: np.ndarray) -> float:
    """Speech-to-noise ratio from frame energies: speech frames against the quietest frames.

    The noise floor is the median energy of frames the VAD calls non-speech, or, when the
    recording is nearly all speech, the 5th percentile of all frame energies.
    """
    frame = int(FRAME_SECONDS * VAD_RATE)
    n = min(len(samples16k) // frame, len(speech_probability))
    if n == 0:
        return 0.0
    energy = np.mean(samples16k[: n * frame].reshape(n, frame).astype(np.float64) ** 2, axis=1) + 1e-12
    is_speech = speech_probability[:n] >= 0.5
    if not is_speech.any():
        return 0.0
    quiet = energy[~is_speech]
    noise = float(np.median(quiet)) if len(quiet) >= 15 else float(np.percentile(energy, 5))
    noise = min(noise, float(np.percentile(energy, 20)))
    signal = float(np.mean(energy[is_speech])) - noise
    return float(10.0 * np.log10(max(signal, 1e-12) / noise))


def loudness_lufs(audio: Audio) -> float:
    """Integrated loudness (ITU-R BS.1770) in LUFS; -70 for silence."""
    import pyloudnorm

    meter = pyloudnorm.Meter(audio.sample_rate)
    samples = audio.samples.astype(np.float64)
    if len(samples) < int(0.4 * audio.sample_rate):
        samples = np.pad(samples, (0, int(0.4 * audio.sample_rate) - len(samples)))
    value = float(meter.integrated_loudness(samples))
    return max(value, -70.0) if np.isfinite(value) else -70.0


def speaker_consistency(speech16k: np.ndarray, segment_seconds: float = 2.0) -> float:
    """How alike the voices in the recording are: the lowest similarity of a segment cluster to the rest.

    Speech is cut into segments and embedded; they are split in two groups (2-means on the
    embeddings) and the groups' centroids compared. One voice gives near-identical centroids;
    two people taking turns give the similarity of two strangers.
    """
    from voice_avatar.speaker import SpeakerEncoder, similarity

    step = int(segment_seconds * VAD_RATE)
    segments = [speech16k[i : i + step] for i in range(0, len(speech16k) - step + 1, step)]
    if len(segments) < 4:
        return 1.0
    embeddings = SpeakerEncoder().embed_utterances(segments)
    labels = _two_means(embeddings)
    if labels.min() == labels.max() or min(np.bincount(labels)) < 2:
        return 1.0
    centroids = [embeddings[labels == k].mean(axis=0) for k in (0, 1)]
    return similarity(centroids[0], centroids[1])


def _two_means(x: np.ndarray, iterations: int = 20) -> np.ndarray:
    """Cosine 2-means seeded with the two least similar points (deterministic)."""
    unit = x / np.linalg.norm(x, axis=1, keepdims=True)
    sims = unit @ unit.T
    i, j = np.unravel_index(np.argmin(sims), sims.shape)
    centres = unit[[i, j]]
    labels = np.zeros(len(x), dtype=int)
    for _ in range(iterations):
        new = np.argmax(unit @ centres.T, axis=1)
        if np.array_equal(new, labels) and _ > 0:
            break
        labels = new
        for k in (0, 1):
            if np.any(labels == k):
                c = unit[labels == k].mean(axis=0)
                centres[k] = c / np.linalg.norm(c)
    return labels


# -- checks ------------------------------------------------------------------------------------


def _speech_duration(seconds: float, t: Thresholds) -> Check:
    ok = seconds >= t.min_speech_seconds
    advice = None if ok else (
        f"we heard {seconds:.0f} s of speech; record at least {t.min_speech_seconds:.0f} s of you talking "
        "(read the prompt aloud, at an even pace)"
    )
    return Check("speech_duration", ok, round(seconds, 2), f">= {t.min_speech_seconds:g} s", advice)


def _clipping(fraction: float, t: Thresholds) -> Check:
    ok = fraction <= t.max_clipped_fraction
    advice = None if ok else "the recording is distorted (too loud): move a little away from the microphone or lower its gain"
    return Check("clipping", ok, round(fraction, 5), f"<= {t.max_clipped_fraction:g} of samples", advice)


def _snr(snr_db: float, t: Thresholds) -> Check:
    ok = snr_db >= t.min_snr_db
    advice = None if ok else "there is too much background noise: record in a quieter room, away from fans and traffic"
    return Check("snr", ok, round(snr_db, 1), f">= {t.min_snr_db:g} dB", advice)


def _loudness(quietest: float, loudest: float, t: Thresholds) -> Check:
    if quietest < t.min_lufs:
        return Check("loudness", False, round(quietest, 1), f"{t.min_lufs:g} to {t.max_lufs:g} LUFS",
                     "the recording is too quiet: move closer to the microphone and speak up")
    if loudest > t.max_lufs:
        return Check("loudness", False, round(loudest, 1), f"{t.min_lufs:g} to {t.max_lufs:g} LUFS",
                     "the recording is too loud: lower the microphone gain")
    return Check("loudness", True, round(quietest, 1), f"{t.min_lufs:g} to {t.max_lufs:g} LUFS")


def _single_speaker(speech16k: np.ndarray, t: Thresholds) -> Check:
    consistency = speaker_consistency(speech16k)
    ok = consistency >= t.min_speaker_consistency
    advice = None if ok else "we hear more than one voice: record alone, with no TV or other people talking"
    return Check("single_speaker", ok, round(consistency, 3), f">= {t.min_speaker_consistency:g}", advice)


def _prompt_match(clips: Sequence[Audio], prompt: str, t: Thresholds) -> Check:
    from voice_avatar.asr import transcribe
    from voice_avatar.quality.wer import word_error_rate

    heard = " ".join(transcribe(c).text for c in clips)
    wer = word_error_rate(prompt, heard)
    ok = wer <= t.max_prompt_wer
    advice = None if ok else "the recording does not follow the text shown: read the prompt as written"
    return Check("prompt_match", ok, round(wer, 3), f"word error rate <= {t.max_prompt_wer:g}", advice)
