"""The CLI's `say`: read a message aloud in an avatar's voice, uncached and unmetered."""

from __future__ import annotations

from voice_avatar.engines.local import LocalCloneEngine
from voice_avatar.enrollment import load_profile
from voice_avatar.errors import InputError
from voice_avatar.speaking import prepare
from voice_avatar.store import AvatarStore

MAX_CHARS = 5000


def say(store: AvatarStore, avatar: str, text: str, fmt: str = "wav") -> bytes:
    """The message as an audio file of `fmt`, spoken by the named avatar."""
    record = store.get(avatar)
    if record.status != "ready":
        raise InputError(f"avatar {record.name!r} is {record.status}, not ready to speak")
    utterance = prepare(text, fmt)
    if len(utterance.spoken) > MAX_CHARS:
        raise InputError(
            f"the text is {len(utterance.spoken)} characters after normalisation; the limit is {MAX_CHARS}"
        )
    audio = LocalCloneEngine().synthesize(utterance.spoken, load_profile(store, record), avatar_id=record.id)
    return utterance.encoded(audio)
