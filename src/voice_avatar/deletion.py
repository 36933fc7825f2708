"""Deleting an avatar: everything made from a person's voice goes, and the caller is told what went.

`delete_avatar` removes, in this order:

1. the provider-side clones (`ProviderVoice` rows), at each provider;
2. the avatar's cached audio (`AudioCache.forget_voice`);
3. its blobs: samples, consent recording, fitted profile (everything under ``<avatar id>/``);
4. its database rows: the avatar and its provider voices; usage ledger rows are money records,
   so they are kept, with `avatar_id` set to NULL (they no longer point at the voice);
5. cached audio once more, for a message that was being synthesised while 1-4 ran.

Blobs go before the row, so a deletion interrupted half way can be asked for again (the avatar
is still listed) rather than leaving audio no record points to.

A provider that cannot delete a clone (down, or no longer configured) does not stop the local
deletion: the person asked for their voice to go, and we remove all we hold. The response says
which clone is left (`complete: false`, the provider voice with `deleted: false` and the error)
and the failure is logged at ERROR with the provider's voice id, so an operator can remove it by
hand in the provider's dashboard; we keep no row for it.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field

from sqlalchemy import delete, select, update

from voice_avatar.cache import AudioCache
from voice_avatar.db import Avatar, ProviderVoice, SessionFactory, UsageEvent
from voice_avatar.engines.cloud.base import CloudEngine, ProviderError
from voice_avatar.store import AvatarStore

log = logging.getLogger("voice_avatar.deletion")
PROFILE_FILE = "profile.npz"  # enrollment.PROFILE_FILE, without importing the engines


@dataclass
class ProviderVoiceRemoval:
    engine: str
    voice_id: str
    deleted: bool
    error: str | None = None


@dataclass
class AvatarRemoval:
    """What deleting one avatar removed; `complete` is False when a provider clone is left."""

    id: str
    name: str
    samples: int = 0
    consent_recording: bool = False
    profile: bool = False
    blob_files: int = 0
    cached_audio: int = 0
    provider_voices: list[ProviderVoiceRemoval] = field(default_factory=list)
    usage_events_unlinked: int = 0

    @property
    def complete(self) -> bool:
        return all(v.deleted for v in self.provider_voices)

    def to_json(self) -> dict:
        removed = asdict(self)
        removed.pop("id")
        removed.pop("name")
        return {"id": self.id, "name": self.name, "deleted": True, "complete": self.complete, "removed": removed}

    def summary(self) -> str:
        """One line for people (the CLI)."""
        parts = [
            f"{self.samples} sample(s)",
            *(["the consent recording"] if self.consent_recording else []),
            *(["the fitted profile"] if self.profile else []),
            f"{self.cached_audio} cached audio file(s)",
            f"{sum(v.deleted for v in self.provider_voices)} provider voice(s)",
        ]
        return f"deleted avatar {self.name!r} ({self.id}): " + ", ".join(parts)

    def warnings(self) -> list[str]:
        return [
            f"the {v.engine} voice {v.voice_id} could not be deleted ({v.error}): delete it in the provider's dashboard"
            for v in self.provider_voices
            if not v.deleted
        ]


def forget_provider_voices(
    sessions: SessionFactory, avatar_id: str, cloud: Mapping[str, CloudEngine]
) -> list[ProviderVoiceRemoval]:
    """Delete the avatar's clones at each provider, then their rows (all of them: see the module doc)."""
    with sessions() as session:
        rows = session.scalars(
            select(ProviderVoice).where(ProviderVoice.avatar_id == avatar_id).order_by(ProviderVoice.engine)
        ).all()
        voices = [(row.engine, row.voice_id) for row in rows]
    results = []
    for engine_name, voice_id in voices:
        engine = cloud.get(engine_name)
        try:
            if engine is None:
                raise LookupError(f"the {engine_name} engine is not configured here")
            engine.delete_voice(voice_id)
        except (ProviderError, LookupError) as error:
            log.error("avatar %s: could not delete %s voice %s: %s", avatar_id, engine_name, voice_id, error)
            results.append(ProviderVoiceRemoval(engine_name, voice_id, False, str(error)))
        else:
            results.append(ProviderVoiceRemoval(engine_name, voice_id, True))
    with sessions.begin() as session:
        session.execute(delete(ProviderVoice).where(ProviderVoice.avatar_id == avatar_id))
    return results


def delete_avatar(
    store: AvatarStore, name_or_id: str, cache: AudioCache, cloud: Mapping[str, CloudEngine]
) -> AvatarRemoval:
    """Delete one of `store`'s avatars with everything made from it (see the module doc)."""
    record = store.get(name_or_id)  # NotFoundError for an unknown avatar or someone else's
    consent_file = record.consent.get("file") if record.consent else None
    removal = AvatarRemoval(
        id=record.id,
        name=record.name,
        samples=sum(1 for key in record.samples if store.blobs.exists(key)),
        consent_recording=bool(consent_file) and store.blobs.exists(consent_file),
        profile=store.blobs.exists(f"{record.id}/{PROFILE_FILE}"),
    )
    removal.provider_voices = forget_provider_voices(store.sessions, record.id, cloud)
    removal.cached_audio = cache.forget_voice(record.id)
    removal.blob_files = store.blobs.delete_prefix(record.id)
    with store.sessions.begin() as session:
        unlinked = session.execute(
            update(UsageEvent).where(UsageEvent.avatar_id == record.id).values(avatar_id=None)
        )
        removal.usage_events_unlinked = unlinked.rowcount or 0
        session.execute(delete(ProviderVoice).where(ProviderVoice.avatar_id == record.id))
        session.execute(delete(Avatar).where(Avatar.id == record.id))
    removal.cached_audio += cache.forget_voice(record.id)
    log.info("deleted avatar %s: %s", record.id, removal.to_json()["removed"])
    return removal
