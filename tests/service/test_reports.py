from __future__ import annotations

import json
import logging
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from sqlalchemy.orm import Session

from voice_avatar import accounts
from voice_avatar.billing import record_usage
from voice_avatar.db import SessionFactory, UsageEvent, User
from voice_avatar.reports import check_cost_alerts, daily_report
from voice_avatar.settings import Settings

DAY = date(2025, 3, 10)  # March: 31 days
NOON = datetime(2025, 3, 10, 12, tzinfo=UTC)
MARCH_1 = datetime(2025, 3, 1, tzinfo=UTC)


def make_user(session: Session, name: str, tier: str, created_at: datetime = MARCH_1) -> User:
    user, _ = accounts.create_user(session, name, tier)
    user.created_at = created_at
    session.flush()
    return user


def use(
    session: Session, settings: Settings, user: User, engine: str, chars: int, hit: bool = False, now: datetime = NOON
) -> UsageEvent:
    return record_usage(
        session,
        user=user,
        engine=engine,
        characters=chars,
        cache_hit=hit,
        latency_ms=5 if hit else 900,
        now=now,
        rates=settings.engine_cost_per_1k_chars,
    )


@pytest.fixture
def day_of_usage(session_factory: SessionFactory, settings: Settings) -> dict[str, str]:
    """Three active users on DAY, one idle premium user, one who joined after, and usage on either side."""
    with session_factory.begin() as session:
        ann = make_user(session, "Ann", "premium")
        bob = make_user(session, "Bob", "starter")
        cat = make_user(session, "Cat", "free")
        make_user(session, "Dan", "premium", created_at=datetime(2025, 3, 9, 23, tzinfo=UTC))
        make_user(session, "Eve", "starter", created_at=datetime(2025, 3, 11, tzinfo=UTC))
        use(session, settings, ann, "elevenlabs", 2000)  # 0.60
        use(session, settings, ann, "elevenlabs", 1000)  # 0.30
        use(session, settings, ann, "elevenlabs", 1500, hit=True)  # 0 (would have been 0.45)
        use(session, settings, bob, "fishaudio", 4000)  # 0.06
        use(session, settings, bob, "fishaudio", 2000, hit=True)  # 0 (would have been 0.03)
        use(session, settings, cat, "local", 500)
        use(session, settings, cat, "local", 500, hit=True)
        # Just outside DAY on both sides: must not count.
        use(session, settings, ann, "elevenlabs", 5000, now=datetime(2025, 3, 9, 23, 59, 59, 999999, tzinfo=UTC))
        use(session, settings, bob, "fishaudio", 5000, now=datetime(2025, 3, 11, tzinfo=UTC))
        return {"ann": ann.id, "bob": bob.id, "cat": cat.id}


def test_generations_mix_and_savings(session_factory: SessionFactory, settings: Settings, day_of_usage) -> None:
    with session_factory() as session:
        report = daily_report(session, settings, DAY)

    assert report["day"] == "2025-03-10"
    assert report["generations"] == {"total": 7, "cache_hits": 3, "cache_misses": 4, "hit_rate": 0.4286}
    assert report["service_mix"] == {
        "elevenlabs": {"messages": 3, "share": 0.4286, "characters": 4500, "cache_hits": 1, "cost_usd": "0.900000"},
        "fishaudio": {"messages": 2, "share": 0.2857, "characters": 6000, "cache_hits": 1, "cost_usd": "0.060000"},
        "local": {"messages": 2, "share": 0.2857, "characters": 1000, "cache_hits": 1, "cost_usd": "0.000000"},
    }
    assert report["cache_savings"] == {
        "total_usd": "0.480000",
        "by_engine": {"elevenlabs": "0.450000", "fishaudio": "0.030000", "local": "0.000000"},
    }
    assert report["cost_breakdown"] == {
        "total_usd": "0.960000",
        "by_engine": {"elevenlabs": "0.900000", "fishaudio": "0.060000", "local": "0.000000"},
        "by_tier": {"free": "0.000000", "premium": "0.900000", "starter": "0.060000"},
        "per_message_usd": "0.137143",  # 0.96 / 7
    }
    json.dumps(report)  # JSON-ready as is


