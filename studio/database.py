"""The studio database (`atelier.db`): its migrations, and the ways to open it.

Every table of the studio lives here, in one ordered migration list applied when the database
is opened (`open_database`). The first migration uses `CREATE ... IF NOT EXISTS` so a database
written by the release before migrations (whose modules each created their own tables) is
adopted as it is.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlitedb import Migration, connect, migrate, write

INITIAL = """
CREATE TABLE IF NOT EXISTS jobs (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    kind TEXT NOT NULL,
    payload TEXT NOT NULL,
    state TEXT NOT NULL,
    priority INTEGER NOT NULL DEFAULT 0,
    queue_order INTEGER NOT NULL,
    created_at REAL NOT NULL,
    started_at REAL,
    finished_at REAL,
    error TEXT,
    result TEXT,
    attempts INTEGER NOT NULL DEFAULT 0,
    worker TEXT
);
CREATE INDEX IF NOT EXISTS jobs_queue ON jobs (state, priority DESC, queue_order);
CREATE INDEX IF NOT EXISTS jobs_kind ON jobs (kind, seq);
CREATE TABLE IF NOT EXISTS job_images (
    id TEXT PRIMARY KEY,
    job_id TEXT NOT NULL REFERENCES jobs(id),
    idx INTEGER NOT NULL,
    seed INTEGER,
    subseed INTEGER,
    infotext TEXT,
    path TEXT,
    png BLOB
);
CREATE INDEX IF NOT EXISTS job_images_job ON job_images (job_id, idx);
CREATE TABLE IF NOT EXISTS history (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    created_at REAL NOT NULL,
    prompt TEXT NOT NULL,
    request TEXT NOT NULL,
    seed INTEGER NOT NULL,
    path TEXT,
    infotext TEXT NOT NULL,
    timings TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS history_created ON history(created_at);
CREATE TABLE IF NOT EXISTS model_hashes (
    path TEXT PRIMARY KEY,
    size INTEGER NOT NULL,
    mtime_ns INTEGER NOT NULL,
    sha256 TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS studio_state (key TEXT PRIMARY KEY, value TEXT);
CREATE TABLE IF NOT EXISTS api_options (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""

MIGRATIONS: list[Migration] = [
    Migration("0001_initial", INITIAL),
    # LoRA files' A1111 / kohya hash (SHA-256 of the safetensors data after the header), cached
    # beside the file hash so `Lora hashes` in the infotext costs no read of the file
    Migration("0002_model_hashes_addnet", "ALTER TABLE model_hashes ADD COLUMN addnet_sha256 TEXT;"),
    # X/Y/Z grids in the history: a grid's row has kind 'grid'; its cells' rows point at it
    Migration(
        "0003_history_grids",
        "ALTER TABLE history ADD COLUMN kind TEXT NOT NULL DEFAULT 'image';\n"
        "ALTER TABLE history ADD COLUMN grid_id INTEGER;\n"
        "CREATE INDEX IF NOT EXISTS history_grid ON history(grid_id);\n",
    ),
]


def open_database(path: Path) -> sqlite3.Connection:
    """A long-lived connection to `atelier.db`, migrated to this release's schema. The
    connection is not thread-safe on its own: its owner serialises access."""
    conn = connect(path, foreign_keys=False)
    migrate(conn, MIGRATIONS)
    return conn


@contextmanager
def transaction(db_path: Path) -> Iterator[sqlite3.Connection]:
    """A short-lived connection whose block is one write transaction (`BEGIN IMMEDIATE`,
    committed on success, rolled back on error), closed afterwards. The database must have
    been opened once with `open_database` (which migrates it)."""
    conn = connect(db_path, foreign_keys=False)
    try:
        with write(conn):
            yield conn
    finally:
        conn.close()


def ensure_migrated(db_path: Path) -> None:
    """Bring the database to this release's schema (for services that only use `transaction`)."""
    open_database(db_path).close()
