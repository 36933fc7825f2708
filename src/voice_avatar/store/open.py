"""Open the configured database (migrated once per process) and blob store."""

from __future__ import annotations

from functools import lru_cache

from sqlalchemy import Engine

from voice_avatar.db import SessionFactory, create_engine_for, make_session_factory, migrate
from voice_avatar.settings import Settings
from voice_avatar.store.avatars import AvatarStore
from voice_avatar.store.blobs import DiskBlobStore


@lru_cache(maxsize=8)
def _sessions(url: str) -> SessionFactory:
    migrate(url)
    return make_session_factory(create_engine_for(url))


def sessions_for(settings: Settings) -> SessionFactory:
    """Sessions on the settings' database, brought up to the current schema on first use."""
    return _sessions(settings.effective_database_url)


@lru_cache(maxsize=8)
def _autocommit(url: str) -> Engine:
    engine = _sessions(url).kw["bind"]
    if engine.dialect.name == "sqlite":  # SQLite opens no transaction for a read anyway
        return engine
    return engine.execution_options(isolation_level="AUTOCOMMIT")


def autocommit_for(settings: Settings) -> Engine:
    """An engine for the hot path's single statements, in Core (the ORM session is a third of a
    lookup's CPU): lookups, and statements that are a whole transaction by themselves.

    On PostgreSQL each statement commits on its own: a lookup is one round trip, not three (BEGIN,
    the query, and the ROLLBACK when the connection goes back to the pool). On SQLite it is the
    ordinary engine: only read through it there.
    """
    return _autocommit(settings.effective_database_url)


def open_store(settings: Settings, owner_id: str | None = None) -> AvatarStore:
    """The avatars of `owner_id` (None: the local CLI user's)."""
    return AvatarStore(sessions_for(settings), DiskBlobStore(settings.home / "blobs"), owner_id)
