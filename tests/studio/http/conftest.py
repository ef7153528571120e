"""A real studio server for the API tests: the real Engine on the tiny model, served by uvicorn
on a free 127.0.0.1 port in a thread. One server per test module (model loads are not free)."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import uvicorn

from studio.app import Services, build_services
from studio.cli.serve import leave_a_core_for_the_server
from studio.config import StudioConfig
from studio.http.app import create_app
from tests.helpers import make_studio_config


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def make_config(root: Path, tiny_model_dir: Path, **changes: Any) -> StudioConfig:
    return make_studio_config(root, tiny_model_dir, **{"api_only": True, "port": free_port(), **changes})


@dataclass
class LiveServer:
    services: Services
    server: uvicorn.Server
    thread: threading.Thread

    @property
    def port(self) -> int:
        return self.services.config.port

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(30)
        self.services.close()


def serve(config: StudioConfig) -> LiveServer:
    services = build_services(config)
    services.start()
    app = create_app(services)
    server = uvicorn.Server(
        uvicorn.Config(
            app, host=config.host, port=config.port, log_level="warning", timeout_graceful_shutdown=1
        )
    )
    thread = threading.Thread(target=server.run, name="test-uvicorn", daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            services.close()
            raise RuntimeError("the test server did not start")
        time.sleep(0.02)
    return LiveServer(services, server, thread)


@pytest.fixture(scope="module", autouse=True)
def server_threads() -> Iterator[None]:
    """Run torch as `serve` does (cores - 1 threads), restoring the setting afterwards."""
    import torch

    before = torch.get_num_threads()
    leave_a_core_for_the_server()
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory, tiny_model_dir: Path) -> Iterator[LiveServer]:
    server = serve(make_config(tmp_path_factory.mktemp("live"), tiny_model_dir))
    yield server
    server.stop()


@pytest.fixture
def make_server(tmp_path: Path, tiny_model_dir: Path) -> Iterator[Any]:
    """Start a server with config changes (auth, CORS, limits); stopped after the test."""
    started: list[LiveServer] = []

    def start(**changes: Any) -> LiveServer:
        server = serve(make_config(tmp_path / f"s{len(started)}", tiny_model_dir, **changes))
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()
