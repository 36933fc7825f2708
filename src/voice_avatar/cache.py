"""Synthesised audio, cached by everything that shapes it, so a repeated message costs nothing.

Two backends behind one protocol: a disk cache for a single host (no Redis needed) and Redis when
several workers share one. The cache is an optimisation: a Redis outage degrades to misses and a
logged warning rather than failing synthesis.

Entries are keyed ``<avatar id>:<sha256>`` (`avatar_cache_key`), so every entry of one avatar can
be found and deleted with it (`forget_voice`): Redis keys read ``va:audio:<avatar id>:<sha256>``, and
disk entries carry the avatar id as their diskcache tag. Entries written before this key format
(a bare sha256, no avatar id) can never be looked up again nor traced to an avatar: they are left
to expire by the cache's TTL (`cache_ttl_seconds`, 24 h by default) and, on disk, its LRU size
limit; so `cache_ttl_seconds` after an upgrade no audio from before it remains.
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import diskcache
import redis

from voice_avatar.settings import Settings

logger = logging.getLogger(__name__)

REDIS_PREFIX = "va:audio:"
_KEY_SCHEMA_VERSION = 1  # bump when the key's contents change meaning
_DISK_SIZE_LIMIT_BYTES = 2**30


@dataclass(frozen=True)
class CacheStats:
    backend: str
    hits: int
    misses: int
    entries: int
    size_bytes: int | None  # None where measuring would be costly (Redis)


@runtime_checkable
class AudioCache(Protocol):
    def get(self, key: str) -> bytes | None: ...

    def set(self, key: str, data: bytes) -> None: ...

    def stats(self) -> CacheStats: ...

    def forget_voice(self, avatar_id: str) -> int:
        """Delete every entry of `avatar_id` (keys from `avatar_cache_key`); returns how many."""
        ...


def cache_key(engine: str, voice: str, normalized_text: str, fmt: str, settings: dict[str, Any]) -> str:
    """sha256 of a canonical JSON: equal inputs give equal keys in any process, dict order aside."""
    payload = {
        "v": _KEY_SCHEMA_VERSION,
        "engine": engine,
        "voice": voice,
        "text": normalized_text,
        "format": fmt,
        "settings": settings,
    }
    canonical = json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def avatar_cache_key(avatar_id: str, digest: str) -> str:
    """The entry key of one avatar's audio: ``<avatar id>:<digest>`` (the digest from `cache_key`)."""
    if not avatar_id or ":" in avatar_id:
        raise ValueError(f"unusable avatar id for a cache key: {avatar_id!r}")
    return f"{avatar_id}:{digest}"


def avatar_of(key: str) -> str | None:
    """The avatar id a key was made for by `avatar_cache_key`, or None (a bare digest)."""
    avatar_id, sep, _ = key.partition(":")
    return avatar_id if sep and avatar_id else None


class DiskAudioCache:
    """diskcache on local disk: safe across threads and processes of one host; oldest-stored out past 1 GiB.

    A read writes nothing: no access-time update (eviction goes by when an entry was stored, and
    the TTL bounds an entry's age anyway) and no hit counters in the cache's SQLite (those are
    tallied in this process). Reads of a hot entry then never wait on another request's write.
    """

    def __init__(self, directory: Path, ttl_seconds: int, size_limit_bytes: int = _DISK_SIZE_LIMIT_BYTES) -> None:
        self._ttl = ttl_seconds
        self._cache = diskcache.Cache(
            str(directory), size_limit=size_limit_bytes, eviction_policy="least-recently-stored", tag_index=True
        )
        self._tally = _Tally()

    def get(self, key: str) -> bytes | None:
        value = self._cache.get(key)
        value = value if isinstance(value, bytes) else None
        self._tally.count(value is not None)
        return value

    def set(self, key: str, data: bytes) -> None:
        self._cache.set(key, bytes(data), expire=self._ttl, tag=avatar_of(key))

    def forget_voice(self, avatar_id: str) -> int:
        """Every entry tagged with the avatar's id (an indexed lookup), their value files included."""
        return int(self._cache.evict(avatar_id))

    def stats(self) -> CacheStats:
        """Hits and misses of this process since it started; entries and size of the whole cache."""
        self._cache.expire()
        hits, misses = self._tally.read()
        return CacheStats("disk", hits, misses, len(self._cache), self._cache.volume())

    def close(self) -> None:
        self._cache.close()


