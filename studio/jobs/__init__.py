"""Persistent jobs: a SQLite queue, one worker thread per device, and an event bus.

`JobService` (service.py) is the front door; `JobQueue` (queue.py) stores jobs, `Worker`
(worker.py) runs them, `EventBus` (events.py) tells subscribers what happens, `RunnerRegistry`
(runners.py) maps job kinds to what runs them, preview.py makes the cheap live previews.
"""

from studio.jobs.events import AsyncSubscription, EventBus, ThreadSubscription
from studio.jobs.queue import JobQueue, NewImage, StoredImage
from studio.jobs.runners import JobKind, RunnerRegistry, UnknownKindError
from studio.jobs.service import JobService
from studio.jobs.types import GENERATE, SELECT_MODEL, XYZ, EventType, Job, JobError, JobEvent, JobState
from studio.jobs.worker import ProgressSnapshot, Worker

__all__ = [
    "GENERATE",
    "SELECT_MODEL",
    "XYZ",
    "AsyncSubscription",
    "EventBus",
    "EventType",
    "Job",
    "JobError",
    "JobEvent",
    "JobKind",
    "JobQueue",
    "JobService",
    "JobState",
    "NewImage",
    "ProgressSnapshot",
    "RunnerRegistry",
    "StoredImage",
    "ThreadSubscription",
    "UnknownKindError",
    "Worker",
]
