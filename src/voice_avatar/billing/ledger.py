"""The usage ledger: one row per delivered message, priced at the engine's rate when it ran."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from decimal import Decimal
from typing import TypedDict

from sqlalchemy import case, func, insert, select
from sqlalchemy.orm import Session

from voice_avatar.billing.period import period_of, period_start
from voice_avatar.billing.quota import add_cost
from voice_avatar.db.models import UsageEvent, User
from voice_avatar.db.types import MONEY_PLACES, utcnow
from voice_avatar.settings import get_settings

Rates = Mapping[str, Decimal]
_ZERO = Decimal(0).scaleb(-MONEY_PLACES)
_INSERT_EVENT = insert(UsageEvent.__table__).returning(UsageEvent.__table__.c.id)  # built once: the hot path


class EngineUsage(TypedDict):
    messages: int
    characters: int
    cost_usd: Decimal
    cache_hits: int


class MonthUsage(EngineUsage):
    period: str
    by_engine: dict[str, EngineUsage]


def cost_usd(engine: str, characters: int, cache_hit: bool, rates: Rates | None = None) -> Decimal:
    """chars / 1000 x the engine's rate; a cache hit ran no engine, so it costs nothing."""
    if cache_hit:
        return _ZERO
    known = rates if rates is not None else get_settings().engine_cost_per_1k_chars
    if engine not in known:
        raise ValueError(f"no price configured for engine {engine!r} (settings.engine_cost_per_1k_chars)")
    return (Decimal(characters) * Decimal(known[engine]) / 1000).quantize(_ZERO)


def record_usage(session: Session, **message) -> UsageEvent:
    """Add the message (see `usage_values`) to the caller's transaction, and its cost to the month's total."""
    return insert_usage(session, usage_values(**message))


def usage_values(
    *,
    user: User,
    engine: str,
    characters: int,
    cache_hit: bool,
    latency_ms: int,
    avatar_id: str | None = None,
    now: datetime | None = None,
    rates: Rates | None = None,
    route_reason: str = "",
) -> dict:
    """The usage row of one delivered message, priced."""
    moment = now or utcnow()
    return {
        "user_id": user.id,
        "avatar_id": avatar_id,
        "engine": engine,
        "characters": characters,
        "cost_usd": cost_usd(engine, characters, cache_hit, rates),
        "cache_hit": cache_hit,
        "latency_ms": latency_ms,
        "created_at": moment,
        "period": period_of(moment),
        "route_reason": route_reason,
    }


def insert_usage(session: Session, values: dict) -> UsageEvent:
    """One Core INSERT ... RETURNING (not the ORM's unit of work: it runs on every message, cache
    hits included), not committed; the event returned is not attached to the session."""
    event = UsageEvent(id=session.execute(_INSERT_EVENT, values).scalar_one(), **values)
    add_cost(session, event.user_id, event.period, event.cost_usd)
    return event


def month_usage(session: Session, user: User, period: str) -> MonthUsage:
    """Totals for one billing month ('YYYY-MM'), overall and per engine."""
    period_start(period)  # validates the format
    rows = session.execute(
        select(
            UsageEvent.engine,
            func.count(),
            func.coalesce(func.sum(UsageEvent.characters), 0),
            func.coalesce(func.sum(UsageEvent.cost_usd), 0),
            func.coalesce(func.sum(case((UsageEvent.cache_hit, 1), else_=0)), 0),
        )
        .where(UsageEvent.user_id == user.id, UsageEvent.period == period)
        .group_by(UsageEvent.engine)
        .order_by(UsageEvent.engine)
    ).all()
    by_engine = {
        engine: EngineUsage(
            messages=int(messages),
            characters=int(characters),
            cost_usd=Decimal(str(cost)).quantize(_ZERO),
            cache_hits=int(hits),
        )
        for engine, messages, characters, cost, hits in rows
    }
    return MonthUsage(
        period=period,
        messages=sum(item["messages"] for item in by_engine.values()),
        characters=sum(item["characters"] for item in by_engine.values()),
        cost_usd=sum((item["cost_usd"] for item in by_engine.values()), _ZERO),
        cache_hits=sum(item["cache_hits"] for item in by_engine.values()),
        by_engine=by_engine,
    )
