"""One SQLite connection per thread to the server's database, opened by `sqlitedb.connect`."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

import sqlitedb

# KiB of page cache per connection (a negative cache_size is in KiB).
CACHE_KIB = 32_000


class ThreadConnections:
    """Hands each thread its own connection (sqlite3 connections are not to be shared between
    threads without a lock, and the server's route threads read concurrently under WAL), and
    closes them all at `close()`."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._local = threading.local()
        self._opened: list[sqlite3.Connection] = []
        self._lock = threading.Lock()

    def get(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlitedb.connect(self.path)
            conn.row_factory = sqlite3.Row
            conn.execute(f"PRAGMA cache_size=-{CACHE_KIB}")
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
