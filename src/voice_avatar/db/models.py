"""The service's tables. Schema changes go through a new Alembic revision in `migrations/versions`."""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    BigInteger,
    CheckConstraint,
    Double,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from voice_avatar.db.types import Money, UTCDateTime, utcnow

# Named constraints let later migrations drop or alter them (SQLite batch mode needs the names).
NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def new_id() -> str:
    return uuid.uuid4().hex


def new_avatar_id() -> str:
    return uuid.uuid4().hex[:12]


class AvatarStatus(StrEnum):
    PENDING = "pending"
    READY = "ready"
    REJECTED = "rejected"
    FAILED = "failed"


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map: ClassVar[dict[Any, Any]] = {
        datetime: UTCDateTime(),
        Decimal: Money(),
        dict[str, Any]: JSON,
        list[Any]: JSON,
    }


class User(Base):
    __tablename__ = "users"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    name: Mapped[str] = mapped_column(String(100))
    tier: Mapped[str] = mapped_column(String(32))
    is_admin: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class ApiKey(Base):
    """Only the key's sha256 is stored: a leaked database does not leak working keys."""

    __tablename__ = "api_keys"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    prefix: Mapped[str] = mapped_column(String(8))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(default=None)


class Avatar(Base):
    """An avatar's lifecycle record; `owner_id` NULL means the local CLI owner.

    SQL treats NULLs as distinct, so the (owner_id, name) constraint alone would allow duplicate
    local names; the partial unique index closes that gap on both SQLite and PostgreSQL.
    """

    __tablename__ = "avatars"
    __table_args__ = (
        UniqueConstraint("owner_id", "name"),
        Index(
            "uq_avatars_local_name",
            "name",
            unique=True,
            sqlite_where=text("owner_id IS NULL"),
            postgresql_where=text("owner_id IS NULL"),
        ),
        CheckConstraint("status IN ('pending', 'ready', 'rejected', 'failed')", name="status"),
        CheckConstraint("progress >= 0 AND progress <= 1", name="progress"),
    )

    id: Mapped[str] = mapped_column(String(12), primary_key=True, default=new_avatar_id)
    owner_id: Mapped[str | None] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(64))
    engine: Mapped[str] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(16), default=AvatarStatus.PENDING.value)
    progress: Mapped[float] = mapped_column(Double, default=0.0)
    stage: Mapped[str] = mapped_column(String(64), default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    sample_seconds: Mapped[float] = mapped_column(Double, default=0.0)
    speech_seconds: Mapped[float] = mapped_column(Double, default=0.0)
    scores: Mapped[dict[str, Any]] = mapped_column(default=dict)
    advice: Mapped[list[Any]] = mapped_column(default=list)
    error: Mapped[str | None] = mapped_column(Text, default=None)
    samples: Mapped[list[Any]] = mapped_column(default=list)
    consent: Mapped[dict[str, Any]] = mapped_column(default=dict)


class UsageEvent(Base):
    """One synthesised message, for billing and analytics.

    `avatar_id` has no foreign key on purpose: deleting an avatar must not rewrite billing history.
    """

    __tablename__ = "usage_events"
    __table_args__ = (
        Index("ix_usage_events_user_period", "user_id", "period"),
        Index("ix_usage_events_created_at", "created_at"),  # the daily report and cost alerts read a day
    )

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    avatar_id: Mapped[str | None] = mapped_column(String(12))
    engine: Mapped[str] = mapped_column(String(32))
    characters: Mapped[int]
    cost_usd: Mapped[Decimal]
    cache_hit: Mapped[bool]
    latency_ms: Mapped[int]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    period: Mapped[str] = mapped_column(String(7))
    route_reason: Mapped[str] = mapped_column(String(64), default="")


class QuotaCounter(Base):
    """Messages, characters and engine cost of a user in one month ('YYYY-MM'); see billing.quota.

    `cost_micro_usd` is a running total of the month's usage events (integer millionths of a
    dollar, exact on every database), kept so routing can read the month's cost in the same
    statement that reserves the message instead of summing the ledger on every request.
    """

    __tablename__ = "quota_counters"
    __table_args__ = (CheckConstraint("messages >= 0", name="messages"),)

    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    period: Mapped[str] = mapped_column(String(7), primary_key=True)
    messages: Mapped[int] = mapped_column(default=0)
    characters: Mapped[int] = mapped_column(BigInteger, default=0)
    cost_micro_usd: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")


class ConsentChallenge(Base):
    """A consent phrase issued to a user; `code` is its random part, `used_at` set once an enrollment takes it."""

    __tablename__ = "consent_challenges"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    phrase: Mapped[str] = mapped_column(Text)
    code: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    used_at: Mapped[datetime | None] = mapped_column(default=None)


class ProviderVoice(Base):
    """A cloud provider's clone of an avatar, made on first use; deleted with the avatar."""

    __tablename__ = "provider_voices"

    avatar_id: Mapped[str] = mapped_column(ForeignKey("avatars.id", ondelete="CASCADE"), primary_key=True)
    engine: Mapped[str] = mapped_column(String(32), primary_key=True)
    voice_id: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class ExperimentOutcome(Base):
    """One message served inside an A/B experiment, and what came of it (rating arrives later)."""

    __tablename__ = "experiment_outcomes"
    __table_args__ = (Index("ix_experiment_outcomes_experiment_arm", "experiment", "arm"),)

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True)
    experiment: Mapped[str] = mapped_column(String(64))
    arm: Mapped[str] = mapped_column(String(64))
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    usage_event_id: Mapped[int | None] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), index=True)
    engine: Mapped[str] = mapped_column(String(32))
    latency_ms: Mapped[int]
    cost_usd: Mapped[Decimal]
    quality: Mapped[float | None] = mapped_column(Double, default=None)
    rating: Mapped[int | None] = mapped_column(default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class AuditEvent(Base):
    """Who changed what, for accountability: avatars enrolled or deleted, keys issued or revoked, users changed.

    `actor_user_id` has no foreign key on purpose (NULL: the local CLI operator): the trail must
    outlive the users it names. `detail` holds small facts about the change, never secrets or audio.
    """

    __tablename__ = "audit_events"
    __table_args__ = (
        Index("ix_audit_events_created_at", "created_at"),
        Index("ix_audit_events_target", "target_type", "target_id"),
    )

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    actor_user_id: Mapped[str | None] = mapped_column(String(32), index=True)
    action: Mapped[str] = mapped_column(String(64))
    target_type: Mapped[str] = mapped_column(String(32))
    target_id: Mapped[str] = mapped_column(String(64))
    detail: Mapped[dict[str, Any]] = mapped_column(default=dict)
