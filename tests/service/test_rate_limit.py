"""Per-key rate limits: a burst over the limit gets 429 with Retry-After, other keys are unaffected,
the bucket refills, and with Redis two API processes share one bucket per key."""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path

import pytest
import redis
from redis.backoff import NoBackoff
from redis.retry import Retry
from fastapi.testclient import TestClient

from voice_avatar.accounts import create_user
from voice_avatar.service.app import create_app
from voice_avatar.service.ratelimit import (
    MemoryRateLimiter,
    RedisRateLimiter,
    Unlimited,
    make_rate_limiter,
)
from voice_avatar.settings import Settings
from voice_avatar.store import sessions_for

REDIS_URL = os.environ.get("VOICE_AVATAR_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
RATE, BURST = 60, 3  # one request a second, three at once


def tiny_limit(home: Path, **extra: object) -> Settings:
    limits = {"rate_limit_per_minute": RATE, "rate_limit_burst": BURST}
    return Settings(home=home, require_consent=False, pregenerate_phrases=[], **limits, **extra)


def new_key(settings: Settings, name: str) -> dict[str, str]:
    with sessions_for(settings).begin() as session:
        _, key = create_user(session, name, "free", plans=settings.tiers)
    return {"Authorization": f"Bearer {key}"}


def assert_limited(response) -> int:
    assert response.status_code == 429, response.text
    assert response.json()["error"]["code"] == "rate_limited"
    assert "too many requests" in response.json()["error"]["message"]
    retry_after = response.headers["retry-after"]
    assert retry_after.isdigit() and 1 <= int(retry_after) <= 60
    return int(retry_after)


def test_a_burst_over_the_limit_is_refused_until_the_bucket_refills(tmp_path: Path) -> None:
    settings = tiny_limit(tmp_path / "home")
    with TestClient(create_app(settings)) as client:
        ann, bob = new_key(settings, "ann"), new_key(settings, "bob")
        assert [client.get("/v1/usage", headers=ann).status_code for _ in range(BURST)] == [200] * BURST
        wait = assert_limited(client.get("/v1/keys", headers=ann))  # any authenticated route counts
        assert client.get("/v1/usage", headers=bob).status_code == 200  # another key has its own bucket
        assert client.get("/healthz").status_code == 200  # public routes are not limited
        time.sleep(wait + 0.1)
        assert client.get("/v1/usage", headers=ann).status_code == 200


def test_unknown_keys_get_401_not_429(tmp_path: Path) -> None:
    settings = tiny_limit(tmp_path / "home")
    with TestClient(create_app(settings)) as client:
        bad = {"Authorization": "Bearer va_unknown"}
        assert {client.get("/v1/usage", headers=bad).status_code for _ in range(BURST + 2)} == {401}


def test_redis_buckets_are_shared_by_two_api_processes(tmp_path: Path, redis_client: redis.Redis) -> None:
    settings = tiny_limit(tmp_path / "home", redis_url=REDIS_URL)
    with TestClient(create_app(settings)) as one, TestClient(create_app(settings)) as two:
        ann, bob = new_key(settings, "ann"), new_key(settings, "bob")
        assert one.get("/v1/usage", headers=ann).status_code == 200
        assert two.get("/v1/usage", headers=ann).status_code == 200
        assert one.get("/v1/usage", headers=ann).status_code == 200
        wait = assert_limited(two.get("/v1/usage", headers=ann))  # the fourth, whichever process answers
        assert isinstance(two.app.state.rate_limiter, RedisRateLimiter)
        assert two.get("/v1/usage", headers=bob).status_code == 200
        time.sleep(wait + 0.1)
        assert one.get("/v1/usage", headers=ann).status_code == 200


def test_a_dead_redis_lets_requests_through_with_a_warning(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    dead = redis.Redis(host="127.0.0.1", port=1, socket_connect_timeout=0.2, retry=Retry(NoBackoff(), 0))
    settings = tiny_limit(tmp_path / "home")
    with TestClient(create_app(settings)) as client:
        ann = new_key(settings, "ann")
        client.app.state.rate_limiter = RedisRateLimiter(dead, RATE, 1)
        with caplog.at_level(logging.WARNING, logger="voice_avatar.service"):
            statuses = [client.get("/v1/usage", headers=ann).status_code for _ in range(3)]
    assert statuses == [200, 200, 200]
    warnings = [r for r in caplog.records if "rate limiter" in r.getMessage()]
    assert len(warnings) == 1 and "Redis unavailable" in warnings[0].getMessage()


def test_after_a_redis_failure_the_limiter_tries_again_a_few_seconds_later() -> None:
    now, calls = [0.0], []

    class Flaky:
        def register_script(self, _):
            def run(keys, args):
                calls.append(now[0])
                raise redis.ConnectionError("down")

            return run

    limiter = RedisRateLimiter(Flaky(), RATE, BURST, retry_seconds=5, clock=lambda: now[0])
    for step in range(10):  # 0.0 .. 9.0 s
        now[0] = float(step)
        assert limiter.take("k").allowed
    assert calls == [0.0, 5.0]


def test_the_memory_bucket_refills_at_the_rate_and_names_the_wait() -> None:
    now = [100.0]
    limiter = MemoryRateLimiter(per_minute=30, burst=2, clock=lambda: now[0])  # a token every 2 s
    assert limiter.take("a").allowed and limiter.take("a").allowed
    refused = limiter.take("a")
    assert not refused.allowed and refused.retry_after == 2
    now[0] += 1.0
    assert limiter.take("a").retry_after == 1
    now[0] += 1.0
    assert limiter.take("a").allowed and not limiter.take("a").allowed
    assert limiter.take("b").allowed
    now[0] += 3600
    assert [limiter.take("a").allowed for _ in range(3)] == [True, True, False]  # never more than the burst


def test_zero_disables_the_limit(tmp_path: Path) -> None:
    assert isinstance(make_rate_limiter(Settings(home=tmp_path, rate_limit_per_minute=0)), Unlimited)
    assert isinstance(make_rate_limiter(Settings(home=tmp_path)), MemoryRateLimiter)
