from __future__ import annotations

import threading
from pathlib import Path

import pytest

from studio.jobs import JobError, JobQueue, JobState, NewImage


def test_fifo_with_priority_and_positions(tmp_path: Path) -> None:
    queue = JobQueue(tmp_path / "db.sqlite")
    a = queue.submit("generate", {"prompt": "a"})
    b = queue.submit("generate", {"prompt": "b"})
    urgent = queue.submit("generate", {"prompt": "c"}, priority=5)
    assert (a.position, b.position) == (0, 1)
    assert queue.position(urgent.id) == 0 and queue.position(a.id) == 1 and queue.position(b.id) == 2
    claimed = [queue.claim("w").id for _ in range(3)]
    assert claimed == [urgent.id, a.id, b.id]
    assert queue.claim("w") is None
    job = queue.get(a.id)
    assert job.state == JobState.RUNNING and job.attempts == 1 and job.worker == "w" and job.position is None


def test_finish_records_images_once_and_only_for_running_jobs(tmp_path: Path) -> None:
    queue = JobQueue(tmp_path / "db.sqlite")
    job = queue.submit("generate", {})
    with pytest.raises(JobError):
        queue.finish(job.id, JobState.DONE)
    queue.claim("w")
    saved = tmp_path / "saved.png"
    saved.write_bytes(b"file-png")
    done = queue.finish(
        job.id,
        JobState.DONE,
        result={"images": 2},
        images=[NewImage(b"blob-png", seed=1), NewImage(b"ignored", seed=2, path=str(saved))],
    )
    assert done.state == JobState.DONE and done.result == {"images": 2} and done.finished_at
    images = queue.images(job.id)
    assert [image.read_png() for image in images] == [b"blob-png", b"file-png"]
    assert images[1].png is None  # saved images are not duplicated into the database
    assert queue.image(f"{job.id}-0").seed == 1
    with pytest.raises(JobError):
        queue.finish(job.id, JobState.FAILED, error="twice")


def test_cancel_and_requeue(tmp_path: Path) -> None:
    queue = JobQueue(tmp_path / "db.sqlite")
    job = queue.submit("generate", {})
    other = queue.submit("generate", {})
    assert queue.cancel(job.id).state == JobState.CANCELLED
    assert queue.position(other.id) == 0
    with pytest.raises(JobError) as error:
        queue.requeue(other.id)
    assert "queued" in str(error.value)
    again = queue.requeue(job.id)
    assert again.state == JobState.QUEUED and again.position == 1  # back at the end
    with pytest.raises(JobError) as missing:
        queue.cancel("nope")
    assert missing.value.not_found


def test_recover_marks_running_jobs_interrupted_across_reopen(tmp_path: Path) -> None:
    path = tmp_path / "db.sqlite"
    first = JobQueue(path)
    running = first.submit("generate", {"prompt": "r"})
    waiting = first.submit("generate", {"prompt": "w"})
    first.claim("w")
    first.close()  # the process "dies" here
    second = JobQueue(path)
    assert second.recover() == [running.id]
    assert second.get(running.id).state == JobState.INTERRUPTED
    assert "re-queue" in second.get(running.id).error
    assert second.get(waiting.id).state == JobState.QUEUED
    assert second.claim("w").id == waiting.id
    assert second.requeue(running.id).state == JobState.QUEUED


def test_list_count_filters_and_paging(tmp_path: Path) -> None:
    queue = JobQueue(tmp_path / "db.sqlite")
    ids = [queue.submit("generate" if i % 2 else "xyz", {"i": i}).id for i in range(5)]
    queue.cancel(ids[0])
    assert queue.count() == 5
    assert queue.count(kind="xyz") == 3
    assert queue.count(states=["queued"]) == 4
    page = queue.list(offset=1, limit=2)
    assert [job.id for job in page] == [ids[3], ids[2]]
    assert [job.id for job in queue.list(newest_first=False, limit=1)] == [ids[0]]


def test_concurrent_claims_take_each_job_exactly_once(tmp_path: Path) -> None:
    queue = JobQueue(tmp_path / "db.sqlite")
    for i in range(60):
        queue.submit("generate", {"i": i})
    other = JobQueue(tmp_path / "db.sqlite")  # a second connection, as a second worker would have
    taken: list[str] = []
    lock = threading.Lock()

    def take(q: JobQueue) -> None:
        while (job := q.claim("w")) is not None:
            with lock:
                taken.append(job.id)

    threads = [threading.Thread(target=take, args=(q,)) for q in (queue, other, queue, other)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(taken) == 60 == len(set(taken))


def test_kept_png_bytes_are_pruned_to_the_newest_jobs(tmp_path: Path) -> None:
    queue = JobQueue(tmp_path / "db.sqlite", keep_image_blobs=2)
    saved = tmp_path / "saved.png"
    saved.write_bytes(b"file")
    ids = []
    for i in range(4):
        job = queue.submit("generate", {"i": i})
        queue.claim("w")
        queue.finish(job.id, JobState.DONE, images=[NewImage(b"blob%d" % i), NewImage(b"x", path=str(saved))])
        ids.append(job.id)
    assert queue.prune_image_blobs() == 2
    assert [queue.images(job_id)[0].read_png() for job_id in ids] == [None, None, b"blob2", b"blob3"]
    assert queue.images(ids[0])[1].read_png() == b"file"  # saved files are untouched
    assert queue.images(ids[0])[0].seed is None and len(queue.images(ids[0])) == 2  # rows stay


def test_queued_count_is_read_from_memory_and_follows_every_state_change(tmp_path: Path) -> None:
    """Every /progress poll shows the queued count: it must not cost a query, and must stay
    exact across submit, claim, cancel, finish, requeue, recover and a failed change."""
    path = tmp_path / "db.sqlite"
    queue = JobQueue(path)
    queries: list[str] = []

    def exact() -> int:
        return queue.count(states=[JobState.QUEUED])

    a, b, c = (queue.submit("generate", {"i": i}) for i in range(3))
    assert queue.queued_count() == exact() == 3
    queue._db.set_trace_callback(queries.append)  # every statement this connection runs
    assert [queue.queued_count() for _ in range(5)] == [3] * 5
    assert queries == []
    queue._db.set_trace_callback(None)
    queue.claim("w")
    assert queue.queued_count() == exact() == 2
    queue.cancel(b.id)
    assert queue.queued_count() == exact() == 1
    queue.cancel(b.id)  # already cancelled: unchanged
    assert queue.queued_count() == 1
    with pytest.raises(JobError):
        queue.finish(c.id, JobState.DONE)  # not running: rolled back, the count unchanged
    assert queue.queued_count() == exact() == 1
    queue.finish(a.id, JobState.DONE)
    queue.requeue(b.id)
    assert queue.queued_count() == exact() == 2
    queue.claim("w")
    assert queue.recover() and queue.queued_count() == exact() == 1
    assert JobQueue(path).queued_count() == 1  # a new queue on the file counts what is there
