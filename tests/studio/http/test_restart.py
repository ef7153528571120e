"""Jobs survive the server process: kill it mid-run, start it again, nothing is lost or run twice."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from studio.config import PROJECT_ROOT
from studio.history import HistoryStore
from studio.jobs import JobQueue

from .conftest import free_port, make_config

FINAL = {"done", "failed", "cancelled", "interrupted"}


def start_server(data_dir: Path, builtin: Path) -> tuple[subprocess.Popen, httpx.Client]:
    port = free_port()
    env = {**os.environ, "ATELIER_BUILTIN_MODELS_DIR": str(builtin), "PYTHONPATH": str(PROJECT_ROOT)}
    command = [sys.executable, "-m", "studio.cli.serve", "--data-dir", str(data_dir), "--port", str(port)]
    process = subprocess.Popen(
        [*command, "--api-only", "--no-browser", "--log-level", "warning"], cwd=PROJECT_ROOT, env=env
    )
    client = httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30)
    deadline = time.monotonic() + 90
    while True:
        assert process.poll() is None, f"server exited with {process.returncode}"
        assert time.monotonic() < deadline, "server did not start"
        try:
            if client.get("/sdapi/v1/progress").status_code == 200:
                return process, client
        except httpx.TransportError:
            time.sleep(0.2)


def wait_all_final(client: httpx.Client, ids: list[str], timeout: float = 240) -> dict[str, dict]:
    deadline = time.monotonic() + timeout
    while True:
        jobs = {job_id: client.get(f"/studio/v1/jobs/{job_id}").json() for job_id in ids}
        if all(job["state"] in FINAL for job in jobs.values()):
            return jobs
        assert time.monotonic() < deadline, {job_id: job["state"] for job_id, job in jobs.items()}
        time.sleep(0.1)


@pytest.mark.slow
def test_five_jobs_survive_a_killed_server(tmp_path: Path, tiny_model_dir: Path) -> None:
    config = make_config(tmp_path, tiny_model_dir)
    builtin = config.builtin_models_path
    process, client = start_server(config.data_dir, builtin)
    try:
        payload = {"prompt": "a green triangle", "width": 64, "height": 64, "steps": 30}
        ids = [
            client.post("/studio/v1/jobs", json={"payload": {**payload, "seed": i}}).json()["id"]
            for i in range(5)
        ]
        deadline = time.monotonic() + 60
        while client.get("/sdapi/v1/progress").json()["state"]["sampling_step"] < 3:
            assert time.monotonic() < deadline
            time.sleep(0.02)
        process.send_signal(signal.SIGKILL)
        process.wait(10)
    finally:
        client.close()
        if process.poll() is None:
            process.kill()

    process, client = start_server(config.data_dir, builtin)
    try:
        jobs = wait_all_final(client, ids)
        states = [jobs[job_id]["state"] for job_id in ids]
        assert sorted(states) == ["done", "done", "done", "done", "interrupted"], states
        killed = ids[states.index("interrupted")]  # the one running at the kill (usually the first)
        assert "re-queue" in jobs[killed]["error"]
        assert all(job["attempts"] == 1 for job in jobs.values())
        assert client.post(f"/studio/v1/jobs/{killed}/requeue").status_code == 202
        jobs = wait_all_final(client, ids)
        assert all(job["state"] == "done" for job in jobs.values())
        assert jobs[killed]["attempts"] == 2  # run again only because it was re-queued
        assert all(len(job["result"]["images"]) == 1 for job in jobs.values())
        listing = client.get("/studio/v1/jobs", params={"kind": "generate"}).json()
        assert listing["total"] == 5

        # a clean stop (SIGTERM) interrupts the running job and records it before the process exits
        long_job = client.post("/studio/v1/jobs", json={"payload": {**payload, "steps": 150}}).json()["id"]
        deadline = time.monotonic() + 30
        while client.get(f"/studio/v1/jobs/{long_job}").json()["state"] != "running":
            assert time.monotonic() < deadline
            time.sleep(0.02)
        # a step done first: an image interrupted before any step is not kept (nothing to keep)
        while client.get("/sdapi/v1/progress").json()["state"]["sampling_step"] < 2:
            assert time.monotonic() < deadline
            time.sleep(0.02)
        process.send_signal(signal.SIGTERM)
        assert process.wait(30) in (0, -signal.SIGTERM)  # uvicorn re-raises the signal after its shutdown
    finally:
        client.close()
        if process.poll() is None:
            process.kill()
    queue = JobQueue(config.database_path)
    assert queue.get(long_job).state == "interrupted"  # read without recover(): the server recorded it
    # each of the 5 jobs saved its image once, plus the partial image the SIGTERM-interrupted job kept
    assert HistoryStore(config.database_path).count() == 6
    queue.close()
