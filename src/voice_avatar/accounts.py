"""Users and their API keys.

A key is shown once, at creation; only its sha256 is stored. Looking a key up by its hash means
no secret is ever compared byte by byte, so response times reveal nothing about stored keys.
Functions here flush but never commit: the caller owns the transaction.
"""

from __future__ import annotations

import hashlib
import secrets

from sqlalchemy import select
from sqlalchemy.orm import Session

from voice_avatar.billing.tiers import Plans, plan_named
from voice_avatar.db.models import ApiKey, User
from voice_avatar.db.types import utcnow
from voice_avatar.errors import InputError, NotFoundError

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
