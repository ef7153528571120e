"""Notifications: the event registry (one processor per event type), the background worker
that runs event, email and digest jobs from the persisted queue, and the SMTP mailer."""

from hub.server.notify.events import EventRegistry, EventType, UnknownEvent, default_registry
from hub.server.notify.mailer import Mailer, SmtpMailer
from hub.server.notify.worker import DIGEST_JOB, JobQueue, JobWorker, PermanentJobError

__all__ = [
    "DIGEST_JOB",
    "EventRegistry",
    "EventType",
    "JobQueue",
    "JobWorker",
    "Mailer",
    "PermanentJobError",
    "SmtpMailer",
    "UnknownEvent",
    "default_registry",
]
