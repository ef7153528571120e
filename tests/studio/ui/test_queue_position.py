"""The queue position the progress line shows ("Queued: N jobs ahead"), over a real SQLite queue."""

from __future__ import annotations

from pathlib import Path

from studio.jobs import JobQueue
from studio.ui.backend import JobView
from studio.ui.progress import progress_text
from studio.ui.services_backend import jobs_ahead


def test_a_job_claimed_since_its_snapshot_does_not_count_itself(tmp_path: Path) -> None:
    queue = JobQueue(tmp_path / "db.sqlite")
    job = queue.submit("generate", {})
    assert jobs_ahead(queue, job) == 0  # idle server: nothing ahead
    queue.claim("worker-1")  # the worker takes it between the snapshot and the count
    assert jobs_ahead(queue, job) == 0
    assert (
        progress_text(JobView(id=job.id, state="queued", position=jobs_ahead(queue, job)))
        == "Queued: starting…"
    )


def test_jobs_ahead_counts_queued_before_and_running_others(tmp_path: Path) -> None:
    queue = JobQueue(tmp_path / "db.sqlite")
    queue.submit("generate", {})
    queue.claim("worker-1")  # one running
    queue.submit("generate", {})  # one queued before ours
    ours = queue.submit("generate", {})
    assert jobs_ahead(queue, ours) == 2
    assert progress_text(JobView(id=ours.id, state="queued", position=2)) == "Queued: 2 jobs ahead"
