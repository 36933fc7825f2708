"""Plans, monthly quotas and the usage ledger.

A message is reserved with `reserve_message` before synthesis (given back with `release` if it
fails) and recorded with `record_usage` once delivered; `month_usage` sums the ledger.
"""

from voice_avatar.billing.ledger import EngineUsage, MonthUsage, cost_usd, month_usage, record_usage
from voice_avatar.billing.period import next_period_start, period_of
from voice_avatar.billing.quota import QuotaStatus, Reservation, quota_status, release, reserve_message
from voice_avatar.billing.tiers import plan_for, plan_named

__all__ = [
    "EngineUsage",
    "MonthUsage",
    "QuotaStatus",
    "Reservation",
    "cost_usd",
    "month_usage",
    "next_period_start",
    "period_of",
    "plan_for",
    "plan_named",
    "quota_status",
    "record_usage",
    "release",
    "reserve_message",
]
