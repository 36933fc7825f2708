"""SQLite writers of one process take turns on a Python lock instead of SQLite's busy handler.

SQLite admits one writer at a time. A second writer on another connection gets SQLITE_BUSY and
its busy handler sleeps and retries (1, 2, 5, 10 ... 100 ms), so under concurrent requests a
write that waited a millisecond for the lock could sleep for a hundred: that was the embedded
service's p99 for cache hits (two small writes each). Here a connection takes a per-file Python
lock at its first writing statement and gives it back when its transaction ends, so the next
writer of this process starts the moment the last one committed. Writers in other processes
(the CLI beside the service) still meet SQLite's own lock and busy timeout.
"""

from __future__ import annotations

import os
import sqlite3
import threading
from typing import Any

_WRITES = ("INSERT", "UPDATE", "DELETE", "REPLACE", "CREATE", "DROP", "ALTER")
_locks: dict[str, threading.Lock] = {}
_locks_guard = threading.Lock()


def connection_factory(database: str, timeout_seconds: float) -> type[sqlite3.Connection]:
    """A `sqlite3.Connection` class (pass as `factory=`) whose writes share `database`'s lock."""
    with _locks_guard:
        lock = _locks.setdefault(os.path.realpath(database), threading.Lock())

    class SerialWriteConnection(sqlite3.Connection):
        _holding = False

        def cursor(self, factory: Any = None) -> sqlite3.Cursor:  # type: ignore[override]
            return super().cursor(factory or SerialWriteCursor)

        def take_if_writing(self, sql: str) -> None:
            if self._holding or not sql.lstrip()[:7].upper().startswith(_WRITES):
                return
            if not lock.acquire(timeout=timeout_seconds):
                raise sqlite3.OperationalError("database is locked (waited for another writer of this process)")
            self._holding = True

        def give_back_if_done(self) -> None:
            if self._holding and not self.in_transaction:
                self._holding = False
                lock.release()

        def commit(self) -> None:
            try:
                super().commit()
            finally:
                self.give_back_if_done()

        def rollback(self) -> None:
            try:
                super().rollback()
            finally:
                self.give_back_if_done()

        def close(self) -> None:
            try:
                super().close()
            finally:
                if self._holding:
                    self._holding = False
                    lock.release()

    class SerialWriteCursor(sqlite3.Cursor):
        def execute(self, sql: str, parameters: Any = ()) -> sqlite3.Cursor:  # type: ignore[override]
            connection: SerialWriteConnection = self.connection  # type: ignore[assignment]
            connection.take_if_writing(sql)
            try:
                return super().execute(sql, parameters)
            finally:
                connection.give_back_if_done()  # a statement outside a transaction ends at once

        def executemany(self, sql: str, seq_of_parameters: Any) -> sqlite3.Cursor:  # type: ignore[override]
            connection: SerialWriteConnection = self.connection  # type: ignore[assignment]
            connection.take_if_writing(sql)
            try:
                return super().executemany(sql, seq_of_parameters)
            finally:
                connection.give_back_if_done()

    return SerialWriteConnection
