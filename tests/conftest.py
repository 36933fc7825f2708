"""Fixtures running each data-layer test on SQLite and PostgreSQL, and each cache test on disk and Redis.

PostgreSQL and Redis are required: when unreachable their tests fail (not skip), unless
VOICE_AVATAR_TEST_NO_PG=1 / VOICE_AVATAR_TEST_NO_REDIS=1 says to leave them out.
"""

from __future__ import annotations

import os
from decimal import Decimal
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError

from voice_avatar.cache import DiskAudioCache, RedisAudioCache
from voice_avatar.db import Base, SessionFactory, create_engine_for, make_session_factory, migrate
from voice_avatar.settings import Settings

TEST_RATES = {"local": Decimal("0"), "fishaudio": Decimal("0.015"), "elevenlabs": Decimal("0.30")}
PG_ADMIN_URL = os.environ.get("VOICE_AVATAR_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
REDIS_URL = os.environ.get("VOICE_AVATAR_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")


def create_pg_database() -> str:
    """A new, empty database; fails the test with a clear message when PostgreSQL is unreachable."""
    if os.environ.get("VOICE_AVATAR_TEST_NO_PG") == "1":
        pytest.skip("VOICE_AVATAR_TEST_NO_PG=1")
    name = f"voice_avatar_test_{uuid.uuid4().hex[:12]}"
    admin = create_engine_for(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            connection.exec_driver_sql(f'CREATE DATABASE "{name}"')
    except OperationalError as exc:
        pytest.fail(
            f"PostgreSQL unreachable at {PG_ADMIN_URL} ({exc.orig}); start it, set VOICE_AVATAR_TEST_PG_URL, "
            "or set VOICE_AVATAR_TEST_NO_PG=1 to skip the PostgreSQL tests",
            pytrace=False,
        )
    finally:
        admin.dispose()
    return make_url(PG_ADMIN_URL).set(database=name).render_as_string(hide_password=False)


def drop_pg_database(url: str) -> None:
    admin = create_engine_for(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            connection.exec_driver_sql(f'DROP DATABASE IF EXISTS "{make_url(url).database}" WITH (FORCE)')
    finally:
        admin.dispose()


@pytest.fixture(scope="session")
def pg_url() -> Iterator[str]:
    """One migrated PostgreSQL database for the whole session, dropped at the end."""
    url = create_pg_database()
    try:
        migrate(url)
        yield url
    finally:
        drop_pg_database(url)


@pytest.fixture(params=["sqlite", "postgresql"])
def empty_database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A database with no tables at all, for the migration tests."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'empty.db'}"
        return
    url = create_pg_database()
    try:
        yield url
    finally:
        drop_pg_database(url)


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A migrated database with empty tables: a fresh SQLite file, or the session's PostgreSQL emptied."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'service.db'}"
        migrate(url)
        return url
    url: str = request.getfixturevalue("pg_url")
    engine = create_engine_for(url)
    try:
        with engine.begin() as connection:
            tables = ", ".join(table.name for table in Base.metadata.sorted_tables)
            connection.execute(text(f"TRUNCATE {tables} CASCADE"))
    finally:
        engine.dispose()
    return url


@pytest.fixture
def session_factory(database_url: str) -> Iterator[SessionFactory]:
    engine = create_engine_for(database_url)
    try:
        yield make_session_factory(engine)
    finally:
        engine.dispose()


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """Settings with round engine prices pinned, so billing tests' expected costs do not follow price changes."""
    return Settings(home=tmp_path / "home", engine_cost_per_1k_chars=TEST_RATES)


@pytest.fixture
def redis_client() -> Iterator[redis.Redis]:
    if os.environ.get("VOICE_AVATAR_TEST_NO_REDIS") == "1":
        pytest.skip("VOICE_AVATAR_TEST_NO_REDIS=1")
    client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2)
    try:
        client.ping()
    except redis.RedisError as exc:
        pytest.fail(
            f"Redis unreachable at {REDIS_URL} ({exc}); start it, set VOICE_AVATAR_TEST_REDIS_URL, "
            "or set VOICE_AVATAR_TEST_NO_REDIS=1 to skip the Redis tests",
            pytrace=False,
        )
    yield client
    client.close()


@pytest.fixture
def redis_prefix(redis_client: redis.Redis) -> Iterator[str]:
    """A key prefix no other test (or engineer) shares on the test db; its keys are deleted afterwards."""
    prefix = f"va:test:{uuid.uuid4().hex[:8]}:"
    yield prefix
    keys = list(redis_client.scan_iter(match=f"{prefix}*"))
    if keys:
        redis_client.delete(*keys)


@pytest.fixture(params=["disk", "redis"])
def make_audio_cache(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator:
    """Builds a cache of the parametrised backend with a given TTL."""
    made: list[DiskAudioCache | RedisAudioCache] = []

    def make(ttl_seconds: int = 3600) -> DiskAudioCache | RedisAudioCache:
        if request.param == "disk":
            cache: DiskAudioCache | RedisAudioCache = DiskAudioCache(tmp_path / "cache", ttl_seconds)
        else:
            client = request.getfixturevalue("redis_client")
            cache = RedisAudioCache(client, ttl_seconds, prefix=request.getfixturevalue("redis_prefix"))
        made.append(cache)
        return cache

    yield make
    for cache in made:
        if isinstance(cache, DiskAudioCache):
            cache.close()


@pytest.fixture
def fresh_pg_url() -> Iterator[str]:
    """A new, empty PostgreSQL database for this test alone (for tests that start their own processes)."""
    url = create_pg_database()
    try:
        yield url
    finally:
        drop_pg_database(url)
