"""Initial schema: users, API keys, avatars, usage events, monthly quota counters, consent challenges.

Revision ID: 0001
Revises:
Create Date: 2025-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

_LOCAL_AVATARS = sa.text("owner_id IS NULL")


def _timestamp(name: str, *, nullable: bool = False) -> sa.Column:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "users",
        sa.Column("id", sa.String(32), nullable=False),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("tier", sa.String(32), nullable=False),
        sa.Column("is_admin", sa.Boolean(), nullable=False),
        _timestamp("created_at"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_users")),
    )
    op.create_table(
        "api_keys",
        sa.Column("id", sa.String(32), nullable=False),
        sa.Column("user_id", sa.String(32), nullable=False),
        sa.Column("key_hash", sa.String(64), nullable=False),
        sa.Column("prefix", sa.String(8), nullable=False),
        _timestamp("created_at"),
        _timestamp("revoked_at", nullable=True),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name=op.f("fk_api_keys_user_id_users"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_keys")),
        sa.UniqueConstraint("key_hash", name=op.f("uq_api_keys_key_hash")),
    )
    op.create_index(op.f("ix_api_keys_user_id"), "api_keys", ["user_id"])
    op.create_table(
        "avatars",
        sa.Column("id", sa.String(12), nullable=False),
        sa.Column("owner_id", sa.String(32), nullable=True),
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("engine", sa.String(32), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("progress", sa.Double(), nullable=False),
        sa.Column("stage", sa.String(64), nullable=False),
        _timestamp("created_at"),
        _timestamp("updated_at"),
        sa.Column("sample_seconds", sa.Double(), nullable=False),
        sa.Column("speech_seconds", sa.Double(), nullable=False),
        sa.Column("scores", sa.JSON(), nullable=False),
        sa.Column("advice", sa.JSON(), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("samples", sa.JSON(), nullable=False),
        sa.Column("consent", sa.JSON(), nullable=False),
        sa.CheckConstraint("status IN ('pending', 'ready', 'rejected', 'failed')", name=op.f("ck_avatars_status")),
        sa.CheckConstraint("progress >= 0 AND progress <= 1", name=op.f("ck_avatars_progress")),
        sa.ForeignKeyConstraint(["owner_id"], ["users.id"], name=op.f("fk_avatars_owner_id_users"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_avatars")),
        sa.UniqueConstraint("owner_id", "name", name=op.f("uq_avatars_owner_id_name")),
    )
    op.create_index(op.f("ix_avatars_owner_id"), "avatars", ["owner_id"])
    op.create_index(
        "uq_avatars_local_name",
        "avatars",
        ["name"],
        unique=True,
        sqlite_where=_LOCAL_AVATARS,
        postgresql_where=_LOCAL_AVATARS,
    )
    op.create_table(
        "usage_events",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False),
        sa.Column("user_id", sa.String(32), nullable=False),
        sa.Column("avatar_id", sa.String(12), nullable=True),
        sa.Column("engine", sa.String(32), nullable=False),
        sa.Column("characters", sa.Integer(), nullable=False),
        sa.Column("cost_usd", sa.Numeric(12, 6), nullable=False),
        sa.Column("cache_hit", sa.Boolean(), nullable=False),
        sa.Column("latency_ms", sa.Integer(), nullable=False),
        _timestamp("created_at"),
        sa.Column("period", sa.String(7), nullable=False),
        sa.Column("route_reason", sa.String(64), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_usage_events_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_usage_events")),
    )
    op.create_index("ix_usage_events_user_period", "usage_events", ["user_id", "period"])
    op.create_table(
        "quota_counters",
        sa.Column("user_id", sa.String(32), nullable=False),
        sa.Column("period", sa.String(7), nullable=False),
        sa.Column("messages", sa.Integer(), nullable=False),
        sa.Column("characters", sa.BigInteger(), nullable=False),
        sa.CheckConstraint("messages >= 0", name=op.f("ck_quota_counters_messages")),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_quota_counters_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("user_id", "period", name=op.f("pk_quota_counters")),
    )


    op.create_table(
        "consent_challenges",
        sa.Column("id", sa.String(32), nullable=False),
        sa.Column("user_id", sa.String(32), nullable=False),
        sa.Column("phrase", sa.Text(), nullable=False),
        sa.Column("code", sa.String(100), nullable=False),
        _timestamp("created_at"),
        _timestamp("used_at", nullable=True),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_consent_challenges_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_consent_challenges")),
    )
    op.create_table(
        "provider_voices",
        sa.Column("avatar_id", sa.String(12), nullable=False),
        sa.Column("engine", sa.String(32), nullable=False),
        sa.Column("voice_id", sa.String(128), nullable=False),
        _timestamp("created_at"),
        sa.ForeignKeyConstraint(
            ["avatar_id"], ["avatars.id"], name=op.f("fk_provider_voices_avatar_id_avatars"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("avatar_id", "engine", name=op.f("pk_provider_voices")),
    )
    op.create_table(
        "experiment_outcomes",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False),
        sa.Column("experiment", sa.String(64), nullable=False),
        sa.Column("arm", sa.String(64), nullable=False),
        sa.Column("user_id", sa.String(32), nullable=False),
        sa.Column("usage_event_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("engine", sa.String(32), nullable=False),
        sa.Column("latency_ms", sa.Integer(), nullable=False),
        sa.Column("cost_usd", sa.Numeric(12, 6), nullable=False),
        sa.Column("quality", sa.Double(), nullable=True),
        sa.Column("rating", sa.Integer(), nullable=True),
        _timestamp("created_at"),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_experiment_outcomes_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_experiment_outcomes")),
    )
    op.create_index("ix_experiment_outcomes_experiment_arm", "experiment_outcomes", ["experiment", "arm"])
    op.create_index(op.f("ix_experiment_outcomes_usage_event_id"), "experiment_outcomes", ["usage_event_id"])


def downgrade() -> None:
    op.drop_table("experiment_outcomes")
    op.drop_table("provider_voices")
    op.drop_table("consent_challenges")
    op.drop_table("quota_counters")
    op.drop_index("ix_usage_events_user_period", table_name="usage_events")
    op.drop_table("usage_events")
    op.drop_index("uq_avatars_local_name", table_name="avatars")
    op.drop_index(op.f("ix_avatars_owner_id"), table_name="avatars")
    op.drop_table("avatars")
    op.drop_index(op.f("ix_api_keys_user_id"), table_name="api_keys")
    op.drop_table("api_keys")
    op.drop_table("users")
