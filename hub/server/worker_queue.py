"""Background jobs run by worker processes (`hub-server worker`) from a saq queue on Redis or
PostgreSQL (`--queue-url`). docs/hub-server.md "Worker processes" says why saq.

The job table (store/job_queue.py) stays where a store write records its job, in the write's
own transaction, so a committed change always has its job. Each worker process hands due rows
over to the queue (`hand_over`: enqueue under the key `hub-job:<id>`, then mark the row
running), and runs queued jobs with the same handlers as the in-process worker
(`JobWorker.run_handed_over`). The queue does the rest:

- retries with exponential backoff and jitter (saq's `retry_delay` / `retry_backoff`), up to the
  row's `max_attempts`; the last failure marks the row failed;
- a job whose worker died (SIGKILL, a lost machine) stops sending heartbeats; after
  `heartbeat` seconds another worker's sweep puts it back in the queue, and it runs again;
- a row handed over twice (two workers' hand-overs racing, a worker killed between enqueueing
  and marking) is one queue job: the key is the row's id, and saq ignores a key it still holds.
  A job that completed is skipped when delivered again (its row is done), and every handler
  is idempotent besides (notifications are keyed by their event, an email is marked sent).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from hub.server.cache import RedisCache, invalidate_all, redis_client, redis_prefix
from hub.server.config import ServerConfig
from hub.server.notify import JobWorker, default_registry
from hub.server.notify.worker import job_worker_for
from hub.server.store import ServerStore
from hub.server.store.job_queue import Job

if TYPE_CHECKING:
    import saq

log = logging.getLogger(__name__)
TASK = "run_hub_job"


@dataclass(frozen=True)
class WorkerSettings:
    concurrency: int = 4  # jobs one worker process runs at once
    heartbeat: int = 30  # seconds without a heartbeat after which a job's worker counts as dead
    retry_delay: float = 30.0  # first retry after this (doubling, with jitter) ...
    retry_cap: float = 6 * 3600.0  # ... up to this
    timeout: int = 3600  # a job running longer is cancelled (and retried)
    poll: float = 1.0  # seconds between two hand-overs of due rows
    batch: int = 500  # rows handed over per round


def queue_name(config: ServerConfig) -> str:
    """One queue per catalog: the web and worker processes of the same hub share it."""
    return redis_prefix(config.data_dir)


def open_queue(url: str, name: str) -> saq.Queue:
    from saq import Queue

    return Queue.from_url(url, name=name)


def queue_job(row: Job, settings: WorkerSettings) -> saq.Job:
    from saq import Job as SaqJob

    return SaqJob(
        TASK,
        kwargs={"job_id": row.id},
        key=f"hub-job:{row.id}",
        retries=max(1, row.max_attempts),
        retry_delay=settings.retry_delay,
        retry_backoff=settings.retry_cap,
        timeout=settings.timeout,
        heartbeat=settings.heartbeat,
    )


async def hand_over(
    store: ServerStore, queue: saq.Queue, settings: WorkerSettings, *, running_too: bool = False
) -> int:
    """Enqueue the due pending rows (with `running_too`, the running ones as well), then mark
    them running; returns how many rows were handed over."""
    rows = await asyncio.to_thread(
        store.jobs.due_for_handover, time.time(), settings.batch, running_too=running_too
    )
    for row in rows:
        await queue.enqueue(queue_job(row, settings))
    if rows:
        await asyncio.to_thread(store.jobs.mark_handed_over, [r.id for r in rows], time.time())
    return len(rows)


async def run_hub_job(ctx: dict[str, Any], *, job_id: int) -> str:
    """The queue's one task: run job row `job_id` on a thread, sending heartbeats meanwhile."""
    queued: saq.Job = ctx["job"]
    worker: JobWorker = ctx["hub_worker"]
    store: ServerStore = ctx["hub_store"]
    last = queued.attempts >= queued.retries
    running = asyncio.ensure_future(
        asyncio.to_thread(worker.run_handed_over, store.jobs, job_id, last_attempt=last)
    )
    while True:
        done, _ = await asyncio.wait({running}, timeout=max(0.5, queued.heartbeat / 3))
        if done:
            return running.result()
        await queued.update()  # the heartbeat: this job's worker is alive


async def _hand_over_forever(store: ServerStore, queue: saq.Queue, settings: WorkerSettings) -> None:
    while True:
        try:
            while await hand_over(store, queue, settings) == settings.batch:
                pass
        except Exception:  # a database or queue hiccup: keep the worker up, try again
            log.exception("handing jobs over to the queue failed; retrying in %.1f s", settings.poll)
        await asyncio.sleep(settings.poll)


async def serve_worker(config: ServerConfig, settings: WorkerSettings) -> None:
    """Run one worker process until SIGTERM/SIGINT (saq stops it; running jobs may finish)."""
    from saq import Worker

    if not config.queue_url:
        raise ValueError("queue_url: a worker needs a queue (redis://... or postgresql://...)")
    store = ServerStore(config.data_dir, config.database)
    if config.redis_url:  # what the worker writes (notifications) reaches the web processes' cache
        cache = RedisCache(redis_client(config.redis_url), redis_prefix(config.data_dir))
        store.after_write.append(lambda: invalidate_all(cache))
    worker = job_worker_for(config, store, default_registry())
    queue = open_queue(config.queue_url, queue_name(config))
    handing: list[asyncio.Task[None]] = []

    async def startup(ctx: dict[str, Any]) -> None:
        ctx["hub_worker"], ctx["hub_store"] = worker, store
        await asyncio.to_thread(worker.schedule_digest, time.time())
        await hand_over(store, queue, settings, running_too=True)  # what a dead process left
        handing.append(asyncio.create_task(_hand_over_forever(store, queue, settings)))

    async def shutdown(_ctx: dict[str, Any]) -> None:
        for task in handing:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    saq_worker = Worker(
        queue,
        functions=[(TASK, run_hub_job)],
        concurrency=settings.concurrency,
        startup=startup,
        shutdown=shutdown,
        timers={"sweep": settings.heartbeat},
        shutdown_grace_period_s=30,
    )
    await queue.connect()
    try:
        await saq_worker.start()
    finally:
        await queue.disconnect()
        store.close()
