"""The store's database, chosen by URL: SQLite (one connection per thread, opened by
`sqlitedb.connect`) or PostgreSQL (`postgres.PgConnection`), each thread its own.

`Database` is what `ServerStore` holds: `get()` the calling thread's connection, `write` /
`read` transactions, `migrate`, `close`, and the `dialect`.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import sqlitedb
from hub.server.store.dialect import POSTGRES, SQLITE, Dialect

# KiB of page cache per connection (a negative cache_size is in KiB).
CACHE_KIB = 32_000
DATABASE_NAME = "hub.db"


class ThreadConnections:
    """Hands each thread its own connection, made by `open_connection` (sqlite3 connections are
    not to be shared between threads without a lock, and the server's route threads read
    concurrently under WAL; psycopg's likewise), and closes them all at `close()`. A connection
    `is_closed` says is gone (a PostgreSQL server that dropped it) is replaced."""

    def __init__(
        self, open_connection: Callable[[], Any], is_closed: Callable[[Any], bool] = lambda conn: False
    ) -> None:
        self._open_connection = open_connection
        self._is_closed = is_closed
        self._local = threading.local()
        self._opened: list[Any] = []
        self._lock = threading.Lock()

    def get(self) -> Any:
        conn = getattr(self._local, "conn", None)
        if conn is None or self._is_closed(conn):
            conn = self._open_connection()
            self._local.conn = conn
            with self._lock:
                self._opened.append(conn)
        return conn

    def close(self) -> None:
        with self._lock:
            for conn in self._opened:
                conn.close()
            self._opened.clear()
        self._local = threading.local()


def open_sqlite(path: Path) -> sqlite3.Connection:
    """A store connection to the SQLite file at `path`: rows by name, a larger page cache."""
    conn = sqlitedb.connect(path)
    conn.row_factory = sqlite3.Row
    conn.execute(f"PRAGMA cache_size=-{CACHE_KIB}")
    return conn


def sqlite_path(url: str) -> Path:
    """The file of a `sqlite:///path` URL (`sqlite:////abs/path` or `sqlite:///rel/path`)."""
    if not url.startswith("sqlite:///") or len(url) <= len("sqlite:///"):
        raise ValueError(f"a SQLite database URL is sqlite:///path/to/file.db, not {url!r}")
    return Path(url[len("sqlite:///") :])


def check_url(url: str) -> str:
    """`url` if it names a database the store can open, else ValueError saying why."""
    scheme = urlsplit(url).scheme
    if scheme == "sqlite":
        sqlite_path(url)
    elif scheme in ("postgresql", "postgres"):
        if not urlsplit(url).path.strip("/"):
            raise ValueError(
                f"a PostgreSQL URL names its database: postgresql://user@host:port/db, not {url!r}"
            )
    else:
        raise ValueError(f"--database must be sqlite:///path or postgresql://user@host:port/db, not {url!r}")
    return url


class Database:
    """The connections, transactions and migrations of one database URL."""

    def __init__(self, url: str) -> None:
        self.url = check_url(url)
        self.dialect: Dialect = SQLITE if url.startswith("sqlite:") else POSTGRES
        self._connections: Any
        if self.dialect.is_postgres:
            from hub.server.store import postgres  # psycopg is imported only for PostgreSQL

            self._connections = ThreadConnections(
                lambda: postgres.PgConnection(url), is_closed=lambda conn: conn.raw.closed
            )
            self._write, self._read, self._migrate = postgres.write, postgres.read, postgres.migrate
        else:
            path = sqlite_path(url)
            self._connections = ThreadConnections(lambda: open_sqlite(path))
            self._write, self._read, self._migrate = sqlitedb.write, sqlitedb.read, sqlitedb.migrate

    @classmethod
    def in_data_dir(cls, data_dir: Path) -> Database:
        """Today's default: `hub.db` in the data directory."""
        return cls(f"sqlite:///{Path(data_dir) / DATABASE_NAME}")

    def get(self) -> Any:
        return self._connections.get()

    def write(self) -> AbstractContextManager[Any]:
        return self._write(self.get())

    def read(self) -> AbstractContextManager[Any]:
        return self._read(self.get())

    def migrate(self, migrations: Sequence[sqlitedb.Migration]) -> list[str]:
        return self._migrate(self.get(), migrations)

    def close(self) -> None:
        self._connections.close()
