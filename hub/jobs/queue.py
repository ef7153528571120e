"""Background jobs persisted in the hub database, with retries and exponential backoff.

A small own implementation rather than huey: the hub needs its job rows in its own database
(visible from `hub jobs`, surviving a crash mid-run), and huey's SQLite storage can lose a task
whose worker is killed. A job is claimed with one UPDATE, so two runners never take the same
one; a job found `running` at start-up was interrupted and goes back to `pending`."""

from __future__ import annotations

import logging
import random
import threading
import time
import traceback
from collections.abc import Callable
from typing import Any

from hub.jobs.backoff import backoff_delay
from hub.store import jobs as job_rows
from hub.store.database import HubDatabase
from hub.store.jobs import STATUSES, BackgroundJob

log = logging.getLogger(__name__)


class PermanentJobError(RuntimeError):
    """Raise from a handler when retrying cannot help (bad input, refused file)."""


class BackgroundJobs:
    """The hub's job rows and their policy: when a failed attempt is retried (backoff with
    jitter) and when it fails for good. The rows themselves are `hub/store/jobs.py`."""

    def __init__(
        self,
        db: HubDatabase,
        backoff_base: float = 2.0,
        backoff_cap: float = 600.0,
        clock: Callable[[], float] = time.time,
        rng: random.Random | None = None,
    ) -> None:
        self.db = db
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
        with self.db.transaction() as conn:
            return job_rows.insert(conn, kind, payload or {}, max_attempts, now + delay, now)

    def claim(self, kinds: tuple[str, ...] | None = None) -> BackgroundJob | None:
        """Take the oldest due pending job (marks it running, counts the attempt)."""
        with self.db.transaction() as conn:
            return job_rows.claim_due(conn, self.clock(), kinds)

    def claim_id(self, job_id: int) -> BackgroundJob | None:
        """Take this job if it is pending (due or not); None when it is not pending."""
        with self.db.transaction() as conn:
            return job_rows.claim(conn, job_id, self.clock())

    def complete(self, job_id: int, result: Any = None) -> None:
        with self.db.transaction() as conn:
            job_rows.complete(conn, job_id, result, self.clock())

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
        with self.db.transaction() as conn:
            job_rows.record_failure(conn, job_id, status, run_at, error[-4000:], now)
        return self.get(job_id)  # type: ignore[return-value]

    def recover_interrupted(self) -> int:
        """Jobs left `running` by a process that died go back to pending (call at start-up)."""
        with self.db.transaction() as conn:
            return job_rows.release_running(conn, self.clock())

    def get(self, job_id: int) -> BackgroundJob | None:
        return job_rows.get(self.db.conn, job_id)

    def list(self, status: str | None = None, limit: int = 50) -> list[BackgroundJob]:
        if status is not None and status not in STATUSES:
            raise ValueError(f"status: must be one of {', '.join(STATUSES)}")
        return job_rows.newest(self.db.conn, status, limit)

    def counts(self) -> dict[str, int]:
        return job_rows.counts(self.db.conn)


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
