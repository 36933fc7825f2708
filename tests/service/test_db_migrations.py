from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect

from voice_avatar.db import Base, create_engine_for, head_revision, migrate, normalize_url


def test_migrations_run_twice_reach_head_and_match_the_models(empty_database_url: str) -> None:
    migrate(empty_database_url)
    migrate(empty_database_url)  # idempotent: already at head, nothing to do

    engine = create_engine_for(empty_database_url)
    try:
        with engine.connect() as connection:
            context = MigrationContext.configure(connection, opts={"compare_type": True})
            assert context.get_current_revision() == head_revision()
            assert set(inspect(connection).get_table_names()) >= {
                "users",
                "api_keys",
                "avatars",
                "usage_events",
                "quota_counters",
            }
            assert compare_metadata(context, Base.metadata) == []
    finally:
        engine.dispose()


def test_sqlite_engine_uses_wal_foreign_keys_and_a_busy_timeout(tmp_path) -> None:
    engine = create_engine_for(f"sqlite:///{tmp_path / 'nested' / 'x.db'}")
    try:
        with engine.connect() as connection:
            assert connection.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
            assert connection.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
            assert connection.exec_driver_sql("PRAGMA busy_timeout").scalar() >= 5000
    finally:
        engine.dispose()


def test_plain_postgres_urls_get_the_psycopg_driver() -> None:
    assert normalize_url("postgresql://u@h/db").drivername == "postgresql+psycopg"
    assert normalize_url("postgres://u@h/db").drivername == "postgresql+psycopg"
    assert normalize_url("sqlite:///x.db").drivername == "sqlite"


def test_migration_0003_fills_the_month_cost_from_the_existing_ledger(empty_database_url: str) -> None:
    """Months billed before 0003 must keep their cost for the cost ceiling: the counter starts at the ledger's sum."""
    from alembic import command

    from voice_avatar.db.migrate import alembic_config

    engine = create_engine_for(empty_database_url)
    try:
        with engine.begin() as connection:
            config = alembic_config()
            config.attributes["connection"] = connection
            command.upgrade(config, "0002")
            connection.exec_driver_sql(
                "INSERT INTO users (id, name, tier, is_admin, created_at) VALUES ('u1', 'Ann', 'premium', false, '2025-01-02')"
            )
            connection.exec_driver_sql(
                "INSERT INTO quota_counters (user_id, period, messages, characters) VALUES ('u1', '2025-01', 3, 300)"
            )
            for cost in ("0.030140", "0.000200", "0.000000"):
                connection.exec_driver_sql(
                    "INSERT INTO usage_events (user_id, engine, characters, cost_usd, cache_hit, latency_ms, created_at,"
                    f" period, route_reason) VALUES ('u1', 'elevenlabs', 100, {cost}, false, 1, '2025-01-03', '2025-01', '')"
                )
            command.upgrade(config, "head")
            micro = connection.exec_driver_sql("SELECT cost_micro_usd FROM quota_counters").scalar()
        assert micro == 30_340
    finally:
        engine.dispose()
