"""A cache hit reserved and billed in one statement, on PostgreSQL.

A hit runs no engine, so nothing happens between reserving the message and billing it. One
statement with a data-modifying CTE does both: UPDATE the user's quota row (within the plan's
limit) RETURNING, then INSERT the usage row from it. In autocommit that is one round trip instead
of four (BEGIN, UPDATE, INSERT, COMMIT), and the user's quota row, which every message of theirs
updates, is locked only while that statement runs.

It reserves nothing when the month has no quota row yet or the plan's limit is reached; the
caller then takes the two-statement transaction (`quota.reserve_in`), which makes the row or
raises `QuotaExceeded`. SQLite has no data-modifying CTEs: it always takes that path.
"""

from __future__ import annotations

from sqlalchemy import Engine, bindparam, insert, select

from voice_avatar.billing.period import period_of
from voice_avatar.billing.quota import reserve_statement
from voice_avatar.billing.tiers import Plans, plan_for
from voice_avatar.db.models import UsageEvent, User

_EVENTS = UsageEvent.__table__
_COLUMNS = [column.name for column in _EVENTS.c if column.name != "id"]


def _reserve_and_record(within_limit: bool):
    reserved = reserve_statement(within_limit).cte("reserved")
    values = select(*(bindparam(f"event_{name}", type_=_EVENTS.c[name].type) for name in _COLUMNS))
    return insert(_EVENTS).from_select(_COLUMNS, values.select_from(reserved)).returning(_EVENTS.c.id)


_STATEMENTS = {within_limit: _reserve_and_record(within_limit) for within_limit in (False, True)}


def record_hit_at_once(autocommit: Engine, user: User, values: dict, *, plans: Plans | None = None) -> UsageEvent | None:
    """The hit's usage row, reserved and inserted by one statement; None if that reserved nothing.

    `values` come from `ledger.usage_values` (a hit costs nothing, so the month's cost total is
    unchanged). `autocommit` is an engine whose statements commit on their own.
    """
    if autocommit.dialect.name != "postgresql":
        return None
    plan = plan_for(user, plans)
    params = {f"event_{name}": values[name] for name in _COLUMNS}
    params.update(
        owner=user.id,
        month=period_of(values["created_at"]),
        added_characters=values["characters"],
        limit=plan.messages_per_month,
    )
    statement = _STATEMENTS[plan.messages_per_month is not None]
    with autocommit.connect() as connection:
        event_id = connection.execute(statement, params).scalar()
    return UsageEvent(id=event_id, **values) if event_id is not None else None
