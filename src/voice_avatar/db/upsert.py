"""Insert-if-absent, which SQL spells differently per dialect."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import DeclarativeBase, Session


def insert_if_absent(
    session: Session, model: type[DeclarativeBase], values: Mapping[str, Any], conflict_columns: Sequence[str]
) -> None:
    """INSERT ... ON CONFLICT DO NOTHING: concurrent callers may all try, exactly one row results."""
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        statement: Any = postgresql.insert(model)
    elif dialect == "sqlite":
        statement = sqlite.insert(model)
    else:
        raise NotImplementedError(f"insert_if_absent does not support the {dialect} dialect")
    session.execute(statement.values(**values).on_conflict_do_nothing(index_elements=list(conflict_columns)))
