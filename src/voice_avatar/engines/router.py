"""Carry out a route: cache first, then each engine in turn until one speaks.

A provider's failure is handled as its class says (see `engines.cloud.base.Action`): retried
once when the provider asks us to wait briefly, the provider voice re-created once when it went
missing, our caller told when their request was wrong, and otherwise the next engine tried.
Each engine has a circuit breaker, so a provider that keeps failing is skipped at once.

Whole cloud audio is decoded, watermarked (`voice_avatar.watermark`, naming the avatar) and
encoded again, which costs MP3 a second lossy generation. Streamed cloud audio is relayed as the
provider sends it, so it carries no mark of ours: marking it would mean holding pieces back.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field

import numpy as np

from voice_avatar import watermark
from voice_avatar.audio import Audio, load_audio
from voice_avatar.db import ProviderVoice
from voice_avatar.db.upsert import insert_if_absent
from voice_avatar.engines.breaker import CircuitBreaker
from voice_avatar.engines.cloud.base import (
    CLOUD_FORMATS,
    Action,
    CloudEngine,
    ProviderError,
    ProviderServerError,
    Sample,
)
from voice_avatar.errors import AudioDecodeError, EngineError, InputError
from voice_avatar.routing import LOCAL, Route
from voice_avatar.speaking import Utterance, Voices
from voice_avatar.store import AvatarRecord, AvatarRef, AvatarStore

log = logging.getLogger("voice_avatar.router")
#: Longest Retry-After we wait for in a request; beyond it we fail over instead.
MAX_RETRY_WAIT_SECONDS = 2.0
#: Rate for wav and pcm asked of cloud engines when the caller did not ask for one.
CLOUD_RATE = 24_000


@dataclass
class Spoken:
    """Audio from the router: whole (`data`) or in `pieces`, and who made it and why."""

    engine: str
    reason: str
    cache_hit: bool
    data: bytes | None = None
    pieces: Iterator[bytes] | None = None
    failed: list[str] = field(default_factory=list)


class EngineRouter:
    def __init__(
        self,
        voices: Voices,
        cloud: Mapping[str, CloudEngine],
        breakers: Mapping[str, CircuitBreaker],
    ) -> None:
        self.voices, self.cloud, self.breakers = voices, cloud, breakers
        self._clone_locks: dict[tuple[str, str], threading.Lock] = {}

    @property
    def available(self) -> frozenset[str]:
        return frozenset({LOCAL, *self.cloud})

    def speak(
        self, store: AvatarStore, record: AvatarRecord, utterance: Utterance, routes: list[Route], stream: bool
    ) -> Spoken:
        """From the cache if any allowed engine already said it (that costs nothing), else synthesised."""
        return self.cached(record, utterance, routes) or self.synthesize(store, record, utterance, routes, stream)

    def cached(self, record: AvatarRef | AvatarRecord, utterance: Utterance, routes: list[Route]) -> Spoken | None:
        for route in routes:
            data = self.voices.cache.get(self.voices.key(record, utterance, route.engine))
            if data is not None:
                return Spoken(route.engine, f"{route.reason};cached", True, data=data)
        return None

    def synthesize(
        self, store: AvatarStore, record: AvatarRecord, utterance: Utterance, routes: list[Route], stream: bool
    ) -> Spoken:
        """The first engine of `routes` that works says it (failing over along the rest)."""
        failed: list[str] = []
        for route in routes:
            breaker = self.breakers.get(route.engine)
            if breaker is not None and not breaker.allow():
                failed.append(f"{route.engine}:breaker_open")
                continue
            try:
                spoken = self._try(store, record, utterance, route, stream)
            except ProviderError as error:
                if error.action is Action.REFUSE:
                    raise InputError(f"the {route.engine} engine refused the message: {error}") from error
                log.warning("engine %s failed (%s); failing over", route.engine, error)
                failed.append(f"{route.engine}:{type(error).__name__}")
                if breaker is not None:
                    breaker.failure()
                continue
            if breaker is not None:
                breaker.success()
            spoken.failed = failed
            return spoken
        raise EngineError(f"no engine could speak the message ({', '.join(failed) or 'none available'})")

    def _try(
        self, store: AvatarStore, record: AvatarRecord, utterance: Utterance, route: Route, stream: bool
    ) -> Spoken:
        if route.engine == LOCAL:
            if stream:
                return Spoken(LOCAL, route.reason, False, pieces=self.voices.stream(store, record, utterance))
            return Spoken(LOCAL, route.reason, False, data=self.voices.whole(store, record, utterance))
        engine = self.cloud[route.engine]
        if stream and utterance.fmt in ("mp3", "pcm"):
            return Spoken(
                route.engine, route.reason, False, pieces=self._cloud_stream(store, record, utterance, engine)
            )
        data = self._with_recovery(
            store, record, engine, lambda voice: self._cloud_whole(engine, voice, utterance, record.id)
        )
        self.voices.cache.set(self.voices.key(record, utterance, engine.name), data)
        return Spoken(route.engine, route.reason, False, data=data)

    def _cloud_whole(
        self, engine: CloudEngine, voice_id: str, utterance: Utterance, avatar_id: str | None = None
    ) -> bytes:
        """The provider's audio, watermarked, in the format asked (ogg/flac from the provider's wav)."""
        fmt = utterance.fmt if utterance.fmt in CLOUD_FORMATS else "wav"
        rate = utterance.rate or CLOUD_RATE
        data = engine.synthesize(utterance.spoken, voice_id, fmt, utterance.speed, rate)
        audio = _decoded(data, fmt, rate, engine.name)
        return utterance.encoded(watermark.embed(audio, watermark.Payload.for_avatar(avatar_id)))

    def _cloud_stream(
        self, store: AvatarStore, record: AvatarRecord, utterance: Utterance, engine: CloudEngine
    ) -> Iterator[bytes]:
        """The provider's pieces; the first is fetched here, so a failure to start still fails over."""
        rate = utterance.rate or CLOUD_RATE

        def start(voice_id: str) -> tuple[bytes, Iterator[bytes]]:
            pieces = iter(engine.stream(utterance.spoken, voice_id, utterance.fmt, utterance.speed, rate))
            return next(pieces, b""), pieces

        first, rest = self._with_recovery(store, record, engine, start)

        def relay() -> Iterator[bytes]:
            received = [first]
            yield first
            for piece in rest:
                received.append(piece)
                yield piece
            self.voices.cache.set(self.voices.key(record, utterance, engine.name), b"".join(received))

        return relay()

    def _with_recovery(self, store, record, engine: CloudEngine, call):
        """Run `call(voice_id)`; re-create a missing voice once, wait out one short rate limit."""
        voice_id = self.provider_voice(store, record, engine)
        for attempt in range(2):
            try:
                return call(voice_id)
            except ProviderError as error:
                if attempt == 1:
                    raise
                if error.action is Action.RECREATE_VOICE:
                    voice_id = self.provider_voice(store, record, engine, recreate=True)
                elif error.action is Action.RETRY and (error.retry_after or 0) <= MAX_RETRY_WAIT_SECONDS:
                    time.sleep(error.retry_after or 0)
                else:
                    raise
        raise AssertionError("unreachable")

    def provider_voice(
        self, store: AvatarStore, record: AvatarRecord, engine: CloudEngine, recreate: bool = False
    ) -> str:
        """The provider's voice id for this avatar, cloned from its samples on first use.

        Concurrent first messages of one avatar must clone it once: requests of this process wait
        for each other on a per-voice lock; another process that stored a clone first wins, and
        ours is deleted at the provider again (a voice slot and its storage cost money).
        """
        with self._clone_locks.setdefault((record.id, engine.name), threading.Lock()):
            with store.sessions.begin() as session:
                row = session.get(ProviderVoice, (record.id, engine.name))
                if row is not None and not recreate:
                    return row.voice_id
                if row is not None:
                    session.delete(row)
            samples = [Sample(key.rsplit("/", 1)[-1], store.blobs.get(key)) for key in record.samples]
            voice_id = engine.create_voice(f"{record.name} ({record.id})", samples)
            with store.sessions.begin() as session:
                row = {"avatar_id": record.id, "engine": engine.name, "voice_id": voice_id}
                if insert_if_absent(session, ProviderVoice, row, ["avatar_id", "engine"]):
                    return voice_id
                stored = session.get(ProviderVoice, (record.id, engine.name))
            try:
                engine.delete_voice(voice_id)
            except ProviderError as error:
                log.warning("%s: could not delete the duplicate clone %s of avatar %s: %s", engine.name, voice_id,
                            record.id, error)
            return stored.voice_id

    def forget_voices(self, store: AvatarStore, record: AvatarRecord) -> list:
        """Delete the avatar's provider voices and their rows; says which went (`deletion.ProviderVoiceRemoval`).

        A provider failure is logged and reported, not raised (see `voice_avatar.deletion`).
        """
        from voice_avatar.deletion import forget_provider_voices

        return forget_provider_voices(store.sessions, record.id, self.cloud)


def _decoded(data: bytes, fmt: str, rate: int, provider: str) -> Audio:
    """Provider audio as samples; audio we cannot decode is the provider's failure (fail over)."""
    try:
        if fmt == "pcm":
            if not data or len(data) % 2:
                raise AudioDecodeError(f"{provider} audio", "not 16-bit pcm")
            return Audio(np.frombuffer(data, "<i2").astype(np.float32) / 32768.0, rate)
        return load_audio(data, name=f"{provider} audio")
    except AudioDecodeError as error:
        raise ProviderServerError(provider, f"sent audio we cannot decode ({error.reason})") from error
