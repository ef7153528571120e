"""The media queue: preview thumbnails the mirror references but has not fetched yet.

Like the index queue, a row is written **in the transaction that writes the catalog rows
referencing the URL** (`catalog.upsert_models`), so a sync killed between a page and its
previews leaves the rows, and the next sync (or a later `hub sync`) fetches them. A row is
removed in the transaction that records the fetched file (`images.link_thumbnail`); a failed
fetch moves `run_at` later (backoff) and keeps the row. One row per URL: versions that share an
image share its fetch.

The functions take a `sqlite3.Connection`; they never commit.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterable
from typing import NamedTuple


class QueuedMedia(NamedTuple):
    url: str
    attempts: int


def enqueue(conn: sqlite3.Connection, urls: Iterable[str]) -> None:
    """Queue these URLs to fetch now; a URL already queued keeps its place and its backoff."""
    now = time.time()
    conn.executemany(
        "INSERT INTO media_queue (url, run_at, enqueued_at) VALUES (?, ?, ?) ON CONFLICT(url) DO NOTHING",
        [(url, now, now) for url in urls],
    )


def due(conn: sqlite3.Connection, now: float, limit: int) -> list[QueuedMedia]:
    """Up to `limit` rows whose time has come, the longest waiting first."""
    rows = conn.execute(
        "SELECT url, attempts FROM media_queue WHERE run_at <= ? ORDER BY run_at, url LIMIT ?", [now, limit]
    ).fetchall()
    return [QueuedMedia(*row) for row in rows]


def remove(conn: sqlite3.Connection, url: str) -> None:
    conn.execute("DELETE FROM media_queue WHERE url = ?", [url])


def postpone(conn: sqlite3.Connection, url: str, attempts: int, run_at: float, error: str) -> None:
    """Record a failed fetch: try again at `run_at`."""
    conn.execute(
        "UPDATE media_queue SET attempts = ?, run_at = ?, last_error = ? WHERE url = ?",
        [attempts, run_at, error, url],
    )


def count(conn: sqlite3.Connection) -> int:
    return conn.execute("SELECT COUNT(*) FROM media_queue").fetchone()[0] or 0
