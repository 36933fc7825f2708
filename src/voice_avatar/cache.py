"""Synthesised audio, cached by everything that shapes it, so a repeated message costs nothing.

Two backends behind one protocol: a disk cache for a single host (no Redis needed) and Redis when
several workers share one. The cache is an optimisation: a Redis outage degrades to misses and a
logged warning rather than failing synthesis.
"""

from __future__ import annotations

import hashlib
import json
import logging
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


class DiskAudioCache:
    """diskcache on local disk: safe across threads and processes of one host; LRU past 1 GiB."""

    def __init__(self, directory: Path, ttl_seconds: int, size_limit_bytes: int = _DISK_SIZE_LIMIT_BYTES) -> None:
        self._ttl = ttl_seconds
        self._cache = diskcache.Cache(
            str(directory), size_limit=size_limit_bytes, eviction_policy="least-recently-used"
        )
        self._cache.stats(enable=True)

    def get(self, key: str) -> bytes | None:
        value = self._cache.get(key)
        return value if isinstance(value, bytes) else None

    def set(self, key: str, data: bytes) -> None:
        self._cache.set(key, bytes(data), expire=self._ttl)

    def stats(self) -> CacheStats:
        self._cache.expire()
        hits, misses = self._cache.stats()
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

    @classmethod
    def from_url(cls, url: str, ttl_seconds: int, prefix: str = REDIS_PREFIX) -> RedisAudioCache:
        client = redis.Redis.from_url(url, socket_connect_timeout=2, socket_timeout=5)
        return cls(client, ttl_seconds, prefix)

    def get(self, key: str) -> bytes | None:
        try:
            value = self._client.get(self._prefix + key)
            self._client.hincrby(self._stats_key, "hits" if value is not None else "misses", 1)
        except redis.RedisError as exc:
            logger.warning("audio cache unavailable, treating as a miss: %s", exc)
            return None
        return value if isinstance(value, bytes) else None

    def set(self, key: str, data: bytes) -> None:
        try:
            self._client.set(self._prefix + key, bytes(data), ex=self._ttl)
        except redis.RedisError as exc:
            logger.warning("audio cache unavailable, not storing: %s", exc)

    def stats(self) -> CacheStats:
        """Counts entries with SCAN: O(entries), meant for an admin endpoint, not the hot path."""
        counters = self._client.hgetall(self._stats_key)
        entries = sum(
            1
            for name in self._client.scan_iter(match=f"{self._prefix}*", count=1000)
            if name != self._stats_key.encode()
        )
        return CacheStats("redis", int(counters.get(b"hits", 0)), int(counters.get(b"misses", 0)), entries, None)

    def close(self) -> None:
        self._client.close()


def make_cache(settings: Settings) -> DiskAudioCache | RedisAudioCache:
    """Redis when `redis_url` is set (several workers), else a disk cache under ``home/cache``."""
    if settings.redis_url:
        return RedisAudioCache.from_url(settings.redis_url, settings.cache_ttl_seconds)
    return DiskAudioCache(settings.cache_dir, settings.cache_ttl_seconds)
