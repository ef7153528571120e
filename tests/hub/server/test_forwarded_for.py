"""Per-IP rate limits count the real peer: a forged X-Forwarded-For does not open a new bucket.

uvicorn trusts proxy headers from 127.0.0.1 by default; the hub server's CLI switches that off
and takes the client from X-Forwarded-For only when `--trust-forwarded` names the proxy that
delivered the request. The servers here are the real CLI (`python -m hub.server`) in a
subprocess, stopped by PID.
"""

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

ROOT = Path(__file__).resolve().parents[3]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def cli_server(data: Path, *flags: str) -> Iterator[str]:
    port = _free_port()
    command = [sys.executable, "-m", "hub.server", "--data", str(data), "--port", str(port)]
    command += ["--stats-refresh", "0", "--log-level", "warning", *flags]
    server = subprocess.Popen(command, env=os.environ | {"PYTHONPATH": str(ROOT)}, cwd=ROOT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                httpx.get(f"{url}/openapi.json")  # counts as one of this peer's requests
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline and server.poll() is None, "the hub server did not start"
                time.sleep(0.2)
        yield url
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=20)


def _statuses(url: str, forwarded: list[str]) -> list[int]:
    return [
        httpx.get(f"{url}/api/v1/enums", headers={"X-Forwarded-For": hop}).status_code for hop in forwarded
    ]


@pytest.mark.slow
def test_forged_forwarded_for_does_not_escape_the_ip_limit(tmp_path: Path) -> None:
    # 3 requests a minute per IP: the readiness probe took one, two remain for this peer
    with cli_server(tmp_path / "hub", "--ip-rate-limit", "3") as url:
        forged = [f"198.51.100.{n}" for n in range(5)]
        assert _statuses(url, forged) == [200, 200, 429, 429, 429]


@pytest.mark.slow
def test_a_named_proxy_forwards_its_clients_addresses(tmp_path: Path) -> None:
    with cli_server(tmp_path / "hub", "--ip-rate-limit", "3", "--trust-forwarded", "127.0.0.1") as url:
        # from the trusted proxy, each client has its own bucket of 3 ...
        assert _statuses(url, ["203.0.113.7"] * 4) == [200, 200, 200, 429]
        assert _statuses(url, ["203.0.113.8"]) == [200]
        # ... and the client cannot pick another one: hops left of the last untrusted one are
        # whatever the client sent
        assert _statuses(url, ["10.9.9.9, 203.0.113.7", "1.1.1.1,203.0.113.7, 127.0.0.1"]) == [429, 429]


def test_the_cli_refuses_a_proxy_that_is_not_an_address(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "hub.server", "--data", str(tmp_path), "--trust-forwarded", "proxy.local"],
        capture_output=True,
        text=True,
        env=os.environ | {"PYTHONPATH": str(ROOT)},
        cwd=ROOT,
        timeout=60,
    )
    assert result.returncode == 2 and "'proxy.local' is not an IP address or network" in result.stderr
