import random

import pytest

from hub.jobs import BackgroundJobs, JobRunner, PermanentJobError, backoff_delay


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_backoff_grows_exponentially_with_jitter_and_a_cap():
    rng = random.Random(1)
    delays = [backoff_delay(n, base=1, cap=30, rng=rng) for n in range(1, 8)]
    for n, delay in enumerate(delays, start=1):
        full = min(30, 2 ** (n - 1))
        assert full / 2 <= delay <= full
    assert len({round(backoff_delay(3, rng=rng), 6) for _ in range(20)}) > 1  # jittered


def test_a_failing_job_is_retried_after_backoff_then_succeeds(store):
    clock = Clock()
    queue = BackgroundJobs(store, backoff_base=10, clock=clock, rng=random.Random(0))
    calls = []

    def flaky(payload):
        calls.append(payload)
        if len(calls) < 3:
            raise ConnectionError("down")
        return {"ok": payload["n"]}

    runner = JobRunner(queue, {"flaky": flaky})
    job_id = queue.enqueue("flaky", {"n": 1}, max_attempts=5)
    job = runner.run_one()
    assert job.status == "pending" and job.attempts == 1 and "down" in job.last_error
    assert 5 <= job.run_at - clock.now <= 10
    assert runner.run_one() is None  # not due yet
    clock.now = job.run_at
    job = runner.run_one()
    assert job.attempts == 2 and 10 <= job.run_at - clock.now <= 20
    clock.now = job.run_at
    job = runner.run_one()
    assert (job.id, job.status, job.result) == (job_id, "done", {"ok": 1})
    assert queue.counts()["done"] == 1


def test_attempts_run_out_and_permanent_errors_fail_at_once(store):
    clock = Clock()
    queue = BackgroundJobs(store, backoff_base=1, clock=clock)

    def broken(payload):
        raise RuntimeError("always")

    def refused(payload):
        raise PermanentJobError("no")

    runner = JobRunner(queue, {"broken": broken, "refused": refused})
    queue.enqueue("broken", max_attempts=2)
    queue.enqueue("refused", max_attempts=5)
    for _ in range(4):
        runner.run_due()
        clock.now += 100
    statuses = {job.kind: (job.status, job.attempts) for job in queue.list()}
    assert statuses == {"broken": ("failed", 2), "refused": ("failed", 1)}


def test_jobs_interrupted_while_running_go_back_to_pending(store):
    queue = BackgroundJobs(store)
    queue.enqueue("sync", {"server": "x"})
    claimed = queue.claim()
    assert claimed.status == "running"
    assert queue.claim() is None  # nobody else takes it
    assert BackgroundJobs(store.reopen()).recover_interrupted() == 1
    assert queue.get(claimed.id).status == "pending"
    with pytest.raises(ValueError, match="status"):
        queue.list("bogus")


def test_run_now_runs_that_job_even_when_others_are_due_first(store):
    queue = BackgroundJobs(store)
    ran = []
    runner = JobRunner(queue, {"a": lambda p: ran.append(p["n"]), "b": lambda p: ran.append(p["n"])})
    queue.enqueue("a", {"n": 1})
    second = queue.enqueue("b", {"n": 2})
    assert runner.run_now(second).status == "done"
    assert ran == [2]
    assert runner.run_now(second) is None  # not pending any more
    runner.run_due()
    assert ran == [2, 1]
