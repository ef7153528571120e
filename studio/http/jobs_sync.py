"""Run a queued job to its end for a synchronous route (A1111's routes answer when the work is
done, yet the work waits its turn in the job queue like everything else)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from fastapi import HTTPException
from fastapi.concurrency import run_in_threadpool

from studio.jobs import Job, JobState
from studio.request import RequestError

if TYPE_CHECKING:
    from studio.http.services import HttpServices


async def run_job(services: HttpServices, kind: str, payload: dict[str, Any]) -> Job:
    """Submit a job (a bad payload: RequestError naming the field, nothing queued) and wait for
    it. A job that failed on a bad field is a RequestError naming it; any other failure a 500."""
    job = await run_in_threadpool(services.jobs.submit, kind, payload)
    job = await services.jobs.wait_async(job.id)
    if job.state == JobState.FAILED:
        failed_field = (job.result or {}).get("error_field")
        if failed_field:
            raise RequestError(str(failed_field), (job.error or "").removeprefix(f"{failed_field}: "))
        raise HTTPException(status_code=500, detail={"error": kind, "job_id": job.id, "errors": job.error})
    return job
