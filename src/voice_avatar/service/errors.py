"""Every error leaves the API as JSON `{"error": {"code", "message"}}`, never as a traceback."""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from starlette.exceptions import HTTPException as StarletteHTTPException

from voice_avatar.errors import (
    AudioDecodeError,
    ConflictError,
    EngineError,
    InputError,
    NotFoundError,
    QuotaExceeded,
    StorageFull,
    VoiceAvatarError,
)

log = logging.getLogger("voice_avatar.service")
#: What a client is told to wait before retrying while the database is unreachable.
DATABASE_RETRY_AFTER_SECONDS = 5


class ApiError(Exception):
    """An error with its HTTP status and code, raised by routes (e.g. 401 unauthorised)."""

    def __init__(self, status: int, code: str, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.headers = status, code, message, headers


def error_body(code: str, message: str, **extra: object) -> dict:
    return {"error": {"code": code, "message": message, **extra}}


def _status_of(exc: VoiceAvatarError) -> tuple[int, str]:
    for kind, status, code in (
        (QuotaExceeded, 429, "quota_exceeded"),
        (NotFoundError, 404, "not_found"),
        (ConflictError, 409, "conflict"),
        (AudioDecodeError, 415, "unreadable_audio"),
        (InputError, 400, "bad_request"),
        (EngineError, 503, "engine_unavailable"),
        (StorageFull, 507, "insufficient_storage"),
    ):
        if isinstance(exc, kind):
            return status, code
    return 500, "internal_error"


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def _api(_: Request, exc: ApiError) -> JSONResponse:
        return JSONResponse(error_body(exc.code, exc.message), status_code=exc.status, headers=exc.headers)

    @app.exception_handler(VoiceAvatarError)
    async def _domain(request: Request, exc: VoiceAvatarError) -> JSONResponse:
        status, code = _status_of(exc)
        extra: dict[str, object] = {}
        headers: dict[str, str] = {}
        if isinstance(exc, QuotaExceeded):
            extra = {"limit": exc.limit, "limit_value": exc.limit_value, "resets_at": exc.resets_at}
            if exc.limit == "chars_per_message":  # too long is not "too many": shorten it, no waiting helps
                status, code = 413, "message_too_long"
        metrics = getattr(request.app.state, "metrics", None)
        if metrics is not None:
            metrics.error(code)
        if status >= 500:
            log.error("%s %s failed: %s", request.method, request.url.path, exc)
        return JSONResponse(error_body(code, str(exc), **extra), status_code=status, headers=headers)

    async def _database(request: Request, exc: Exception) -> JSONResponse:
        """The database is down or restarting: a 503 to retry, not a traceback (the pool reconnects by itself)."""
        if isinstance(exc, DBAPIError) and not isinstance(exc, (OperationalError, InterfaceError)):
            if not exc.connection_invalidated:
                return await _crash(request, exc)
        log.error("%s %s: database unavailable: %s", request.method, request.url.path, str(exc).splitlines()[0])
        metrics = getattr(request.app.state, "metrics", None)
        if metrics is not None:
            metrics.error("database_unavailable")
        return JSONResponse(
            error_body("database_unavailable", "the database is unavailable; try again shortly"),
            status_code=503,
            headers={"Retry-After": str(DATABASE_RETRY_AFTER_SECONDS)},
        )

    for kind in (DBAPIError, PoolTimeout):
        app.add_exception_handler(kind, _database)

    @app.exception_handler(RequestValidationError)
    async def _invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc'] if p != 'body')}: {e['msg']}" for e in exc.errors())
        return JSONResponse(error_body("invalid_request", problems or "invalid request"), status_code=422)

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
        return JSONResponse(error_body(code, str(exc.detail)), status_code=exc.status_code)

    @app.exception_handler(Exception)
    async def _crash(request: Request, exc: Exception) -> JSONResponse:
        log.exception("%s %s crashed", request.method, request.url.path)
        return JSONResponse(error_body("internal_error", "internal error; it has been logged"), status_code=500)
