"""Background jobs persisted in the hub database, with retries and exponential backoff.

A small own implementation rather than huey: the hub needs its job rows in its own database
(visible from `hub jobs`, surviving a crash mid-run), and huey's SQLite storage can lose a task
whose worker is killed. A job is claimed with one UPDATE, so two runners never take the same
one; a job found `running` at start-up was interrupted and goes back to `pending`."""

from __future__ import annotations

import json
import logging
import random
import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from hub.jobs.backoff import backoff_delay
from hub.store.database import HubDatabase

log = logging.getLogger(__name__)
STATUSES = ("pending", "running", "done", "failed")


class PermanentJobError(RuntimeError):
    """Raise from a handler when retrying cannot help (bad input, refused file)."""


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


_COLUMNS = (
    "id, kind, payload, status, attempts, max_attempts, run_at, last_error, result, created_at, updated_at"
)


def _job(row: tuple) -> BackgroundJob:
    values = list(row)
    values[2] = json.loads(values[2] or "{}")
    values[8] = json.loads(values[8]) if values[8] else None
    return BackgroundJob(*values)


class BackgroundJobs:
    def __init__(
        self,
        store: HubDatabase,
        backoff_base: float = 2.0,
        backoff_cap: float = 600.0,
        clock: Callable[[], float] = time.time,
        rng: random.Random | None = None,
    ) -> None:
        self.store = store
        self.backoff_base = backoff_base
        self.backoff_cap = backoff_cap
        self.clock = clock
        self.rng = rng or random.Random()

    def enqueue(
        self, kind: str, payload: dict[str, Any] | None = None, max_attempts: int = 5, delay: float = 0
    ) -> int:
        if max_attempts < 1:
            raise ValueError("max_attempts: must be >= 1")
        now = self.clock()
        with self.store.transaction() as conn:
            cursor = conn.execute(
                "INSERT INTO jobs (kind, payload, status, max_attempts, run_at, created_at, updated_at) "
                "VALUES (?, ?, 'pending', ?, ?, ?, ?)",
                [kind, json.dumps(payload or {}), max_attempts, now + delay, now, now],
            )
        return int(cursor.lastrowid)

    def claim(self, kinds: tuple[str, ...] | None = None) -> BackgroundJob | None:
        """Take the oldest due pending job (marks it running, counts the attempt)."""
        now = self.clock()
        kind_filter = f" AND kind IN ({','.join('?' * len(kinds))})" if kinds else ""
        with self.store.transaction() as conn:
            row = conn.execute(
                f"UPDATE jobs SET status = 'running', attempts = attempts + 1, updated_at = ? "
                f"WHERE id = (SELECT id FROM jobs WHERE status = 'pending' AND run_at <= ?{kind_filter} "
                f"ORDER BY run_at, id LIMIT 1) RETURNING {_COLUMNS}",
                [now, now, *(kinds or ())],
            ).fetchone()
        return _job(row) if row else None

    def claim_id(self, job_id: int) -> BackgroundJob | None:
        """Take this job if it is pending (due or not); None when it is not pending."""
        with self.store.transaction() as conn:
            row = conn.execute(
                "UPDATE jobs SET status = 'running', attempts = attempts + 1, updated_at = ? "
                f"WHERE id = ? AND status = 'pending' RETURNING {_COLUMNS}",
                [self.clock(), job_id],
            ).fetchone()
        return _job(row) if row else None

    def complete(self, job_id: int, result: Any = None) -> None:
        with self.store.transaction() as conn:
            conn.execute(
                "UPDATE jobs SET status = 'done', result = ?, last_error = NULL, updated_at = ? WHERE id = ?",
                [json.dumps(result), self.clock(), job_id],
            )

    def fail(self, job_id: int, error: str, permanent: bool = False) -> BackgroundJob:
        """Record a failed attempt: back to pending after a backoff delay, or failed for good."""
        job = self.get(job_id)
        assert job is not None
        now = self.clock()
        if permanent or job.attempts >= job.max_attempts:
            status, run_at = "failed", job.run_at
        else:
            status = "pending"
            run_at = now + backoff_delay(job.attempts, self.backoff_base, self.backoff_cap, self.rng)
        with self.store.transaction() as conn:
            conn.execute(
                "UPDATE jobs SET status = ?, run_at = ?, last_error = ?, updated_at = ? WHERE id = ?",
                [status, run_at, error[-4000:], now, job_id],
            )
        return self.get(job_id)  # type: ignore[return-value]

    def recover_interrupted(self) -> int:
        """Jobs left `running` by a process that died go back to pending (call at start-up)."""
        with self.store.transaction() as conn:
            return conn.execute(
                "UPDATE jobs SET status = 'pending', updated_at = ? WHERE status = 'running'", [self.clock()]
            ).rowcount

    def get(self, job_id: int) -> BackgroundJob | None:
        row = self.store.execute(f"SELECT {_COLUMNS} FROM jobs WHERE id = ?", [job_id]).fetchone()
        return _job(row) if row else None

    def list(self, status: str | None = None, limit: int = 50) -> list[BackgroundJob]:
        if status is not None and status not in STATUSES:
            raise ValueError(f"status: must be one of {', '.join(STATUSES)}")
        where = "WHERE status = ?" if status else ""
        params = [status] if status else []
        rows = self.store.execute(
            f"SELECT {_COLUMNS} FROM jobs {where} ORDER BY id DESC LIMIT ?", [*params, limit]
        ).fetchall()
        return [_job(r) for r in rows]

    def counts(self) -> dict[str, int]:
        found = dict(self.store.execute("SELECT status, COUNT(*) FROM jobs GROUP BY status").fetchall())
        return {status: int(found.get(status, 0)) for status in STATUSES}


