"""ETA after a Skip: the next batch gets its own estimate, from the steps really run."""

from __future__ import annotations

from studio.jobs import EventType, JobEvent, JobService, JobState
from studio.jobs.eta import StepClock
from studio.progress import StepInfo
from studio.request import GenerationRequest

from .conftest import PaintRunner


def step(batch: int, number: int, steps: int = 10) -> StepInfo:
    return StepInfo(image_index=batch, image_count=2, batch_index=batch, step=number, steps=steps)


def test_the_clock_counts_the_steps_really_run() -> None:
    clock = StepClock(batches=2, started=0.0)
    assert clock.observe(step(0, 1), now=5.0) == (0.05, 5.0 * 19)  # load time included at first
    progress, eta = clock.observe(step(0, 2), now=6.0)  # one step a second from here on
    assert progress == 0.1 and eta == 18.0
    # Skip: batch 0 ends at its step 2; batch 1's first step comes a second later
    progress, eta = clock.observe(step(1, 1), now=7.0)
    assert progress == 0.55
    assert eta == 9.0  # its own 9 steps left (a progress-share estimate said 7/0.55 - 7 = 5.7)
    assert clock.observe(step(1, 10), now=16.0) == (1.0, 0.0)


def test_the_worker_gives_the_next_batch_its_own_eta_after_a_skip(
    job_service: JobService, runner: PaintRunner
) -> None:
    runner.step_delay = 0.05
    events: list[JobEvent] = []

    def watch(event: JobEvent) -> None:
        events.append(event)
        if event.type == EventType.STEP and event.data["batch_index"] == 0 and event.data["step"] == 2:
            job_service.skip()

    job_service.events.subscribe(watch)
    request = GenerationRequest(prompt="p", steps=10, n_iter=2, width=64, height=64, seed=1)
    job = job_service.submit_request(request)
    job_service.start()
    assert job_service.wait(job.id, timeout=30).state == JobState.DONE
    steps = [event.data for event in events if event.type == EventType.STEP]
    assert [(data["batch_index"], data["step"]) for data in steps][:3] == [(0, 1), (0, 2), (1, 1)]
    first_of_next = steps[2]
    # 9 steps of 0.05 s left: the old share-of-progress estimate gave about a tenth of a second
    assert first_of_next["progress"] == 0.55
    assert 0.3 <= first_of_next["eta"] <= 3.0, first_of_next
