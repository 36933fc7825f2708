"""Pre-generation: right after enrollment, say the phrases every assistant needs, into the cache.

Greetings, confirmations, the numbers 0-100 and day names are most of an assistant's short
replies; having them cached makes the first real messages instant and free.
"""

from __future__ import annotations

import logging

from voice_avatar.errors import VoiceAvatarError
from voice_avatar.settings import Settings
from voice_avatar.store import AvatarRecord, AvatarStore

log = logging.getLogger("voice_avatar.pregenerate")


def pregenerate(settings: Settings, store: AvatarStore, record: AvatarRecord) -> int:
    """Cache each configured phrase in each configured format; returns how many were made."""
    from voice_avatar.cache import make_cache
    from voice_avatar.speaking import Voices, prepare

    voices = Voices(make_cache(settings))
    made = 0
    for phrase in settings.pregenerate_phrases:
        for fmt in settings.pregenerate_formats:
            utterance = prepare(phrase, fmt)
            if voices.cached(record, utterance) is not None:
                continue
            try:
                voices.whole(store, record, utterance)
            except VoiceAvatarError as exc:  # an avatar deleted meanwhile, an odd phrase: skip, never fail the job
                log.warning("pre-generating %r for avatar %s failed: %s", phrase, record.id, exc)
                return made
            made += 1
    log.info("pre-generated %d phrases for avatar %s", made, record.id)
    return made
