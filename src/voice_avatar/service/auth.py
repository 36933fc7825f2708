"""Who is calling: `Authorization: Bearer KEY` on every /v1 route, admins for the admin routes.

Every authenticated request also takes a token from its key's rate-limit bucket (see ratelimit.py);
keys are checked first, so unknown keys neither get a bucket nor learn anything from a 429.
"""

from __future__ import annotations

import threading
from dataclasses import replace

from fastapi import Depends, Request

from voice_avatar.accounts import Caller, authenticate, find_caller, hash_key
from voice_avatar.billing.period import period_of
from voice_avatar.db import User
from voice_avatar.db.types import utcnow
from voice_avatar.service.errors import ApiError
from voice_avatar.service.ratelimit import RateLimiter, make_rate_limiter
from voice_avatar.store import open_store

_limiter_lock = threading.Lock()


async def bearer_key(request: Request) -> str:
    """The key of `Authorization: Bearer KEY`, or 401. No database: it runs on the event loop."""
    header = request.headers.get("authorization", "")
    scheme, _, key = header.partition(" ")
    if scheme.lower() != "bearer" or not key.strip():
        raise ApiError(
            401,
            "unauthorized",
            "send your API key as 'Authorization: Bearer KEY'",
            headers={"WWW-Authenticate": "Bearer"},
        )
    return key.strip()


def current_user(request: Request, key: str = Depends(bearer_key)) -> User:
    with request.app.state.sessions() as session:
        user = authenticate(session, key)
    return _admitted(request, user, key)


def speaker(request: Request, key: str, avatar_ref: str) -> Caller:
    """`current_user`, their avatar (by id, else by name) and month's cost, for the speech routes.

    Called inside the route's own thread, with all three found in one query: a cache hit then
    takes one thread hand-off and one read instead of two hand-offs and three reads.
    """
    state = request.app.state
    with state.autocommit.connect() as connection:
        caller = find_caller(connection, key, avatar_ref, period_of(utcnow()))
    user = _admitted(request, caller.user if caller else None, key)
    if caller.avatar is None:  # a name, or not theirs: the store says which (a 404 naming nothing of others)
        caller = replace(caller, avatar=open_store(state.settings, user.id).get(avatar_ref))
    return caller


def _admitted(request: Request, user: User | None, key: str) -> User:
    """`user`, unless the key is unknown or revoked (401) or over its rate limit (429)."""
    if user is None:
        raise ApiError(
            401,
            "unauthorized",
            "this API key is not valid (unknown or revoked)",
            headers={"WWW-Authenticate": "Bearer"},
        )
    decision = rate_limiter(request.app).take(hash_key(key)[:32])
    if not decision.allowed:
        raise ApiError(
            429,
            "rate_limited",
            f"too many requests with this API key: retry in {decision.retry_after} s",
            headers={"Retry-After": str(decision.retry_after)},
        )
    return user


def rate_limiter(app) -> RateLimiter:
    """The app's limiter, made on first use from its settings (one per process, shared by its threads)."""
    limiter = getattr(app.state, "rate_limiter", None)
    if limiter is None:
        with _limiter_lock:  # two first requests at once must not make two buckets for one key
            limiter = getattr(app.state, "rate_limiter", None)
            if limiter is None:
                limiter = app.state.rate_limiter = make_rate_limiter(app.state.settings)
    return limiter


def admin_user(user: User = Depends(current_user)) -> User:
    if not user.is_admin:
        raise ApiError(403, "forbidden", "this route is for administrators")
    return user
