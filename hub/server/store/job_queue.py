"""The server's persisted background jobs (the `jobs` table): enqueue in the caller's write
transaction, claim one due job at a time, finish or reschedule it.

Enqueueing inside the transaction of the change that causes a job (an event emitted by a new
model version, an email for a new notification) means a committed change always has its job
and a rolled-back one never does. A claim is one `UPDATE ... RETURNING`, so two workers never
run the same job; a job left `running` by a dead worker goes back to `pending` at start-up.
Functions of a connection; the caller holds the transaction.
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Job:
    id: int
    kind: str
    payload: dict[str, Any]
    status: str
    attempts: int
    max_attempts: int
    run_at: float
    last_error: str | None


def _job(row: sqlite3.Row) -> Job:
    return Job(
        row["id"],
        row["kind"],
        json.loads(row["payload"]),
        row["status"],
        row["attempts"],
        row["max_attempts"],
        row["run_at"],
        row["last_error"],
    )


def enqueue(
    conn: sqlite3.Connection,
    kind: str,
    payload: dict[str, Any],
    now: float,
    *,
    run_at: float | None = None,
    dedupe_key: str | None = None,
    max_attempts: int = 6,
) -> int | None:
    """Add a pending job; with `dedupe_key`, only when no job has that key yet (returns None
    then)."""
    cur = conn.execute(
        "INSERT INTO jobs (kind, payload, status, max_attempts, run_at, dedupe_key, created_at, updated_at) "
        "VALUES (?, ?, 'pending', ?, ?, ?, ?, ?) ON CONFLICT(dedupe_key) DO NOTHING RETURNING id",
        (kind, json.dumps(payload), max_attempts, now if run_at is None else run_at, dedupe_key, now, now),
    )
    row = cur.fetchone()
    return int(row[0]) if row else None


def enqueue_many(conn: sqlite3.Connection, kind: str, payloads_sql: str, args: list[Any], now: float) -> int:
    """Enqueue one job per row of `payloads_sql` (a SELECT yielding one JSON payload column), in
    one statement: fan-outs queue thousands of jobs without a round trip each."""
    cur = conn.execute(
        "INSERT INTO jobs (kind, payload, status, run_at, created_at, updated_at) "
        f"SELECT ?, payload, 'pending', ?, ?, ? FROM ({payloads_sql}) AS payloads",
        [kind, now, now, now, *args],
    )
    return cur.rowcount


def claim(conn: sqlite3.Connection, now: float, kinds: tuple[str, ...] | None = None) -> Job | None:
    """Mark the oldest due pending job running (one statement) and return it."""
    kind_filter = f"AND kind IN ({','.join('?' * len(kinds))})" if kinds else ""
    row = conn.execute(
        "UPDATE jobs SET status = 'running', attempts = attempts + 1, updated_at = ? WHERE id = ("
        f"SELECT id FROM jobs WHERE status = 'pending' AND run_at <= ? {kind_filter} ORDER BY run_at, id LIMIT 1"
        ") RETURNING *",
        [now, now, *(kinds or ())],
    ).fetchone()
    return _job(row) if row else None


def finish(conn: sqlite3.Connection, job_id: int, now: float) -> None:
    conn.execute(
        "UPDATE jobs SET status = 'done', last_error = NULL, updated_at = ? WHERE id = ?", (now, job_id)
    )


def fail(conn: sqlite3.Connection, job_id: int, error: str, now: float, retry_at: float | None) -> None:
    """Reschedule (pending at `retry_at`) or, with `retry_at` None, fail for good."""
    if retry_at is None:
        conn.execute(
            "UPDATE jobs SET status = 'failed', last_error = ?, updated_at = ? WHERE id = ?",
            (error, now, job_id),
        )
    else:
        conn.execute(
            "UPDATE jobs SET status = 'pending', last_error = ?, run_at = ?, updated_at = ? WHERE id = ?",
            (error, retry_at, now, job_id),
        )


def recover_interrupted(conn: sqlite3.Connection, now: float) -> int:
    """Jobs a dead worker left running go back to pending (their attempt still counts)."""
    return conn.execute(
        "UPDATE jobs SET status = 'pending', run_at = ?, updated_at = ? WHERE status = 'running'", (now, now)
    ).rowcount


def get(conn: sqlite3.Connection, job_id: int) -> Job | None:
    row = conn.execute("SELECT * FROM jobs WHERE id = ?", (job_id,)).fetchone()
    return _job(row) if row else None


def jobs_of(conn: sqlite3.Connection, kind: str | None = None, status: str | None = None) -> list[Job]:
    where, args = [], []
    if kind:
        where.append("kind = ?")
        args.append(kind)
    if status:
        where.append("status = ?")
        args.append(status)
    sql = "SELECT * FROM jobs" + (f" WHERE {' AND '.join(where)}" if where else "") + " ORDER BY id"
    return [_job(r) for r in conn.execute(sql, args).fetchall()]


def counts(conn: sqlite3.Connection) -> dict[str, int]:
    out = {"pending": 0, "running": 0, "done": 0, "failed": 0}
    for status, count in conn.execute("SELECT status, COUNT(*) FROM jobs GROUP BY status"):
        out[status] = count
    return out


def next_due(conn: sqlite3.Connection) -> float | None:
    row = conn.execute("SELECT MIN(run_at) FROM jobs WHERE status = 'pending'").fetchone()
    return row[0] if row else None


def prune_done(conn: sqlite3.Connection, before: float) -> int:
    """Delete finished jobs last touched before `before` (kept a while for inspection). An event
    pruned here and emitted again would run again: its notifications are keyed by the event, so
    nobody is notified twice."""
    return conn.execute("DELETE FROM jobs WHERE status = 'done' AND updated_at < ?", (before,)).rowcount


EVENT_JOB = "event"


def emit_event(
    conn: sqlite3.Connection, event_type: str, data: dict[str, Any], key: str, now: float
) -> int | None:
    """Record that `event_type` happened (a job its processor runs later). `key` identifies the
    event: emitting the same key twice (an article published again) queues it once."""
    return enqueue(conn, EVENT_JOB, {"type": event_type, "data": data}, now, dedupe_key=f"event:{key}")


# -- handing jobs over to a worker queue (`hub-server worker`, hub/server/worker_queue.py) -------
# With a queue configured, this table is the outbox: a store write still records its job here in
# its own transaction; a worker process hands due rows to the queue ('pending' -> 'running'),
# the queue runs them with its retries, and the row ends 'done' or 'failed'.


def due_for_handover(conn: sqlite3.Connection, now: float, limit: int, *, running_too: bool) -> list[Job]:
    """Due pending jobs (and, with `running_too`, every running one: a worker starting up hands
    them over again, the queue ignores those it still holds)."""
    status = "status IN ('pending', 'running')" if running_too else "status = 'pending'"
    rows = conn.execute(
        f"SELECT * FROM jobs WHERE {status} AND run_at <= ? ORDER BY run_at, id LIMIT ?", (now, limit)
    ).fetchall()
    return [_job(r) for r in rows]


def mark_handed_over(conn: sqlite3.Connection, job_ids: list[int], now: float) -> int:
    """Pending jobs the queue now holds become running (a job already done stays done)."""
    marks = [(now, job_id) for job_id in job_ids]
    cur = conn.executemany(
        "UPDATE jobs SET status = 'running', attempts = attempts + 1, updated_at = ? "
        "WHERE id = ? AND status = 'pending'",
        marks,
    )
    return cur.rowcount


def note_error(conn: sqlite3.Connection, job_id: int, error: str, now: float) -> None:
    """Record a failed attempt of a job the queue will retry (it stays running)."""
    conn.execute("UPDATE jobs SET last_error = ?, updated_at = ? WHERE id = ?", (error, now, job_id))
