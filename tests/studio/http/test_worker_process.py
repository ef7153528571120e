"""The engine in a worker process (studio.worker), driven over HTTP on a real server: the tiny
model generates in a child process, progress and the preview answer from other requests while it
runs, interrupt and skip reach it, and a killed worker fails only its own job: it is restarted,
the job queued behind it runs, and so does the next one."""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from studio.http.a1111_progress import A1111Progress
from studio.http.images import encode_png_base64
from studio.worker.child import quiet_openmp
from studio.worker.process_worker import WORKER_NICE, ProcessWorker, default_torch_threads

from .conftest import LiveServer, make_config, serve

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def worker_live(tmp_path_factory: pytest.TempPathFactory, tiny_model_dir: Path) -> Iterator[LiveServer]:
    server = serve(make_config(tmp_path_factory.mktemp("worker"), tiny_model_dir, worker_process=True))
    yield server
    server.stop()


def small(**changes: Any) -> dict[str, Any]:
    return {"prompt": "a red circle", "width": 64, "height": 64, "steps": 3, "seed": 7, **changes}


def submit(live: LiveServer, **changes: Any) -> str:
    answer = requests.post(f"{live.url}/studio/v1/jobs", json={"payload": small(**changes)}, timeout=30)
    assert answer.status_code == 202, answer.text
    return answer.json()["id"]


def wait_final(live: LiveServer, job_id: str, timeout: float = 120) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        job = requests.get(f"{live.url}/studio/v1/jobs/{job_id}", timeout=30).json()
        if job["state"] not in ("queued", "running"):
            return job
        assert time.monotonic() < deadline, job
        time.sleep(0.1)


def wait_steps(live: LiveServer, at_least: int, timeout: float = 120) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        progress = requests.get(f"{live.url}/sdapi/v1/progress", timeout=30).json()
        if progress["state"]["sampling_step"] >= at_least and progress["current_image"]:
            return progress
        assert time.monotonic() < deadline, progress
        time.sleep(0.05)


def worker_of(live: LiveServer) -> ProcessWorker:
    worker = live.services.worker
    assert isinstance(worker, ProcessWorker)
    return worker


def test_txt2img_runs_in_the_worker_process(worker_live: LiveServer) -> None:
    answer = requests.post(f"{worker_live.url}/sdapi/v1/txt2img", json=small(), timeout=120)
    assert answer.status_code == 200, answer.text
    assert len(answer.json()["images"]) == 1
    pid = worker_of(worker_live).child_pid
    assert pid is not None and pid != os.getpid()
    # the same request in-process makes the same picture: the child is the same engine
    again = requests.post(f"{worker_live.url}/sdapi/v1/txt2img", json=small(), timeout=120).json()
    assert again["images"] == answer.json()["images"]


def test_a_bad_request_fails_in_the_child_naming_the_field(worker_live: LiveServer) -> None:
    answer = requests.post(
        f"{worker_live.url}/studio/v1/jobs",
        json={"kind": "select-model", "payload": {"name": "nope"}},
        timeout=30,
    )
    assert answer.status_code == 202
    job = wait_final(worker_live, answer.json()["id"])
    assert job["state"] == "failed" and job["error"].startswith("model:") and "nope" in job["error"]


def test_progress_preview_skip_and_interrupt_cross_the_process(worker_live: LiveServer) -> None:
    job_id = submit(worker_live, steps=150, n_iter=2)
    progress = wait_steps(worker_live, 3)
    assert progress["state"]["sampling_steps"] == 150 and 0 < progress["progress"] < 1
    tick = time.perf_counter()
    requests.get(f"{worker_live.url}/sdapi/v1/options", timeout=30).raise_for_status()
    assert time.perf_counter() - tick < 2.0  # the web process answers while the child works
    requests.post(f"{worker_live.url}/sdapi/v1/skip", timeout=30).raise_for_status()
    deadline = time.monotonic() + 60
    while requests.get(f"{worker_live.url}/sdapi/v1/progress", timeout=30).json()["progress"] < 0.5:
        assert time.monotonic() < deadline, "skip did not reach the worker process"
        time.sleep(0.05)
    requests.post(f"{worker_live.url}/sdapi/v1/interrupt", timeout=30).raise_for_status()
    job = wait_final(worker_live, job_id)
    assert job["state"] == "cancelled" and job["result"]["interrupted"] is True
    assert len(job["result"]["images"]) == 2  # the skipped batch's image and the interrupted one


def test_a_killed_worker_fails_its_job_only_and_is_restarted(worker_live: LiveServer) -> None:
    worker = worker_of(worker_live)
    restarts = worker.restarts
    running = submit(worker_live, steps=150, n_iter=8)
    queued = submit(worker_live, seed=8)
    wait_steps(worker_live, 2)
    old_pid = worker.child_pid
    assert old_pid is not None
    os.kill(old_pid, signal.SIGKILL)
    job = wait_final(worker_live, running)
    assert job["state"] == "failed"
    assert "worker process died" in job["error"] and "SIGKILL" in job["error"]
    # the job queued behind it was not lost: it runs on the new worker process
    assert wait_final(worker_live, queued)["state"] == "done"
    assert worker.restarts == restarts + 1 and worker.child_pid not in (None, old_pid)
    assert wait_final(worker_live, submit(worker_live, seed=9))["state"] == "done"


