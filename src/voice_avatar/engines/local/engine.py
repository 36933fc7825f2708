"""The local clone engine: Piper for fluent speech, a fitted filter for the speaker's voice.

What it returns to callers carries the watermark (`voice_avatar.watermark`) naming the avatar:
the whole text is marked once, a streamed sentence on its own. `synthesize_raw` (stock Piper, the
quality floor that conversions are compared against) is not marked: it is never served.
"""

from __future__ import annotations

import numpy as np

from voice_avatar import watermark
from voice_avatar.audio import Audio
from voice_avatar.engines import piper_voice
from voice_avatar.engines.local import features, shaping
from voice_avatar.engines.local.mapping import warp_envelope
from voice_avatar.engines.local.parallel import in_halves
from voice_avatar.engines.local.profile import VoiceProfile
from voice_avatar.errors import InputError
from voice_avatar.text import split_sentences

#: Silence between sentences, seconds.
SENTENCE_GAP = 0.25
#: Output peak level.
PEAK = 0.9


class LocalCloneEngine:
    """Speaks text in an enrolled speaker's voice, offline on CPU."""

    @property
    def sample_rate(self) -> int:
        return piper_voice.sample_rate()

    def synthesize_raw(self, text: str) -> Audio:
        """Plain Piper `joe`: the floor every conversion is measured against."""
        return self._join([piper_voice.synthesize(s) for s in _sentences(text)])

    def synthesize(self, text: str, profile: VoiceProfile, speed: float = 1.0, avatar_id: str | None = None) -> Audio:
        """`text` in the profile's voice, one sentence at a time; `speed` 2.0 talks twice as fast.

        The joined audio is watermarked once, naming `avatar_id`, so that the mark runs unbroken.
        """
        joined = self._join([self._converted(s, profile, speed) for s in _sentences(text)])
        return watermark.embed(joined, watermark.Payload.for_avatar(avatar_id))

    def synthesize_sentence(
        self, sentence: str, profile: VoiceProfile, speed: float = 1.0, avatar_id: str | None = None
    ) -> Audio:
        """One sentence (the unit of streaming), watermarked on its own; empty when it has nothing to say."""
        audio = self._converted(sentence, profile, speed)
        return watermark.embed(audio, watermark.Payload.for_avatar(avatar_id)) if len(audio.samples) else audio

    def _converted(self, sentence: str, profile: VoiceProfile, speed: float) -> Audio:
        spoken = piper_voice.synthesize(sentence, length_scale=profile.length_scale / speed)
        if len(spoken.samples) <= shaping.N_FFT:  # punctuation alone makes no sound to convert
            return Audio(np.zeros(0, np.float32), spoken.sample_rate)
        return convert(spoken, profile)

    def _join(self, parts: list[Audio]) -> Audio:
        parts = [p for p in parts if len(p.samples)]
        if not parts:
            raise InputError("the text has nothing to pronounce")
        gap = np.zeros(int(SENTENCE_GAP * self.sample_rate), np.float32)
        pieces = [p for part in parts for p in (part.samples, gap)][:-1]
        return Audio(np.concatenate(pieces), self.sample_rate)


def convert(spoken: Audio, profile: VoiceProfile) -> Audio:
    """Piper's speech filtered towards the profile's voice, at Piper's rate and full band.

    The speaker's envelope is computed only at the filter's own frames (every 11.6 ms), not on
    WORLD's 5 ms grid: the same filter for less than half the analysis and mapping work.
    """
    spec = shaping.spectrum(spoken.samples, spoken.sample_rate)
    frames = features.analyze_at(spoken.at_rate(features.RATE).samples, spec.times)
    source = in_halves(features.encode, frames.sp)
    warped = in_halves(lambda sp: features.encode(warp_envelope(sp, profile.warp)), frames.sp)
    target = profile.envelope_map.exaggerate(warped, in_halves(profile.envelope_map, warped))
    gain_db = shaping.envelope_gain_db(source, target)
    out = shaping.apply(spec, spoken.sample_rate, gain_db, frames.f0)
    peak = float(np.abs(out).max())
    return Audio(out * (PEAK / peak) if peak > 0 else out, spoken.sample_rate)


def _sentences(text: str) -> list[str]:
    sentences = split_sentences(text)
    if not sentences:
        raise InputError("there is no text to speak")
    return sentences
