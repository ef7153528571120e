"""Each user's private change feed (`user_changes`): what a local hub syncing with that user's
API key pulls besides the public catalog feed: their notifications and their own collections
(private ones included).

Like the public feed it is compacted (one entry per entity, the newest) and ordered by an
AUTOINCREMENT `seq` assigned under the writer lock, so paging with `since` never skips a change.
Functions of a connection; the caller holds the transaction.
"""

from __future__ import annotations

import sqlite3

from hub.server.store.change_feed import Change


def append_user_change(
    conn: sqlite3.Connection, user_id: int, entity: str, entity_id: str, action: str
) -> None:
    conn.execute(
        "DELETE FROM user_changes WHERE user_id = ? AND entity = ? AND entity_id = ?",
        (user_id, entity, entity_id),
    )
    conn.execute(
        "INSERT INTO user_changes (user_id, entity, entity_id, action) VALUES (?, ?, ?, ?)",
        (user_id, entity, entity_id, action),
    )


def append_user_changes(conn: sqlite3.Connection, rows_sql: str, args: list, entity: str) -> None:
    """Upsert entries for many (user_id, entity_id) pairs given by a SELECT, in two statements
    (a fan-out to thousands of users)."""
    conn.execute(
        f"DELETE FROM user_changes WHERE entity = ? AND (user_id, entity_id) IN ({rows_sql})", [entity, *args]
    )
    conn.execute(
        "INSERT INTO user_changes (user_id, entity, entity_id, action) "
        f"SELECT user_id, ?, entity_id, 'upsert' FROM ({rows_sql}) AS changed",
        [entity, *args],
    )


def user_changes_since(
    conn: sqlite3.Connection, user_id: int, since: int, limit: int
) -> tuple[list[Change], bool]:
    """Entries of one user after `since`, without data (the caller fills it), and whether more follow."""
    rows = conn.execute(
        "SELECT seq, entity, entity_id, action FROM user_changes WHERE user_id = ? AND seq > ? ORDER BY seq LIMIT ?",
        (user_id, since, limit + 1),
    ).fetchall()
    more = len(rows) > limit
    return [Change(r["seq"], r["entity"], r["entity_id"], r["action"], None) for r in rows[:limit]], more
