"""The command line: seed a catalog, then serve it from a real process (stopped by PID)."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
def test_seed_then_serve(tmp_path: Path) -> None:
    data = tmp_path / "hub"
    root = Path(__file__).resolve().parents[3]
    env = os.environ | {"PYTHONPATH": str(root)}
    seeded = subprocess.run(
        [sys.executable, "-m", "hub.server", "seed", "--data", str(data), "--models", "60"],
        capture_output=True,
        text=True,
        env=env,
        cwd=root,
        timeout=120,
    )
    assert seeded.returncode == 0, seeded.stderr
    summary = json.loads(seeded.stdout.strip().splitlines()[-1])
    assert summary["models"] == 60 and summary["files"] >= 60 and summary["images"] >= 60
    assert summary["community"]["articles"] == 15 and summary["community"]["notifications"] > 0
    assert len(list((data / "files").rglob("*"))) >= 60
    port = _free_port()
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "hub.server",
            "--data",
            str(data),
            "--port",
            str(port),
            "--log-level",
            "warning",
        ],
        env=env,
        cwd=root,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                body = httpx.get(f"http://127.0.0.1:{port}/api/v1/models", params={"nsfw": "true"}).json()
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline and server.poll() is None
                time.sleep(0.2)
        assert len(body["items"]) == 60
        types = {item["type"] for item in body["items"]}
        assert len(types) >= 5
        image = body["items"][0]["modelVersions"][0]["images"][0]
        png = httpx.get(image["url"])
        assert png.status_code == 200 and png.content.startswith(b"\x89PNG")
        assert image["meta"]["prompt"]
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=20)


def test_worker_and_processes_options_name_every_bad_field(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    from hub.server.cli import main

    data = str(tmp_path / "hub")
    with pytest.raises(SystemExit) as exit_info:
        main(
            [
                "worker",
                "--data",
                data,
                "--queue-url",
                "redis://127.0.0.1:1/0",
                "--heartbeat",
                "0",
                "--poll",
                "-1",
            ]
        )
    assert exit_info.value.code == 2
    error = capsys.readouterr().err
    assert "--heartbeat: must be positive" in error and "--poll: must be positive" in error
    with pytest.raises(SystemExit):
        main(["worker", "--data", data])
    assert "--queue-url" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["serve", "--data", data, "--workers", "0"])
    assert "--workers: must be at least 1" in capsys.readouterr().err
