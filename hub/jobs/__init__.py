"""Persisted background jobs with retries and exponential backoff with jitter."""

from hub.jobs.backoff import backoff_delay
from hub.jobs.queue import BackgroundJobs, JobRunner, PermanentJobError
from hub.store.jobs import STATUSES, BackgroundJob

__all__ = ["STATUSES", "BackgroundJob", "BackgroundJobs", "JobRunner", "PermanentJobError", "backoff_delay"]
