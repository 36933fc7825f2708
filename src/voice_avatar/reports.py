"""The daily cost report and cost alerts, read from the usage ledger.

Money is summed as `Decimal` and only turned into strings (6 places, like the ledger) in the
report, so the numbers add up to the cent whichever database holds them. A user's tier is their
tier now: the schema keeps no tier history, so a user who changed plan counts under the new one.
"""

from __future__ import annotations

import calendar
import logging
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from voice_avatar.db.models import UsageEvent, User
from voice_avatar.db.types import MONEY_PLACES
from voice_avatar.settings import Settings

alert_log = logging.getLogger("voice_avatar.alerts")

_QUANTUM = Decimal(1).scaleb(-MONEY_PLACES)
_ZERO = Decimal(0).quantize(_QUANTUM)
TOP_USERS = 10


@dataclass
class _Tally:
    """Messages, characters and cost of some slice of the day (an engine, a user, a tier)."""

    messages: int = 0
    characters: int = 0
    cache_hits: int = 0
    hit_characters: int = 0
    cost: Decimal = field(default_factory=lambda: _ZERO)

    def add(self, messages: int, characters: int, cache_hit: bool, cost: Decimal) -> None:
        self.messages += messages
        self.characters += characters
        self.cost += cost
        if cache_hit:
            self.cache_hits += messages
            self.hit_characters += characters


def day_bounds(day: date) -> tuple[datetime, datetime]:
    """[start, end) of a UTC day; a datetime is refused because its time zone would be ambiguous."""
    if isinstance(day, datetime):
        raise TypeError(f"pass a date, not a datetime ({day!r})")
    start = datetime.combine(day, time(), tzinfo=UTC)
    return start, start + timedelta(days=1)


def daily_report(session: Session, settings: Settings, day: date, *, top_users: int = TOP_USERS) -> dict[str, Any]:
    """Everything an operator wants to know about one UTC day's spend, JSON-ready."""
    start, end = day_bounds(day)
    tally = _tally_day(session, start, end)
    total, engines, users, tiers, names = tally.total, tally.engines, tally.users, tally.tiers, tally.names
    rates = settings.engine_cost_per_1k_chars
    savings = {e: _price(rates.get(e), t.hit_characters) for e, t in engines.items() if t.cache_hits}
    priced_savings = [amount for amount in savings.values() if amount is not None]
    return {
        "day": day.isoformat(),
        "generations": {
            "total": total.messages,
            "cache_hits": total.cache_hits,
            "cache_misses": total.messages - total.cache_hits,
            "hit_rate": round(total.cache_hits / total.messages, 4) if total.messages else None,
        },
        "service_mix": {
            engine: {
                "messages": t.messages,
                "share": round(t.messages / total.messages, 4),
                "characters": t.characters,
                "cache_hits": t.cache_hits,
                "cost_usd": _usd(t.cost),
            }
            for engine, t in sorted(engines.items())
        },
        "cache_savings": {
            "total_usd": _usd(sum(priced_savings, _ZERO)),
            # None: the engine has no configured rate any more, so what a hit saved is unknown.
            "by_engine": {engine: _usd(amount) for engine, amount in sorted(savings.items())},
        },
        "cost_breakdown": {
            "total_usd": _usd(total.cost),
            "by_engine": {engine: _usd(t.cost) for engine, t in sorted(engines.items())},
            "by_tier": {tier: _usd(t.cost) for tier, t in sorted(tiers.items())},
            "per_message_usd": _usd(total.cost / total.messages) if total.messages else None,
        },
        "cost_per_user": {
            "active_users": len(users),
            "top": [_user_row(user_id, names[user_id], t) for user_id, t in _by_cost(users)[:top_users]],
        },
        "margins": _margins(session, settings, day, end, tiers),
        "alerts": _report_alerts(settings, day, total.cost, users, names),
    }


