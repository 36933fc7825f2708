"""Read a message aloud in an avatar's voice: normalise, synthesise, encode."""

from __future__ import annotations

from voice_avatar.audio.encode import encode
from voice_avatar.engines.local import LocalCloneEngine, VoiceProfile
from voice_avatar.enrollment import PROFILE_FILE
from voice_avatar.errors import InputError
from voice_avatar.store import AvatarStore
from voice_avatar.text import normalize_for_speech

MAX_CHARS = 5000


def say(store: AvatarStore, avatar: str, text: str, fmt: str = "wav") -> bytes:
    """The message as an audio file of `fmt`, spoken by the named avatar."""
    record = store.get(avatar)
    if record.status != "ready":
        raise InputError(f"avatar {record.name!r} is {record.status}, not ready to speak")
    spoken = normalize_for_speech(text)
    if not spoken.strip():
        raise InputError("the text is empty: nothing to say")
    if len(spoken) > MAX_CHARS:
        raise InputError(f"the text is {len(spoken)} characters after normalisation; the limit is {MAX_CHARS}")
    profile = VoiceProfile.load(store.folder(record) / PROFILE_FILE)
    audio = LocalCloneEngine().synthesize(spoken, profile)
    return encode(audio, fmt)
