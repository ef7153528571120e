"""The native /studio/v1 job API: jobs of any kind, SSE and WebSocket events, images."""

from __future__ import annotations

import io
import json
import time

import httpx
import pytest
import websockets.sync.client
from PIL import Image

from .conftest import LiveServer


def payload(**changes: object) -> dict:
    values = {"prompt": "a blue square", "width": 64, "height": 64, "steps": 3, "seed": 1}
    values.update(changes)
    return values


@pytest.fixture
def client(live: LiveServer) -> httpx.Client:
    with httpx.Client(base_url=f"{live.url}/studio/v1", timeout=60) as client:
        yield client


def wait_state(client: httpx.Client, job_id: str, states: set[str], timeout: float = 60) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        job = client.get(f"/jobs/{job_id}").json()
        if job["state"] in states:
            return job
        assert time.monotonic() < deadline, job
        time.sleep(0.05)


def sse_events(client: httpx.Client, path: str) -> list[tuple[str, dict]]:
    events = []
    with client.stream("GET", path) as response:
        assert response.headers["content-type"].startswith("text/event-stream")
        name = None
        for line in response.iter_lines():
            if line.startswith("event: "):
                name = line.removeprefix("event: ")
            elif line.startswith("data: "):
                events.append((name, json.loads(line.removeprefix("data: "))))
    return events


def test_submit_follow_with_sse_and_fetch_the_image(client: httpx.Client) -> None:
    response = client.post("/jobs", json={"kind": "generate", "payload": payload(steps=10, seed=3)})
    assert response.status_code == 202
    job = response.json()
    assert job["state"] in ("queued", "running") and job["url"].endswith(job["id"])
    events = sse_events(client, f"/jobs/{job['id']}/events")
    names = [name for name, _ in events]
    assert names[0] == "state" and names[-1] == "done"
    steps = [data for name, data in events if name == "step"]
    if names[1] != "done":  # the stream opened before the job ended: its steps were streamed
        assert steps and steps[-1]["step"] == 10 and steps[-1]["progress"] == 1.0
        assert any("preview" in data for data in steps)
    done = client.get(f"/jobs/{job['id']}").json()
    assert done["state"] == "done" and done["attempts"] == 1
    image = done["result"]["images"][0]
    assert image["seed"] == 3 and image["url"] == f"/studio/v1/images/{image['id']}"
    png = client.get(image["url"].removeprefix("/studio/v1"))
    assert png.headers["content-type"] == "image/png"
    assert "Seed: 3" in Image.open(io.BytesIO(png.content)).info["parameters"]
    assert client.get("/images/nope-0").status_code == 404


def test_cancel_queued_interrupt_running_requeue_and_errors(client: httpx.Client) -> None:
    running = client.post("/jobs", json={"payload": payload(steps=150)}).json()
    queued = client.post("/jobs", json={"payload": payload()}).json()
    wait_state(client, running["id"], {"running"})
    assert client.get(f"/jobs/{queued['id']}").json()["position"] == 0
    cancelled = client.delete(f"/jobs/{queued['id']}").json()
    assert cancelled["state"] == "cancelled"
    client.delete(f"/jobs/{running['id']}")
    stopped = wait_state(client, running["id"], {"cancelled", "done", "failed"})
    assert stopped["state"] == "cancelled" and stopped["result"]["interrupted"] is True
    requeued = client.post(f"/jobs/{queued['id']}/requeue")
    assert requeued.status_code == 202 and requeued.json()["state"] == "queued"
    again = wait_state(client, queued["id"], {"done", "failed"})
    assert again["state"] == "done" and again["attempts"] == 1  # it never ran before the requeue
    conflict = client.post(f"/jobs/{queued['id']}/requeue")
    assert conflict.status_code == 409 and "done" in conflict.json()["detail"]
    assert client.get("/jobs/no-such-job").status_code == 404
    assert client.delete("/jobs/no-such-job").status_code == 404


def test_bad_submissions_name_the_field(client: httpx.Client) -> None:
    unknown_kind = client.post("/jobs", json={"kind": "teleport", "payload": {}})
    assert unknown_kind.status_code == 422 and unknown_kind.json()["field"] == "kind"
    bad_width = client.post("/jobs", json={"payload": payload(width=65)})
    assert bad_width.status_code == 422 and bad_width.json()["field"] == "width"
    unknown_field = client.post("/jobs", json={"payload": payload(colour="red")})
    assert unknown_field.status_code == 422 and unknown_field.json()["field"] == "colour"
    bad_image = client.post("/jobs", json={"payload": payload(init_images=["%%%"])})
    assert bad_image.status_code == 422 and bad_image.json()["field"] == "init_images[0]"
    assert client.post("/jobs", json={"payload": payload(), "priority": 1000}).status_code == 422


def test_list_filters_and_pages(client: httpx.Client) -> None:
    ids = [client.post("/jobs", json={"payload": payload(seed=i)}).json()["id"] for i in range(3)]
    for job_id in ids:
        wait_state(client, job_id, {"done"})
    page = client.get("/jobs", params={"limit": 2, "kind": "generate", "state": "done"}).json()
    assert page["total"] >= 3 and [job["id"] for job in page["items"]] == ids[::-1][:2]
    following = client.get(
        "/jobs", params={"limit": 2, "offset": 2, "kind": "generate", "state": "done"}
    ).json()
    assert following["items"][0]["id"] == ids[0]
    assert client.get("/jobs", params={"state": "sleeping"}).status_code == 422
    assert client.get("/jobs", params={"kind": "nothing"}).json() == {
        "items": [],
        "total": 0,
        "offset": 0,
        "limit": 50,
    }


def test_websocket_streams_a_jobs_events(client: httpx.Client, live: LiveServer) -> None:
    job = client.post("/jobs", json={"payload": payload(steps=6)}).json()
    received = []
    with websockets.sync.client.connect(
        f"ws://127.0.0.1:{live.port}/studio/v1/jobs/{job['id']}/events"
    ) as socket:
        while True:
            try:
                event = json.loads(socket.recv(timeout=30))
            except websockets.ConnectionClosedOK:
                break
            received.append(event["type"])
    assert received[0] == "state" and received[-1] in ("done", "state")
    assert client.get(f"/jobs/{job['id']}").json()["state"] == "done"
    with (
        pytest.raises(websockets.InvalidStatus),
        websockets.sync.client.connect(f"ws://127.0.0.1:{live.port}/studio/v1/jobs/nope/events"),
    ):
        pass


def test_openapi_documents_both_apis(client: httpx.Client, live: LiveServer) -> None:
    schema = httpx.get(f"{live.url}/openapi.json").json()
    assert "/sdapi/v1/txt2img" in schema["paths"] and "/studio/v1/jobs" in schema["paths"]
    assert httpx.get(f"{live.url}/docs").status_code == 200
