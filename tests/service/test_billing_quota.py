from __future__ import annotations

import threading
from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from voice_avatar import accounts
from voice_avatar.billing import quota_status, release, reserve_message
from voice_avatar.db import QuotaCounter, SessionFactory, User
from voice_avatar.errors import QuotaExceeded
from voice_avatar.settings import Settings

JAN = datetime(2025, 1, 15, 12, 0, tzinfo=UTC)
FEB = datetime(2025, 2, 1, 0, 0, tzinfo=UTC)
PLANS = Settings().tiers


def _user(session_factory: SessionFactory, tier: str = "free") -> User:
    with session_factory.begin() as session:
        user, _ = accounts.create_user(session, "Ann", tier, plans=PLANS)
    return user


def _set_used(session_factory: SessionFactory, user: User, period: str, messages: int) -> None:
    with session_factory.begin() as session:
        session.add(QuotaCounter(user_id=user.id, period=period, messages=messages, characters=0))


def _counter(session_factory: SessionFactory, user: User, period: str) -> QuotaCounter | None:
    with session_factory() as session:
        return session.scalar(
            select(QuotaCounter).where(QuotaCounter.user_id == user.id, QuotaCounter.period == period)
        )


def test_the_101st_free_message_in_a_month_is_refused(session_factory: SessionFactory) -> None:
    user = _user(session_factory)
    for _ in range(100):
        reserve_message(session_factory, user, 20, JAN, plans=PLANS)
    with pytest.raises(QuotaExceeded) as refused:
        reserve_message(session_factory, user, 20, JAN, plans=PLANS)
    assert refused.value.limit == "messages_per_month"
    assert refused.value.limit_value == 100
    assert refused.value.resets_at == "2025-02-01T00:00:00+00:00"
    assert "100 messages per month" in str(refused.value)
    counter = _counter(session_factory, user, "2025-01")
    assert counter is not None and (counter.messages, counter.characters) == (100, 2000)


def test_concurrent_reservations_never_exceed_the_limit(session_factory: SessionFactory) -> None:
    user = _user(session_factory)
    _set_used(session_factory, user, "2025-01", 90)  # 10 messages left
    start = threading.Barrier(50)
    outcomes: list[str] = []
    lock = threading.Lock()

    def one_request() -> None:
        start.wait()
        try:
            reserve_message(session_factory, user, 10, JAN, plans=PLANS)
            outcome = "ok"
        except QuotaExceeded:
            outcome = "refused"
        except Exception as exc:  # anything else (e.g. "database is locked") must fail the test
            outcome = f"error: {exc!r}"
        with lock:
            outcomes.append(outcome)

    threads = [threading.Thread(target=one_request) for _ in range(50)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)

    assert sorted(set(outcomes)) == ["ok", "refused"], outcomes
    assert outcomes.count("ok") == 10
    assert outcomes.count("refused") == 40
    counter = _counter(session_factory, user, "2025-01")
    assert counter is not None and counter.messages == 100


def test_chars_per_message_is_checked_first_and_counts_nothing(session_factory: SessionFactory) -> None:
    user = _user(session_factory)
    reserve_message(session_factory, user, 500, JAN, plans=PLANS)
    with pytest.raises(QuotaExceeded) as refused:
        reserve_message(session_factory, user, 501, JAN, plans=PLANS)
    assert (refused.value.limit, refused.value.limit_value, refused.value.resets_at) == ("chars_per_message", 500, None)
    assert _counter(session_factory, user, "2025-01").messages == 1


def test_a_new_month_starts_with_a_fresh_quota(session_factory: SessionFactory) -> None:
    user = _user(session_factory)
    _set_used(session_factory, user, "2025-01", 100)
    with pytest.raises(QuotaExceeded):
        reserve_message(session_factory, user, 10, datetime(2025, 1, 31, 23, 59, 59, tzinfo=UTC), plans=PLANS)
    reservation = reserve_message(session_factory, user, 10, FEB, plans=PLANS)
    assert reservation.period == "2025-02"
    assert _counter(session_factory, user, "2025-02").messages == 1


def test_december_resets_in_january_of_the_next_year(session_factory: SessionFactory) -> None:
    user = _user(session_factory)
    _set_used(session_factory, user, "2025-12", 100)
    with pytest.raises(QuotaExceeded) as refused:
        reserve_message(session_factory, user, 10, datetime(2025, 12, 9, tzinfo=UTC), plans=PLANS)
    assert refused.value.resets_at == "2026-01-01T00:00:00+00:00"


def test_release_gives_the_message_back_once(session_factory: SessionFactory) -> None:
    user = _user(session_factory)
    _set_used(session_factory, user, "2025-01", 99)
    reservation = reserve_message(session_factory, user, 42, JAN, plans=PLANS)
    with pytest.raises(QuotaExceeded):
        reserve_message(session_factory, user, 42, JAN, plans=PLANS)
    release(reservation)
    release(reservation)
    counter = _counter(session_factory, user, "2025-01")
    assert (counter.messages, counter.characters) == (99, 0)
    reserve_message(session_factory, user, 42, JAN, plans=PLANS)


def test_premium_has_no_monthly_limit(session_factory: SessionFactory) -> None:
    user = _user(session_factory, "premium")
    _set_used(session_factory, user, "2025-01", 1_000_000)
    reserve_message(session_factory, user, 5000, JAN, plans=PLANS)
    assert _counter(session_factory, user, "2025-01").messages == 1_000_001


def test_quota_status_shows_what_is_left(session_factory: SessionFactory) -> None:
    user = _user(session_factory)
    _set_used(session_factory, user, "2025-01", 97)
    with session_factory() as session:
        status = quota_status(session, user, JAN, plans=PLANS)
    assert (status.messages_used, status.messages_limit, status.messages_remaining) == (97, 100, 3)
    assert status.resets_at == "2025-02-01T00:00:00+00:00"


def test_naive_datetimes_are_refused(session_factory: SessionFactory) -> None:
    user = _user(session_factory)
    with pytest.raises(ValueError, match="naive"):
        reserve_message(session_factory, user, 10, datetime(2025, 1, 1), plans=PLANS)


def test_the_reservation_reports_the_month_cost_kept_equal_to_the_ledger(session_factory: SessionFactory) -> None:
    """Routing reads the month's cost from the reservation; it must equal the ledger's sum, to the micro-dollar."""
    from decimal import Decimal

    from voice_avatar.billing import month_usage, record_usage

    rates = {"local": Decimal("0.0002"), "elevenlabs": Decimal("0.22")}
    user = _user(session_factory, "premium")
    assert reserve_message(session_factory, user, 10, JAN, plans=PLANS).month_cost_usd == 0
    with session_factory.begin() as session:
        for engine, chars, hit in (("elevenlabs", 137, False), ("local", 999, False), ("elevenlabs", 50, True)):
            record_usage(
                session, user=user, engine=engine, characters=chars, cache_hit=hit, latency_ms=1, now=JAN, rates=rates
            )
        record_usage(session, user=user, engine="elevenlabs", characters=400, cache_hit=False, latency_ms=1,
                     now=FEB, rates=rates)  # another month: not in January's total
    with session_factory() as session:
        ledger = month_usage(session, user, "2025-01")["cost_usd"]
    assert ledger == Decimal("0.030140") + Decimal("0.000200")
    assert reserve_message(session_factory, user, 10, JAN, plans=PLANS).month_cost_usd == ledger
    assert reserve_message(session_factory, user, 10, FEB, plans=PLANS).month_cost_usd == Decimal("0.088")
