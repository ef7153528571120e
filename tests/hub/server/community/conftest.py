"""A hub server with a creator, two uploaded models and a reader, for the community tests.

Built once per session (`community_template`) and copied per test. The in-process job worker
is off (`job_poll_seconds=0`): tests run the queued jobs themselves
with `Community.run_jobs()` (the same `JobWorker` the server runs), so each step is observable.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from PIL import Image

from hub.server.notify import JobWorker
from tests.hub.server.conftest import (
    Catalog,
    RunningHub,
    catalog_copy,
    empty_database,
    model_metadata,
    register,
    running_hub,
    safetensors_bytes,
    upload_model,
)
from tests.postgres_databases import BACKENDS


@dataclass
class Account:
    username: str
    key: str
    id: int
    http: httpx.Client


@dataclass
class Community:
    hub: RunningHub
    creator: Account
    reader: Account
    model_id: int
    version_id: int
    other_model_id: int

    @property
    def worker(self) -> JobWorker:
        worker = self.hub.app.state.hub.worker
        assert worker is not None
        return worker

    def run_jobs(self, now: float | None = None) -> list:
        return self.worker.run_due(now)

    def account(self, username: str) -> Account:
        """A new account (registered now)."""
        return account(self.hub, username)

    admin: Account | None = None

    @property
    def anonymous(self) -> httpx.Client:
        return httpx.Client(base_url=self.hub.api, timeout=30)


def account(hub: RunningHub, username: str) -> Account:
    key = register(hub.api, username)
    http = httpx.Client(base_url=hub.api, headers={"Authorization": f"Bearer {key}"}, timeout=30)
    return Account(username, key, http.get("/me").json()["id"], http)


def upload(hub: RunningHub, key: str, name: str, seed: int) -> tuple[int, int]:
    """(model id, version id) of a new one-file LoRA."""
    files = [{"name": f"m{seed}.safetensors", "primary": True}]
    response = upload_model(
        hub.api,
        key,
        model_metadata(name, files=files),
        [(f"m{seed}.safetensors", safetensors_bytes(seed=seed))],
    )
    assert response.status_code == 201, response.text
    body = response.json()
    return body["modelId"], body["id"]


def png_bytes(colour: tuple[int, int, int] = (200, 40, 40)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (32, 24), colour).save(out, format="PNG")
    return out.getvalue()


@dataclass(frozen=True)
class Template:
    """A data directory with the community's accounts and models, built once per session and
    copied for each test (registering and uploading per test took seconds on a loaded machine)."""

    path: Path
    accounts: dict[str, tuple[str, int]]  # username -> (API key, user id)
    model_id: int
    version_id: int
    other_model_id: int
    database: str | None = None  # PostgreSQL: the template database's URL; None: hub.db in path


def build_template(path: Path, database: str | None = None) -> Template:
    with running_hub(path, job_poll_seconds=0, database=database) as hub:
        admin = account(hub, "siteadmin")  # the first account is the server's admin; the others are users
        creator = account(hub, "inkmaster")
        reader = account(hub, "reader1")
        model_id, version_id = upload(hub, creator.key, "Ink Style", 1)
        other_model_id, _ = upload(hub, creator.key, "Watercolor Wash", 2)
        worker = hub.app.state.hub.worker
        worker.run_due()  # the uploads' events (nobody follows anyone yet)
        accounts = {a.username: (a.key, a.id) for a in (admin, creator, reader)}
        for opened in (admin, creator, reader):
            opened.http.close()
    return Template(path, accounts, model_id, version_id, other_model_id, database)


@pytest.fixture(scope="session")
def community_template(tmp_path_factory: pytest.TempPathFactory) -> Template:
    return build_template(tmp_path_factory.mktemp("community-template") / "hub")


@pytest.fixture(scope="session", params=BACKENDS)
def backend_community_template(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Template]:
    """`community_template` on each backend (SQLite, PostgreSQL)."""
    with empty_database(request.param) as database:
        yield build_template(tmp_path_factory.mktemp(f"community-{request.param}") / "hub", database)


@contextmanager
def start_community(template: Template, data_dir: Path, **options: Any) -> Iterator[Community]:
    """A server on a copy of the template under `data_dir` (`options`: ServerConfig fields)."""
    settings = {"job_poll_seconds": 0} | options
    with (
        catalog_copy(Catalog(template.path, template.database), data_dir) as copy,
        running_hub(data_dir, **({"database": copy.database} | settings)) as hub,
    ):
        opened = []

        def known(username: str) -> Account:
            key, user_id = template.accounts[username]
            http = httpx.Client(base_url=hub.api, headers={"Authorization": f"Bearer {key}"}, timeout=30)
            opened.append(http)
            return Account(username, key, user_id, http)

        community = Community(
            hub,
            known("inkmaster"),
            known("reader1"),
            template.model_id,
            template.version_id,
            template.other_model_id,
            admin=known("siteadmin"),
        )
        try:
            yield community
        finally:
            for http in opened:
                http.close()


@pytest.fixture
def community(community_template: Template, tmp_path: Path) -> Iterator[Community]:
    with start_community(community_template, tmp_path / "hub") as opened:
        yield opened


@pytest.fixture
def backend_community(backend_community_template: Template, tmp_path: Path) -> Iterator[Community]:
    """`community` on each backend."""
    with start_community(backend_community_template, tmp_path / "hub") as opened:
        yield opened


@pytest.fixture(scope="module")
def shared_community(
    community_template: Template, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Community]:
    """One per test module, for tests that do not depend on what the others wrote."""
    with start_community(community_template, tmp_path_factory.mktemp("community") / "hub") as opened:
        yield opened
