"""Users and their API keys.

A key is shown once, at creation; only its sha256 is stored. Looking a key up by its hash means
no secret is ever compared byte by byte, so response times reveal nothing about stored keys.
Functions here flush but never commit: the caller owns the transaction.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from decimal import Decimal

from sqlalchemy import and_, bindparam, select
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session

from voice_avatar.billing.tiers import Plans, plan_named
from voice_avatar.db.models import ApiKey, Avatar, QuotaCounter, User
from voice_avatar.db.types import MONEY_PLACES, utcnow
from voice_avatar.errors import InputError, NotFoundError
from voice_avatar.store.avatars import AvatarRef

KEY_PREFIX = "va_"
_DISPLAY_PREFIX_LENGTH = 8
_MAX_NAME_LENGTH = 100


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def create_user(
    session: Session, name: str, tier: str, is_admin: bool = False, *, plans: Plans | None = None
) -> tuple[User, str]:
    """A new user and their first API key (the only time the plain key exists)."""
    plan_named(tier, plans)
    user = User(name=_clean_name(name), tier=tier, is_admin=is_admin)
    session.add(user)
    session.flush()
    _, key = issue_key(session, user)
    return user, key


def issue_key(session: Session, user: User) -> tuple[ApiKey, str]:
    """Another key for `user` (rotation: issue a new one, then revoke the old)."""
    key = KEY_PREFIX + secrets.token_urlsafe(32)
    record = ApiKey(user_id=user.id, key_hash=hash_key(key), prefix=key[:_DISPLAY_PREFIX_LENGTH])
    session.add(record)
    session.flush()
    return record, key


def revoke_key(session: Session, key_id: str) -> ApiKey:
    record = session.get(ApiKey, key_id)
    if record is None:
        raise NotFoundError(f"no API key with id {key_id!r}")
    if record.revoked_at is None:
        record.revoked_at = utcnow()
        session.flush()
    return record


def list_keys(session: Session, user: User) -> list[ApiKey]:
    return list(session.scalars(select(ApiKey).where(ApiKey.user_id == user.id).order_by(ApiKey.created_at)))


def authenticate(session: Session, key: str) -> User | None:
    """The user owning an unrevoked `key`, else None (unknown, malformed and revoked keys alike)."""
    if not key.startswith(KEY_PREFIX):
        return None
    return session.scalar(
        select(User)
        .join(ApiKey, ApiKey.user_id == User.id)
        .where(ApiKey.key_hash == hash_key(key), ApiKey.revoked_at.is_(None))
    )


#: Built once: composing a statement costs more CPU than SQLite takes to run it. Only the
#: columns a cache hit needs: each column costs the driver work on every row.
_CALLER = (
    select(
        User.id.label("user_id"),
        User.name.label("user_name"),
        User.tier.label("user_tier"),
        User.is_admin.label("user_is_admin"),
        QuotaCounter.cost_micro_usd.label("month_cost_micro_usd"),
        Avatar.id.label("avatar_id"),
        Avatar.name.label("avatar_name"),
        Avatar.status.label("avatar_status"),
    )
    .join_from(User, ApiKey, ApiKey.user_id == User.id)
    .outerjoin(Avatar, and_(Avatar.owner_id == User.id, Avatar.id == bindparam("avatar")))
    .outerjoin(QuotaCounter, and_(QuotaCounter.user_id == User.id, QuotaCounter.period == bindparam("month")))
    .where(ApiKey.key_hash == bindparam("key_hash"), ApiKey.revoked_at.is_(None))
)


@dataclass(frozen=True)
class Caller:
    """Who sends a message, to which of their avatars, and what their month has cost so far."""

    user: User  # detached: id, name, tier and is_admin
    avatar: AvatarRef | None  # None if the id is none of theirs
    month_cost_usd: Decimal  # read without a lock: for the cost ceiling's routing, not the quota


def find_caller(connection: Connection, key: str, avatar_id: str, period: str) -> Caller | None:
    """`authenticate`, the user's avatar `avatar_id` and their month's cost in one query.

    The speech routes' hot path, in Core. Someone else's avatar is None, exactly like a missing one.
    """
    if not key.startswith(KEY_PREFIX):
        return None
    row = connection.execute(_CALLER, {"key_hash": hash_key(key), "avatar": avatar_id, "month": period}).first()
    if row is None:
        return None
    user = User(id=row.user_id, name=row.user_name, tier=row.user_tier, is_admin=row.user_is_admin)
    avatar = AvatarRef(row.avatar_id, row.avatar_name, row.avatar_status) if row.avatar_id is not None else None
    return Caller(user, avatar, Decimal(row.month_cost_micro_usd or 0).scaleb(-MONEY_PLACES))


def get_user(session: Session, user_id: str) -> User:
    user = session.get(User, user_id)
    if user is None:
        raise NotFoundError(f"no user with id {user_id!r}")
    return user


def list_users(session: Session) -> list[User]:
    return list(session.scalars(select(User).order_by(User.created_at, User.id)))


def set_tier(session: Session, user_id: str, tier: str, *, plans: Plans | None = None) -> User:
    """Move a user to another plan; the new limits apply to the next reservation."""
    plan_named(tier, plans)
    user = get_user(session, user_id)
    user.tier = tier
    session.flush()
    return user


def _clean_name(name: str) -> str:
    cleaned = name.strip()
    if not cleaned or len(cleaned) > _MAX_NAME_LENGTH or not cleaned.isprintable():
        raise InputError(f"invalid user name {name!r}: use 1-{_MAX_NAME_LENGTH} printable characters")
    return cleaned


#: The name and tier of the stand-in user a deleted user's money records move to (see `delete_user`).
DELETED_USER_NAME = "deleted user"
DELETED_TIER = "deleted"


def delete_user(sessions, user_id: str, *, blobs, cache, cloud, actor_id: str | None = None) -> dict:
    """Delete a user and everything of theirs; returns what was removed (JSON-ready).

    Unlike the functions above this one commits, in steps, because it spans the database, the
    blob store, the audio cache and the providers (`sessions` is a session factory):

    1. their API keys go first, so no new request of theirs is served meanwhile;
    2. each avatar is deleted as `voice_avatar.deletion.delete_avatar` does (samples, profile,
       cached audio, provider clones; a clone a provider could not delete is reported, not fatal);
    3. their consent challenges and quota counters are deleted;
    4. the usage ledger and experiment outcomes are money and analytics records, so they are
       kept, anonymised: moved to a new stand-in user (a fresh random id, name "deleted user",
       tier "deleted", not an admin, no keys). Costs thus stay in reports while nothing in the
       database leads back to the person or their old user id; the "deleted" tier has no plan,
       so reports count no revenue for it. The audit trail names the stand-in too, loses the
       names it held of the user and their avatars, and records the deletion (by `actor_id`,
       None for the local operator);
    5. the user row.

    An unknown `user_id` raises `NotFoundError`. `blobs`, `cache` and `cloud` are the blob store,
    the audio cache and the configured cloud engines by name.
    """
    from sqlalchemy import delete, func, update

    from voice_avatar.db.models import ConsentChallenge, ExperimentOutcome, QuotaCounter, UsageEvent, new_id
    from voice_avatar import audit
    from voice_avatar.deletion import delete_avatar
    from voice_avatar.store import AvatarStore

    with sessions.begin() as session:
        get_user(session, user_id)
        keys = session.execute(delete(ApiKey).where(ApiKey.user_id == user_id)).rowcount or 0
    store = AvatarStore(sessions, blobs, user_id)
    avatars = []
    for _ in range(3):  # again, for an avatar whose upload was under way at the first pass
        remaining = store.list()
        if not remaining:
            break
        avatars += [delete_avatar(store, record.id, cache, cloud) for record in remaining]
    with sessions.begin() as session:
        user = get_user(session, user_id)
        challenges = session.execute(delete(ConsentChallenge).where(ConsentChallenge.user_id == user_id)).rowcount
        quotas = session.execute(delete(QuotaCounter).where(QuotaCounter.user_id == user_id)).rowcount
        usage = session.scalar(select(func.count()).select_from(UsageEvent).where(UsageEvent.user_id == user_id))
        outcomes = session.scalar(
            select(func.count()).select_from(ExperimentOutcome).where(ExperimentOutcome.user_id == user_id)
        )
        stand_in = User(id=new_id(), name=DELETED_USER_NAME, tier=DELETED_TIER, is_admin=False)
        session.add(stand_in)
        session.flush()
        session.execute(update(UsageEvent).where(UsageEvent.user_id == user_id).values(user_id=stand_in.id))
        session.execute(
            update(ExperimentOutcome).where(ExperimentOutcome.user_id == user_id).values(user_id=stand_in.id)
        )
        audit.replace_user(session, user_id, stand_in.id)
        audit.forget_names(session, "avatar", [a.id for a in avatars])
        for avatar in avatars:
            audit.record(session, actor_id, "avatar.delete", "avatar", avatar.id)
        audit.record(session, actor_id, "user.delete", "user", stand_in.id, avatars=len(avatars), revoked_credentials=keys)
        session.delete(user)
    removed_avatars = [a.to_json() for a in avatars]
    return {
        "user_id": user_id,
        "deleted": True,
        "complete": all(a["complete"] for a in removed_avatars),
        "removed": {
            "avatars": removed_avatars,
            "api_keys": keys,
            "consent_challenges": challenges or 0,
            "quota_counters": quotas or 0,
        },
        "kept_anonymised": {"usage_events": usage or 0, "experiment_outcomes": outcomes or 0},
    }
