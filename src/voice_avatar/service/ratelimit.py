"""Per-key rate limits: a token bucket per API key, so one client cannot crowd out the others.

Each key may make `rate_limit_burst` requests at once, refilled at `rate_limit_per_minute`. With
Redis the bucket lives there and one Lua script reads, refills and takes a token atomically, so
every API process shares it (timed by the Redis clock, not each process's). Embedded mode keeps
the buckets in the process. A limiter that cannot reach Redis lets requests through and logs a
warning: an outage of the limiter must not become an outage of the service. It then leaves Redis
alone for a few seconds, so a dead Redis costs one short timeout now and then, not one per request.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from dataclasses import dataclass
from typing import Protocol

from voice_avatar.settings import Settings

log = logging.getLogger("voice_avatar.service")
PREFIX = "va:ratelimit:"

# KEYS[1] the bucket; ARGV: tokens per second, burst. Returns {allowed 0/1, seconds to wait (string)}.
_TAKE = """
local rate, burst = tonumber(ARGV[1]), tonumber(ARGV[2])
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local state = redis.call('HMGET', KEYS[1], 'tokens', 'at')
local tokens = tonumber(state[1]) or burst
local at = tonumber(state[2]) or now
tokens = math.min(burst, tokens + math.max(0, now - at) * rate)
local allowed, wait = 0, (1 - tokens) / rate
if tokens >= 1 then
  tokens, allowed, wait = tokens - 1, 1, 0
end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'at', tostring(now))
redis.call('EXPIRE', KEYS[1], math.ceil(burst / rate) + 1)
return {allowed, tostring(wait)}
"""


@dataclass(frozen=True)
class Decision:
    allowed: bool
    retry_after: int = 0  # whole seconds until a token is back (at least 1 when refused)


class RateLimiter(Protocol):
    def take(self, bucket: str) -> Decision: ...


def _decision(allowed: bool, wait: float) -> Decision:
    return Decision(True) if allowed else Decision(False, max(1, math.ceil(wait)))


class Unlimited:
    """`rate_limit_per_minute = 0`: every request passes."""

    def take(self, bucket: str) -> Decision:
        return Decision(True)


class MemoryRateLimiter:
    """Buckets in this process (embedded mode: one API process). Only valid keys get a bucket."""

    def __init__(self, per_minute: int, burst: int, clock=time.monotonic) -> None:
        self.rate, self.burst, self.clock = per_minute / 60, burst, clock
        self._buckets: dict[str, tuple[float, float]] = {}
        self._lock = threading.Lock()

    def take(self, bucket: str) -> Decision:
        with self._lock:
            now = self.clock()
            tokens, at = self._buckets.get(bucket, (self.burst, now))
            tokens = min(self.burst, tokens + (now - at) * self.rate)
            allowed = tokens >= 1
            self._buckets[bucket] = (tokens - 1 if allowed else tokens, now)
        return _decision(allowed, (1 - tokens) / self.rate)


class RedisRateLimiter:
    """Buckets in Redis, shared by every API process; fails open when Redis does not answer."""

    def __init__(
        self,
        client,
        per_minute: int,
        burst: int,
        prefix: str = PREFIX,
        retry_seconds: float = 5.0,
        clock=time.monotonic,
    ) -> None:
        self.client, self.rate, self.burst, self.prefix = client, per_minute / 60, burst, prefix
        self.retry_seconds, self.clock = retry_seconds, clock
        self._script = client.register_script(_TAKE)
        self._failed_at = self._warned_at = -math.inf

    def take(self, bucket: str) -> Decision:
        if self.clock() - self._failed_at < self.retry_seconds:
            return Decision(True)
        try:
            allowed, wait = self._script(keys=[self.prefix + bucket], args=[self.rate, self.burst])
        except Exception as exc:  # redis.RedisError and anything its client raises: never a 500
            self._failed(exc)
            return Decision(True)
        return _decision(bool(int(allowed)), float(wait))

    def _failed(self, exc: Exception) -> None:
        """One warning a minute at most: during an outage every request would log one."""
        now = self._failed_at = self.clock()
        if now - self._warned_at >= 60:
            self._warned_at = now
            log.warning("rate limiter: Redis unavailable (%s: %s); letting requests through", type(exc).__name__, exc)


def make_rate_limiter(settings: Settings) -> RateLimiter:
    if settings.rate_limit_per_minute == 0:
        return Unlimited()
    if settings.redis_url:
        import redis
        from redis.backoff import NoBackoff
        from redis.retry import Retry

        # Short timeouts, no retries: a limiter waiting on a dead Redis would stall every request.
        client = redis.Redis.from_url(
            settings.redis_url, socket_connect_timeout=0.5, socket_timeout=0.5, retry=Retry(NoBackoff(), 0)
        )
        return RedisRateLimiter(client, settings.rate_limit_per_minute, settings.rate_limit_burst)
    return MemoryRateLimiter(settings.rate_limit_per_minute, settings.rate_limit_burst)
