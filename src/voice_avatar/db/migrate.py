"""Run the Alembic migrations shipped inside the package; no alembic.ini on disk is needed."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory
from sqlalchemy import Engine
from sqlalchemy.engine import URL

from voice_avatar.db.engine import create_engine_for

MIGRATIONS_DIR = Path(__file__).with_name("migrations")


def alembic_config() -> Config:
    """A config pointing at the packaged scripts; env.py takes its connection from `attributes`."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR).replace("%", "%%"))
    return config


def head_revision() -> str:
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head is not None, "no migrations shipped"
    return head


def migrate(target: str | URL | Engine) -> None:
    """Upgrade the database to the newest schema; a no-op when it is already there."""
    engine = target if isinstance(target, Engine) else create_engine_for(target)
    try:
        with engine.begin() as connection:
            config = alembic_config()
            config.attributes["connection"] = connection
            command.upgrade(config, "head")
    finally:
        if engine is not target:
            engine.dispose()
