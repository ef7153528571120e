"""The persistent job queue: one SQLite table in the studio database.

Every state change is one `BEGIN IMMEDIATE` transaction guarded by the state it expects, so a job
is claimed by exactly one worker, finished once, and never silently dropped:
- `claim` moves the first queued job (highest priority, then oldest) to running atomically;
- `recover` (at start-up) turns jobs left `running` by a dead process into `interrupted`;
- `requeue` puts an interrupted, failed or cancelled job back at the end of the queue.
The number of queued jobs (every `/progress` poll shows it) is counted once per state change, in
the change's own transaction, and read from memory: a poll asks SQLite nothing. A second
`JobQueue` on the same file (another process) is seen at this queue's next state change; the
studio has one queue per database (`recover` at start-up assumes as much).
Images a job made are rows of `job_images`: the saved file's path, or the PNG bytes when the
request asked not to save into outputs (so `GET /images/{id}` still answers after a restart).
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
import uuid
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlitedb import write
from studio.database import open_database
from studio.jobs.types import REQUEUEABLE_STATES, Job, JobError, JobState

_COLUMNS = (
    "id, kind, payload, state, priority, created_at, started_at, finished_at, error, result, attempts, worker"
)


@dataclass(frozen=True)
class StoredImage:
    id: str
    job_id: str
    index: int
    seed: int | None
    subseed: int | None
    infotext: str | None
    path: str | None
    png: bytes | None

    def read_png(self) -> bytes | None:
        """The PNG bytes: kept in the database, or read from the saved file (None if it is gone)."""
        if self.png is not None:
            return self.png
        if self.path:
            try:
                return Path(self.path).read_bytes()
            except OSError:
                return None
        return None


@dataclass(frozen=True)
class NewImage:
    """An image to record with a finished job."""

    png: bytes
    seed: int | None = None
    subseed: int | None = None
    infotext: str | None = None
    path: str | None = None


class JobQueue:
    """`keep_image_blobs`: PNG bytes kept in the database (images not saved to outputs) are
    dropped for all but the newest that many jobs, checked every `PRUNE_EVERY` finished jobs;
    their rows (seed, infotext) stay, `GET /images/{id}` answers 404 for them."""

    PRUNE_EVERY = 50

    def __init__(self, db_path: Path, *, keep_image_blobs: int = 500) -> None:
        self.keep_image_blobs = keep_image_blobs
        self._finished_since_prune = 0
        db_path = Path(db_path)
        db_path.parent.mkdir(parents=True, exist_ok=True)
        self.db_path = db_path
        self._lock = threading.RLock()
        self._db = open_database(db_path)
        self._queued = self._count_queued(self._db)

    def close(self) -> None:
        with self._lock:
            self._db.close()

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            with write(self._db):
                yield self._db
                queued = self._count_queued(self._db)
            self._queued = queued  # committed: the count the next reader sees

    @staticmethod
    def _count_queued(db: sqlite3.Connection) -> int:
        return int(
            db.execute("SELECT COUNT(*) FROM jobs WHERE state = ?", (JobState.QUEUED.value,)).fetchone()[0]
        )

    # ---- reading ---------------------------------------------------------------------------

    def _row_to_job(self, row: Sequence[Any], position: int | None = None) -> Job:
        (
            job_id,
            kind,
            payload,
            state,
            priority,
            created,
            started,
            finished,
            error,
            result,
            attempts,
            worker,
        ) = row
        return Job(
            id=job_id,
            kind=kind,
            payload=json.loads(payload),
            state=JobState(state),
            priority=priority,
            created_at=created,
            started_at=started,
            finished_at=finished,
            error=error,
            result=json.loads(result) if result else None,
            attempts=attempts,
            worker=worker,
            position=position,
        )

    def _position(self, db: sqlite3.Connection, job_id: str) -> int | None:
        row = db.execute("SELECT state, priority, queue_order FROM jobs WHERE id = ?", (job_id,)).fetchone()
        if row is None or row[0] != JobState.QUEUED:
            return None
        ahead = db.execute(
            "SELECT COUNT(*) FROM jobs WHERE state = ? AND (priority > ? OR (priority = ? AND queue_order < ?))",
            (JobState.QUEUED.value, row[1], row[1], row[2]),
        ).fetchone()[0]
        return int(ahead)

    def get(self, job_id: str) -> Job | None:
        with self._lock:
            row = self._db.execute(f"SELECT {_COLUMNS} FROM jobs WHERE id = ?", (job_id,)).fetchone()
            if row is None:
                return None
            return self._row_to_job(row, self._position(self._db, job_id))

    def require(self, job_id: str) -> Job:
        job = self.get(job_id)
        if job is None:
            raise JobError(job_id, "no such job", not_found=True)
        return job

    def position(self, job_id: str) -> int | None:
        with self._lock:
            return self._position(self._db, job_id)

    def _filters(self, states: Iterable[JobState | str] | None, kind: str | None) -> tuple[str, list[Any]]:
        clauses, args = [], []
        if states:
            values = [JobState(state).value for state in states]
            clauses.append(f"state IN ({', '.join('?' * len(values))})")
            args.extend(values)
        if kind:
            clauses.append("kind = ?")
            args.append(kind)
        return (" WHERE " + " AND ".join(clauses)) if clauses else "", args

    def list(
        self,
        *,
        states: Iterable[JobState | str] | None = None,
        kind: str | None = None,
        offset: int = 0,
        limit: int = 50,
        newest_first: bool = True,
    ) -> list[Job]:
        where, args = self._filters(states, kind)
        order = "DESC" if newest_first else "ASC"
        with self._lock:
            rows = self._db.execute(
                f"SELECT {_COLUMNS} FROM jobs{where} ORDER BY seq {order} LIMIT ? OFFSET ?",
                (*args, limit, offset),
            ).fetchall()
            return [self._row_to_job(row, self._position(self._db, row[0])) for row in rows]

    def count(self, *, states: Iterable[JobState | str] | None = None, kind: str | None = None) -> int:
        where, args = self._filters(states, kind)
        with self._lock:
            return int(self._db.execute(f"SELECT COUNT(*) FROM jobs{where}", args).fetchone()[0])

    def queued_count(self) -> int:
        """Queued jobs, as of this queue's last state change: no query (see the module's note)."""
        return self._queued

    def images(self, job_id: str) -> list[StoredImage]:
        with self._lock:
            rows = self._db.execute(
                "SELECT id, job_id, idx, seed, subseed, infotext, path, png FROM job_images"
                " WHERE job_id = ? ORDER BY idx",
                (job_id,),
            ).fetchall()
        return [StoredImage(*row) for row in rows]

    def image(self, image_id: str) -> StoredImage | None:
        with self._lock:
            row = self._db.execute(
                "SELECT id, job_id, idx, seed, subseed, infotext, path, png FROM job_images WHERE id = ?",
                (image_id,),
            ).fetchone()
        return StoredImage(*row) if row else None

    # ---- state changes ---------------------------------------------------------------------

    def submit(self, kind: str, payload: dict[str, Any], *, priority: int = 0) -> Job:
        """Store a new queued job and return it (with its queue position)."""
        if not kind or not isinstance(kind, str):
            raise ValueError("kind: expected a non-empty job kind name")
        job_id = uuid.uuid4().hex
        text = json.dumps(payload, separators=(",", ":"))
        with self._write() as db:
            order = db.execute("SELECT COALESCE(MAX(queue_order), 0) + 1 FROM jobs").fetchone()[0]
            db.execute(
                "INSERT INTO jobs (id, kind, payload, state, priority, queue_order, created_at)"
                " VALUES (?, ?, ?, ?, ?, ?, ?)",
                (job_id, kind, text, JobState.QUEUED.value, int(priority), order, time.time()),
            )
        return self.require(job_id)

    def claim(self, worker: str, kinds: Iterable[str] | None = None) -> Job | None:
        """Atomically take the next queued job (of one of `kinds`, if given) and mark it running."""
        kind_list = list(kinds) if kinds is not None else None
        kind_clause = ""
        if kind_list is not None:
            if not kind_list:
                return None
            kind_clause = f" AND kind IN ({', '.join('?' * len(kind_list))})"
        with self._write() as db:
            row = db.execute(
                f"SELECT id FROM jobs WHERE state = ?{kind_clause} ORDER BY priority DESC, queue_order LIMIT 1",
                (JobState.QUEUED.value, *(kind_list or ())),
            ).fetchone()
            if row is None:
                return None
            db.execute(
                "UPDATE jobs SET state = ?, started_at = ?, worker = ?, attempts = attempts + 1, error = NULL"
                " WHERE id = ? AND state = ?",
                (JobState.RUNNING.value, time.time(), worker, row[0], JobState.QUEUED.value),
            )
        return self.require(row[0])

    def finish(
        self,
        job_id: str,
        state: JobState,
        *,
        result: dict[str, Any] | None = None,
        error: str | None = None,
        images: Sequence[NewImage] = (),
    ) -> Job:
        """Record the end of a running job with its images, in one transaction."""
        if not state.final:
            raise ValueError(f"state: {state} is not a final state")
        with self._write() as db:
            changed = db.execute(
                "UPDATE jobs SET state = ?, finished_at = ?, result = ?, error = ? WHERE id = ? AND state = ?",
                (
                    state.value,
                    time.time(),
                    json.dumps(result) if result is not None else None,
                    error,
                    job_id,
                    JobState.RUNNING.value,
                ),
            ).rowcount
            if not changed:
                raise JobError(job_id, "is not running")
            db.execute("DELETE FROM job_images WHERE job_id = ?", (job_id,))
            for index, image in enumerate(images):
                db.execute(
                    "INSERT INTO job_images (id, job_id, idx, seed, subseed, infotext, path, png)"
                    " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        image_id(job_id, index),
                        job_id,
                        index,
                        image.seed,
                        image.subseed,
                        image.infotext,
                        image.path,
                        None if image.path else image.png,
                    ),
                )
            self._finished_since_prune += 1
            if self._finished_since_prune >= self.PRUNE_EVERY:
                self._finished_since_prune = 0
                self._prune_blobs(db)
        return self.require(job_id)

    def _prune_blobs(self, db: sqlite3.Connection) -> int:
        row = db.execute(
            "SELECT seq FROM jobs ORDER BY seq DESC LIMIT 1 OFFSET ?", (self.keep_image_blobs,)
        ).fetchone()
        if row is None:
            return 0
        return db.execute(
            "UPDATE job_images SET png = NULL WHERE png IS NOT NULL"
            " AND job_id IN (SELECT id FROM jobs WHERE seq <= ?)",
            (row[0],),
        ).rowcount

    def prune_image_blobs(self) -> int:
        """Drop kept PNG bytes of all but the newest `keep_image_blobs` jobs now; returns how many."""
        with self._write() as db:
            return self._prune_blobs(db)

    def cancel(self, job_id: str) -> Job:
        """Cancel a queued job. A job in any other state is returned unchanged."""
        with self._write() as db:
            exists = db.execute("SELECT 1 FROM jobs WHERE id = ?", (job_id,)).fetchone()
            if exists is None:
                raise JobError(job_id, "no such job", not_found=True)
            db.execute(
                "UPDATE jobs SET state = ?, finished_at = ? WHERE id = ? AND state = ?",
                (JobState.CANCELLED.value, time.time(), job_id, JobState.QUEUED.value),
            )
        return self.require(job_id)

    def requeue(self, job_id: str) -> Job:
        """Put an interrupted, failed or cancelled job back at the end of the queue."""
        allowed = [state.value for state in REQUEUEABLE_STATES]
        with self._write() as db:
            row = db.execute("SELECT state FROM jobs WHERE id = ?", (job_id,)).fetchone()
            if row is None:
                raise JobError(job_id, "no such job", not_found=True)
            if row[0] not in allowed:
                raise JobError(
                    job_id, f"is {row[0]}; only {', '.join(sorted(allowed))} jobs can be re-queued"
                )
            order = db.execute("SELECT COALESCE(MAX(queue_order), 0) + 1 FROM jobs").fetchone()[0]
            db.execute(
                "UPDATE jobs SET state = ?, queue_order = ?, started_at = NULL, finished_at = NULL,"
                " error = NULL, result = NULL, worker = NULL WHERE id = ?",
                (JobState.QUEUED.value, order, job_id),
            )
            db.execute("DELETE FROM job_images WHERE job_id = ?", (job_id,))
        return self.require(job_id)

    def recover(self) -> list[str]:
        """At start-up: jobs left running by a process that died become interrupted. Returns their ids."""
        with self._write() as db:
            ids = [
                row[0] for row in db.execute("SELECT id FROM jobs WHERE state = ?", (JobState.RUNNING.value,))
            ]
            db.execute(
                "UPDATE jobs SET state = ?, finished_at = ?, error = ? WHERE state = ?",
                (
                    JobState.INTERRUPTED.value,
                    time.time(),
                    "the studio stopped while this job was running; re-queue it to run it again",
                    JobState.RUNNING.value,
                ),
            )
        return ids


def image_id(job_id: str, index: int) -> str:
    return f"{job_id}-{index}"
