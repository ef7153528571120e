"""The `jobs` table: background jobs with their status, attempts, schedule, error and result.

The scheduling policy (backoff, clock, who runs what) is `hub/jobs/`; this module only reads
and writes rows. The functions take a `sqlite3.Connection`; they never commit. A claim is one
`UPDATE ... RETURNING`, so two runners never take the same job.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

STATUSES = ("pending", "running", "done", "failed")
_COLUMNS = (
    "id, kind, payload, status, attempts, max_attempts, run_at, last_error, result, created_at, updated_at"
)


@dataclass
class BackgroundJob:
    id: int
    kind: str
    payload: dict[str, Any]
    status: str
    attempts: int
    max_attempts: int
    run_at: float
    last_error: str | None
    result: Any
    created_at: float
    updated_at: float


def _job(row: tuple) -> BackgroundJob:
    values = list(row)
    values[2] = json.loads(values[2] or "{}")
    values[8] = json.loads(values[8]) if values[8] else None
    return BackgroundJob(*values)


def insert(
    conn: sqlite3.Connection, kind: str, payload: dict[str, Any], max_attempts: int, run_at: float, now: float
) -> int:
    cursor = conn.execute(
        "INSERT INTO jobs (kind, payload, status, max_attempts, run_at, created_at, updated_at) "
        "VALUES (?, ?, 'pending', ?, ?, ?, ?)",
        [kind, json.dumps(payload), max_attempts, run_at, now, now],
    )
    return int(cursor.lastrowid)


def claim_due(
    conn: sqlite3.Connection, now: float, kinds: Sequence[str] | None = None
) -> BackgroundJob | None:
    """Mark the oldest due pending job (of these kinds) running and count the attempt."""
    kind_filter = f" AND kind IN ({','.join('?' * len(kinds))})" if kinds else ""
    row = conn.execute(
        f"UPDATE jobs SET status = 'running', attempts = attempts + 1, updated_at = ? "
        f"WHERE id = (SELECT id FROM jobs WHERE status = 'pending' AND run_at <= ?{kind_filter} "
        f"ORDER BY run_at, id LIMIT 1) RETURNING {_COLUMNS}",
        [now, now, *(kinds or ())],
    ).fetchone()
    return _job(row) if row else None


def claim(conn: sqlite3.Connection, job_id: int, now: float) -> BackgroundJob | None:
    """Mark this job running if it is pending (due or not); None when it is not pending."""
    row = conn.execute(
        "UPDATE jobs SET status = 'running', attempts = attempts + 1, updated_at = ? "
        f"WHERE id = ? AND status = 'pending' RETURNING {_COLUMNS}",
        [now, job_id],
    ).fetchone()
    return _job(row) if row else None


def complete(conn: sqlite3.Connection, job_id: int, result: Any, now: float) -> None:
    conn.execute(
        "UPDATE jobs SET status = 'done', result = ?, last_error = NULL, updated_at = ? WHERE id = ?",
        [json.dumps(result), now, job_id],
    )


def record_failure(
    conn: sqlite3.Connection, job_id: int, status: str, run_at: float, error: str, now: float
) -> None:
    conn.execute(
        "UPDATE jobs SET status = ?, run_at = ?, last_error = ?, updated_at = ? WHERE id = ?",
        [status, run_at, error, now, job_id],
    )


def release_running(conn: sqlite3.Connection, now: float) -> int:
    """Every `running` job back to pending; returns how many."""
    return conn.execute(
        "UPDATE jobs SET status = 'pending', updated_at = ? WHERE status = 'running'", [now]
    ).rowcount


def get(conn: sqlite3.Connection, job_id: int) -> BackgroundJob | None:
    row = conn.execute(f"SELECT {_COLUMNS} FROM jobs WHERE id = ?", [job_id]).fetchone()
    return _job(row) if row else None


def newest(conn: sqlite3.Connection, status: str | None, limit: int) -> list[BackgroundJob]:
    """The newest jobs first, of one status or of any."""
    where = "WHERE status = ?" if status else ""
    params = [status] if status else []
    rows = conn.execute(
        f"SELECT {_COLUMNS} FROM jobs {where} ORDER BY id DESC LIMIT ?", [*params, limit]
    ).fetchall()
    return [_job(r) for r in rows]


def counts(conn: sqlite3.Connection) -> dict[str, int]:
    """{status: jobs}, every status present (0 when none)."""
    found = dict(conn.execute("SELECT status, COUNT(*) FROM jobs GROUP BY status").fetchall())
    return {status: int(found.get(status, 0)) for status in STATUSES}
