"""The audit trail: who enrolled or deleted an avatar, issued or revoked a key, created or changed a user.

Rows are written in the caller's transaction, so a change and its audit row commit (or roll back)
together. `detail` is for small facts (a name, a tier); secret-looking fields and binary data are
refused outright, because an audit log is read by more people than the data it describes.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from voice_avatar.db.models import AuditEvent

#: Field names that must never reach the log, whatever their value.
_SECRET_WORDS = ("key", "secret", "password", "token", "hash")
MAX_LIMIT = 1000


def record(
    session: Session, actor_id: str | None, action: str, target_type: str, target_id: str, **detail: Any
) -> AuditEvent:
    """Add one event (`actor_id` None: the local CLI operator); flushed, not committed."""
    _check_detail(detail)
    event = AuditEvent(
        actor_user_id=actor_id, action=action, target_type=target_type, target_id=str(target_id), detail=detail
    )
    session.add(event)
    session.flush()
    return event


def recent(
    session: Session,
    limit: int = 100,
    *,
    action: str | None = None,
    actor_id: str | None = None,
    target_id: str | None = None,
) -> list[AuditEvent]:
    """The newest events first, optionally only one action, actor or target."""
    query = select(AuditEvent).order_by(AuditEvent.created_at.desc(), AuditEvent.id.desc())
    if action is not None:
        query = query.where(AuditEvent.action == action)
    if actor_id is not None:
        query = query.where(AuditEvent.actor_user_id == actor_id)
    if target_id is not None:
        query = query.where(AuditEvent.target_id == target_id)
    return list(session.scalars(query.limit(max(1, min(limit, MAX_LIMIT)))))


def forget_names(session: Session, target_type: str, target_ids: list[str]) -> int:
    """Drop the `detail` (names and such) of the events about these targets, keeping what happened and when.

    Called when an avatar or a user is deleted: the trail keeps that it was enrolled, changed
    and deleted, by an opaque id, but no longer what the person called it or themselves.
    """
    if not target_ids:
        return 0
    statement = (
        update(AuditEvent)
        .where(AuditEvent.target_type == target_type, AuditEvent.target_id.in_(target_ids))
        .values(detail={})
        .execution_options(synchronize_session=False)
    )
    return int(session.execute(statement).rowcount or 0)  # type: ignore[attr-defined]


def replace_user(session: Session, user_id: str, stand_in_id: str) -> None:
    """Events by or about a deleted user name its anonymous stand-in instead (see `accounts.delete_user`)."""
    session.execute(
        update(AuditEvent)
        .where(AuditEvent.actor_user_id == user_id)
        .values(actor_user_id=stand_in_id)
        .execution_options(synchronize_session=False)
    )
    session.execute(
        update(AuditEvent)
        .where(AuditEvent.target_type == "user", AuditEvent.target_id == user_id)
        .values(target_id=stand_in_id, detail={})
        .execution_options(synchronize_session=False)
    )


def event_json(event: AuditEvent) -> dict[str, Any]:
    return {
        "id": event.id,
        "created_at": event.created_at.isoformat(timespec="seconds"),
        "actor_user_id": event.actor_user_id,
        "action": event.action,
        "target_type": event.target_type,
        "target_id": event.target_id,
        "detail": event.detail,
    }


def _check_detail(detail: dict[str, Any]) -> None:
    for name, value in detail.items():
        if any(word in name.lower() for word in _SECRET_WORDS):
            raise ValueError(f"audit detail {name!r} looks like a secret; it must not be logged")
        if isinstance(value, bytes | bytearray | memoryview):
            raise ValueError(f"audit detail {name!r} is binary data; log what it is, not its content")