Handler = Callable[[dict[str, Any]], Any]


class JobRunner:
    """Runs due jobs with registered handlers, inline (`run_due`) or on a thread (`start`)."""

    def __init__(
        self, queue: BackgroundJobs, handlers: dict[str, Handler] | None = None, poll: float = 1.0
    ) -> None:
        self.queue = queue
        self.handlers: dict[str, Handler] = dict(handlers or {})
        self.poll = poll
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def register(self, kind: str, handler: Handler) -> None:
        self.handlers[kind] = handler

    def run_one(self) -> BackgroundJob | None:
        """Run the oldest due job of a kind this runner handles."""
        return self._run(self.queue.claim(tuple(self.handlers) or None))

    def run_now(self, job_id: int) -> BackgroundJob | None:
        """Run this pending job at once (the CLI enqueues a job, then runs it in the foreground)."""
        return self._run(self.queue.claim_id(job_id))

    def _run(self, job: BackgroundJob | None) -> BackgroundJob | None:
        if job is None:
            return None
        handler = self.handlers[job.kind]
        try:
            result = handler(job.payload)
        except PermanentJobError as error:
            return self.queue.fail(job.id, str(error), permanent=True)
        except Exception as error:
            log.warning("job %d (%s) attempt %d failed: %s", job.id, job.kind, job.attempts, error)
            detail = f"{type(error).__name__}: {error}\n{traceback.format_exc(limit=3)}"
            return self.queue.fail(job.id, detail)
        self.queue.complete(job.id, result)
        return self.queue.get(job.id)

    def run_due(self) -> list[BackgroundJob]:
        """Run every job that is due now (retries scheduled later are left for later)."""
        finished = []
        while (job := self.run_one()) is not None:
            finished.append(job)
        return finished

    def start(self) -> None:
        self.queue.recover_interrupted()
        self._stop.clear()
        self._thread = threading.Thread(target=self._loop, name="hub-jobs", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 30) -> None:
        self._stop.set()
        if self._thread:
            self._thread.join(timeout)
            self._thread = None

    def _loop(self) -> None:
        while not self._stop.is_set():
            if self.run_one() is None:
                self._stop.wait(self.poll)
