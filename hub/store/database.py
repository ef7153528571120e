"""Opening the local hub database: WAL, foreign keys, migrations, explicit transactions."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from hub.store.migrations import MIGRATIONS
from sqlitedb import connect, migrate, read, write


class HubDatabase:
    """One connection to the hub database. Use one HubDatabase per thread (open another with `reopen`).

    The local hub's SQL lives in the modules beside this one, which take `conn` or a transaction's
    connection; `execute` and `scalar` are for tests and tools (benchmarks)."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.conn = connect(self.path)
        migrate(self.conn, MIGRATIONS)

    def reopen(self) -> HubDatabase:
        return HubDatabase(self.path)

    def close(self) -> None:
        self.conn.close()

    def __enter__(self) -> HubDatabase:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """BEGIN IMMEDIATE ... COMMIT, rolled back on error. Nested calls join the outer one."""
        with write(self.conn):
            yield self.conn

    @contextmanager
    def snapshot(self) -> Iterator[sqlite3.Connection]:
        """A read transaction: every query inside sees the same state of the database."""
        with read(self.conn):
            yield self.conn

    def execute(self, sql: str, params: Any = ()) -> sqlite3.Cursor:
        return self.conn.execute(sql, params)

    def scalar(self, sql: str, params: Any = ()) -> Any:
        row = self.conn.execute(sql, params).fetchone()
        return row[0] if row else None
