"""The `sync_state` table: how far the mirror has read each change feed, and from which server.

The functions take a `sqlite3.Connection`; they never commit (`advance` belongs in the same
transaction as the page it records).
"""

from __future__ import annotations

import sqlite3
import time
from typing import NamedTuple


class FeedPosition(NamedTuple):
    server_url: str
    cursor: str | None


def position(conn: sqlite3.Connection, feed: str) -> FeedPosition | None:
    row = conn.execute("SELECT server_url, cursor FROM sync_state WHERE feed = ?", [feed]).fetchone()
    return FeedPosition(*row) if row else None


def advance(conn: sqlite3.Connection, feed: str, server_url: str, cursor: str | None, items: int) -> None:
    """Record the new cursor and count the items applied up to it."""
    conn.execute(
        "INSERT INTO sync_state (feed, server_url, cursor, items_applied, updated_at) VALUES (?, ?, ?, ?, ?) "
        "ON CONFLICT(feed) DO UPDATE SET server_url = excluded.server_url, cursor = excluded.cursor, "
        "items_applied = sync_state.items_applied + excluded.items_applied, updated_at = excluded.updated_at",
        [feed, server_url, cursor, items, time.time()],
    )


def forget(conn: sqlite3.Connection, feed: str) -> None:
    """Start `feed` over (its next sync reads it from the beginning)."""
    conn.execute("DELETE FROM sync_state WHERE feed = ?", [feed])
