from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from voice_avatar import accounts
from voice_avatar.billing import cost_usd, month_usage, record_usage
from voice_avatar.db import SessionFactory

RATES = {"local": Decimal("0"), "fishaudio": Decimal("0.015"), "elevenlabs": Decimal("0.30")}
JAN = datetime(2025, 1, 10, tzinfo=UTC)


def test_month_usage_sums_by_engine_with_costs(session_factory: SessionFactory) -> None:
    with session_factory.begin() as session:
        ann, _ = accounts.create_user(session, "Ann", "premium")
        bob, _ = accounts.create_user(session, "Bob", "free")
        for engine, chars, hit in [
            ("elevenlabs", 1000, False),
            ("elevenlabs", 500, False),
            ("elevenlabs", 700, True),
            ("fishaudio", 2000, False),
            ("local", 300, False),
        ]:
            record_usage(
                session,
                user=ann,
                engine=engine,
                characters=chars,
                cache_hit=hit,
                latency_ms=120,
                avatar_id="abc123def456",
                now=JAN,
                rates=RATES,
            )
        record_usage(
            session,
            user=ann,
            engine="fishaudio",
            characters=9999,
            cache_hit=False,
            latency_ms=1,
            now=datetime(2025, 2, 1, tzinfo=UTC),
            rates=RATES,
        )
        record_usage(
            session, user=bob, engine="local", characters=50, cache_hit=False, latency_ms=1, now=JAN, rates=RATES
        )

    with session_factory() as session:
        usage = month_usage(session, ann, "2025-01")

    assert usage["period"] == "2025-01"
    assert (usage["messages"], usage["characters"], usage["cache_hits"]) == (5, 4500, 1)
    assert usage["cost_usd"] == Decimal("0.48")  # 0.30 + 0.15 + 0 (hit) + 0.03 + 0
    assert usage["by_engine"]["elevenlabs"] == {
        "messages": 3,
        "characters": 2200,
        "cost_usd": Decimal("0.45"),
        "cache_hits": 1,
    }
    assert usage["by_engine"]["fishaudio"]["cost_usd"] == Decimal("0.03")
    assert usage["by_engine"]["local"]["cost_usd"] == Decimal("0")
    assert set(usage["by_engine"]) == {"elevenlabs", "fishaudio", "local"}


def test_an_empty_month_is_all_zeros(session_factory: SessionFactory) -> None:
    with session_factory.begin() as session:
        ann, _ = accounts.create_user(session, "Ann", "free")
    with session_factory() as session:
        usage = month_usage(session, ann, "2030-07")
    assert (usage["messages"], usage["characters"], usage["cost_usd"], usage["by_engine"]) == (0, 0, 0, {})


def test_cost_is_chars_per_thousand_times_rate_and_zero_for_hits() -> None:
    assert cost_usd("fishaudio", 1234, False, RATES) == Decimal("0.018510")
    assert cost_usd("elevenlabs", 1, False, RATES) == Decimal("0.000300")
    assert cost_usd("elevenlabs", 5000, True, RATES) == 0
    assert cost_usd("fishaudio", 1000, False, {"fishaudio": Decimal("0.02")}) == Decimal("0.02")
    with pytest.raises(ValueError, match="no price"):
        cost_usd("mystery", 10, False, RATES)


def test_bad_periods_are_refused(session_factory: SessionFactory) -> None:
    with session_factory.begin() as session:
        ann, _ = accounts.create_user(session, "Ann", "free")
        with pytest.raises(ValueError, match="YYYY-MM"):
            month_usage(session, ann, "2025-13")
