"""The worker: one thread per device that runs queued jobs one at a time, in queue order.

For each job it decodes the payload with the job kind's decoder, makes a `GenerationControl`
whose step observer publishes `step` events (progress, ETA, and a cheap latent preview every
`preview_every` steps), runs the kind's runner and records the outcome:
- the runner returned -> `done` (or `cancelled` when the user interrupted it: the images made
  so far are kept in the result; `interrupted` when the studio is shutting down);
- the runner raised -> `failed` with the error.

Stopping (`stop`, on shutdown) interrupts the running job and waits `STOP_TIMEOUT` seconds for
it; a job still running then (stuck in one long uninterruptible call) is recorded `interrupted`
by `stop` itself, so a clean shutdown never leaves a job `running` in the database.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from studio.jobs.eta import StepClock
from studio.jobs.events import EventBus
from studio.jobs.preview import preview_png
from studio.jobs.queue import JobQueue, NewImage, image_id
from studio.jobs.runners import RunnerRegistry
from studio.jobs.types import EventType, Job, JobEvent, JobState
from studio.progress import GenerationControl, StepInfo
from studio.request import GenerationRequest, RequestError

log = logging.getLogger(__name__)

STOP_TIMEOUT = 5.0  # seconds `stop` waits for the running job to end before recording it interrupted
ABANDONED = (
    "the studio stopped while this job was running (it did not end within {timeout:g} s of the "
    "interrupt); re-queue it to run it again"
)


@dataclass
class RunningJob:
    """What the worker is doing right now (read by /progress and the UI)."""

    job: Job
    payload: Any
    control: GenerationControl
    started: float  # time.monotonic()
    batches: int = 1
    step: StepInfo | None = None
    progress: float = 0.0
    eta: float | None = None
    preview: bytes | None = None
    preview_step: int = 0
    user_interrupted: bool = False
    skipped: bool = False
    extra: dict[str, Any] = field(default_factory=dict)
    clock: StepClock = field(init=False)

    def __post_init__(self) -> None:
        self.clock = StepClock(self.batches, self.started)


@dataclass(frozen=True)
class ProgressSnapshot:
    job: Job | None
    step: StepInfo | None
    batches: int
    progress: float
    eta: float | None
    elapsed: float
    preview: bytes | None
    interrupted: bool
    skipped: bool


def summarize(job_id: str, result: Any) -> tuple[dict[str, Any], list[NewImage]]:
    """The JSON summary stored with a finished job, and the images to record."""
    if result is None:
        return {"images": []}, []
    if isinstance(result, dict):
        return result, []
    images = [
        NewImage(
            png=image.png, seed=image.seed, subseed=image.subseed, infotext=image.infotext, path=image.path
        )
        for image in getattr(result, "images", [])
    ]
    summary = {
        "images": [
            {
                "id": image_id(job_id, index),
                "index": index,
                "seed": image.seed,
                "subseed": image.subseed,
                "infotext": image.infotext,
                "path": image.path,
            }
            for index, image in enumerate(images)
        ],
        "timings": dict(getattr(result, "timings", {}) or {}),
        "peak_memory_bytes": int(getattr(result, "peak_memory_bytes", 0) or 0),
        "interrupted": bool(getattr(result, "interrupted", False)),
        "warnings": list(getattr(result, "warnings", []) or []),
    }
    cost = getattr(result, "cost", None)
    if cost is not None:
        summary["cost"] = cost
    runtime = getattr(result, "runtime", None)
    if runtime is not None:
        summary["runtime"] = runtime
    return summary, images


def step_preview(info: StepInfo, preview_every: int) -> bytes | None:
    """The live preview PNG for this step: every `preview_every` steps and at the last one."""
    steps = max(1, info.steps)
    if (
        info.latents is None
        or preview_every <= 0
        or not (info.step % preview_every == 0 or info.step == steps)
    ):
        return None
    try:
        return preview_png(info.latents, info.family, info.width, info.height)
    except Exception:
        log.exception("preview failed")
        return None


def batch_count(payload: Any) -> int:
    if isinstance(payload, GenerationRequest):
        return max(1, payload.n_iter)
    return max(1, int(getattr(payload, "n_iter", 1) or 1))


class Worker:
    def __init__(
        self,
        queue: JobQueue,
        events: EventBus,
        runners: RunnerRegistry,
        *,
        name: str = "worker",
        preview_every: int = 5,
        poll_interval: float = 1.0,
    ) -> None:
        self.queue = queue
        self.events = events
        self.runners = runners
        self.name = name
        self.preview_every = preview_every
        self.poll_interval = poll_interval
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._current: RunningJob | None = None
        self._claimed: Job | None = None  # the job taken from the queue, from claim to its record
        self._abandoned: set[str] = set()  # ids `stop` recorded interrupted while they still ran
        self._stop_asked_at: float | None = None  # time.monotonic() of the first stop request

    # ---- lifecycle ---------------------------------------------------------------------

    def start(self) -> None:
        if self._thread is not None and self._thread.is_alive():
            return
        # A fresh event per loop: a thread `stop` gave up on keeps its own (set) one and ends
        # after its stuck call instead of running on beside the new loop.
        self._stopping = threading.Event()
        self._stop_asked_at = None
        self._thread = threading.Thread(
            target=self._loop, args=(self._stopping,), name=f"atelier-{self.name}", daemon=True
        )
        self._thread.start()

    def begin_stop(self) -> None:
        """Stop taking jobs and interrupt the running one, without waiting (a signal handler's part)."""
        if self._stop_asked_at is None:
            self._stop_asked_at = time.monotonic()
        self._stopping.set()
        self._wake.set()
        with self._lock:
            if self._current is not None:
                self._current.control.interrupt()

    def stop(self, timeout: float = STOP_TIMEOUT) -> None:
        """Stop taking jobs; interrupt the running one (it ends `interrupted`, re-queueable). If it
        has not ended `timeout` seconds after the first stop request it is recorded `interrupted`
        here and left to die with the process (the thread is a daemon)."""
        self.begin_stop()
        if self._thread is not None:
            # counted from the first stop request (the signal), not from this call
            asked = self._stop_asked_at if self._stop_asked_at is not None else time.monotonic()
            self._thread.join(max(0.0, asked + timeout - time.monotonic()))
            if self._thread.is_alive():
                log.warning("worker %s did not stop within %g s", self.name, timeout)
                self._record_abandoned(timeout)
            self._thread = None

    def _record_abandoned(self, timeout: float) -> None:
        with self._lock:
            job = self._claimed
            if job is None:
                return
            self._abandoned.add(job.id)
        try:
            finished = self.queue.finish(
                job.id, JobState.INTERRUPTED, error=ABANDONED.format(timeout=timeout)
            )
        except Exception:
            log.exception("could not record job %s as interrupted", job.id)
            return
        self._publish(
            EventType.INTERRUPTED, finished, {"state": str(JobState.INTERRUPTED), "error": finished.error}
        )

    @property
    def alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def wake(self) -> None:
        """A job was queued: look at the queue now instead of at the next poll."""
        self._wake.set()

    # ---- control of the running job ---------------------------------------------------------

    def current_job_id(self) -> str | None:
        with self._lock:
            return self._current.job.id if self._current else None

    def interrupt(self, job_id: str | None = None) -> bool:
        """Stop the running job (or only if it is `job_id`) after its current step."""
        with self._lock:
            running = self._current
            if running is None or (job_id is not None and running.job.id != job_id):
                return False
            running.user_interrupted = True
            running.control.interrupt()
            return True

    def skip(self, job_id: str | None = None) -> bool:
        """Skip the image (batch) being made; the job goes on with the next one."""
        with self._lock:
            running = self._current
            if running is None or (job_id is not None and running.job.id != job_id):
                return False
            running.skipped = True
            running.control.skip()
            return True

    def snapshot(self) -> ProgressSnapshot:
        with self._lock:
            running = self._current
            if running is None:
                return ProgressSnapshot(None, None, 0, 0.0, None, 0.0, None, False, False)
            return ProgressSnapshot(
                job=running.job,
                step=running.step,
                batches=running.batches,
                progress=running.progress,
                eta=running.eta,
                elapsed=time.monotonic() - running.started,
                preview=running.preview,
                interrupted=running.control.interrupted,
                skipped=running.skipped,
            )

    # ---- the loop ------------------------------------------------------------------------

    def _loop(self, stopping: threading.Event) -> None:
        while not stopping.is_set():
            try:
                job = self.queue.claim(self.name)
            except Exception:
                log.exception("worker %s could not read the queue", self.name)
                job = None
            if job is None:
                self._wake.wait(self.poll_interval)
                self._wake.clear()
                continue
            with self._lock:
                self._claimed = job
            try:
                self._execute(job)
            finally:
                with self._lock:
                    if self._claimed is job:
                        self._claimed = None

    def _publish(self, kind: EventType, job: Job, data: dict[str, Any] | None = None, **extra: Any) -> None:
        self.events.publish(JobEvent(type=kind, job_id=job.id, kind=job.kind, data=data or {}, **extra))

    def _execute(self, job: Job) -> None:
        try:
            kind = self.runners.get(job.kind)
            payload = kind.decode(job.payload)
        except (KeyError, ValueError, TypeError) as error:
            self._fail(job, error)
            return
        control = GenerationControl(on_step=self._on_step)
        running = RunningJob(job, payload, control, time.monotonic(), batches=batch_count(payload))
        with self._lock:
            self._current = running
        self._publish(EventType.STARTED, job, {"attempt": job.attempts, "worker": self.name})
        try:
            result = kind.run(payload, control)
        except Exception as error:
            if not isinstance(error, RequestError):
                log.exception("job %s (%s) failed", job.id, job.kind)
            with self._lock:
                if self._current is running:
                    self._current = None
                if job.id in self._abandoned:
                    return
            self._fail(job, error)
            return
        with self._lock:
            if self._current is running:
                self._current = None
            if job.id in self._abandoned:
                return  # `stop` already recorded it interrupted
        if control.interrupted and self._stopping.is_set() and not running.user_interrupted:
            state, event = JobState.INTERRUPTED, EventType.INTERRUPTED
        elif control.interrupted:
            state, event = JobState.CANCELLED, EventType.CANCELLED
        else:
            state, event = JobState.DONE, EventType.DONE
        try:
            summary, images = summarize(job.id, result)
            finished = self.queue.finish(job.id, state, result=summary, images=images)
        except Exception as error:
            log.exception("could not record the result of job %s", job.id)
            self._fail(job, error)
            return
        self._publish(event, finished, {"state": str(state), "result": summary}, result=result)

    def _fail(self, job: Job, error: BaseException) -> None:
        message = str(error) if isinstance(error, RequestError) else f"{type(error).__name__}: {error}"
        self._record_failure(job, message, error.field if isinstance(error, RequestError) else None)

    def _record_failure(self, job: Job, message: str, field_name: str | None = None) -> None:
        """Record the job `failed` with `message` (and the bad request field, if one) and publish it."""
        data: dict[str, Any] = {"state": str(JobState.FAILED), "error": message}
        if field_name is not None:
            data["field"] = field_name
        # the bad field is kept with the job, so a synchronous route can answer 4xx naming it
        result = {"error_field": field_name} if field_name is not None else None
        try:
            self.queue.finish(job.id, JobState.FAILED, error=message, result=result)
        except Exception:
            log.exception("could not record the failure of job %s", job.id)
        self._publish(EventType.FAILED, job, data)

    def _on_step(self, info: StepInfo) -> None:
        self._record_step(info, step_preview(info, self.preview_every))

    def _record_step(self, info: StepInfo, preview: bytes | None) -> None:
        """Update the running job's progress, ETA and preview from a step, and publish it."""
        with self._lock:
            running = self._current
        if running is None:
            return
        now = time.monotonic()
        progress, eta = running.clock.observe(info, now)  # the ETA counts the steps really run
        elapsed = now - running.started
        with self._lock:
            running.step = info
            running.progress = progress
            running.eta = eta
            if preview is not None:
                running.preview = preview
                running.preview_step = info.step
        data = {
            "image_index": info.image_index,
            "image_count": info.image_count,
            "batch_index": info.batch_index,
            "batches": running.batches,
            "step": info.step,
            "steps": info.steps,
            "progress": round(progress, 4),
            "eta": None if eta is None or math.isinf(eta) else round(eta, 3),
            "elapsed": round(elapsed, 3),
        }
        self._publish(EventType.STEP, running.job, data, preview=preview)
