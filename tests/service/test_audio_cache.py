from __future__ import annotations

import time
from pathlib import Path

import redis

from voice_avatar.cache import AudioCache, DiskAudioCache, RedisAudioCache, cache_key, make_cache
from voice_avatar.settings import Settings

AUDIO = b"RIFF\x24\x00\x00\x00WAVEfmt " + bytes(range(256))


def test_set_get_and_stats(make_audio_cache) -> None:
    cache = make_audio_cache()
    assert isinstance(cache, AudioCache)
    key = cache_key("local", "ann", "hello there", "wav", {"speed": 1.0})
    assert cache.get(key) is None
    cache.set(key, AUDIO)
    assert cache.get(key) == AUDIO
    assert cache.get(key) == AUDIO
    stats = cache.stats()
    assert (stats.hits, stats.misses, stats.entries) == (2, 1, 1)


def test_entries_expire_after_the_ttl(make_audio_cache) -> None:
    cache = make_audio_cache(ttl_seconds=1)
    cache.set("k", AUDIO)
    assert cache.get("k") == AUDIO
    time.sleep(1.6)
    assert cache.get("k") is None
    assert cache.stats().entries == 0


def test_redis_entries_use_setex_under_the_prefix(redis_client: redis.Redis, redis_prefix: str) -> None:
    cache = RedisAudioCache(redis_client, 3600, prefix=redis_prefix)
    cache.set("abc", AUDIO)
    assert redis_client.get(f"{redis_prefix}abc") == AUDIO
    assert 3590 < redis_client.ttl(f"{redis_prefix}abc") <= 3600


def test_a_redis_outage_degrades_to_misses() -> None:
    cache = RedisAudioCache.from_url("redis://127.0.0.1:1/0", ttl_seconds=60)
    cache.set("k", AUDIO)
    assert cache.get("k") is None


def test_cache_key_is_canonical_and_sensitive_to_every_input() -> None:
    base = ("local", "ann", "hello", "wav", {"speed": 1.0, "pitch": 0})
    key = cache_key(*base)
    assert len(key) == 64 and key == cache_key("local", "ann", "hello", "wav", {"pitch": 0, "speed": 1.0})
    variants = [
        ("fishaudio", "ann", "hello", "wav", base[4]),
        ("local", "bob", "hello", "wav", base[4]),
        ("local", "ann", "hello!", "wav", base[4]),
        ("local", "ann", "hello", "mp3", base[4]),
        ("local", "ann", "hello", "wav", {"speed": 1.1, "pitch": 0}),
    ]
    assert len({cache_key(*variant) for variant in variants} | {key}) == len(variants) + 1


def test_make_cache_picks_redis_only_when_configured(tmp_path: Path) -> None:
    disk = make_cache(Settings(home=tmp_path))
    assert isinstance(disk, DiskAudioCache)
    disk.close()
    assert (tmp_path / "cache").is_dir()
    remote = make_cache(Settings(home=tmp_path, redis_url="redis://127.0.0.1:6379/15", cache_ttl_seconds=60))
    assert isinstance(remote, RedisAudioCache)
    remote.close()
