"""The front door of the job system: what the API, the UI and scripts call.

`JobService` ties the queue (storage), the event bus and the workers together: submitting
stores the job, publishes `queued` (with its position) and wakes the workers; cancelling a
queued job publishes `cancelled`; cancelling the running one interrupts it (the worker then
publishes `cancelled` with what was made so far). `wait` / `wait_async` block until a job ends.
"""

from __future__ import annotations

import asyncio
import queue as thread_queue
import time
from collections.abc import Iterable, Mapping
from typing import Any

from studio.jobs.events import EventBus
from studio.jobs.queue import JobQueue
from studio.jobs.runners import RunnerRegistry
from studio.jobs.types import GENERATE, EventType, Job, JobEvent, JobState
from studio.jobs.worker import STOP_TIMEOUT, ProgressSnapshot, Worker
from studio.request import GenerationRequest


class JobService:
    def __init__(self, queue: JobQueue, events: EventBus, runners: RunnerRegistry, workers: Iterable[Worker]):
        self.queue = queue
        self.events = events
        self.runners = runners
        self.workers = list(workers)

    # ---- lifecycle ---------------------------------------------------------------------

    def start(self) -> list[str]:
        """Mark jobs a dead process left running as interrupted, then start the workers."""
        interrupted = self.queue.recover()
        for job_id in interrupted:
            job = self.queue.require(job_id)
            self._publish(EventType.INTERRUPTED, job, {"state": str(job.state), "error": job.error})
        for worker in self.workers:
            worker.start()
        return interrupted

    def begin_stop(self) -> None:
        """Stop taking jobs and interrupt running ones, without waiting (on a shutdown signal)."""
        for worker in self.workers:
            worker.begin_stop()

    def stop(self, timeout: float = STOP_TIMEOUT) -> None:
        """Stop the workers; a job still running after `timeout` s is recorded `interrupted`."""
        self.begin_stop()
        for worker in self.workers:
            worker.stop(timeout)

    # ---- submitting and controlling ------------------------------------------------------

    def submit(self, kind: str, payload: Mapping[str, Any], *, priority: int = 0) -> Job:
        """Queue a job of a registered kind. The payload is checked with the kind's decoder first,
        so a bad payload raises here (RequestError naming the field) and is never stored."""
        self.runners.get(kind).decode(payload)
        job = self.queue.submit(kind, dict(payload), priority=priority)
        self._publish(EventType.QUEUED, job, {"state": str(job.state), "position": job.position})
        for worker in self.workers:
            worker.wake()
        return job

    def submit_request(self, request: GenerationRequest, *, priority: int = 0) -> Job:
        return self.submit(GENERATE, request.to_json(), priority=priority)

    def cancel(self, job_id: str) -> Job:
        """Cancel a queued job, or interrupt it if it is running (it then ends `cancelled`)."""
        job = self.queue.require(job_id)
        if job.state == JobState.QUEUED:
            job = self.queue.cancel(job_id)
            if job.state == JobState.CANCELLED:
                self._publish(EventType.CANCELLED, job, {"state": str(job.state)})
                return job
        if job.state == JobState.RUNNING:
            for worker in self.workers:
                if worker.interrupt(job_id):
                    break
        return self.queue.require(job_id)

    def requeue(self, job_id: str) -> Job:
        job = self.queue.requeue(job_id)
        self._publish(
            EventType.QUEUED, job, {"state": str(job.state), "position": job.position, "requeued": True}
        )
        for worker in self.workers:
            worker.wake()
        return job

    def interrupt(self) -> bool:
        """Interrupt whatever is running (A1111's /interrupt)."""
        return any([worker.interrupt() for worker in self.workers])

    def skip(self) -> bool:
        """Skip the current image of whatever is running (A1111's /skip)."""
        return any([worker.skip() for worker in self.workers])

    def progress(self) -> ProgressSnapshot:
        """The running job's progress (the first busy worker's)."""
        snapshots = [worker.snapshot() for worker in self.workers]
        for snapshot in snapshots:
            if snapshot.job is not None:
                return snapshot
        return (
            snapshots[0] if snapshots else ProgressSnapshot(None, None, 0, 0.0, None, 0.0, None, False, False)
        )

    # ---- reading -----------------------------------------------------------------------

    def get(self, job_id: str) -> Job:
        return self.queue.require(job_id)

    def wait(self, job_id: str, timeout: float | None = None) -> Job:
        """Block the calling thread until the job is in a final state; returns it."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self.events.thread_subscription(job_id) as subscription:
            job = self.queue.require(job_id)
            while not job.state.final:
                left = None if deadline is None else deadline - time.monotonic()
                if left is not None and left <= 0:
                    raise TimeoutError(f"job {job_id} is still {job.state}")
                try:
                    event = subscription.get(timeout=min(left, 1.0) if left is not None else 1.0)
                except thread_queue.Empty:
                    event = None
                if event is None or event.final:
                    job = self.queue.require(job_id)
            return job

    async def wait_async(self, job_id: str, timeout: float | None = None) -> Job:
        """Await a final state without blocking the event loop (the synchronous A1111 endpoints)."""
        loop = asyncio.get_running_loop()
        deadline = None if timeout is None else loop.time() + timeout
        async with self.events.async_subscription(job_id) as subscription:
            job = self.queue.require(job_id)
            while not job.state.final:
                left = None if deadline is None else deadline - loop.time()
                if left is not None and left <= 0:
                    raise TimeoutError(f"job {job_id} is still {job.state}")
                try:
                    event = await subscription.get(timeout=min(left, 1.0) if left is not None else 1.0)
                except TimeoutError:
                    event = None
                if event is None or event.final:
                    job = self.queue.require(job_id)
            return job

    def _publish(self, kind: EventType, job: Job, data: dict[str, Any]) -> None:
        self.events.publish(JobEvent(type=kind, job_id=job.id, kind=job.kind, data=data))
