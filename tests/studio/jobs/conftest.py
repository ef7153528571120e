"""A small real runner for driving the worker without a model: it makes PNGs with PIL, reports
each step with 4-channel numpy latents, and honours interrupt and skip like the engine."""

from __future__ import annotations

import io
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from studio.jobs import EventBus, JobQueue, JobService, RunnerRegistry, Worker
from studio.progress import GenerationControl, StepInfo
from studio.request import GenerationRequest, ImageRecord, Result, validate


class PaintRunner:
    """Paints one flat-coloured PNG per image; `step_delay` seconds per step. Records every run."""

    def __init__(self, step_delay: float = 0.0) -> None:
        self.step_delay = step_delay
        self.runs: list[str] = []
        self.started = threading.Event()
        self.gate: threading.Event | None = None  # if set, the first step waits for it

    def __call__(self, request: GenerationRequest, control: GenerationControl) -> Result:
        validate(request)
        self.runs.append(request.prompt)
        self.started.set()
        result = Result(request=request)
        for batch in range(request.n_iter):
            control.take_skip()
            skipped = False
            for step in range(1, request.steps + 1):
                if self.gate is not None:
                    self.gate.wait(10)
                time.sleep(self.step_delay)
                latents = np.full(
                    (request.batch_size, 4, request.height // 8, request.width // 8), step / 10.0
                )
                control.report_step(
                    StepInfo(
                        image_index=batch * request.batch_size,
                        image_count=request.image_count,
                        batch_index=batch,
                        step=step,
                        steps=request.steps,
                        latents=latents,
                    )
                )
                if control.interrupted:
                    break
                if control.skip_requested:
                    skipped = True
                    break
            if not skipped:
                for index in range(request.batch_size):
                    buffer = io.BytesIO()
                    Image.new("RGB", (request.width, request.height), (batch * 40, index * 40, 200)).save(
                        buffer, format="PNG"
                    )
                    seed = request.seed + batch * request.batch_size + index
                    result.images.append(
                        ImageRecord(png=buffer.getvalue(), seed=seed, subseed=-1, infotext="x")
                    )
            if control.interrupted:
                result.interrupted = True
                break
        return result


@pytest.fixture
def runner() -> PaintRunner:
    return PaintRunner()


@pytest.fixture
def job_service(tmp_path: Path, runner: PaintRunner) -> Iterator[JobService]:
    queue = JobQueue(tmp_path / "atelier.db")
    events = EventBus()
    runners = RunnerRegistry()
    runners.register("generate", runner)
    worker = Worker(queue, events, runners, name="cpu", preview_every=2, poll_interval=0.2)
    service = JobService(queue, events, runners, [worker])
    yield service
    service.stop(timeout=10)
    queue.close()
