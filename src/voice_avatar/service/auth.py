"""Who is calling: `Authorization: Bearer KEY` on every /v1 route, admins for the admin routes.

Every authenticated request also takes a token from its key's rate-limit bucket (see ratelimit.py);
keys are checked first, so unknown keys neither get a bucket nor learn anything from a 429.
"""

from __future__ import annotations

import threading

from fastapi import Depends, Request

from voice_avatar.accounts import authenticate, hash_key
from voice_avatar.db import User
from voice_avatar.service.errors import ApiError
from voice_avatar.service.ratelimit import RateLimiter, make_rate_limiter

_limiter_lock = threading.Lock()


def current_user(request: Request) -> User:
    header = request.headers.get("authorization", "")
    scheme, _, key = header.partition(" ")
    if scheme.lower() != "bearer" or not key.strip():
        raise ApiError(
            401,
            "unauthorized",
            "send your API key as 'Authorization: Bearer KEY'",
            headers={"WWW-Authenticate": "Bearer"},
        )
    with request.app.state.sessions() as session:
        user = authenticate(session, key.strip())
    if user is None:
        raise ApiError(
            401,
            "unauthorized",
            "this API key is not valid (unknown or revoked)",
            headers={"WWW-Authenticate": "Bearer"},
        )
    decision = rate_limiter(request.app).take(hash_key(key.strip())[:32])
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