def test_an_engine_that_ignores_the_interrupt_is_killed_and_restarted(worker_live: LiveServer) -> None:
    worker = worker_of(worker_live)
    restarts = worker.restarts
    job_id = submit(worker_live, steps=150, n_iter=8)
    wait_steps(worker_live, 2)
    pid = worker.child_pid
    assert pid is not None
    worker.kill_after = 1.0
    try:
        os.kill(pid, signal.SIGSTOP)  # a hung engine: it reads nothing and reports nothing
        stuck = threading.Timer(10.0, lambda: os.kill(pid, signal.SIGCONT))  # never left stopped
        stuck.start()
        requests.post(f"{worker_live.url}/sdapi/v1/interrupt", timeout=30).raise_for_status()
        job = wait_final(worker_live, job_id, timeout=30)
        stuck.cancel()
    finally:
        worker.kill_after = 30.0
    assert job["state"] == "cancelled" and "did not stop within 1 s" in job["error"]
    assert worker.restarts == restarts + 1
    assert wait_final(worker_live, submit(worker_live, seed=10))["state"] == "done"


def test_a_kind_only_the_web_process_knows_runs_there(worker_live: LiveServer) -> None:
    ran_in: list[int] = []

    def note_pid(payload: dict[str, Any], control: Any) -> dict[str, Any]:
        ran_in.append(os.getpid())
        return {"images": [], "pid": os.getpid()}

    worker_live.services.runners.register("web-only", note_pid, decode=dict)
    try:
        answer = requests.post(
            f"{worker_live.url}/studio/v1/jobs", json={"kind": "web-only", "payload": {}}, timeout=30
        )
        assert answer.status_code == 202, answer.text
        job = wait_final(worker_live, answer.json()["id"])
    finally:
        worker_live.services.runners.unregister("web-only")
    assert job["state"] == "done" and ran_in == [os.getpid()] and job["result"]["pid"] == os.getpid()


def test_the_engine_runs_below_the_server_with_a_core_left_for_it(worker_live: LiveServer) -> None:
    """The settings that keep /progress responsive reach the child: a lower CPU priority than the
    web process and torch's threads capped at cores - 1 (as the child itself reports them)."""
    worker = worker_of(worker_live)
    assert wait_final(worker_live, submit(worker_live))["state"] == "done"
    pid, ready = worker.child_pid, worker.child_ready
    assert pid is not None and ready is not None and ready.pid == pid
    expected = min(19, os.getpriority(os.PRIO_PROCESS, 0) + WORKER_NICE)
    assert os.getpriority(os.PRIO_PROCESS, pid) == expected == ready.nice
    # every thread of the child, torch's included, runs at that priority
    for thread in os.listdir(f"/proc/{pid}/task"):  # Linux: a thread id is a PRIO_PROCESS target
        assert os.getpriority(os.PRIO_PROCESS, int(thread)) == expected
    threads = default_torch_threads()
    if threads is None:  # OMP_NUM_THREADS is set (the test suite sets it): torch follows it
        threads = int(os.environ["OMP_NUM_THREADS"])
    else:
        assert 1 <= threads <= max(1, (os.cpu_count() or 2) - 1)
    assert ready.torch_threads == threads


def test_torch_threads_and_openmp_follow_the_users_settings() -> None:
    assert default_torch_threads({"OMP_NUM_THREADS": "3"}) is None  # torch follows the variable
    environ: dict[str, str] = {}
    quiet_openmp(environ)
    assert environ == {"OMP_WAIT_POLICY": "PASSIVE"}
    environ = {"OMP_WAIT_POLICY": "ACTIVE"}
    quiet_openmp(environ)
    assert environ == {"OMP_WAIT_POLICY": "ACTIVE"}


def test_the_preview_is_encoded_once_not_per_poll(worker_live: LiveServer) -> None:
    api = A1111Progress(worker_live.services)  # what /sdapi/v1/progress answers with
    job_id = submit(worker_live, steps=150)
    wait_steps(worker_live, 3)
    before = worker_live.services.jobs.progress().preview
    first, second = api.state(False), api.state(False)
    after = worker_live.services.jobs.progress().preview
    requests.delete(f"{worker_live.url}/studio/v1/jobs/{job_id}", timeout=30).raise_for_status()
    assert before is not None and first["current_image"] and first["state"]["job_id"] == job_id
    if before is after:  # no new preview came between the two polls (one comes every 5 steps)
        assert second["current_image"] is first["current_image"]  # the same text, not re-encoded
        assert first["current_image"] == encode_png_base64(before)
    assert api.preview_base64(before) is api.preview_base64(before)
    assert api.preview_base64(bytes(before)) == encode_png_base64(before)  # a new preview: encoded
    assert wait_final(worker_live, job_id)["state"] == "cancelled"
