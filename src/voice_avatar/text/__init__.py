"""Text front end for speech: normalise written text, then split it for streaming synthesis."""

from voice_avatar.text.normalize import normalize_for_speech
from voice_avatar.text.sentences import split_for_streaming, split_sentences

__all__ = ["normalize_for_speech", "split_for_streaming", "split_sentences"]
