"""The shared types of the job system: job states, job rows and job events. No torch import."""

from __future__ import annotations

import base64
import enum
from dataclasses import dataclass, field
from typing import Any

# The job kinds the studio registers (`studio.app.build_services`); scripts may register others.
GENERATE = "generate"  # a GenerationRequest, run by the engine with the scripts' hooks
SELECT_MODEL = "select-model"  # {"name": ...}: load a checkpoint on the worker, in queue order
XYZ = "xyz"  # a GenerationRequest naming the X/Y/Z plot script, checked as one when submitted


class JobState(enum.StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"
    CANCELLED = "cancelled"  # cancelled while queued, or stopped by the user while running
    INTERRUPTED = "interrupted"  # was running when the process died or shut down; can be re-queued

    @property
    def final(self) -> bool:
        return self not in (JobState.QUEUED, JobState.RUNNING)


FINAL_STATES = frozenset(state for state in JobState if state.final)
REQUEUEABLE_STATES = frozenset({JobState.INTERRUPTED, JobState.FAILED, JobState.CANCELLED})


class JobError(Exception):
    """A job operation that cannot be done (unknown id, wrong state)."""

    def __init__(self, job_id: str, message: str, *, not_found: bool = False) -> None:
        super().__init__(f"job {job_id}: {message}")
        self.job_id = job_id
        self.not_found = not_found


@dataclass(frozen=True)
class Job:
    id: str
    kind: str
    payload: dict[str, Any]
    state: JobState
    priority: int
    created_at: float
    started_at: float | None = None
    finished_at: float | None = None
    error: str | None = None
    result: dict[str, Any] | None = None
    attempts: int = 0
    worker: str | None = None
    position: int | None = None  # 0 = next to run; only for queued jobs

    def to_json(self, *, include_payload: bool = True) -> dict[str, Any]:
        data: dict[str, Any] = {
            "id": self.id,
            "kind": self.kind,
            "state": str(self.state),
            "priority": self.priority,
            "position": self.position,
            "created_at": self.created_at,
            "started_at": self.started_at,
            "finished_at": self.finished_at,
            "attempts": self.attempts,
            "worker": self.worker,
            "error": self.error,
            "result": self.result,
        }
        if include_payload:
            data["payload"] = self.payload
        return data


class EventType(enum.StrEnum):
    QUEUED = "queued"
    STARTED = "started"
    STEP = "step"
    DONE = "done"
    FAILED = "failed"
    CANCELLED = "cancelled"
    INTERRUPTED = "interrupted"


FINAL_EVENTS = frozenset({EventType.DONE, EventType.FAILED, EventType.CANCELLED, EventType.INTERRUPTED})


@dataclass(frozen=True)
class JobEvent:
    """One thing that happened to a job. `data` is JSON-safe; `preview` (PNG bytes) only on some
    step events; `result` (the runner's in-process Result) only on `done`, for in-process
    subscribers such as the UI, never serialised."""

    type: EventType
    job_id: str
    kind: str
    data: dict[str, Any] = field(default_factory=dict)
    time: float = 0.0
    seq: int = 0
    preview: bytes | None = None
    result: Any = None

    @property
    def final(self) -> bool:
        return self.type in FINAL_EVENTS

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "type": str(self.type),
            "job_id": self.job_id,
            "kind": self.kind,
            "seq": self.seq,
            "time": self.time,
            **self.data,
        }
        if self.preview is not None:
            data["preview"] = base64.b64encode(self.preview).decode("ascii")
        return data