def check_cost_alerts(
    session: Session, settings: Settings, user: User, now: datetime, *, event: UsageEvent | None = None
) -> list[str]:
    """Log (and return) the cost alerts the user's newest usage event set off.

    Call it right after `ledger.record_usage`, in the same session, with the event's time as `now`
    (or pass the `event`). An alert fires only when this event takes a daily total from at or below
    a threshold to above it, so each threshold is logged once per user (or once for the service)
    per UTC day however many messages follow. Two requests of one user committing at the same
    moment can each miss the other's cost; the daily report is the exact record.
    """
    if now.tzinfo is None:
        raise ValueError(f"naive datetime {now!r}: pass an aware datetime")
    if event is not None and not event.cost_usd:  # a free message (a cache hit) crosses no threshold
        return []
    start, end = day_bounds(now.astimezone(UTC).date())
    in_day = (UsageEvent.created_at >= start, UsageEvent.created_at < end)
    if event is None:
        event = session.scalar(
            select(UsageEvent).where(UsageEvent.user_id == user.id, *in_day).order_by(UsageEvent.id.desc()).limit(1)
        )
        if event is None:
            return []
    if not event.cost_usd:  # a free message (a cache hit) takes no total across a threshold
        return []
    user_after = _money(
        session.scalar(select(func.sum(UsageEvent.cost_usd)).where(UsageEvent.user_id == user.id, *in_day))
    )
    total_after = _money(session.scalar(select(func.sum(UsageEvent.cost_usd)).where(*in_day)))
    day = start.date()
    alerts: list[str] = []
    user_limit, total_limit = settings.alert_user_daily_cost_usd, settings.alert_daily_cost_usd
    if user_after - event.cost_usd <= user_limit < user_after:
        alerts.append(_user_alert(day, user.id, user.name, user.tier, user_after, user_limit))
    if total_after - event.cost_usd <= total_limit < total_after:
        alerts.append(_total_alert(day, total_after, total_limit))
    for message in alerts:
        alert_log.warning(message)
    return alerts


@dataclass
class _Day:
    total: _Tally = field(default_factory=_Tally)
    engines: dict[str, _Tally] = field(default_factory=dict)
    users: dict[str, _Tally] = field(default_factory=dict)
    tiers: dict[str, _Tally] = field(default_factory=dict)
    names: dict[str, tuple[str, str]] = field(default_factory=dict)


def _tally_day(session: Session, start: datetime, end: datetime) -> _Day:
    """One grouped query, folded into totals per engine, per user and per tier."""
    rows = session.execute(
        select(
            UsageEvent.user_id,
            User.name,
            User.tier,
            UsageEvent.engine,
            UsageEvent.cache_hit,
            func.count(),
            func.sum(UsageEvent.characters),
            func.sum(UsageEvent.cost_usd),
        )
        .join(User, User.id == UsageEvent.user_id)
        .where(UsageEvent.created_at >= start, UsageEvent.created_at < end)
        .group_by(UsageEvent.user_id, User.name, User.tier, UsageEvent.engine, UsageEvent.cache_hit)
    ).all()
    day = _Day()
    for user_id, name, tier, engine, cache_hit, messages, characters, cost in rows:
        args = (int(messages), int(characters or 0), bool(cache_hit), _money(cost))
        day.total.add(*args)
        for slices, key in ((day.engines, engine), (day.users, user_id), (day.tiers, tier)):
            slices.setdefault(key, _Tally()).add(*args)
        day.names[user_id] = (name, tier)
    return day


def _by_cost(users: dict[str, _Tally]) -> list[tuple[str, _Tally]]:
    """Costliest first; ties by messages, then id, so the order is the same on every run."""
    return sorted(users.items(), key=lambda item: (-item[1].cost, -item[1].messages, item[0]))


