"""The Hub tab's routes over a real studio and a real seeded hub server on loopback: sync into
the local mirror, search it, open a model page with its cached previews, download a file into
models/ (sidecars written, the registry refreshed, the file "on disk"), list and scan the local
files; bad input is a 422 naming the fields."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from hub.server.seed import seed_catalog
from tests.hub.server.conftest import (
    RunningHub,
    model_metadata,
    register,
    running_hub,
    safetensors_bytes,
    upload_model,
)
from tests.studio.http.conftest import LiveServer, make_config, serve

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def hub_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[RunningHub, int]]:
    """A hub server with 40 seeded models and one uploaded LoRA; yields it and the LoRA's version."""
    folder = tmp_path_factory.mktemp("hub-server")
    seed_catalog(folder, 40, seed=3, unique_files=5)
    with running_hub(folder) as hub:
        key = register(hub.api, "painter")
        response = upload_model(
            hub.api,
            key,
            model_metadata("Watercolour Wash", description="<p>soft <b>washes</b></p>"),
            [("wash.safetensors", safetensors_bytes(5000, seed=4))],
        )
        assert response.status_code == 201, response.text
        yield hub, response.json()["id"]


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory, tiny_model_dir: Path) -> Iterator[LiveServer]:
    server = serve(make_config(tmp_path_factory.mktemp("hubtab"), tiny_model_dir))
    yield server
    server.stop()


def wait_for(check: Any, timeout: float = 60) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError("timed out")


@pytest.fixture(scope="module")
def synced(live: LiveServer, hub_server: tuple[RunningHub, int]) -> int:
    hub, version_id = hub_server
    response = httpx.post(f"{live.url}/studio/v1/hub/sync", json={"server": hub.url})
    assert response.status_code == 200, response.text
    job = response.json()["job"]

    def finished() -> dict | None:
        status = httpx.get(f"{live.url}/studio/v1/hub/sync").json()
        return status if status["job"]["id"] == job and status["job"]["status"] == "done" else None

    status = wait_for(finished)
    assert status["server"] == hub.url and status["lastSync"] and status["progress"]["items"] >= 41
    return version_id


def test_search_facets_sort_and_paging(live: LiveServer, synced: int) -> None:
    url = f"{live.url}/studio/v1/hub/search"
    found = httpx.get(url, params={"q": "watercol"}).json()  # as you type: a prefix
    assert found["items"][0]["name"] == "Watercolour Wash" and found["items"][0]["kind"] == "model"
    loras = httpx.get(
        url, params={"types": "LORA", "nsfw": "any", "sort": "downloads", "page_size": 5}
    ).json()
    assert loras["total"] >= 1 and all(item["type"] == "LORA" for item in loras["items"])
    downloads = [item["downloads"] for item in loras["items"]]
    assert downloads == sorted(downloads, reverse=True)
    everything = httpx.get(url, params={"nsfw": "any", "page_size": 10}).json()
    second = httpx.get(url, params={"nsfw": "any", "page_size": 10, "page": 2}).json()
    assert everything["total"] == second["total"] >= 41
    assert not {i["id"] for i in everything["items"]} & {i["id"] for i in second["items"]}
    assert httpx.get(url, params={"creator": "painter"}).json()["items"][0]["name"] == "Watercolour Wash"


def test_bad_search_input_names_every_field(live: LiveServer) -> None:
    response = httpx.get(
        f"{live.url}/studio/v1/hub/search", params={"sort": "best", "page": 0, "nsfw": "maybe"}
    )
    assert response.status_code == 422
    fields = {tuple(error["loc"])[-1] for error in response.json()["detail"]}
    assert fields == {"sort", "page", "nsfw"}


