"""Session factories: the unit of work the rest of the service is handed."""

from __future__ import annotations

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from voice_avatar.db.engine import create_engine_for
from voice_avatar.settings import Settings

SessionFactory = sessionmaker[Session]


def make_session_factory(engine: Engine) -> SessionFactory:
    """Objects stay readable after commit (`expire_on_commit=False`), so a route can return what it saved."""
    return sessionmaker(engine, expire_on_commit=False)


def session_factory_for(settings: Settings) -> SessionFactory:
    """A factory on the configured database; call `migrate` first (the service does it at startup)."""
    return make_session_factory(create_engine_for(settings.effective_database_url))
