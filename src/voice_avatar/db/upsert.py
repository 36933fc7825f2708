"""Insert-if-absent, which SQL spells differently per dialect."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import DeclarativeBase, Session


def insert_if_absent(
    session: Session, model: type[DeclarativeBase], values: Mapping[str, Any], conflict_columns: Sequence[str]
) -> bool:
    """INSERT ... ON CONFLICT DO NOTHING: concurrent callers may all try, exactly one row results.

    True when this call inserted the row, False when it was already there.
    """
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        statement: Any = postgresql.insert(model)
    elif dialect == "sqlite":
        statement = sqlite.insert(model)
    else:
        raise NotImplementedError(f"insert_if_absent does not support the {dialect} dialect")
    result = session.execute(statement.values(**values).on_conflict_do_nothing(index_elements=list(conflict_columns)))
    return bool(result.rowcount)  # type: ignore[attr-defined]