def test_cost_per_user_is_costliest_first(session_factory: SessionFactory, settings: Settings, day_of_usage) -> None:
    with session_factory() as session:
        report = daily_report(session, settings, DAY, top_users=2)

    per_user = report["cost_per_user"]
    assert per_user["active_users"] == 3
    assert per_user["top"] == [
        {
            "user_id": day_of_usage["ann"],
            "name": "Ann",
            "tier": "premium",
            "messages": 3,
            "characters": 4500,
            "cache_hits": 1,
            "cost_usd": "0.900000",
        },
        {
            "user_id": day_of_usage["bob"],
            "name": "Bob",
            "tier": "starter",
            "messages": 2,
            "characters": 6000,
            "cache_hits": 1,
            "cost_usd": "0.060000",
        },
    ]


def test_margins_charge_a_day_of_each_existing_users_plan(
    session_factory: SessionFactory, settings: Settings, day_of_usage
) -> None:
    with session_factory() as session:
        margins = daily_report(session, settings, DAY)["margins"]

    premium_revenue = Decimal("29.99") * 2 / 31  # Ann and Dan; Dan was idle but pays
    starter_revenue = Decimal("9.99") * 1 / 31  # Bob; Eve joined the next day
    q = Decimal("0.000001")
    assert margins["days_in_month"] == 31
    assert margins["by_tier"]["premium"] == {
        "users": 2,
        "revenue_usd": str(premium_revenue.quantize(q)),
        "cost_usd": "0.900000",
        "margin_usd": str((premium_revenue - Decimal("0.9")).quantize(q)),
        "margin_pct": round(float((premium_revenue - Decimal("0.9")) / premium_revenue * 100), 2),
    }
    assert margins["by_tier"]["starter"]["users"] == 1
    assert margins["by_tier"]["starter"]["revenue_usd"] == str(starter_revenue.quantize(q))
    assert margins["by_tier"]["starter"]["margin_usd"] == str((starter_revenue - Decimal("0.06")).quantize(q))
    assert margins["by_tier"]["free"] == {
        "users": 1,
        "revenue_usd": "0.000000",
        "cost_usd": "0.000000",
        "margin_usd": "0.000000",
        "margin_pct": None,
    }
    total_revenue = premium_revenue + starter_revenue
    assert margins["total"]["revenue_usd"] == str(total_revenue.quantize(q))
    assert margins["total"]["margin_usd"] == str((total_revenue - Decimal("0.96")).quantize(q))
    assert 53 < margins["by_tier"]["premium"]["margin_pct"] < 54


def test_report_alerts_fire_above_the_thresholds_only(
    session_factory: SessionFactory, settings: Settings, day_of_usage
) -> None:
    above = settings.model_copy(
        update={"alert_user_daily_cost_usd": Decimal("0.50"), "alert_daily_cost_usd": Decimal("0.95")}
    )
    at = settings.model_copy(
        update={"alert_user_daily_cost_usd": Decimal("0.90"), "alert_daily_cost_usd": Decimal("0.96")}
    )
    with session_factory() as session:
        alerts = daily_report(session, above, DAY)["alerts"]
        assert daily_report(session, at, DAY)["alerts"] == []
        assert daily_report(session, settings, DAY)["alerts"] == []  # defaults: $1 per user, $50 a day

    assert [(a["kind"], a["user_id"], a["cost_usd"], a["threshold_usd"]) for a in alerts] == [
        ("user_daily_cost", day_of_usage["ann"], "0.900000", "0.500000"),
        ("daily_cost", None, "0.960000", "0.950000"),
    ]
    assert "Ann" in alerts[0]["message"] and "2025-03-10" in alerts[0]["message"]


