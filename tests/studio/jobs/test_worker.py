from __future__ import annotations

import threading
import time

from studio.jobs import EventType, JobService, JobState
from studio.request import GenerationRequest

from .conftest import PaintRunner


def _request(prompt: str, **changes: object) -> GenerationRequest:
    values = {"prompt": prompt, "steps": 4, "width": 64, "height": 64, "seed": 10}
    values.update(changes)
    return GenerationRequest(**values)


def test_jobs_run_in_fifo_order_with_events_and_images(job_service: JobService, runner: PaintRunner) -> None:
    seen = []
    job_service.events.subscribe(seen.append)
    jobs = [job_service.submit_request(_request(f"p{i}", n_iter=2)) for i in range(3)]
    assert [job.position for job in jobs] == [0, 1, 2]
    job_service.start()
    finished = [job_service.wait(job.id, timeout=20) for job in jobs]
    assert runner.runs == ["p0", "p1", "p2"]
    assert all(job.state == JobState.DONE for job in finished)
    first = finished[0]
    assert [image["seed"] for image in first.result["images"]] == [10, 11]
    assert job_service.queue.image(first.result["images"][1]["id"]).read_png().startswith(b"\x89PNG")
    mine = [event for event in seen if event.job_id == first.id]
    assert [event.type for event in mine][:2] == [EventType.QUEUED, EventType.STARTED]
    assert mine[-1].type == EventType.DONE and mine[-1].result.seeds == [10, 11]
    steps = [event for event in mine if event.type == EventType.STEP]
    assert len(steps) == 8
    assert [event.data["progress"] for event in steps][-1] == 1.0
    assert steps[3].data["progress"] == 0.5  # end of the first of two batches
    assert [event.preview is not None for event in steps[:4]] == [False, True, False, True]


def test_a_failing_runner_fails_the_job_with_its_error_and_the_worker_goes_on(
    job_service: JobService,
) -> None:
    bad = job_service.queue.submit("generate", _request("x", width=65).to_json())
    good = job_service.submit_request(_request("ok"))
    job_service.start()
    failed = job_service.wait(bad.id, timeout=20)
    assert failed.state == JobState.FAILED and failed.error.startswith("width:")
    assert job_service.wait(good.id, timeout=20).state == JobState.DONE


def test_unknown_kind_and_bad_payload_fail_without_a_run(
    job_service: JobService, runner: PaintRunner
) -> None:
    stray = job_service.queue.submit("nothing-registered", {})
    broken = job_service.queue.submit("generate", {"prompt": "x", "no_such_field": 1})
    job_service.start()
    assert "unknown job kind" in job_service.wait(stray.id, timeout=20).error
    assert "no_such_field" in job_service.wait(broken.id, timeout=20).error
    assert runner.runs == []


def test_cancel_queued_interrupt_running_and_skip(job_service: JobService, runner: PaintRunner) -> None:
    runner.gate = threading.Event()
    running = job_service.submit_request(_request("long", steps=50, n_iter=3))
    queued = job_service.submit_request(_request("never"))
    job_service.start()
    assert runner.started.wait(10)
    assert job_service.cancel(queued.id).state == JobState.CANCELLED
    # skip the first batch, let it reach the second, then interrupt
    assert job_service.skip()
    runner.gate.set()
    with job_service.events.thread_subscription(running.id) as sub:
        while True:
            event = sub.get(timeout=10)
            if event.type == EventType.STEP and event.data["batch_index"] == 1:
                break
    snapshot = job_service.progress()
    assert snapshot.job.id == running.id and snapshot.skipped and 0.33 < snapshot.progress < 0.7
    job_service.cancel(running.id)
    ended = job_service.wait(running.id, timeout=20)
    assert ended.state == JobState.CANCELLED and ended.result["interrupted"]
    assert runner.runs == ["long"]  # the cancelled queued job never ran
    assert len(ended.result["images"]) == 1  # batch 0 skipped, batch 1 interrupted after its step: kept


def test_stop_leaves_the_running_job_interrupted_and_requeue_runs_it_again(
    job_service: JobService, runner: PaintRunner
) -> None:
    runner.step_delay = 0.02
    job = job_service.submit_request(_request("slow", steps=150))
    job_service.start()
    assert runner.started.wait(10)
    job_service.stop(timeout=10)
    stopped = job_service.get(job.id)
    assert stopped.state == JobState.INTERRUPTED
    runner.step_delay = 0.0
    job_service.requeue(job.id)
    job_service.start()
    again = job_service.wait(job.id, timeout=20)
    assert again.state == JobState.DONE and again.attempts == 2 and runner.runs == ["slow", "slow"]


def test_stop_records_a_job_stuck_in_one_long_call_interrupted_within_the_timeout(
    job_service: JobService, runner: PaintRunner
) -> None:
    """A runner inside one call that cannot look at the interrupt (one huge torch op) no longer
    leaves its job `running` after a clean stop: `stop` records it interrupted itself."""
    release = threading.Event()
    runner.gate = release  # the first step waits (up to 10 s) without looking at the interrupt
    job = job_service.submit_request(_request("stuck", steps=3))
    seen = []
    job_service.events.subscribe(seen.append)
    job_service.start()
    assert runner.started.wait(10)
    started = time.monotonic()
    job_service.stop(timeout=0.5)
    assert time.monotonic() - started < 2.0
    stopped = job_service.get(job.id)
    assert stopped.state == JobState.INTERRUPTED and "re-queue" in stopped.error
    assert [event.type for event in seen if event.job_id == job.id][-1] == EventType.INTERRUPTED
    release.set()  # the stuck call ends later: the worker must not record it a second time
    time.sleep(0.3)
    assert job_service.get(job.id).state == JobState.INTERRUPTED
    assert job_service.requeue(job.id).state == JobState.QUEUED
