"""Persisted background jobs with retries and exponential backoff with jitter."""

from hub.jobs.backoff import backoff_delay
from hub.jobs.queue import STATUSES, BackgroundJob, BackgroundJobs, JobRunner, PermanentJobError

__all__ = ["STATUSES", "BackgroundJob", "BackgroundJobs", "JobRunner", "PermanentJobError", "backoff_delay"]