def test_an_empty_day(session_factory: SessionFactory, settings: Settings) -> None:
    with session_factory() as session:
        report = daily_report(session, settings, DAY)
    assert report["generations"] == {"total": 0, "cache_hits": 0, "cache_misses": 0, "hit_rate": None}
    assert report["service_mix"] == {}
    assert report["cost_breakdown"]["total_usd"] == "0.000000"
    assert report["cost_breakdown"]["per_message_usd"] is None
    assert report["cost_per_user"] == {"active_users": 0, "top": []}
    assert report["margins"]["total"]["margin_pct"] is None
    assert report["alerts"] == []


def test_a_datetime_is_not_a_day(session_factory: SessionFactory, settings: Settings) -> None:
    with session_factory() as session, pytest.raises(TypeError):
        daily_report(session, settings, NOON)


def test_cost_alerts_are_logged_once_per_crossing(
    session_factory: SessionFactory, settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    limits = settings.model_copy(
        update={"alert_user_daily_cost_usd": Decimal("0.60"), "alert_daily_cost_usd": Decimal("1.50")}
    )
    caplog.set_level(logging.WARNING, logger="voice_avatar.alerts")
    fired: list[list[str]] = []
    with session_factory.begin() as session:
        ann = make_user(session, "Ann", "premium")
        bob = make_user(session, "Bob", "premium")
        assert check_cost_alerts(session, limits, ann, NOON) == []  # no usage yet
        for minute, (user, chars, hit) in enumerate(
            [
                (ann, 2000, False),  # Ann 0.60 = her limit, not above; day 0.60
                (ann, 2000, False),  # Ann 1.20: crosses; day 1.20
                (ann, 1000, False),  # Ann 1.50: already above; day 1.50 = the limit
                (bob, 1000, False),  # Bob 0.30; day 1.80: crosses
                (bob, 5000, True),  # a cache hit costs nothing
                (bob, 2000, False),  # Bob 0.90: crosses; day 2.40: already above
            ]
        ):
            now = NOON + timedelta(minutes=minute)
            event = use(session, limits, user, "elevenlabs", chars, hit, now=now)
            # Both ways of naming the event: found as the user's newest, or passed in.
            fired.append(check_cost_alerts(session, limits, user, now, event=event if minute % 2 else None))
        next_day = NOON + timedelta(days=1)
        use(session, limits, ann, "elevenlabs", 3000, now=next_day)  # Ann 0.90 on a new day: crosses again
        fired.append(check_cost_alerts(session, limits, ann, next_day))

    assert [len(alerts) for alerts in fired] == [0, 1, 0, 1, 0, 1, 1]
    assert "Ann" in fired[1][0] and "$1.200000" in fired[1][0] and "2025-03-10" in fired[1][0]
    assert "engines cost $1.800000" in fired[3][0]
    assert "Bob" in fired[5][0]
    assert "Ann" in fired[6][0] and "2025-03-11" in fired[6][0]
    logged = [r for r in caplog.records if r.name == "voice_avatar.alerts"]
    assert [r.getMessage() for r in logged] == [alerts[0] for alerts in fired if alerts]
    assert all(r.levelno == logging.WARNING for r in logged)


def test_cost_alerts_refuse_naive_times(session_factory: SessionFactory, settings: Settings) -> None:
    with session_factory.begin() as session:
        ann = make_user(session, "Ann", "premium")
        with pytest.raises(ValueError, match="naive"):
            check_cost_alerts(session, settings, ann, datetime(2025, 3, 10, 12))


def test_alert_thresholds_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VOICE_AVATAR_ALERT_USER_DAILY_COST_USD", "2.5")
    monkeypatch.setenv("VOICE_AVATAR_ALERT_DAILY_COST_USD", "120")
    configured = Settings()
    assert (configured.alert_user_daily_cost_usd, configured.alert_daily_cost_usd) == (Decimal("2.5"), Decimal("120"))
    assert (
        Settings.model_fields["alert_user_daily_cost_usd"].default,
        Settings.model_fields["alert_daily_cost_usd"].default,
    ) == (Decimal("1.00"), Decimal("50.00"))