def _user_row(user_id: str, name_and_tier: tuple[str, str], t: _Tally) -> dict[str, Any]:
    name, tier = name_and_tier
    return {
        "user_id": user_id,
        "name": name,
        "tier": tier,
        "messages": t.messages,
        "characters": t.characters,
        "cache_hits": t.cache_hits,
        "cost_usd": _usd(t.cost),
    }


def _margins(
    session: Session, settings: Settings, day: date, end: datetime, costs: dict[str, _Tally]
) -> dict[str, Any]:
    """A day's share of each paying user's monthly price against the engines' cost that day.

    Revenue counts every user who existed by the end of the day, active or not: they pay the
    month either way. A tier missing from settings has no price, so its revenue is unknown.
    """
    days_in_month = calendar.monthrange(day.year, day.month)[1]
    counts = dict(
        session.execute(select(User.tier, func.count()).where(User.created_at < end).group_by(User.tier)).all()
    )
    by_tier: dict[str, Any] = {}
    revenue_total, cost_total = _ZERO, _ZERO
    for tier in sorted(set(settings.tiers) | set(counts) | set(costs)):
        plan = settings.tiers.get(tier)
        cost = costs[tier].cost if tier in costs else _ZERO
        users = int(counts.get(tier, 0))
        revenue = None if plan is None else plan.price_usd_per_month * users / days_in_month
        by_tier[tier] = {"users": users, **_margin(revenue, cost)}
        revenue_total += revenue or 0
        cost_total += cost
    return {"days_in_month": days_in_month, "by_tier": by_tier, "total": _margin(revenue_total, cost_total)}


def _margin(revenue: Decimal | None, cost: Decimal) -> dict[str, Any]:
    margin = None if revenue is None else revenue - cost
    percent = None if margin is None or not revenue else round(float(margin / revenue * 100), 2)
    return {"revenue_usd": _usd(revenue), "cost_usd": _usd(cost), "margin_usd": _usd(margin), "margin_pct": percent}


def _report_alerts(
    settings: Settings, day: date, total: Decimal, users: dict[str, _Tally], names: dict[str, tuple[str, str]]
) -> list[dict[str, Any]]:
    user_limit, total_limit = settings.alert_user_daily_cost_usd, settings.alert_daily_cost_usd
    alerts = [
        {
            "kind": "user_daily_cost",
            "user_id": user_id,
            "cost_usd": _usd(t.cost),
            "threshold_usd": _usd(user_limit),
            "message": _user_alert(day, user_id, *names[user_id], t.cost, user_limit),
        }
        for user_id, t in _by_cost(users)
        if t.cost > user_limit
    ]
    if total > total_limit:
        alerts.append(
            {
                "kind": "daily_cost",
                "user_id": None,
                "cost_usd": _usd(total),
                "threshold_usd": _usd(total_limit),
                "message": _total_alert(day, total, total_limit),
            }
        )
    return alerts


def _user_alert(day: date, user_id: str, name: str, tier: str, cost: Decimal, limit: Decimal) -> str:
    return (
        f"cost alert: user {user_id} ({name}, {tier}) cost ${cost:.6f} on {day.isoformat()}, "
        f"above the ${limit} per-user daily threshold"
    )


def _total_alert(day: date, cost: Decimal, limit: Decimal) -> str:
    return f"cost alert: engines cost ${cost:.6f} on {day.isoformat()}, above the ${limit} daily threshold"


def _price(rate: Decimal | None, characters: int) -> Decimal | None:
    """What `characters` would have cost at `rate` per 1000, at ledger precision."""
    return None if rate is None else (Decimal(characters) * Decimal(rate) / 1000).quantize(_QUANTUM)


def _money(value: Any) -> Decimal:
    """A SUM() as Decimal: SQLite returns a float (or None for no rows), PostgreSQL a Decimal."""
    return _ZERO if value is None else Decimal(str(value)).quantize(_QUANTUM)


def _usd(amount: Decimal | None) -> str | None:
    return None if amount is None else str(amount.quantize(_QUANTUM))
