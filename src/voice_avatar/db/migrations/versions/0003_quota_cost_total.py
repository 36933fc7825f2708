"""Running month cost on the quota counter; an index for reading one day of the ledger.

The speech route used to sum the user's month of usage events on every request (for the cost
ceiling) and every user's day (for cost alerts): both grew with the ledger. The counter now
carries the month's cost, filled here from the ledger so existing months stay exact.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("quota_counters") as batch:
        batch.add_column(sa.Column("cost_micro_usd", sa.BigInteger(), nullable=False, server_default="0"))
    op.execute(
        "UPDATE quota_counters SET cost_micro_usd = COALESCE(("
        " SELECT ROUND(SUM(usage_events.cost_usd) * 1000000) FROM usage_events"
        " WHERE usage_events.user_id = quota_counters.user_id AND usage_events.period = quota_counters.period"
        "), 0)"
    )
    op.create_index("ix_usage_events_created_at", "usage_events", ["created_at"])


def downgrade() -> None:
    op.drop_index("ix_usage_events_created_at", table_name="usage_events")
    with op.batch_alter_table("quota_counters") as batch:
        batch.drop_column("cost_micro_usd")
