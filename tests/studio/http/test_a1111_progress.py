"""GET /sdapi/v1/progress: answered by `ProgressFastPath` from bytes made once per change of
progress, with no SQLite query per poll, the same JSON as the FastAPI route, and still behind
the authentication."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import requests

from studio.http.a1111_progress import A1111Progress, ProgressFastPath, json_bytes, skip_current_image

from .conftest import LiveServer


def submit(live: LiveServer, steps: int) -> str:
    payload = {"prompt": "a red circle", "width": 64, "height": 64, "steps": steps, "seed": 1}
    answer = requests.post(f"{live.url}/studio/v1/jobs", json={"payload": payload}, timeout=30)
    assert answer.status_code == 202, answer.text
    return answer.json()["id"]


def wait_for(live: LiveServer, check: Any, timeout: float = 120) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        progress = requests.get(f"{live.url}/sdapi/v1/progress", timeout=30).json()
        if check(progress):
            return progress
        assert time.monotonic() < deadline, progress
        time.sleep(0.02)


def test_polls_ask_sqlite_nothing_and_share_one_body_per_step(live: LiveServer) -> None:
    answers = A1111Progress(live.services)
    job_id = submit(live, steps=150)
    queued = submit(live, steps=2)
    try:
        wait_for(live, lambda p: p["state"]["sampling_step"] >= 2)
        queries: list[str] = []
        live.services.queue._db.set_trace_callback(queries.append)
        try:
            for _ in range(20):
                assert requests.get(f"{live.url}/sdapi/v1/progress", timeout=30).status_code == 200
                answers.body(True)
        finally:
            live.services.queue._db.set_trace_callback(None)
        assert queries == []
        # the same bytes object while the step stands; new bytes when it moves on
        while True:
            step = live.services.jobs.progress().step
            first, second = answers.body(True), answers.body(True)
            if live.services.jobs.progress().step is step:
                break
        assert second is first
        shown = json.loads(first)
        assert shown["state"]["job_id"] == job_id and shown["state"]["queued_jobs"] == 1
        deadline = time.monotonic() + 60
        while live.services.jobs.progress().step is step:
            assert time.monotonic() < deadline
            time.sleep(0.01)
        later = answers.body(True)
        assert later is not first
        assert json.loads(later)["state"]["sampling_step"] > shown["state"]["sampling_step"]
        # a cancelled queued job leaves the count at once
        requests.delete(f"{live.url}/studio/v1/jobs/{queued}", timeout=30).raise_for_status()
        assert json.loads(answers.body(True))["state"]["queued_jobs"] == 0
        assert json.loads(answers.body(False))["state"]["queued_jobs"] == 0
    finally:
        requests.delete(f"{live.url}/studio/v1/jobs/{job_id}", timeout=30)
        requests.delete(f"{live.url}/studio/v1/jobs/{queued}", timeout=30)
    wait_for(live, lambda p: p["state"]["job_id"] is None)


def test_the_fast_path_and_the_route_give_the_same_answer(live: LiveServer) -> None:
    wait_for(live, lambda p: p["state"]["job_id"] is None)  # idle: the answer stands still
    answers = A1111Progress(live.services)
    idle = json_bytes(answers.state(True))
    for query, skip in [
        ("", False),
        ("?skip_current_image=true", True),
        ("?skip_current_image=TRUE", True),
        ("?skip_current_image=0", False),
        ("?skip_current_image=yes&skip_current_image=off", False),
        ("?other=1", False),
    ]:
        response = requests.get(f"{live.url}/sdapi/v1/progress{query}", timeout=30)
        assert response.status_code == 200, query
        assert response.headers["content-type"] == "application/json"
        assert response.content == json_bytes(answers.state(skip)) == idle, query
    # values only the route can judge go to it: FastAPI's 422 naming the field, as before
    for query in ("?skip_current_image=maybe", "?skip_current_image="):
        response = requests.get(f"{live.url}/sdapi/v1/progress{query}", timeout=30)
        assert response.status_code == 422, query
        assert "skip_current_image" in response.text
    assert skip_current_image(b"skip_current_image=maybe") is None
    spec = requests.get(f"{live.url}/openapi.json", timeout=30).json()
    assert "get" in spec["paths"]["/sdapi/v1/progress"]  # still documented


def test_the_fast_path_answers_without_the_app_and_passes_the_rest_on(live: LiveServer) -> None:
    asyncio.run(fast_path_answers_without_the_app_and_passes_the_rest_on(live))


async def fast_path_answers_without_the_app_and_passes_the_rest_on(live: LiveServer) -> None:
    reached: list[tuple[str, str]] = []

    async def app(scope: dict, receive: Any, send: Any) -> None:
        reached.append((scope["method"], scope["path"]))

    fast = ProgressFastPath(app, A1111Progress(live.services))
    sent: list[dict] = []

    async def send(message: dict) -> None:
        sent.append(message)

    async def receive() -> dict:
        return {"type": "http.request", "body": b""}

    def scope(method: str, path: str, query: bytes = b"") -> dict:
        return {"type": "http", "method": method, "path": path, "query_string": query, "headers": []}

    await fast(scope("GET", "/sdapi/v1/progress", b"skip_current_image=true"), receive, send)
    assert reached == [] and sent[0]["status"] == 200 and json.loads(sent[1]["body"])["progress"] == 0.0
    await fast(scope("POST", "/sdapi/v1/progress"), receive, send)
    await fast(scope("GET", "/sdapi/v1/progress", b"skip_current_image=2"), receive, send)
    await fast(scope("GET", "/sdapi/v1/options"), receive, send)
    assert reached == [
        ("POST", "/sdapi/v1/progress"),
        ("GET", "/sdapi/v1/progress"),
        ("GET", "/sdapi/v1/options"),
    ]


def test_progress_polls_still_need_the_login(make_server: Any) -> None:
    server = make_server(api_auth="alice:secret")
    url = f"{server.url}/sdapi/v1/progress?skip_current_image=true"
    refused = requests.get(url, timeout=30)
    assert refused.status_code == 401 and refused.headers["www-authenticate"].startswith("Basic")
    assert requests.get(url, auth=("alice", "wrong"), timeout=30).status_code == 401
    answer = requests.get(url, auth=("alice", "secret"), timeout=30)
    assert answer.status_code == 200 and answer.json()["state"]["queued_jobs"] == 0
