"""Operations and accounts: health, metrics, usage, admin users and the daily report."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Literal

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, Field
from sqlalchemy import text

from voice_avatar import accounts, audit
from voice_avatar.billing.ledger import month_usage
from voice_avatar.billing.period import period_of
from voice_avatar.billing.quota import quota_status
from voice_avatar.db import User
from voice_avatar.service.auth import admin_user, current_user

router = APIRouter()


@router.get("/healthz")
def healthz() -> dict:
    """The process answers (liveness)."""
    return {"status": "ok"}


@router.get("/readyz")
def readyz(request: Request) -> JSONResponse:
    """The database (and Redis, when configured) answer: the process can serve (readiness)."""
    state = request.app.state
    checks = {}
    try:
        with state.sessions() as session:
            session.execute(text("SELECT 1"))
        checks["database"] = "ok"
    except Exception as exc:  # report, do not crash: a probe must always get an answer
        checks["database"] = f"error: {type(exc).__name__}"
    if state.settings.redis_url:
        try:
            state.queue.connection.ping()
            checks["redis"] = "ok"
        except Exception as exc:
            checks["redis"] = f"error: {type(exc).__name__}"
    ready = all(v == "ok" for v in checks.values())
    return JSONResponse(
        {"status": "ready" if ready else "not ready", "checks": checks}, status_code=200 if ready else 503
    )


@router.get("/metrics")
def metrics(request: Request) -> Response:
    state = request.app.state
    state.metrics.queue_depth(state.queue.depth())
    body, content_type = state.metrics.render(request.headers.get("accept"))
    return Response(body, media_type=content_type)


@router.get("/v1/usage")
def usage(request: Request, user: User = Depends(current_user)) -> dict:
    """This month's messages, characters and cost by engine, and what the plan has left."""
    state = request.app.state
    with state.sessions() as session:
        totals = month_usage(session, user, period_of(datetime.now(UTC)))
        quota = quota_status(session, user, plans=state.settings.tiers)
    return {"tier": user.tier, **_jsonable(totals), "quota": _jsonable(quota.__dict__)}


class NewUser(BaseModel):
    name: str = Field(min_length=1, max_length=100)
    tier: Literal["free", "starter", "premium"] | str = "free"
    admin: bool = False


class TierChange(BaseModel):
    tier: str


@router.post("/v1/admin/users", status_code=201)
def create_user(body: NewUser, request: Request, admin: User = Depends(admin_user)) -> dict:
    state = request.app.state
    with state.sessions.begin() as session:
        user, key = accounts.create_user(session, body.name, body.tier, body.admin, plans=state.settings.tiers)
        detail = {"name": user.name, "tier": user.tier, "admin": user.is_admin}
        audit.record(session, admin.id, "user.create", "user", user.id, **detail)
        return {"user_id": user.id, "name": user.name, "tier": user.tier, "admin": user.is_admin, "api_key": key}


@router.patch("/v1/admin/users/{user_id}")
def change_tier(user_id: str, body: TierChange, request: Request, admin: User = Depends(admin_user)) -> dict:
    state = request.app.state
    with state.sessions.begin() as session:
        before = getattr(session.get(User, user_id), "tier", None)  # unknown ids: set_tier says so
        user = accounts.set_tier(session, user_id, body.tier, plans=state.settings.tiers)
        audit.record(session, admin.id, "user.set_tier", "user", user.id, tier=user.tier, previous_tier=before)
        return {"user_id": user.id, "name": user.name, "tier": user.tier, "admin": user.is_admin}


@router.get("/v1/admin/users")
def list_users(request: Request, _: User = Depends(admin_user)) -> dict:
    with request.app.state.sessions() as session:
        return {
            "users": [
                {"user_id": u.id, "name": u.name, "tier": u.tier, "admin": u.is_admin}
                for u in accounts.list_users(session)
            ]
        }


@router.get("/v1/reports/daily")
def daily(request: Request, day: date | None = None, _: User = Depends(admin_user)) -> dict:
    from voice_avatar.reports import daily_report

    with request.app.state.sessions() as session:
        return daily_report(session, request.app.state.settings, day or datetime.now(UTC).date())


def _jsonable(value):
    from decimal import Decimal

    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, Decimal):
        return float(value)
    return value


@router.get("/v1/admin/providers")
def providers(request: Request, _: User = Depends(admin_user)) -> dict:
    """Each configured cloud engine's account standing, and whether its breaker lets messages through."""
    from voice_avatar.engines.cloud.base import ProviderError

    state, result = request.app.state, {}
    for name, engine in state.router.cloud.items():
        entry = {"breaker": state.router.breakers[name].state.value}
        try:
            usage = engine.usage()
            entry.update(used=usage.used, limit=usage.limit, unit=usage.unit)
        except ProviderError as error:
            entry["error"] = str(error)
        result[name] = entry
    return {"providers": result}


@router.delete("/v1/admin/users/{user_id}")
def delete_user(user_id: str, request: Request, admin: User = Depends(admin_user)) -> dict:
    """The user, their keys, avatars (samples, profiles, cached audio, provider clones), consent
    challenges and quota counters; their usage ledger is kept, anonymised (see `accounts.delete_user`)."""
    from voice_avatar.store import open_store

    state = request.app.state
    blobs = open_store(state.settings).blobs
    return accounts.delete_user(
        state.sessions, user_id, blobs=blobs, cache=state.voices.cache, cloud=state.router.cloud, actor_id=admin.id
    )
