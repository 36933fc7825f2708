"""Billing months ('YYYY-MM', UTC): quotas reset and usage is summed per period."""

from __future__ import annotations

import re
from datetime import UTC, datetime

_PERIOD_RE = re.compile(r"^(\d{4})-(0[1-9]|1[0-2])$")


def period_of(moment: datetime) -> str:
    """The UTC month of an aware datetime; naive datetimes are refused rather than guessed."""
    if moment.tzinfo is None:
        raise ValueError(f"naive datetime {moment!r}: pass an aware datetime")
    return moment.astimezone(UTC).strftime("%Y-%m")


def period_start(period: str) -> datetime:
    match = _PERIOD_RE.match(period)
    if not match:
        raise ValueError(f"invalid billing period {period!r}: expected 'YYYY-MM'")
    return datetime(int(match[1]), int(match[2]), 1, tzinfo=UTC)


def next_period_start(period: str) -> datetime:
    """The first instant of the following month: when a monthly quota resets."""
    start = period_start(period)
    return start.replace(year=start.year + 1, month=1) if start.month == 12 else start.replace(month=start.month + 1)
