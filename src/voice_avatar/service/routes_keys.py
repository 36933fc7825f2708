"""API keys and the audit trail over HTTP.

Users rotate their own keys (issue a new one, then revoke the old) without an administrator; a
key that leaked can be revoked at once. Another user's key id answers 404, exactly like an
unknown one, so ids cannot be probed. Administrators read the audit trail.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse
from sqlalchemy import select

from voice_avatar import accounts, audit
from voice_avatar.db import ApiKey, User
from voice_avatar.errors import ConflictError, NotFoundError
from voice_avatar.service.auth import admin_user, current_user

router = APIRouter(prefix="/v1")
CurrentUser = Annotated[User, Depends(current_user)]
Admin = Annotated[User, Depends(admin_user)]


def key_json(key: ApiKey) -> dict:
    """What identifies a key to its owner; the secret itself is never stored, so never shown again."""
    return {
        "id": key.id,
        "prefix": key.prefix,
        "created_at": key.created_at.isoformat(timespec="seconds"),
        "revoked": key.revoked_at is not None,
        "revoked_at": key.revoked_at.isoformat(timespec="seconds") if key.revoked_at else None,
    }


@router.get("/keys")
def list_keys(request: Request, user: CurrentUser) -> dict:
    with request.app.state.sessions() as session:
        return {"keys": [key_json(k) for k in accounts.list_keys(session, user)]}


@router.post("/keys", status_code=201)
def issue_key(request: Request, user: CurrentUser) -> JSONResponse:
    """A new key for the caller; `api_key` is in this response only."""
    with request.app.state.sessions.begin() as session:
        record, key = accounts.issue_key(session, user)
        audit.record(session, user.id, "key.issue", "api_key", record.id)
        return JSONResponse({**key_json(record), "api_key": key}, status_code=201)


@router.delete("/keys/{key_id}")
def revoke_key(key_id: str, request: Request, user: CurrentUser) -> dict:
    """Revoke one of the caller's keys (again: no change). The last active key stays, so no one locks themselves out."""
    with request.app.state.sessions.begin() as session:
        mine = session.scalar(select(ApiKey).where(ApiKey.id == key_id, ApiKey.user_id == user.id))
        if mine is None:
            raise NotFoundError(f"you have no API key with id {key_id!r} (see GET /v1/keys)")
        if mine.revoked_at is None:
            active = [k for k in accounts.list_keys(session, user) if k.revoked_at is None]
            if len(active) == 1:
                raise ConflictError("this is your last active API key: issue a new one first (POST /v1/keys)")
            accounts.revoke_key(session, key_id)
            audit.record(session, user.id, "key.revoke", "api_key", key_id)
        return key_json(mine)


@router.get("/admin/audit")
def audit_trail(
    request: Request,
    _: Admin,
    limit: int = Query(100, ge=1, le=audit.MAX_LIMIT),
    action: str | None = Query(None, max_length=64),
    actor: str | None = Query(None, max_length=32, description="only this user's actions"),
) -> dict:
    """The newest audit events first."""
    with request.app.state.sessions() as session:
        events = audit.recent(session, limit, action=action, actor_id=actor)
        return {"events": [audit.event_json(e) for e in events]}
