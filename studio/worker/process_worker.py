"""`ProcessWorker`: a job worker whose engine lives in a child process.

The web process keeps everything a request touches: the queue (the one source of truth), the
event bus, progress and the preview. The worker's thread claims a job exactly as the in-process
`Worker` does, sends it to the child, and turns the child's messages into the same progress,
events and queue records; interrupt and skip go to the child at once. So the server's GIL is
never held by the engine, and a crashed or hung engine cannot take the server with it:
- the child dies while running a job (a crash, the OOM killer, `kill -9`): the job is recorded
  `failed` with an error saying so, and a new child is started; queued jobs are never touched
  (they are claimed one at a time, only when the child is ready for them);
- the engine does not stop within `kill_after` seconds of an interrupt (stuck in one long call):
  the child is killed and restarted, the job ends `cancelled` (or `interrupted` on shutdown)
  with an error saying so;
- the child cannot even start (a broken install): the job fails with the child's error.
The child runs at a lower CPU priority (`nice`, +10 by default) with torch's threads capped at
cores - 1 and OpenMP told not to spin: when a core is contended the web process (answering
/progress) gets it first, and the engine runs at full speed on whatever is left. Without this the
child, free of the server's GIL, took a whole core from the server and progress answers queued
behind it (docs/api.md, "In-process vs the worker process").
A job of a kind the child does not know (one registered only in the web process) runs in the
web process's thread, as with the in-process worker.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Mapping
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from typing import Any

from studio.config import StudioConfig
from studio.jobs.events import EventBus
from studio.jobs.queue import JobQueue
from studio.jobs.runners import RunnerRegistry
from studio.jobs.types import EventType, Job, JobState
from studio.jobs.worker import STOP_TIMEOUT, RunningJob, Worker, batch_count
from studio.progress import GenerationControl
from studio.worker import child
from studio.worker.messages import Done, Exit, Failed, Fatal, Interrupt, Ready, RunJob, Skip, Step

log = logging.getLogger(__name__)

WORKER_NICE = 10  # how much lower the engine's CPU priority is than the web process's (see below)
START_TIMEOUT = 300.0  # seconds a new child may take to build its engine (imports torch)
KILL_AFTER = 30.0  # seconds after an interrupt before a child that does not stop is killed
DIED = (
    "the engine's worker process died while running this job ({how}); a new worker process was "
    "started: re-queue the job to run it again"
)
KILLED = (
    "the engine did not stop within {seconds:g} s of the interrupt, so its worker process was "
    "killed and a new one started"
)


def default_torch_threads(environ: Mapping[str, str] | None = None) -> int | None:
    """torch's thread count for the child: cores - 1, so a core stays with the web process (or
    fewer, when the web process set fewer for its own torch); None (torch's own default, which
    follows the variable) when the user set OMP_NUM_THREADS."""
    environ = os.environ if environ is None else environ
    if environ.get("OMP_NUM_THREADS"):
        return None
    spare = max(1, (os.cpu_count() or 2) - 1)
    if "torch" in sys.modules:
        return max(1, min(spare, int(sys.modules["torch"].get_num_threads())))
    return spare


class WorkerStartError(RuntimeError):
    """The child could not build its engine (its error), or it died or hung while starting."""


class _ChildDied(Exception):
    def __init__(self, exitcode: int | None) -> None:
        super().__init__(describe_exit(exitcode))
        self.exitcode = exitcode


def describe_exit(exitcode: int | None) -> str:
    """`exit code 1`, `killed by signal SIGKILL`, or `still running`."""
    if exitcode is None:
        return "its pipe closed"
    if exitcode < 0:
        try:
            return f"killed by signal {signal.Signals(-exitcode).name}"
        except ValueError:
            return f"killed by signal {-exitcode}"
    return f"exit code {exitcode}"


class _RemoteControl(GenerationControl):
    """The web process's side of a job's control: flags kept here (for /progress) and sent on."""

    def __init__(self, job_id: str, send: Callable[[object], None]) -> None:
        super().__init__()
        self._job_id = job_id
        self._send = send
        self._interrupted_at: float | None = None

    def interrupt(self) -> None:
        super().interrupt()
        if self._interrupted_at is None:
            self._interrupted_at = time.monotonic()
        self._send(Interrupt(self._job_id))

    def interrupt_age(self) -> float | None:
        """Seconds since the first interrupt (a skip is taken by the child: it does not count)."""
        return None if self._interrupted_at is None else time.monotonic() - self._interrupted_at

    def skip(self) -> None:
        super().skip()
        self._send(Skip(self._job_id))


class _Child:
    """One worker process and the two pipes to it."""

    def __init__(self, process: BaseProcess, to_child: Connection, from_child: Connection) -> None:
        self.process = process
        self.to_child = to_child
        self.from_child = from_child
        self.kinds: frozenset[str] | None = None  # set by its Ready message
        self.ready: Ready | None = None  # its Ready message: pid, kinds, threads and niceness
        self.send_lock = threading.Lock()

    def send(self, message: object) -> None:
        try:
            with self.send_lock:
                self.to_child.send(message)
        except (OSError, ValueError):
            pass  # it died: the worker thread sees that and records the job

    def close(self, timeout: float = 5.0) -> None:
        """Ask it to exit; terminate, then kill it if it has not within `timeout` seconds."""
        self.send(Exit())
        self.process.join(timeout)
        if self.process.is_alive():
            self.process.terminate()
            self.process.join(2.0)
        if self.process.is_alive():
            self.process.kill()
            self.process.join(2.0)
        for connection in (self.to_child, self.from_child):
            connection.close()


class ProcessWorker(Worker):
    """A `Worker` whose jobs run in a child process (spawn context)."""

    def __init__(
        self,
        queue: JobQueue,
        events: EventBus,
        runners: RunnerRegistry,
        config: Callable[[], StudioConfig],
        *,
        name: str = "worker",
        preview_every: int = 5,
        poll_interval: float = 1.0,
        catalog: Callable[[], tuple[str, ...]] = tuple,
        scripts_state: Callable[[], object] = lambda: None,
        on_finished: Callable[[Job], None] | None = None,
        torch_threads: int | None = None,  # default: see `default_torch_threads`
        nice: int = WORKER_NICE,
        start_timeout: float = START_TIMEOUT,
        kill_after: float = KILL_AFTER,
    ) -> None:
        """`config`: the settings in effect (sent with each job). `catalog`: the web process's
        model files (the child rescans when they differ). `scripts_state`: anything that changes
        when extensions are enabled, disabled or updated; the child is restarted between jobs
        when it changed. `on_finished(job)`: called with each job the child finished `done`."""
        super().__init__(
            queue, events, runners, name=name, preview_every=preview_every, poll_interval=poll_interval
        )
        self._config = config
        self._catalog = catalog
        self._scripts_state = scripts_state
        self._on_finished = on_finished
        self.torch_threads = torch_threads
        self.nice = nice
        self.start_timeout = start_timeout
        self.kill_after = kill_after
        self._child: _Child | None = None
        self._child_scripts: object = None
        self._child_lock = threading.Lock()
        self.restarts = 0  # children started after the first (a death, a kill, an extension change)

    # ---- the child process -------------------------------------------------------------------

    @property
    def child_pid(self) -> int | None:
        """The running child's process id (None before it started or after it died)."""
        with self._child_lock:
            child_now = self._child
        if child_now is None or not child_now.process.is_alive():
            return None
        return child_now.process.pid

    @property
    def child_ready(self) -> Ready | None:
        """The running child's Ready message (its pid, job kinds, torch threads and niceness)."""
        with self._child_lock:
            child_now = self._child
        return None if child_now is None else child_now.ready

    def _spawn(self) -> _Child:
        context = multiprocessing.get_context("spawn")
        from_child, child_out = context.Pipe(duplex=False)
        child_in, to_child = context.Pipe(duplex=False)
        threads = self.torch_threads if self.torch_threads is not None else default_torch_threads()
        process = context.Process(
            target=child.main,
            args=(self._config(), child_in, child_out, self.preview_every, threads, self.nice),
            name=f"atelier-{self.name}-engine",
            daemon=True,
        )
        self._child_scripts = self._scripts_state()
        process.start()
        child_in.close()  # the parent keeps only its own ends, so a dead child reads as EOF
        child_out.close()
        log.info("engine worker process %s started (pid %s)", self.name, process.pid)
        return _Child(process, to_child, from_child)

    def _replace_child(self, reason: str) -> None:
        with self._child_lock:
            old, self._child = self._child, None
        if old is not None:
            log.warning("restarting the engine worker process %s: %s", self.name, reason)
            old.close(timeout=2.0)
            self.restarts += 1
        if self._stopping.is_set():
            return  # the studio is stopping: no new child
        with self._child_lock:
            self._child = self._spawn()

    def _ready_child(self) -> _Child:
        """The child, started (again) if needed, once it has built its engine."""
        with self._child_lock:
            current = self._child
        if self._stopping.is_set():
            raise WorkerStartError("the studio is stopping")
        if current is None:
            with self._child_lock:
                self._child = current = self._spawn()
        elif not current.process.is_alive():
            self._replace_child(f"it had died ({describe_exit(current.process.exitcode)})")
        elif current.kinds is not None and self._scripts_state() != self._child_scripts:
            self._replace_child("the extensions changed")
        with self._child_lock:
            current = self._child
        if current is None:  # stopping began while it was replaced
            raise WorkerStartError("the studio is stopping")
        if current.kinds is None:
            deadline = time.monotonic() + self.start_timeout
            while current.kinds is None:
                try:
                    message = self._receive(current, deadline - time.monotonic())
                except _ChildDied as died:
                    with self._child_lock:
                        self._child = None
                    current.close(timeout=1.0)
                    raise WorkerStartError(f"it died while starting ({died})") from None
                if message is None:
                    self._replace_child(f"it did not start within {self.start_timeout:g} s")
                    raise WorkerStartError(f"it did not start within {self.start_timeout:g} s")
                if isinstance(message, Fatal):
                    with self._child_lock:
                        self._child = None
                    current.close(timeout=2.0)
                    raise WorkerStartError(message.message)
                if isinstance(message, Ready):
                    current.kinds, current.ready = frozenset(message.kinds), message
                    log.info(
                        "engine worker process %s ready (pid %s, %d torch thread(s), nice %d)",
                        self.name, message.pid, message.torch_threads, message.nice,
                    )  # fmt: skip
        return current

    def _receive(self, current: _Child, timeout: float) -> object | None:
        """The child's next message, None after `timeout` seconds; _ChildDied when it is gone."""
        try:
            if current.from_child.poll(max(0.0, timeout)):
                return current.from_child.recv()
        except (EOFError, OSError):
            current.process.join(2.0)
            raise _ChildDied(current.process.exitcode) from None
        if not current.process.is_alive():
            raise _ChildDied(current.process.exitcode)
        return None

    # ---- lifecycle ---------------------------------------------------------------------------

    def start(self) -> None:
        super().start()
        with self._child_lock:
            if self._child is None:
                self._child = self._spawn()  # builds its engine while the studio starts

    def stop(self, timeout: float = STOP_TIMEOUT) -> None:
        super().stop(timeout)
        with self._child_lock:
            old, self._child = self._child, None
        if old is not None:
            old.close()

    # ---- running a job -----------------------------------------------------------------------

    def _execute(self, job: Job) -> None:
        try:
            kind = self.runners.get(job.kind)
            payload = kind.decode(job.payload)
        except (KeyError, ValueError, TypeError) as error:
            self._fail(job, error)
            return
        try:
            current = self._ready_child()
        except WorkerStartError as error:
            with self._lock:
                abandoned = job.id in self._abandoned
            if not abandoned:
                self._record_failure(job, f"the engine's worker process could not start: {error}")
            return
        assert current.kinds is not None
        if job.kind not in current.kinds:
            super()._execute(job)  # a kind only the web process knows
            return
        control = _RemoteControl(job.id, current.send)
        running = RunningJob(job, payload, control, time.monotonic(), batches=batch_count(payload))
        with self._lock:
            self._current = running
        self._publish(EventType.STARTED, job, {"attempt": job.attempts, "worker": self.name})
        current.send(RunJob(job.id, job.kind, job.payload, self._config(), self._catalog()))
        outcome = self._follow(job, current, control)
        with self._lock:
            if self._current is running:
                self._current = None
            abandoned = job.id in self._abandoned
        if isinstance(outcome, _ChildDied):
            self._replace_child(f"it died running job {job.id} ({outcome})")
            if not abandoned:
                self._record_failure(job, DIED.format(how=outcome))
        elif outcome is None:  # stuck after an interrupt: killed
            self._replace_child(f"job {job.id} did not stop within {self.kill_after:g} s of the interrupt")
            if not abandoned:
                self._record_end(job, running, interrupted=True, error=KILLED.format(seconds=self.kill_after))
        elif abandoned:
            return  # `stop` already recorded it interrupted
        elif isinstance(outcome, Failed):
            self._record_failure(job, outcome.message, outcome.field)
        else:
            self._record_end(
                job, running, interrupted=outcome.interrupted, summary=outcome.summary, images=outcome.images
            )

    def _follow(
        self, job: Job, current: _Child, control: _RemoteControl
    ) -> Done | Failed | _ChildDied | None:
        """Relay the child's steps until the job ends: its Done/Failed, _ChildDied, or None when it
        was killed for not stopping after an interrupt."""
        while True:
            try:
                message = self._receive(current, 0.25)
            except _ChildDied as died:
                return died
            if isinstance(message, Step) and message.job_id == job.id:
                self._record_step(message.info, message.preview)
            elif isinstance(message, (Done, Failed)) and message.job_id == job.id:
                return message
            elif message is None:
                age = control.interrupt_age()
                if age is not None and age > self.kill_after:
                    current.process.kill()
                    current.process.join(5.0)
                    return None

    def _record_end(
        self,
        job: Job,
        running: RunningJob,
        *,
        interrupted: bool,
        summary: dict[str, Any] | None = None,
        images: list[Any] | None = None,
        error: str | None = None,
    ) -> None:
        if interrupted and self._stopping.is_set() and not running.user_interrupted:
            state, event = JobState.INTERRUPTED, EventType.INTERRUPTED
        elif interrupted:
            state, event = JobState.CANCELLED, EventType.CANCELLED
        else:
            state, event = JobState.DONE, EventType.DONE
        summary = summary if summary is not None else {"images": []}
        try:
            finished = self.queue.finish(job.id, state, result=summary, images=images or [], error=error)
        except Exception as problem:
            log.exception("could not record the result of job %s", job.id)
            self._fail(job, problem)
            return
        data: dict[str, Any] = {"state": str(state), "result": summary}
        if error is not None:
            data["error"] = error
        self._publish(event, finished, data)
        if state == JobState.DONE and self._on_finished is not None:
            try:
                self._on_finished(finished)
            except Exception:
                log.exception("the finished-job hook failed on job %s", job.id)
