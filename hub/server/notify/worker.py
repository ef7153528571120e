"""The background worker: claims due jobs from the persisted queue and runs their handlers, with
retries and exponential backoff. Without a worker queue it runs inside the server process (an
asyncio task of the app's lifespan, the handlers in a thread); with one (`--queue-url`), worker
processes (`hub-server worker`, hub/server/worker_queue.py) run the same handlers through
`run_handed_over`, and the queue library does the retries.

Job kinds: `event` (the processor of the event's type fans notifications out), `email` (one
notification's email) and `digest` (the daily digests, re-queued every `digest_every` seconds).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from hub.jobs.backoff import backoff_delay
from hub.server.config import ServerConfig
from hub.server.notify.events import EventRegistry, UnknownEvent
from hub.server.notify.mailer import Mailer, SmtpMailer, digest_email, notification_email
from hub.server.store import ServerStore
from hub.server.store.job_queue import EVENT_JOB, Job
from hub.server.store.notifications import EMAIL_JOB

log = logging.getLogger(__name__)
DIGEST_JOB = "digest"
DAY = 86_400.0


class PermanentJobError(Exception):
    """A job that cannot succeed by retrying (it fails at once)."""


class JobQueue(Protocol):
    """What the worker needs of a queue (the server's `JobStore` is one)."""

    def enqueue(
        self,
        kind: str,
        payload: dict[str, Any],
        *,
        run_at: float | None = None,
        dedupe_key: str | None = None,
    ) -> int | None: ...

    def claim(self, now: float, kinds: tuple[str, ...] | None = None) -> Job | None: ...

    def finish(self, job_id: int, now: float) -> None: ...

    def fail(self, job_id: int, error: str, now: float, retry_at: float | None) -> None: ...

    def recover_interrupted(self, now: float) -> int: ...


class HandedOverJobs(Protocol):
    """What running a job handed over to a worker queue needs of the job table."""

    def get(self, job_id: int) -> Job | None: ...

    def finish(self, job_id: int, now: float) -> None: ...

    def fail(self, job_id: int, error: str, now: float, retry_at: float | None) -> None: ...

    def note_error(self, job_id: int, error: str, now: float) -> None: ...


@dataclass
class JobWorker:
    store: ServerStore
    queue: JobQueue
    registry: EventRegistry
    mailer: Mailer | None
    origin: str = "http://127.0.0.1:8765"  # for links in emails
    clock: Callable[[], float] = time.time
    backoff_base: float = 30.0
    backoff_cap: float = 6 * 3600.0
    digest_period: float = DAY  # at most one digest per user per period
    digest_every: float = 3600.0  # how often the digest job looks for users due
    rng: random.Random = field(default_factory=random.Random)

    def handlers(self) -> dict[str, Callable[[dict[str, Any], float], None]]:
        return {EVENT_JOB: self._event, EMAIL_JOB: self._email, DIGEST_JOB: self._digest}

    # -- running -------------------------------------------------------------------------------
    def run_one(self, now: float | None = None) -> Job | None:
        """Claim and run the oldest due job; returns it (as claimed), or None when none is due."""
        now = self.clock() if now is None else now
        job = self.queue.claim(now)
        if job is None:
            return None
        try:
            self._dispatch(job, now)
        except (PermanentJobError, UnknownEvent) as error:
            log.error("job %d (%s) failed for good: %s", job.id, job.kind, error)
            self.queue.fail(job.id, f"{type(error).__name__}: {error}", self.clock(), None)
        except Exception as error:
            retry_at = None
            if job.attempts < job.max_attempts:
                retry_at = self.clock() + backoff_delay(
                    job.attempts, self.backoff_base, self.backoff_cap, self.rng
                )
            log.warning("job %d (%s) attempt %d failed: %s", job.id, job.kind, job.attempts, error)
            self.queue.fail(job.id, f"{type(error).__name__}: {error}", self.clock(), retry_at)
        else:
            self.queue.finish(job.id, self.clock())
        return job

    def run_handed_over(self, jobs: HandedOverJobs, job_id: int, *, last_attempt: bool) -> str:
        """Run job `job_id` for the worker queue (hub/server/worker_queue.py), which retries it
        with backoff when this raises. A job already done or failed is skipped (a queue may
        deliver a job twice: the handlers are idempotent, this check makes most repeats free).
        Returns what became of it: "done", "failed" or "skipped"."""
        job = jobs.get(job_id)
        if job is None or job.status in ("done", "failed"):
            return "skipped"
        try:
            self._dispatch(job, self.clock())
        except (PermanentJobError, UnknownEvent) as error:
            log.error("job %d (%s) failed for good: %s", job.id, job.kind, error)
            jobs.fail(job.id, f"{type(error).__name__}: {error}", self.clock(), None)
            return "failed"
        except Exception as error:
            message = f"{type(error).__name__}: {error}"
            if last_attempt:
                jobs.fail(job.id, message, self.clock(), None)
            else:
                jobs.note_error(job.id, message, self.clock())
            raise
        jobs.finish(job.id, self.clock())
        return "done"

    def _dispatch(self, job: Job, now: float) -> None:
        handler = self.handlers().get(job.kind)
        if handler is None:
            raise PermanentJobError(f"no handler for job kind {job.kind!r}")
        handler(job.payload, now)

    def run_due(
        self, now: float | None = None, limit: int = 10_000, stop: Callable[[], bool] = lambda: False
    ) -> list[Job]:
        """Run due jobs until none is left (or `limit`, or `stop()` says so between two jobs);
        returns them in the order run."""
        ran = []
        while len(ran) < limit and not stop():
            job = self.run_one(now)
            if job is None:
                break
            ran.append(job)
        return ran

    def start(self) -> None:
        """At start-up: jobs a dead process left running are due again; the digest is scheduled."""
        now = self.clock()
        self.queue.recover_interrupted(now)
        self.schedule_digest(now)

    def schedule_digest(self, now: float) -> None:
        slot = (int(now // self.digest_every) + 1) * self.digest_every
        self.queue.enqueue(DIGEST_JOB, {}, run_at=slot, dedupe_key=f"digest:{int(slot)}")

    async def run_forever(
        self,
        poll: float,
        wake: asyncio.Event,
        run_in_thread: Callable[[Callable[[], Any]], Awaitable[Any]],
        stop: Callable[[], bool] = lambda: False,
    ) -> None:
        """Run due jobs whenever woken (a request queued one) or every `poll` seconds; a batch
        ends early between two jobs once `stop()` is true."""
        while True:
            try:
                await run_in_thread(functools.partial(self.run_due, stop=stop))
            except Exception:  # a broken queue read: keep the server up, try again later
                log.exception("the job worker failed; retrying in %.1f s", poll)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(wake.wait(), poll)
            wake.clear()

    # -- handlers ------------------------------------------------------------------------------
    def _event(self, payload: dict[str, Any], now: float) -> None:
        self.registry.process(self.store, str(payload["type"]), dict(payload.get("data") or {}))

    def _email(self, payload: dict[str, Any], now: float) -> None:
        found = self.store.notifications.email_of(int(payload["notificationId"]))
        if found is None:  # sent already (a retried job), or no longer waiting
            return
        doc, address = found
        if not address:
            return  # the user removed their address since: nothing to send
        if self.mailer is None:
            raise PermanentJobError("no SMTP server is configured (--smtp-host)")
        subject, body = notification_email(doc, self.origin)
        self.mailer.send(address, subject, body)
        self.store.notifications.mark_emailed([doc["id"]])

    def _digest(self, payload: dict[str, Any], now: float) -> None:
        try:
            self.send_digests(now)
        finally:
            self.schedule_digest(now)

    def send_digests(self, now: float) -> int:
        """Send one email to each user whose digest is due (`now` is the clock: tests pass their
        own); returns the digests sent."""
        sent = 0
        for user_id, address, docs in self.store.notifications.digests_due(now, self.digest_period):
            if self.mailer is None:
                raise PermanentJobError("no SMTP server is configured (--smtp-host)")
            subject, body = digest_email(docs, self.origin)
            self.mailer.send(address, subject, body)
            self.store.notifications.digest_sent(user_id, [d["id"] for d in docs], now)
            sent += 1
        return sent


def job_worker_for(config: ServerConfig, store: ServerStore, registry: EventRegistry) -> JobWorker:
    """The job worker of a server's settings (its mailer, its origin for links): the one the
    web process runs in-process, and the one `hub-server worker` runs."""
    mailer = None
    if config.smtp_host:
        mailer = SmtpMailer(
            config.smtp_host,
            config.smtp_port,
            config.smtp_from,
            config.smtp_username,
            config.smtp_password,
            config.smtp_starttls,
        )
    origin = config.public_url or "http://127.0.0.1:8765"
    return JobWorker(store, store.jobs, registry, mailer, origin=origin)
