"""A SIGTERM to a serving studio with a job in the middle of a long step ends the process within
seconds, records the job `interrupted` (re-queueable), and answers the A1111 caller waiting on it."""

from __future__ import annotations

import json
import signal
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from studio.jobs import JobQueue

from .conftest import make_config
from .test_restart import start_server


@pytest.mark.slow
def test_sigterm_mid_step_exits_within_seconds_and_records_the_job_interrupted(
    tmp_path: Path, tiny_model_dir: Path
) -> None:
    config = make_config(tmp_path, tiny_model_dir)
    process, client = start_server(config.data_dir, config.builtin_models_path)
    answer: dict[str, Any] = {}

    def call_txt2img() -> None:
        # 1024x1024 on the tiny model: one step takes minutes (attention over 65,536 tokens)
        payload = {"prompt": "a red circle", "width": 1024, "height": 1024, "steps": 50, "seed": 1}
        try:
            with httpx.Client(base_url=str(client.base_url), timeout=60) as caller:
                answer["response"] = caller.post("/sdapi/v1/txt2img", json=payload)
        except httpx.HTTPError as error:
            answer["error"] = error

    caller = threading.Thread(target=call_txt2img, daemon=True)
    try:
        # a first small job loads the model (cold imports take seconds), so the next is in its step
        warm = client.post(
            "/sdapi/v1/txt2img",
            json={"prompt": "a circle", "width": 64, "height": 64, "steps": 1},
            timeout=180,
        )
        assert warm.status_code == 200
        caller.start()
        deadline = time.monotonic() + 60
        while True:
            running = client.get("/studio/v1/jobs", params={"state": "running"}).json()["items"]
            if running:
                job_id = running[0]["id"]
                break
            assert time.monotonic() < deadline, "the job did not start"
            time.sleep(0.05)
        time.sleep(1.0)  # inside the first step
        client.close()
        signalled = time.monotonic()
        process.send_signal(signal.SIGTERM)
        code = process.wait(10)
        took = time.monotonic() - signalled
        assert code in (0, -signal.SIGTERM)
    finally:
        client.close()
        if process.poll() is None:
            process.kill()
            process.wait(10)
    assert took < 10
    caller.join(10)
    # the A1111 caller got its answer (no image: the only batch was cut short) before the exit
    assert "response" in answer, answer.get("error")
    assert answer["response"].status_code == 200
    info = json.loads(answer["response"].json()["info"])
    assert info["job_id"] == job_id and info["job_state"] == "interrupted" and info["interrupted"]
    queue = JobQueue(config.database_path)
    try:
        job = queue.get(job_id)  # read without recover(): the server recorded it before exiting
        assert job is not None and job.state == "interrupted"
        assert queue.requeue(job_id).state == "queued"
    finally:
        queue.close()
