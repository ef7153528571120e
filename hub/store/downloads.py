"""The `downloads` table: one row per download of a catalog file, with its partial file and
progress, so an interrupted download is found again and resumed.

The functions take a `sqlite3.Connection`; they never commit.
"""

from __future__ import annotations

import sqlite3
import time
from typing import Any, NamedTuple


class UnfinishedDownload(NamedTuple):
    id: int
    partial_path: str


def unfinished(conn: sqlite3.Connection, version_id: int, file_id: int) -> UnfinishedDownload | None:
    """The latest download of this file that did not finish (its partial file may be resumed)."""
    row = conn.execute(
        "SELECT id, partial_path FROM downloads WHERE version_id = ? AND file_id = ? AND status != 'done' "
        "ORDER BY id DESC LIMIT 1",
        [version_id, file_id],
    ).fetchone()
    return UnfinishedDownload(int(row[0]), row[1]) if row else None


def insert(
    conn: sqlite3.Connection,
    *,
    version_id: int,
    file_id: int,
    url: str,
    destination: str,
    partial_path: str,
    sha256: str | None,
    total_bytes: int | None,
    now: float,
) -> int:
    """A new download, `running`; returns its id."""
    cursor = conn.execute(
        "INSERT INTO downloads (version_id, file_id, url, destination, partial_path, sha256, total_bytes, "
        "status, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, 'running', ?, ?)",
        [version_id, file_id, url, destination, partial_path, sha256, total_bytes, now, now],
    )
    return int(cursor.lastrowid)


def update(conn: sqlite3.Connection, download_id: int, **values: Any) -> None:
    """Set these columns (status, done_bytes, total_bytes, error) and `updated_at`."""
    values["updated_at"] = time.time()
    assignments = ", ".join(f"{key} = ?" for key in values)
    conn.execute(f"UPDATE downloads SET {assignments} WHERE id = ?", [*values.values(), download_id])
