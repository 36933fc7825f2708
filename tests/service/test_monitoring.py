from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
from prometheus_client.parser import text_string_to_metric_families

from voice_avatar import accounts
from voice_avatar.billing import record_usage
from voice_avatar.db import SessionFactory
from voice_avatar.monitoring import Metrics
from voice_avatar.reports import daily_report
from voice_avatar.settings import Settings

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def scrape(metrics: Metrics) -> Samples:
    """The exposition text parsed back, as {(sample name, sorted labels): value}."""
    body, content_type = metrics.render()
    assert content_type.startswith("text/plain")
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(body.decode())
        for sample in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples[(name, tuple(sorted(labels.items())))]


def test_generations_cache_and_cost_are_counted() -> None:
    metrics = Metrics()
    metrics.generation("elevenlabs", cache_hit=False, seconds=1.5, cost_usd=Decimal("0.30"))
    metrics.generation("elevenlabs", cache_hit=False, seconds=12.0, cost_usd=Decimal("0.15"))
    metrics.generation("elevenlabs", cache_hit=True, seconds=0.004)
    metrics.generation("local", cache_hit=False, seconds=0.2, cost_usd=0)

    s = scrape(metrics)
    assert value(s, "voice_avatar_generations_total", engine="elevenlabs", cache="miss") == 2
    assert value(s, "voice_avatar_generations_total", engine="elevenlabs", cache="hit") == 1
    assert value(s, "voice_avatar_generations_total", engine="local", cache="miss") == 1
    assert value(s, "voice_avatar_cache_hits_total") == 1
    assert value(s, "voice_avatar_cache_misses_total") == 3
    assert value(s, "voice_avatar_cache_hit_ratio") == 0.25
    assert value(s, "voice_avatar_cost_usd_total", engine="elevenlabs") == pytest.approx(0.45)
    assert value(s, "voice_avatar_cost_usd_total", engine="local") == 0
    # A 4 ms cache hit and a 12 s synthesis land in distinct buckets of one histogram.
    assert value(s, "voice_avatar_synthesis_seconds_count", engine="elevenlabs") == 3
    assert value(s, "voice_avatar_synthesis_seconds_bucket", engine="elevenlabs", le="0.005") == 1
    assert value(s, "voice_avatar_synthesis_seconds_bucket", engine="elevenlabs", le="2.5") == 2
    assert value(s, "voice_avatar_synthesis_seconds_bucket", engine="elevenlabs", le="10.0") == 2
    assert value(s, "voice_avatar_synthesis_seconds_bucket", engine="elevenlabs", le="20.0") == 3
    assert value(s, "voice_avatar_synthesis_seconds_sum", engine="elevenlabs") == pytest.approx(13.504)


def test_first_audio_errors_enrollments_and_queue() -> None:
    metrics = Metrics()
    metrics.first_audio("fishaudio", 0.35)
    metrics.error("quota")
    metrics.error("quota")
    metrics.error("engine_error")
    metrics.enrollment("ready")
    metrics.queue_depth(7)
    metrics.queue_depth(3)

    s = scrape(metrics)
    assert value(s, "voice_avatar_first_audio_seconds_count", engine="fishaudio") == 1
    assert value(s, "voice_avatar_first_audio_seconds_bucket", engine="fishaudio", le="0.25") == 0
    assert value(s, "voice_avatar_first_audio_seconds_bucket", engine="fishaudio", le="0.5") == 1
    assert value(s, "voice_avatar_errors_total", kind="quota") == 2
    assert value(s, "voice_avatar_errors_total", kind="engine_error") == 1
    assert value(s, "voice_avatar_errors_total", kind="bad_request") == 0  # present before it happens
    assert value(s, "voice_avatar_enrollments_total", status="ready") == 1
    assert value(s, "voice_avatar_enrollments_total", status="rejected") == 0
    assert value(s, "voice_avatar_queue_depth") == 3


def test_a_fresh_instance_shows_zeros_for_its_engines() -> None:
    s = scrape(Metrics(engines=["local", "fishaudio"]))
    assert value(s, "voice_avatar_cache_hit_ratio") == 0
    assert value(s, "voice_avatar_generations_total", engine="fishaudio", cache="hit") == 0
    assert value(s, "voice_avatar_cost_usd_total", engine="local") == 0


def test_instances_do_not_share_a_registry() -> None:
    first, second = Metrics(), Metrics()
    first.error("bad_request")
    assert value(scrape(first), "voice_avatar_errors_total", kind="bad_request") == 1
    assert value(scrape(second), "voice_avatar_errors_total", kind="bad_request") == 0


def test_openmetrics_on_request() -> None:
    metrics = Metrics()
    metrics.generation("local", cache_hit=True, seconds=0.003)
    body, content_type = metrics.render(accept="application/openmetrics-text; version=1.0.0")
    assert content_type.startswith("application/openmetrics-text")
    assert body.endswith(b"# EOF\n")
    body, content_type = metrics.render(accept="text/html")
    assert content_type.startswith("text/plain")


def test_cost_counter_matches_the_ledger(session_factory: SessionFactory, settings: Settings) -> None:
    """Fed the recorded events' costs, the counter agrees with the daily report to the micro-dollar."""
    metrics = Metrics()
    now = datetime(2025, 3, 10, 9, tzinfo=UTC)
    with session_factory.begin() as session:
        ann, _ = accounts.create_user(session, "Ann", "premium")
        for engine, chars, hit in [("elevenlabs", 1234, False), ("elevenlabs", 1234, True), ("fishaudio", 777, False)]:
            event = record_usage(
                session,
                user=ann,
                engine=engine,
                characters=chars,
                cache_hit=hit,
                latency_ms=10,
                now=now,
                rates=settings.engine_cost_per_1k_chars,
            )
            metrics.generation(event.engine, event.cache_hit, event.latency_ms / 1000, event.cost_usd)
    with session_factory() as session:
        report = daily_report(session, settings, date(2025, 3, 10))

    s = scrape(metrics)
    for engine in ("elevenlabs", "fishaudio"):
        counted = Decimal(str(value(s, "voice_avatar_cost_usd_total", engine=engine))).quantize(Decimal("0.000001"))
        assert str(counted) == report["cost_breakdown"]["by_engine"][engine]
    assert value(s, "voice_avatar_cache_hit_ratio") == report["generations"]["cache_hits"] / 3
