"""Persisted background jobs with retries and exponential backoff with jitter."""

from hub.jobs.backoff import backoff_delay
from hub.jobs.queue import STATUSES, Job, JobQueue, JobRunner, PermanentJobError

__all__ = ["STATUSES", "Job", "JobQueue", "JobRunner", "PermanentJobError", "backoff_delay"]
