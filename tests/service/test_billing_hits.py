"""A cache hit reserved and billed by one statement (PostgreSQL); SQLite always declines."""

from __future__ import annotations

import threading

from sqlalchemy import Engine, func, select
from test_billing_quota import JAN, PLANS, _user

from voice_avatar.billing.hits import record_hit_at_once
from voice_avatar.billing.ledger import usage_values
from voice_avatar.db import QuotaCounter, SessionFactory, UsageEvent, User


def _autocommit(sessions: SessionFactory) -> Engine:
    engine = sessions.kw["bind"]
    return engine if engine.dialect.name == "sqlite" else engine.execution_options(isolation_level="AUTOCOMMIT")


def _hit(user: User, characters: int = 12) -> dict:
    return usage_values(
        user=user, engine="local", characters=characters, cache_hit=True, latency_ms=3, avatar_id="av1", now=JAN
    )


def _set_used(sessions: SessionFactory, user: User, messages: int, cost_micro_usd: int = 0) -> None:
    with sessions.begin() as session:
        session.add(
            QuotaCounter(user_id=user.id, period="2025-01", messages=messages, characters=0, cost_micro_usd=cost_micro_usd)
        )


def _state(sessions: SessionFactory, user: User) -> tuple[tuple[int, int, int] | None, int]:
    with sessions() as session:
        counter = session.scalar(select(QuotaCounter).where(QuotaCounter.user_id == user.id))
        events = session.scalar(select(func.count()).select_from(UsageEvent).where(UsageEvent.user_id == user.id))
    return (counter.messages, counter.characters, counter.cost_micro_usd) if counter else None, events


def test_one_statement_reserves_and_records_the_hit(session_factory: SessionFactory) -> None:
    user = _user(session_factory)
    _set_used(session_factory, user, 90, cost_micro_usd=1234)
    event = record_hit_at_once(_autocommit(session_factory), user, _hit(user), plans=PLANS)
    if session_factory.kw["bind"].dialect.name == "sqlite":
        assert event is None  # no data-modifying CTEs: the caller's transaction does it
        assert _state(session_factory, user) == ((90, 0, 1234), 0)
        return
    assert event is not None and event.id is not None
    assert _state(session_factory, user) == ((91, 12, 1234), 1)  # a hit adds no cost
    with session_factory() as session:
        stored = session.get(UsageEvent, event.id)
        assert (stored.user_id, stored.avatar_id, stored.engine, stored.characters, stored.cache_hit) == (
            user.id, "av1", "local", 12, True
        )
        assert stored.cost_usd == 0 and stored.period == "2025-01" and stored.created_at == JAN


def test_it_reserves_nothing_without_the_months_row_or_at_the_limit(session_factory: SessionFactory) -> None:
    user = _user(session_factory)
    autocommit = _autocommit(session_factory)
    assert record_hit_at_once(autocommit, user, _hit(user), plans=PLANS) is None  # the month's first message
    assert _state(session_factory, user) == (None, 0)
    _set_used(session_factory, user, 100)  # the free plan's limit
    assert record_hit_at_once(autocommit, user, _hit(user), plans=PLANS) is None
    assert _state(session_factory, user) == ((100, 0, 0), 0)


def test_concurrent_hits_stop_exactly_at_the_limit(session_factory: SessionFactory) -> None:
    user = _user(session_factory)
    _set_used(session_factory, user, 90)
    autocommit = _autocommit(session_factory)
    start, outcomes, lock = threading.Barrier(40), [], threading.Lock()

    def one() -> None:
        start.wait()
        try:
            outcome = "served" if record_hit_at_once(autocommit, user, _hit(user), plans=PLANS) else "declined"
        except Exception as error:  # noqa: BLE001 - any error fails the test below
            outcome = repr(error)
        with lock:
            outcomes.append(outcome)

    threads = [threading.Thread(target=one) for _ in range(40)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    served = 0 if session_factory.kw["bind"].dialect.name == "sqlite" else 10
    assert sorted(outcomes) == ["declined"] * (40 - served) + ["served"] * served
    assert _state(session_factory, user) == ((90 + served, 12 * served, 0), served)


def test_plans_without_a_limit_are_served(session_factory: SessionFactory) -> None:
    user = _user(session_factory, tier="premium")
    _set_used(session_factory, user, 5000)
    event = record_hit_at_once(_autocommit(session_factory), user, _hit(user), plans=PLANS)
    assert (event is not None) == (session_factory.kw["bind"].dialect.name == "postgresql")
