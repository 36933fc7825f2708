"""One way to open a database, so SQLite and PostgreSQL get the same safety settings everywhere."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import URL, make_url

from voice_avatar.db.sqlite_writes import connection_factory

SQLITE_BUSY_TIMEOUT_SECONDS = 30
#: A PostgreSQL host that does not answer fails a request after this, instead of hanging it.
PG_CONNECT_TIMEOUT_SECONDS = 5
PG_POOL_SIZE, PG_POOL_OVERFLOW = 10, 10


def normalize_url(url: str | URL) -> URL:
    """Accept the URLs people paste (postgres://, postgresql://) and pick the psycopg 3 driver."""
    parsed = make_url(url)
    if parsed.drivername in {"postgres", "postgresql"}:
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed


def create_engine_for(url: str | URL, **engine_kwargs: Any) -> Engine:
    """An engine for `url`; SQLite gets WAL, enforced foreign keys and a busy timeout.

    Concurrent writers (quota reservations from many requests) then wait for each other
    instead of failing with "database is locked".
    """
    parsed = normalize_url(url)
    if parsed.get_backend_name() != "sqlite":
        # A restarted server leaves dead pooled connections. No pre-ping (a round trip on every
        # checkout, a third of a cache hit's database time): the first request on a dead
        # connection fails (503 database_unavailable, see service/errors.py), SQLAlchemy then
        # discards the whole pool, and the same process serves again once the database is back.
        engine_kwargs.setdefault("pool_pre_ping", False)
        # Ten kept open: a connection opened and closed per request (SQLAlchemy keeps 5 by
        # default) costs PostgreSQL a backend start. At most 20 a process: processes x 20 must
        # stay under the server's max_connections (100 by default), or put PgBouncer in front.
        engine_kwargs.setdefault("pool_size", PG_POOL_SIZE)
        engine_kwargs.setdefault("max_overflow", PG_POOL_OVERFLOW)
        if parsed.get_backend_name() == "postgresql":
            connect_args = engine_kwargs.get("connect_args", {})
            engine_kwargs["connect_args"] = {"connect_timeout": PG_CONNECT_TIMEOUT_SECONDS, **connect_args}
        return create_engine(parsed, **engine_kwargs)
    database = parsed.database or ""
    in_memory = database in ("", ":memory:")
    if not in_memory:
        Path(database).parent.mkdir(parents=True, exist_ok=True)
    connect_args = {"timeout": SQLITE_BUSY_TIMEOUT_SECONDS, **engine_kwargs.pop("connect_args", {})}
    if not in_memory:
        connect_args.setdefault("factory", connection_factory(database, SQLITE_BUSY_TIMEOUT_SECONDS))
    engine = create_engine(parsed, connect_args=connect_args, **engine_kwargs)
    event.listen(engine, "connect", _sqlite_pragmas(wal=not in_memory))
    return engine


def _sqlite_pragmas(*, wal: bool) -> Any:
    def on_connect(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        try:
            if wal:
                cursor.execute("PRAGMA journal_mode=WAL")
                cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_SECONDS * 1000}")
        finally:
            cursor.close()

    return on_connect
