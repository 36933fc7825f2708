"""Monthly message quotas, reserved before synthesis and given back if it fails.

The check and the increment are one conditional UPDATE, so concurrent requests can never push a
user past the plan's limit, whatever the database (SQLite serialises writers; PostgreSQL re-checks
the WHERE clause on the row version left by the transaction it waited for).

A cache hit is still a message: it is reserved and counted like any other, but it costs nothing
(see `ledger.cost_usd`). The plan sells messages, not engine time.

The same UPDATE returns the month's engine cost so far (the counter's running total, kept by
`ledger.record_usage`), which routing needs for the plan's cost ceiling: a message costs one
statement here, whatever the size of the ledger.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

from sqlalchemy import bindparam, select, update
from sqlalchemy.orm import Session

from voice_avatar.billing.period import next_period_start, period_of
from voice_avatar.billing.tiers import Plans, plan_for
from voice_avatar.settings import TierPlan
from voice_avatar.db.models import QuotaCounter, User
from voice_avatar.db.session import SessionFactory
from voice_avatar.db.types import MONEY_PLACES, utcnow
from voice_avatar.db.upsert import insert_if_absent
from voice_avatar.errors import QuotaExceeded

#: Core statements on the table: the hot path needs no ORM bookkeeping for a counter bump.
_COUNTERS = QuotaCounter.__table__
#: Statements are built once: composing one costs more CPU than SQLite takes to run it.
_RESERVE = (
    update(_COUNTERS)
    .where(_COUNTERS.c.user_id == bindparam("owner"), _COUNTERS.c.period == bindparam("month"))
    .values(messages=_COUNTERS.c.messages + 1, characters=_COUNTERS.c.characters + bindparam("added_characters"))
    .returning(_COUNTERS.c.cost_micro_usd)
)
#: The limit is checked in the WHERE clause, so concurrent reservations cannot overshoot it.
_RESERVE_WITHIN_LIMIT = _RESERVE.where(_COUNTERS.c.messages < bindparam("limit"))
#: The counter keeps cost in millionths of a dollar, the ledger's own precision (MONEY_PLACES).
MICRO_PLACES = MONEY_PLACES


@dataclass
class Reservation:
    """One reserved message; pass it to `release` if the message was not delivered."""

    user_id: str
    period: str
    characters: int
    session_factory: SessionFactory = field(repr=False)
    month_cost_usd: Decimal = Decimal(0)  # engine cost of the month before this message
    released: bool = False


@dataclass(frozen=True)
class QuotaStatus:
    period: str
    messages_used: int
    messages_limit: int | None
    messages_remaining: int | None
    chars_per_message: int
    resets_at: str


def reserve_message(
    session_factory: SessionFactory,
    user: User,
    characters: int,
    now: datetime | None = None,
    *,
    plans: Plans | None = None,
) -> Reservation:
    """Count one message of `characters` against the user's month, or raise `QuotaExceeded`.

    Runs in its own short transaction (hence the factory, not a session) so the counter row is
    locked only for the UPDATE, never for the length of a synthesis.
    """
    with session_factory.begin() as session:
        return reserve_in(session, session_factory, user, characters, now, plans=plans)


def reserve_in(
    session: Session,
    session_factory: SessionFactory,
    user: User,
    characters: int,
    now: datetime | None = None,
    *,
    plans: Plans | None = None,
) -> Reservation:
    """`reserve_message` inside the caller's transaction, which must end quickly (it locks the counter).

    For a cache hit the speech route bills the message in this same transaction: one commit a hit.
    `session_factory` is what `release` will use if the message is given back later.
    """
    plan = check_length(user, characters, plans)
    period = period_of(now or utcnow())
    params = {"owner": user.id, "month": period, "added_characters": characters, "limit": plan.messages_per_month}
    statement = reserve_statement(plan.messages_per_month is not None)
    cost = session.execute(statement, params).scalar()
    if cost is None:  # over the limit, or the month's first message: its row is made once
        insert_if_absent(session, QuotaCounter, _empty_counter(user.id, period), ["user_id", "period"])
        cost = session.execute(statement, params).scalar()
    if cost is None:
        assert plan.messages_per_month is not None
        resets_at = next_period_start(period).isoformat()
        raise QuotaExceeded(
            f"the {user.tier} plan allows {plan.messages_per_month} messages per month; "
            f"the quota resets at {resets_at}",
            limit="messages_per_month",
            limit_value=plan.messages_per_month,
            resets_at=resets_at,
        )
    return Reservation(
        user_id=user.id,
        period=period,
        characters=characters,
        session_factory=session_factory,
        month_cost_usd=Decimal(cost).scaleb(-MICRO_PLACES),
    )


def reserve_statement(within_limit: bool):
    """The UPDATE that reserves a message: parameters `owner`, `month`, `added_characters`, `limit`.

    It returns the month's cost so far, and no row when it reserved nothing.
    """
    return _RESERVE_WITHIN_LIMIT if within_limit else _RESERVE


def check_length(user: User, characters: int, plans: Plans | None = None) -> TierPlan:
    """The user's plan, or `QuotaExceeded` if a message this long is over its per-message limit.

    The speech routes call it before normalising the text too, so a megabyte of text is refused
    at once instead of being normalised first.
    """
    plan = plan_for(user, plans)
    if characters > plan.chars_per_message:
        raise QuotaExceeded(
            f"the {user.tier} plan allows {plan.chars_per_message} characters per message; this one has {characters}",
            limit="chars_per_message",
            limit_value=plan.chars_per_message,
        )
    return plan


def add_cost(session: Session, user_id: str, period: str, cost_usd: Decimal) -> None:
    """Add a delivered message's engine cost to the month's running total (in the caller's transaction)."""
    micro = int((cost_usd * 10**MICRO_PLACES).to_integral_value())
    if not micro:
        return
    params = {"owner": user_id, "month": period, "added_micro_usd": micro}
    if session.execute(_ADD_COST, params).rowcount == 0:  # type: ignore[attr-defined]
        insert_if_absent(session, QuotaCounter, _empty_counter(user_id, period), ["user_id", "period"])
        session.execute(_ADD_COST, params)


_ADD_COST = (
    update(_COUNTERS)
    .where(_COUNTERS.c.user_id == bindparam("owner"), _COUNTERS.c.period == bindparam("month"))
    .values(cost_micro_usd=_COUNTERS.c.cost_micro_usd + bindparam("added_micro_usd"))
)


def _empty_counter(user_id: str, period: str) -> dict:
    return {"user_id": user_id, "period": period, "messages": 0, "characters": 0, "cost_micro_usd": 0}


def release(reservation: Reservation) -> None:
    """Give a reserved message back (synthesis failed); releasing twice is harmless."""
    if reservation.released:
        return
    with reservation.session_factory.begin() as session:
        session.execute(
            update(QuotaCounter)
            .where(
                QuotaCounter.user_id == reservation.user_id,
                QuotaCounter.period == reservation.period,
                QuotaCounter.messages > 0,
            )
            .values(messages=QuotaCounter.messages - 1, characters=QuotaCounter.characters - reservation.characters)
            .execution_options(synchronize_session=False)
        )
    reservation.released = True


def quota_status(
    session: Session, user: User, now: datetime | None = None, *, plans: Plans | None = None
) -> QuotaStatus:
    """What the user has left this month, for display; reserving still goes through `reserve_message`."""
    plan = plan_for(user, plans)
    period = period_of(now or utcnow())
    used = session.scalar(
        select(QuotaCounter.messages).where(QuotaCounter.user_id == user.id, QuotaCounter.period == period)
    )
    used = used or 0
    limit = plan.messages_per_month
    return QuotaStatus(
        period=period,
        messages_used=used,
        messages_limit=limit,
        messages_remaining=None if limit is None else max(limit - used, 0),
        chars_per_message=plan.chars_per_message,
        resets_at=next_period_start(period).isoformat(),
    )