class RedisAudioCache:
    """Entries under `prefix`, set with a TTL (SET EX); hit/miss counters live in Redis so all workers share them."""

    def __init__(self, client: redis.Redis, ttl_seconds: int, prefix: str = REDIS_PREFIX) -> None:
        self._client = client
        self._ttl = ttl_seconds
        self._prefix = prefix
        self._stats_key = f"{prefix}stats"
        self._tally = _Tally()

    @classmethod
    def from_url(cls, url: str, ttl_seconds: int, prefix: str = REDIS_PREFIX) -> RedisAudioCache:
        client = redis.Redis.from_url(url, socket_connect_timeout=2, socket_timeout=5)
        return cls(client, ttl_seconds, prefix)

    def get(self, key: str) -> bytes | None:
        try:
            value = self._client.get(self._prefix + key)
        except redis.RedisError as exc:
            logger.warning("audio cache unavailable, treating as a miss: %s", exc)
            return None
        self._tally.count(value is not None)
        self._flush_tally()
        return value if isinstance(value, bytes) else None

    def _flush_tally(self, force: bool = False) -> None:
        """Add this process's hits and misses to the shared counters, at most once a second.

        One HINCRBY per read doubled a hit's round trips to Redis; the counters are for the
        dashboard, where a second's delay does not matter.
        """
        hits, misses = self._tally.take_if_due(force)
        if not hits and not misses:
            return
        try:
            pipe = self._client.pipeline(transaction=False)
            pipe.hincrby(self._stats_key, "hits", hits)
            pipe.hincrby(self._stats_key, "misses", misses)
            pipe.execute()
        except redis.RedisError as exc:
            self._tally.give_back(hits, misses)
            logger.warning("audio cache counters not updated: %s", exc)

    def set(self, key: str, data: bytes) -> None:
        try:
            self._client.set(self._prefix + key, bytes(data), ex=self._ttl)
        except redis.RedisError as exc:
            logger.warning("audio cache unavailable, not storing: %s", exc)

    def stats(self) -> CacheStats:
        """Counts entries with SCAN: O(entries), meant for an admin endpoint, not the hot path."""
        self._flush_tally(force=True)
        counters = self._client.hgetall(self._stats_key)
        entries = sum(
            1
            for name in self._client.scan_iter(match=f"{self._prefix}*", count=1000)
            if name != self._stats_key.encode()
        )
        return CacheStats("redis", int(counters.get(b"hits", 0)), int(counters.get(b"misses", 0)), entries, None)

    def forget_voice(self, avatar_id: str) -> int:
        """SCAN for ``<prefix><avatar id>:*`` and delete what matches: O(entries), for deletions only.

        Unlike get/set, a Redis error here is raised: a deletion must not report success it did not have.
        """
        pattern = f"{self._prefix}{_glob_escape(avatar_id)}:*"
        removed = 0
        batch: list[bytes] = []
        for name in self._client.scan_iter(match=pattern, count=1000):
            batch.append(name)
            if len(batch) >= 500:
                removed += int(self._client.unlink(*batch))
                batch = []
        if batch:
            removed += int(self._client.unlink(*batch))
        return removed

    def close(self) -> None:
        self._flush_tally(force=True)
        self._client.close()


class _Tally:
    """Hits and misses counted in this process (thread-safe), read whole or taken for a shared store."""

    FLUSH_SECONDS = 1.0

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._hits = self._misses = 0  # since the last take
        self._total_hits = self._total_misses = 0
        self._taken_at = time.monotonic()

    def count(self, hit: bool) -> None:
        with self._lock:
            if hit:
                self._hits += 1
                self._total_hits += 1
            else:
                self._misses += 1
                self._total_misses += 1

    def read(self) -> tuple[int, int]:
        with self._lock:
            return self._total_hits, self._total_misses

    def take_if_due(self, force: bool = False) -> tuple[int, int]:
        with self._lock:
            now = time.monotonic()
            if not force and now - self._taken_at < self.FLUSH_SECONDS:
                return 0, 0
            taken, self._hits, self._misses, self._taken_at = (self._hits, self._misses), 0, 0, now
            return taken

    def give_back(self, hits: int, misses: int) -> None:
        with self._lock:
            self._hits += hits
            self._misses += misses


def _glob_escape(text: str) -> str:
    """`text` matched literally in a Redis MATCH pattern."""
    return "".join(f"\\{ch}" if ch in "*?[]\\^-" else ch for ch in text)


def make_cache(settings: Settings) -> DiskAudioCache | RedisAudioCache:
    """Redis when `redis_url` is set (several workers), else a disk cache under ``home/cache``."""
    if settings.redis_url:
        return RedisAudioCache.from_url(settings.redis_url, settings.cache_ttl_seconds)
    return DiskAudioCache(settings.cache_dir, settings.cache_ttl_seconds)
