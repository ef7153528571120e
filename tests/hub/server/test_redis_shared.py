"""Two real server processes on one catalog and one Redis (ATELIER_TEST_REDIS_URL, started by
.ci/run): they share rate limits, and a write through one is seen on the next read through the
other (model pages and feature flags are cached in Redis)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from tests.hub.server.conftest import model_metadata, register, safetensors_bytes, upload_model

REDIS_URL = os.environ.get("ATELIER_TEST_REDIS_URL")
pytestmark = [
    pytest.mark.skipif(
        not REDIS_URL,
        reason="ATELIER_TEST_REDIS_URL is not set (no redis-server to test against; .ci/run starts one)",
    ),
    pytest.mark.slow,
]
ROOT = Path(__file__).resolve().parents[3]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def server_process(data: Path, *extra: str) -> Iterator[str]:
    port = _free_port()
    command = [
        sys.executable,
        "-m",
        "hub.server",
        "--data",
        str(data),
        "--port",
        str(port),
        "--log-level",
        "warning",
    ]
    process = subprocess.Popen([*command, *extra], env=os.environ | {"PYTHONPATH": str(ROOT)}, cwd=ROOT)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                httpx.get(f"http://127.0.0.1:{port}/api/v1/flags")
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline and process.poll() is None, "server did not start"
                time.sleep(0.2)
        yield f"http://127.0.0.1:{port}/api/v1"
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=20)


def test_two_processes_share_rate_limits_and_invalidations(tmp_path: Path) -> None:
    data = tmp_path / "hub"
    options = ("--redis-url", str(REDIS_URL), "--key-rate-limit", "8", "--stats-refresh", "0")
    with server_process(data, *options) as a, server_process(data, *options) as b:
        admin, alice, bob = register(a, "admin"), register(b, "alice"), register(a, "bob")

        files = [("m.safetensors", safetensors_bytes())]
        created = upload_model(a, alice, model_metadata("Shared", files=[{"name": "m.safetensors"}]), files)
        assert created.status_code == 201, created.text
        model_id = created.json()["id"]
        assert httpx.get(f"{b}/models/{model_id}").json()["name"] == "Shared"  # cached via b
        edit = httpx.patch(
            f"{a}/models/{model_id}", json={"name": "Renamed"}, headers={"Authorization": f"Bearer {alice}"}
        )
        assert edit.status_code == 200
        assert httpx.get(f"{b}/models/{model_id}").json()["name"] == "Renamed"

        assert httpx.get(f"{b}/shop").status_code == 200  # flag set cached via b
        rule = {"enabled": False}
        assert (
            httpx.put(
                f"{a}/admin/flags/shop", json=rule, headers={"Authorization": f"Bearer {admin}"}
            ).status_code
            == 200
        )
        assert httpx.get(f"{b}/shop").status_code == 404

        as_bob = {"Authorization": f"Bearer {bob}"}
        if time.time() % 60 > 45:  # the limit counts per minute window: start in a fresh one
            time.sleep(61 - time.time() % 60)
        codes = [httpx.get(f"{(a, b)[n % 2]}/me", headers=as_bob).status_code for n in range(9)]
        assert codes == [200] * 8 + [429], codes  # 8 a minute across both processes
        assert httpx.get(f"{a}/me", headers=as_bob).status_code == 429
