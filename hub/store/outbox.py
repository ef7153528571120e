"""The `outbox` table: tips and purchases made in the local hub, waiting to be pushed.

The functions take a `sqlite3.Connection`; they never commit.
"""

from __future__ import annotations

import json
import sqlite3
import time
import uuid
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class OutboxEntry:
    id: int
    kind: str
    payload: dict[str, Any]
    idempotency_key: str
    state: str
    result: dict[str, Any] | None
    error: str | None
    attempts: int
    created_at: float


def add(conn: sqlite3.Connection, kind: str, payload: dict[str, Any]) -> int:
    """Queue a tip ({to, amount, memo}) or purchase ({itemId}) with a fresh idempotency key."""
    cur = conn.execute(
        "INSERT INTO outbox (kind, payload, idempotency_key, created_at) VALUES (?, ?, ?, ?)",
        [kind, json.dumps(payload), f"outbox-{uuid.uuid4()}", time.time()],
    )
    return int(cur.lastrowid or 0)


def _entry(row: sqlite3.Row | tuple) -> OutboxEntry:
    (id_, kind, payload, key, state, result, error, attempts, created) = tuple(row)
    return OutboxEntry(
        id_,
        kind,
        json.loads(payload),
        key,
        state,
        json.loads(result) if result else None,
        error,
        attempts,
        created,
    )


COLUMNS = "id, kind, payload, idempotency_key, state, result, error, attempts, created_at"


def entries(conn: sqlite3.Connection, state: str | None = None) -> list[OutboxEntry]:
    rows = conn.execute(
        f"SELECT {COLUMNS} FROM outbox WHERE (? IS NULL OR state = ?) ORDER BY id", [state, state]
    ).fetchall()
    return [_entry(r) for r in rows]


def mark(
    conn: sqlite3.Connection, entry_id: int, state: str, result: Any = None, error: str | None = None
) -> None:
    conn.execute(
        "UPDATE outbox SET state = ?, result = ?, error = ?, attempts = attempts + 1, pushed_at = ? WHERE id = ?",
        [state, json.dumps(result) if result is not None else None, error, time.time(), entry_id],
    )


def attempted(conn: sqlite3.Connection, entry_id: int, error: str) -> None:
    """A push that got no answer (server away, 5xx): stays pending, the error kept."""
    conn.execute("UPDATE outbox SET attempts = attempts + 1, error = ? WHERE id = ?", [error, entry_id])


def pending_spend(conn: sqlite3.Connection) -> int:
    """Buzz the pending tips will spend (purchases' prices are known only to the server)."""
    rows = conn.execute("SELECT payload FROM outbox WHERE state = 'pending' AND kind = 'tip'").fetchall()
    return sum(int(json.loads(r[0]).get("amount", 0)) for r in rows)


def retry(conn: sqlite3.Connection, entry_id: int) -> bool:
    """Put a refused entry back to pending, with a fresh idempotency key (the server applied
    nothing for the old one); a pending entry stays as it is. False when there is no such entry
    or it is done."""
    row = conn.execute("SELECT state FROM outbox WHERE id = ?", [entry_id]).fetchone()
    if row is None or row[0] == "done":
        return False
    if row[0] == "refused":
        conn.execute(
            "UPDATE outbox SET state = 'pending', error = NULL, idempotency_key = ? WHERE id = ?",
            [f"outbox-{uuid.uuid4()}", entry_id],
        )
    return True
