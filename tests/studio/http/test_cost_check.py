"""The cost check on a real server: refused requests (422 with the estimate, nothing queued),
warnings in the response and the job's result, and the two settings through /sdapi/v1/options."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from .conftest import LiveServer, make_config, serve

A1111_DEFAULTS = {"prompt": "a red circle"}  # an A1111 client's default request: 512x512, 50 steps
SMALL = {"prompt": "a red circle", "width": 64, "height": 64, "steps": 2, "seed": 3}


@pytest.fixture(scope="module")
def checked(tmp_path_factory: pytest.TempPathFactory, tiny_model_dir: Path) -> Iterator[LiveServer]:
    root = tmp_path_factory.mktemp("cost")
    server = serve(make_config(root, tiny_model_dir, cost_check="refuse", max_job_seconds=60))
    yield server
    server.stop()


@pytest.fixture
def client(checked: LiveServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=checked.url, timeout=120) as http:
        yield http


def set_options(client: httpx.Client, **values: Any) -> None:
    response = client.post("/sdapi/v1/options", json=values)
    assert response.status_code == 200, response.text


def wait_final(client: httpx.Client, job_id: str) -> dict[str, Any]:
    deadline = time.monotonic() + 120
    while True:
        job = client.get(f"/studio/v1/jobs/{job_id}").json()
        if job["state"] in ("done", "failed", "cancelled", "interrupted"):
            return job
        assert time.monotonic() < deadline, job["state"]
        time.sleep(0.05)


def test_refuse_answers_422_with_the_estimate_and_queues_nothing(client: httpx.Client) -> None:
    set_options(client, cost_check="refuse", max_job_seconds=60)
    before = client.get("/studio/v1/jobs").json()["total"]
    refused = client.post("/sdapi/v1/txt2img", json=A1111_DEFAULTS)
    assert refused.status_code == 422
    body = refused.json()
    assert body["error"] == "CostRefused" and body["field"] == "cost_check"
    message = body["detail"][0]["msg"]
    assert (
        "estimated" in message and "512x512, 50 steps, 1 image" in message and "max_job_seconds=60" in message
    )
    assert body["cost"]["estimate"]["seconds"] > 60 and body["cost"]["cost_check"] == "refuse"

    native = client.post("/studio/v1/jobs", json={"payload": {**A1111_DEFAULTS, "steps": 50}})
    assert native.status_code == 422 and native.json()["error"] == "CostRefused"
    # the documented maximum with a big batch: more memory than this machine has
    huge = {**SMALL, "width": 4096, "height": 4096, "steps": 1, "batch_size": 64}
    memory = client.post("/studio/v1/jobs", json={"payload": huge})
    assert memory.status_code == 422 and "of memory" in memory.json()["detail"][0]["msg"]
    assert client.get("/studio/v1/jobs").json()["total"] == before  # nothing was stored


def test_warn_queues_and_answers_the_warnings_in_the_response_and_the_result(client: httpx.Client) -> None:
    set_options(client, cost_check="warn", max_job_seconds=0.01)
    submitted = client.post("/studio/v1/jobs", json={"payload": SMALL})
    assert submitted.status_code == 202
    body = submitted.json()
    assert len(body["warnings"]) == 1 and "max_job_seconds=0.01" in body["warnings"][0]
    assert body["cost"]["estimate"]["seconds"] > 0.01
    job = wait_final(client, body["id"])
    assert job["state"] == "done"
    warnings = job["result"]["warnings"]  # checked again when it ran (loaded by then)
    assert len(warnings) == 1 and "max_job_seconds=0.01" in warnings[0]
    assert job["result"]["cost"]["estimate"]["step_seconds"] > 0

    answer = client.post("/sdapi/v1/txt2img", json=SMALL)
    assert answer.status_code == 200
    info = json.loads(answer.json()["info"])
    assert len(answer.json()["images"]) == 1
    assert answer.json()["warnings"] == info["warnings"] and "max_job_seconds=0.01" in info["warnings"][0]
    assert info["cost"]["estimate"]["seconds"] > 0


def test_off_checks_nothing(client: httpx.Client) -> None:
    set_options(client, cost_check="off")
    answer = client.post("/sdapi/v1/txt2img", json=SMALL)
    assert answer.status_code == 200 and answer.json()["warnings"] == []
    assert json.loads(answer.json()["info"])["cost"] == {
        "cost_check": "off",
        "estimate": None,
        "warnings": [],
    }


def test_options_read_check_and_save_the_settings(client: httpx.Client, checked: LiveServer) -> None:
    set_options(client, cost_check="warn", max_job_seconds=900)
    options = client.get("/sdapi/v1/options").json()
    assert options["cost_check"] == "warn" and options["max_job_seconds"] == 900
    saved = json.loads(checked.services.config.config_file.read_text(encoding="utf-8"))
    assert saved["cost_check"] == "warn" and saved["max_job_seconds"] == 900
    bad = client.post("/sdapi/v1/options", json={"cost_check": "loud", "samples_format": "png"})
    assert bad.status_code == 422 and bad.json()["field"] == "cost_check"
    assert "off, warn, refuse" in bad.json()["detail"][0]["msg"]
    negative = client.post("/sdapi/v1/options", json={"max_job_seconds": -1})
    assert negative.status_code == 422 and negative.json()["field"] == "max_job_seconds"
    mixed = client.post("/sdapi/v1/options", json={"cost_check": "off", "CLIP_stop_at_last_layers": 99})
    assert mixed.status_code == 422 and mixed.json()["field"] == "CLIP_stop_at_last_layers"
    assert client.get("/sdapi/v1/options").json()["cost_check"] == "warn"  # all or nothing
