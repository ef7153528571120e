"""The index queue: every catalog write leaves `(entity, id, action)` rows here, in the
writer's own transaction, so the queue and the catalog never disagree after a commit; the
search index drains the rows later (`hub/search/index.py`), off the writer's path.

The functions take a `sqlite3.Connection` (from `HubDatabase.transaction()`); they never commit.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterable, Sequence
from typing import Any, NamedTuple

DELETE_CHUNK = 900  # bound parameters per DELETE (SQLite's old default limit is 999)


class QueuedChange(NamedTuple):
    seq: int
    entity: str
    entity_id: str


def enqueue(conn: sqlite3.Connection, entity: str, ids: Iterable[Any], action: str) -> None:
    now = time.time()
    conn.executemany(
        "INSERT INTO index_queue (entity, entity_id, action, enqueued_at) VALUES (?, ?, ?, ?)",
        [(entity, str(entity_id), action, now) for entity_id in ids],
    )


def oldest(conn: sqlite3.Connection, limit: int) -> list[QueuedChange]:
    """The first `limit` rows in the order they were queued."""
    rows = conn.execute(
        "SELECT seq, entity, entity_id FROM index_queue ORDER BY seq LIMIT ?", [limit]
    ).fetchall()
    return [QueuedChange(*row) for row in rows]


def remove(conn: sqlite3.Connection, seqs: Sequence[int]) -> None:
    """Delete exactly these rows (the ones a drain has applied)."""
    for start in range(0, len(seqs), DELETE_CHUNK):
        chunk = seqs[start : start + DELETE_CHUNK]
        conn.execute(f"DELETE FROM index_queue WHERE seq IN ({','.join('?' * len(chunk))})", chunk)


def count(conn: sqlite3.Connection) -> int:
    return conn.execute("SELECT COUNT(*) FROM index_queue").fetchone()[0] or 0


def last_seq(conn: sqlite3.Connection) -> int:
    """The newest row's seq (0 when the queue is empty): what a snapshot taken now covers."""
    return conn.execute("SELECT COALESCE(MAX(seq), 0) FROM index_queue").fetchone()[0]


def remove_through(conn: sqlite3.Connection, seq: int) -> None:
    """Delete every row up to `seq` (the rows a rebuild's snapshot covered)."""
    conn.execute("DELETE FROM index_queue WHERE seq <= ?", [seq])
