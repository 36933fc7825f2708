"""Who is calling: `Authorization: Bearer KEY` on every /v1 route, admins for the admin routes."""

from __future__ import annotations

from fastapi import Depends, Request

from voice_avatar.accounts import authenticate
from voice_avatar.db import User
from voice_avatar.service.errors import ApiError


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
    return user


def admin_user(user: User = Depends(current_user)) -> User:
    if not user.is_admin:
        raise ApiError(403, "forbidden", "this route is for administrators")
    return user
