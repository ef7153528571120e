"""Fixtures for the local hub tests (the hub server's own tests live in tests/hub/server/)."""

from __future__ import annotations

import socket
import threading
import time
from pathlib import Path

import pytest
import uvicorn
from fastapi.testclient import TestClient

from hub.search import IndexStore, ModelSearcher
from hub.server.app import create_app
from hub.server.seed import seed_catalog
from hub.store import HubDatabase


@pytest.fixture
def store(tmp_path: Path):
    with HubDatabase(tmp_path / "hub" / "hub.db") as opened:
        yield opened


@pytest.fixture
def index(tmp_path: Path) -> IndexStore:
    return IndexStore(tmp_path / "hub" / "index")


@pytest.fixture
def searcher(index: IndexStore, store: HubDatabase):
    opened = ModelSearcher(index, store)
    yield opened
    opened.close()


# -- the hub server, in-process (ASGI) and on a real loopback port ---------------------------------


def seed_server(data_dir: Path, models: int, seed: int = 0) -> Path:
    seed_catalog(data_dir, models, seed=seed, unique_files=20)
    return data_dir


@pytest.fixture
def asgi_client_factory():
    """(data_dir) -> a Starlette TestClient (an httpx.Client) on the server's ASGI app."""
    opened: list[TestClient] = []

    def make(data_dir: Path) -> TestClient:
        client = TestClient(create_app(data_dir, stats_refresh_seconds=0), base_url="http://hub.test")
        client.__enter__()
        opened.append(client)
        return client

    yield make
    for client in opened:
        client.__exit__(None, None, None)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class LiveServer:
    """The hub server under uvicorn on 127.0.0.1 in a thread; `stop()` shuts it down."""

    def __init__(self, data_dir: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        config = uvicorn.Config(
            create_app(data_dir, stats_refresh_seconds=0),
            host="127.0.0.1",
            port=self.port,
            log_level="warning",
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.thread.start()
        deadline = time.monotonic() + 20
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("hub server did not start")
            time.sleep(0.02)

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(10)


@pytest.fixture
def live_server_factory():
    started: list[LiveServer] = []

    def start(data_dir: Path) -> LiveServer:
        server = LiveServer(data_dir)
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()