def test_model_page_download_and_local_link(live: LiveServer, synced: int) -> None:
    base = f"{live.url}/studio/v1/hub"
    model_id = httpx.get(f"{base}/search", params={"q": "Watercolour"}).json()["items"][0]["id"]
    page = httpx.get(f"{base}/models/{model_id}").json()
    version = page["modelVersions"][0]
    assert version["id"] == synced and version["trainedWords"] == ["tst"]
    assert version["files"][0]["hashes"]["SHA256"] and version["files"][0]["onDisk"] is None
    assert "<script>" not in page["description"]

    seeded = httpx.get(f"{base}/search", params={"nsfw": "any", "sort": "downloads"}).json()["items"][0]
    seeded_page = httpx.get(f"{base}/models/{seeded['id']}").json()
    previews = seeded_page["modelVersions"][0]["localPreviews"]
    assert previews and previews[0].startswith("/studio/v1/hub/previews/")
    image = httpx.get(f"{live.url}{previews[0]}")
    assert image.status_code == 200 and len(image.content) > 100
    assert httpx.get(f"{base}/previews/..%2F..%2Fatelier.db").status_code == 404

    assert httpx.post(f"{base}/downloads", json={"versionId": synced}).status_code == 200
    done = wait_for(
        lambda: next((d for d in httpx.get(f"{base}/downloads").json() if d["status"] == "done"), None)
    )
    path = Path(done["path"])
    assert path.parent.name == "Lora" and path.is_file() and done["verified"] is True
    info = json.loads(path.with_suffix(".civitai.info").read_text())
    assert info["trainedWords"] == ["tst"] and info["model"]["name"] == "Watercolour Wash"
    loras = httpx.get(f"{live.url}/studio/v1/loras").json()
    assert "wash" in {lora["name"] for lora in loras}  # the registry refreshed by itself
    cards = httpx.get(f"{live.url}/studio/v1/networks", params={"kind": "lora"}).json()["items"]
    card = next(c for c in cards if c["name"] == "wash")
    assert "tst" in json.dumps(card) and "Watercolour Wash" in json.dumps(card)

    page = httpx.get(f"{base}/models/{model_id}").json()
    assert page["modelVersions"][0]["files"][0]["onDisk"] == str(path)
    local = httpx.post(f"{base}/scan").json()["files"]
    linked = {Path(f["path"]).name: f for f in local}
    assert (
        linked["wash.safetensors"]["linked"]
        and linked["wash.safetensors"]["model_name"] == "Watercolour Wash"
    )
    assert any(not f["linked"] for f in local)  # the tiny starter model is not in the catalog


def test_bad_download_and_sync_input(live: LiveServer, synced: int) -> None:
    base = f"{live.url}/studio/v1/hub"
    response = httpx.post(f"{base}/downloads", json={"versionId": 0, "fileId": "x", "extra": 1})
    assert response.status_code == 422
    assert {tuple(e["loc"])[-1] for e in response.json()["detail"]} == {"versionId", "fileId", "extra"}
    missing = httpx.post(f"{base}/downloads", json={"versionId": 999_999_999})
    assert missing.status_code == 422 and missing.json()["field"] == "versionId"
    bad_sync = httpx.post(f"{base}/sync", json={"server": "not a url"})
    assert bad_sync.status_code == 422 and bad_sync.json()["detail"][0]["loc"][-1] == "server"
    assert httpx.get(f"{base}/models/999999999").status_code == 404
    assert httpx.post(f"{base}/downloads/{synced}/explode").status_code == 422


def test_queue_is_persisted_cancel_and_resume(live: LiveServer, synced: int) -> None:
    """With the job thread stopped (a studio that is down), queued downloads wait in the hub's
    database; cancel drops one; the next start runs the other; resume queues it again."""
    base = f"{live.url}/studio/v1/hub"
    hub = live.services.hub
    seeded = httpx.get(f"{base}/search", params={"types": "Checkpoint", "nsfw": "any", "page_size": 2}).json()
    versions = [
        httpx.get(f"{base}/models/{m['id']}").json()["modelVersions"][0]["id"] for m in seeded["items"]
    ]
    hub.stop()
    try:
        for version_id in versions:
            assert httpx.post(f"{base}/downloads", json={"versionId": version_id}).status_code == 200
        rows = {d["versionId"]: d for d in httpx.get(f"{base}/downloads").json()}
        assert rows[versions[0]]["status"] == rows[versions[1]]["status"] == "pending"
        assert httpx.post(f"{base}/downloads/{versions[0]}/cancel").json() == {"stopped": True}
        assert httpx.post(f"{base}/downloads/{versions[1]}/pause").json() == {"stopped": False}  # not running
    finally:
        hub.start()
    done = wait_for(
        lambda: (
            {d["versionId"]: d for d in httpx.get(f"{base}/downloads").json()}.get(versions[1], {}).get(
                "status"
            )
            == "done"
        )
    )
    assert done
    rows = {d["versionId"]: d for d in httpx.get(f"{base}/downloads").json()}
    assert rows[versions[0]]["status"] == "failed" and rows[versions[0]]["error"] == "cancelled"
    assert Path(rows[versions[1]]["path"]).parent.name == "Stable-diffusion"
    assert httpx.post(f"{base}/downloads/{versions[0]}/resume").status_code == 200
    wait_for(
        lambda: (
            {d["versionId"]: d for d in httpx.get(f"{base}/downloads").json()}[versions[0]]["status"]
            == "done"
        )
    )
