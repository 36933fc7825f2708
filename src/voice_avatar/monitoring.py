"""Prometheus metrics for the service, served by a ``/metrics`` route.

Everything lives in a registry owned by one `Metrics` object rather than prometheus_client's
global one: tests (and a process hosting two apps) can build several without "Duplicated
timeseries" errors, and a scrape shows only what this service records.

The counters are per process. With several uvicorn workers each worker reports its own numbers;
scrape them separately or switch to prometheus_client's multiprocess mode.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from decimal import Decimal

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.exposition import CONTENT_TYPE_LATEST, choose_encoder, generate_latest

# From a ~5 ms cache hit to a 30 s synthesis of a long message; anything slower lands in +Inf.
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 20.0, 30.0)

# Pre-created so dashboards see a 0 (not a missing series) before the first occurrence.
ERROR_KINDS = ("engine_error", "quota", "bad_request")
ENROLLMENT_STATUSES = ("ready", "rejected", "failed")


class Metrics:
    """The service's instruments; one instance per app, shared by every request."""

    def __init__(self, engines: Iterable[str] = ()) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self._generations = Counter("voice_avatar_generations", "Messages delivered", ["engine", "cache"], registry=r)
        self._cache_hits = Counter("voice_avatar_cache_hits", "Messages served from the audio cache", registry=r)
        self._cache_misses = Counter("voice_avatar_cache_misses", "Messages an engine had to synthesise", registry=r)
        self._hit_ratio = Gauge(
            "voice_avatar_cache_hit_ratio", "Cache hits / messages since the process started (0 before any)", registry=r
        )
        self._synthesis = Histogram(
            "voice_avatar_synthesis_seconds",
            "Time to produce a message's whole audio, cache hits included",
            ["engine"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self._first_audio = Histogram(
            "voice_avatar_first_audio_seconds",
            "Time until a streamed message's first audio bytes",
            ["engine"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self._cost = Counter("voice_avatar_cost_usd", "What engines cost us, USD", ["engine"], registry=r)
        self._errors = Counter("voice_avatar_errors", "Failed requests, by kind", ["kind"], registry=r)
        self._enrollments = Counter(
            "voice_avatar_enrollments", "Finished voice enrollments, by outcome", ["status"], registry=r
        )
        self._queue_depth = Gauge("voice_avatar_queue_depth", "Jobs waiting in the work queue", registry=r)

        # The ratio is derived from our own tallies: prometheus_client offers no public read of a counter.
        self._lock = threading.Lock()
        self._hits = 0
        self._total = 0
        self._hit_ratio.set_function(self._ratio)

        for engine in engines:
            self._generations.labels(engine, "hit")
            self._generations.labels(engine, "miss")
            self._cost.labels(engine)
        for kind in ERROR_KINDS:
            self._errors.labels(kind)
        for status in ENROLLMENT_STATUSES:
            self._enrollments.labels(status)

    def generation(self, engine: str, cache_hit: bool, seconds: float, cost_usd: Decimal | float = 0) -> None:
        """One delivered message; call it where the usage event is recorded, with the event's cost."""
        self._generations.labels(engine, "hit" if cache_hit else "miss").inc()
        (self._cache_hits if cache_hit else self._cache_misses).inc()
        self._synthesis.labels(engine).observe(seconds)
        self._cost.labels(engine).inc(float(cost_usd))
        with self._lock:
            self._total += 1
            self._hits += cache_hit

    def first_audio(self, engine: str, seconds: float) -> None:
        self._first_audio.labels(engine).observe(seconds)

    def error(self, kind: str) -> None:
        """`kind` becomes a label: pass one of a small fixed set (see ERROR_KINDS), never a message."""
        self._errors.labels(kind).inc()

    def enrollment(self, status: str) -> None:
        self._enrollments.labels(status).inc()

    def queue_depth(self, n: int) -> None:
        self._queue_depth.set(n)

    def render(self, accept: str | None = None) -> tuple[bytes, str]:
        """The exposition body and its content type; `accept` (the request header) may pick OpenMetrics."""
        if accept:
            encoder, content_type = choose_encoder(accept)
            return encoder(self.registry), content_type
        return generate_latest(self.registry), CONTENT_TYPE_LATEST

    def _ratio(self) -> float:
        with self._lock:
            return self._hits / self._total if self._total else 0.0
