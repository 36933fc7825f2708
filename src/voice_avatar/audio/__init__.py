"""Audio in and out: decoding any common format to mono float32, resampling, encoding."""

from voice_avatar.audio.io import Audio, load_audio, resample

__all__ = ["Audio", "load_audio", "resample"]
