"""Alembic environment: runs against the connection `voice_avatar.db.migrate` hands over."""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection, text

from voice_avatar.db.engine import create_engine_for
from voice_avatar.db.models import Base

# Any constant: PostgreSQL replicas starting together migrate one at a time.
_PG_MIGRATION_LOCK = 7_236_174_210


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        if connection.dialect.name == "postgresql":
            connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PG_MIGRATION_LOCK})
        context.run_migrations()


def _run_online() -> None:
    connection = context.config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    url = context.get_x_argument(as_dictionary=True).get("url") or context.config.get_main_option("sqlalchemy.url")
    if not url:
        raise RuntimeError("no database: call voice_avatar.db.migrate(url) or pass alembic -x url=...")
    engine = create_engine_for(url)
    try:
        with engine.begin() as new_connection:
            _run(new_connection)
    finally:
        engine.dispose()


if context.is_offline_mode():
    raise RuntimeError("offline (--sql) migrations are not supported; run voice_avatar.db.migrate(url)")
_run_online()
