"""Hub server fixtures: a seeded catalog, and real uvicorn servers on free loopback ports."""

from __future__ import annotations

import shutil
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
import uvicorn
from safetensors.numpy import save as save_safetensors

from hub.server.app import create_app
from hub.server.cli import uvicorn_config
from hub.server.seed import seed_catalog
from tests.postgres_databases import BACKENDS, database_name, fresh_database, require_server

SEEDED_MODELS = 1000


@contextmanager
def serve(app: Any) -> Iterator[str]:
    """Run `app` under uvicorn (with the CLI's settings) in a thread on a free 127.0.0.1 port;
    yields the base URL."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn_config(app, log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=20)
        sock.close()


@dataclass
class RunningHub:
    url: str
    data_dir: Path
    app: Any

    @property
    def api(self) -> str:
        return f"{self.url}/api/v1"

    @property
    def store(self):
        return self.app.state.hub.store


@pytest.fixture(scope="session")
def seeded_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("seeded-hub")
    seed_catalog(folder, SEEDED_MODELS, seed=7)
    return folder


def copy_catalog(template: Path, target: Path) -> Path:
    shutil.copytree(template, target)
    return target


@dataclass(frozen=True)
class Catalog:
    """A seeded data directory and its database (None: hub.db inside it)."""

    folder: Path
    database: str | None


@contextmanager
def catalog_copy(catalog: Catalog, target: Path) -> Iterator[Catalog]:
    """A private copy of `catalog`: its folder, and for PostgreSQL a database made from the
    seeded one as a template (dropped at the end)."""
    folder = copy_catalog(catalog.folder, target)
    if catalog.database is None:
        yield Catalog(folder, None)
        return
    with fresh_database("copy", template=database_name(catalog.database)) as url:
        yield Catalog(folder, url)


@contextmanager
def empty_database(backend: str) -> Iterator[str | None]:
    """None (SQLite in the data directory) or a fresh PostgreSQL database's URL."""
    if backend == "sqlite":
        yield None
        return
    require_server()
    with fresh_database("hub") as url:
        yield url


@pytest.fixture(scope="session", params=BACKENDS)
def backend_catalog(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Catalog]:
    """The 1,000-model catalog seeded once per session on each backend (SQLite, PostgreSQL)."""
    folder = tmp_path_factory.mktemp(f"seeded-{request.param}")
    with empty_database(request.param) as url:
        seed_catalog(folder, SEEDED_MODELS, seed=7, database=url)
        yield Catalog(folder, url)


@pytest.fixture
def backend_seeded_hub(backend_catalog: Catalog, tmp_path: Path) -> Iterator[RunningHub]:
    """`seeded_hub` on each backend: a server on a private copy of the catalog."""
    with (
        catalog_copy(backend_catalog, tmp_path / "hub") as copy,
        running_hub(copy.folder, database=copy.database) as hub,
    ):
        yield hub


@pytest.fixture(scope="module")
def backend_shared_hub(
    backend_catalog: Catalog, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RunningHub]:
    """`shared_hub` on each backend (tests that only read)."""
    target = tmp_path_factory.mktemp("shared") / "hub"
    with (
        catalog_copy(backend_catalog, target) as copy,
        running_hub(copy.folder, database=copy.database) as hub,
    ):
        yield hub


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    """ "sqlite" or "postgresql" (skipped without a server)."""
    if request.param == "postgresql":
        require_server()
    return request.param


@pytest.fixture
def backend_empty_hub(backend: str, tmp_path: Path) -> Iterator[RunningHub]:
    """`empty_hub` on each backend."""
    with empty_database(backend) as url, running_hub(tmp_path / "hub", database=url) as hub:
        yield hub


@contextmanager
def running_hub(data_dir: Path, **options: Any) -> Iterator[RunningHub]:
    settings = {"ip_rate_limit": None, "key_rate_limit": None, "stats_refresh_seconds": 0} | options
    app = create_app(data_dir, **settings)
    with serve(app) as url:
        yield RunningHub(url, data_dir, app)


@pytest.fixture
def seeded_hub(seeded_template: Path, tmp_path: Path) -> Iterator[RunningHub]:
    """A server on a private copy of the 1,000-model catalog (tests may write to it)."""
    with running_hub(copy_catalog(seeded_template, tmp_path / "hub")) as hub:
        yield hub


@pytest.fixture(scope="module")
def shared_hub(seeded_template: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningHub]:
    """One server per test module on a copy of the catalog, for tests that only read."""
    with running_hub(copy_catalog(seeded_template, tmp_path_factory.mktemp("shared") / "hub")) as hub:
        yield hub


@pytest.fixture
def empty_hub(tmp_path: Path) -> Iterator[RunningHub]:
    with running_hub(tmp_path / "hub") as hub:
        yield hub


def register(api: str, username: str, password: str = "correct horse battery") -> str:
    """Register an account and return its API key."""
    response = httpx.post(
        f"{api}/auth/register", json={"username": username, "password": password}, timeout=60
    )
    assert response.status_code == 201, response.text
    return response.json()["apiKey"]


def safetensors_bytes(n_floats: int = 64, seed: int = 0) -> bytes:
    rng = np.random.default_rng(seed)
    return save_safetensors(
        {"weight": rng.standard_normal((n_floats,)).astype(np.float32)}, metadata={"s": str(seed)}
    )


def model_metadata(name: str = "Test Model", files: list[dict] | None = None, **version: Any) -> dict:
    return {
        "name": name,
        "type": "LORA",
        "description": "<p>hello</p><script>alert(1)</script>",
        "tags": ["test", "style"],
        "version": {"name": "v1", "baseModel": "SDXL 1.0", "trainedWords": ["tst"], "files": files or []}
        | version,
    }


def upload_model(
    api: str, key: str, metadata: dict, files: list[tuple[str, bytes]], images: list[bytes] | None = None
) -> httpx.Response:
    import json

    parts = [("files", (name, data, "application/octet-stream")) for name, data in files]
    parts += [("images", (f"i{n}.png", data, "image/png")) for n, data in enumerate(images or [])]
    return httpx.post(
        f"{api}/models",
        headers={"Authorization": f"Bearer {key}"} if key else {},
        data={"metadata": json.dumps(metadata)},
        files=parts,
        timeout=60,
    )


def data_snapshot(data_dir: Path) -> set[str]:
    """Every file under the data directory except SQLite's own."""
    return {
        str(p.relative_to(data_dir))
        for p in data_dir.rglob("*")
        if p.is_file() and not p.name.startswith("hub.db")
    }
