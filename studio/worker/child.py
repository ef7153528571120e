"""The engine's worker process: builds the engine, the scripts and the job kinds from the
config, then runs the jobs the web process sends, one at a time, reporting steps and outcomes.

A reader thread takes the parent's messages: jobs go to the main thread's inbox; `Interrupt` /
`Skip` reach the running job's `GenerationControl` at once (its steps check them, as in-process).
When the parent goes away (its pipe ends) the process exits at once: it never outlives the studio.
"""

from __future__ import annotations

import logging
import os
import queue
import signal
import threading
import traceback
from collections.abc import MutableMapping
from dataclasses import replace
from multiprocessing.connection import Connection
from typing import Any

from studio.config import StudioConfig
from studio.jobs.worker import step_preview, summarize
from studio.progress import GenerationControl, StepInfo
from studio.request import RequestError
from studio.worker.messages import (
    Done,
    Exit,
    Failed,
    Fatal,
    Interrupt,
    Ready,
    RunJob,
    Skip,
    Step,
    catalog_fingerprint,
)

log = logging.getLogger("atelier.worker")


class _Outbox:
    """Sends to the parent from any thread (the job's steps and its outcome)."""

    def __init__(self, connection: Connection) -> None:
        self._connection = connection
        self._lock = threading.Lock()

    def send(self, message: object) -> None:
        try:
            with self._lock:
                self._connection.send(message)
        except (OSError, ValueError):  # the parent is gone
            os._exit(0)


class _Controls:
    """The running job's control, and interrupt/skip requests that came before it started."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._job_id: str | None = None
        self._control: GenerationControl | None = None
        self._early: dict[str, set[str]] = {}

    def begin(self, job_id: str, control: GenerationControl) -> None:
        with self._lock:
            self._job_id, self._control = job_id, control
            for request in self._early.pop(job_id, set()):
                control.interrupt() if request == "interrupt" else control.skip()

    def end(self) -> None:
        with self._lock:
            self._job_id = self._control = None
            self._early.clear()

    def ask(self, job_id: str, request: str) -> None:
        with self._lock:
            if self._job_id == job_id and self._control is not None:
                self._control.interrupt() if request == "interrupt" else self._control.skip()
            else:
                self._early.setdefault(job_id, set()).add(request)


def _read_parent(connection: Connection, inbox: queue.Queue[RunJob | None], controls: _Controls) -> None:
    while True:
        try:
            message = connection.recv()
        except (EOFError, OSError):
            os._exit(0)  # the web process died: so does its engine
        if isinstance(message, RunJob):
            inbox.put(message)
        elif isinstance(message, Interrupt):
            controls.ask(message.job_id, "interrupt")
        elif isinstance(message, Skip):
            controls.ask(message.job_id, "skip")
        elif isinstance(message, Exit):
            inbox.put(None)
            return


def _error_message(error: BaseException) -> str:
    return str(error) if isinstance(error, RequestError) else f"{type(error).__name__}: {error}"


def lower_priority(nice: int) -> int:
    """Raise this process's niceness by `nice` (POSIX; a no-op elsewhere). Called before any
    thread starts, so every thread of the engine (torch's included) inherits it. Returns the
    niceness now in effect."""
    if not hasattr(os, "nice"):
        return 0
    try:
        return os.nice(max(0, nice))
    except OSError:  # not allowed here: run at the inherited priority
        return os.nice(0)


def quiet_openmp(environ: MutableMapping[str, str] = os.environ) -> None:
    """OpenMP threads sleep as soon as an operation ends instead of spinning for the next one
    (OMP_WAIT_POLICY=PASSIVE, unless the user set a policy): a spinning pool keeps cores busy
    between the engine's small operations, cores the web process needs to answer. Must run
    before torch is imported."""
    environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")


def main(
    config: StudioConfig,
    from_parent: Connection,
    to_parent: Connection,
    preview_every: int,
    torch_threads: int | None,
    nice: int = 0,
) -> None:
    """The child's entry point (multiprocessing spawn target)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl+C reaches the whole group: the parent decides
    niceness = lower_priority(nice)  # first: the threads started below inherit it
    quiet_openmp()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    outbox = _Outbox(to_parent)
    try:
        import torch

        if torch_threads:
            torch.set_num_threads(torch_threads)
        from studio.app import register_kinds
        from studio.jobs.runners import RunnerRegistry
        from studio.pipeline.engine import Engine
        from studio.scripts.system import build_script_system

        script_system = build_script_system(config)
        engine = Engine(config, hooks=script_system.scripts, registries=script_system.registries)
        runners = RunnerRegistry()
        register_kinds(runners, engine, script_system.scripts, config)
    except BaseException as error:
        outbox.send(Fatal(f"{type(error).__name__}: {error}\n{traceback.format_exc()}"))
        return
    inbox: queue.Queue[RunJob | None] = queue.Queue()
    controls = _Controls()
    threading.Thread(
        target=_read_parent, args=(from_parent, inbox, controls), name="atelier-worker-inbox", daemon=True
    ).start()
    outbox.send(Ready(os.getpid(), tuple(runners.names()), torch.get_num_threads(), niceness))
    while (job := inbox.get()) is not None:
        _run(job, engine, runners, controls, outbox, preview_every)
    logging.shutdown()
    os._exit(0)  # every job is recorded by the parent; skip the interpreter's slow teardown of torch


def _run(
    job: RunJob, engine: Any, runners: Any, controls: _Controls, outbox: _Outbox, preview_every: int
) -> None:
    if job.config != engine.config:
        engine.config = job.config  # what saving settings does in-process
    if job.catalog != catalog_fingerprint(engine.registry):
        engine.registry.refresh()  # models added or removed since (a download, a refresh)

    def on_step(info: StepInfo) -> None:
        outbox.send(Step(job.job_id, replace(info, latents=None), step_preview(info, preview_every)))

    control = GenerationControl(on_step=on_step)
    controls.begin(job.job_id, control)
    try:
        kind = runners.get(job.kind)
        result = kind.run(kind.decode(job.payload), control)
        summary, images = summarize(job.job_id, result)
    except Exception as error:
        if not isinstance(error, RequestError):
            log.exception("job %s (%s) failed", job.job_id, job.kind)
        field_name = error.field if isinstance(error, RequestError) else None
        outbox.send(Failed(job.job_id, _error_message(error), field_name))
        return
    finally:
        controls.end()
    outbox.send(Done(job.job_id, summary, images, control.interrupted))
