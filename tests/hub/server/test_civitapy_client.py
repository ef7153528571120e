"""The real `civitapy` client (from PyPI) against a live hub server."""

from __future__ import annotations

import asyncio
import hashlib
from pathlib import Path

import pytest
from civitapy import CivitAIClient, Model, ModelVersion
from civitapy.errors import CivitAIHTTPError, CivitAINotFoundError
from civitapy.models import Creator, Image, TagItem

from tests.hub.server.conftest import (
    RunningHub,
    model_metadata,
    register,
    safetensors_bytes,
    upload_model,
)
from tests.hub.server.proxy import cutting_proxy


@pytest.fixture
def client(backend_shared_hub: RunningHub, tmp_path: Path) -> CivitAIClient:
    return CivitAIClient(base_url=backend_shared_hub.api, download_dir=str(tmp_path / "dl"), verify_hash=True)


def test_list_with_filters_and_cursor_paging(client: CivitAIClient) -> None:
    page = client.models_list(
        limit=20, types=["LORA", "Checkpoint"], base_models="SDXL 1.0", sort="Most Downloaded"
    )
    models = [Model(**item) for item in page["items"]]
    assert len(models) == 20
    assert all(m.type in ("LORA", "Checkpoint") for m in models)
    assert all(any(v.base_model == "SDXL 1.0" for v in m.model_versions) for m in models)
    downloads = [m.stats.download_count for m in models]
    assert downloads == sorted(downloads, reverse=True)
    assert not any(m.nsfw for m in models)  # nsfw defaults to false, as on Civitai

    async def every_model() -> list[Model]:
        return [m async for m in client.models_list_paginated_async(limit=100, nsfw=True, sort="Newest")]

    everything = asyncio.run(every_model())
    ids = [m.id for m in everything]
    assert len(ids) == len(set(ids)) == 1000
    published = [m.model_versions[-1].published_at for m in everything]
    assert published[0] >= published[-1]

    tag = models[0].tags[0]
    tagged = client.models_list(limit=50, tag=tag, nsfw=True)["items"]
    assert tagged and all(tag in item["tags"] for item in tagged)
    user = models[0].creator.username
    by_user = client.models_list(limit=100, username=user, nsfw=True)["items"]
    assert by_user and {item["creator"]["username"] for item in by_user} == {user}
    word = models[0].name.split()[0]
    found = client.models_list(limit=50, query=word.lower(), nsfw=True)["items"]
    assert found and all(
        word.lower() in " ".join([i["name"], *i["tags"], i["creator"]["username"]]).lower() for i in found
    )
    picked = client.models_list(limit=10, ids=[m.id for m in models[:3]], nsfw=True)["items"]
    assert {i["id"] for i in picked} == {m.id for m in models[:3]}


def test_page_mode_metadata_and_civitai_paging_errors(client: CivitAIClient) -> None:
    page = client.models_list(limit=10, page=3, nsfw=True, sort="Oldest")
    metadata = page["metadata"]
    assert metadata["currentPage"] == 3 and metadata["pageSize"] == 10
    assert metadata["totalItems"] == 1000 and metadata["totalPages"] == 100
    assert "page=4" in metadata["nextPage"]
    with pytest.raises(CivitAIHTTPError) as err:
        asyncio.run(client.get("/models", params={"query": "fox", "page": 1}))
    assert err.value.status_code == 400


def test_get_model_version_and_by_hash(client: CivitAIClient) -> None:
    model = Model(**client.models_get(client.models_list(limit=1, types="LORA")["items"][0]["id"]))
    version = ModelVersion(**client.model_versions_get(model.model_versions[0].id))
    assert version.model_id == model.id and version.model["type"] == "LORA"
    assert version.download_url.endswith(f"/api/download/models/{version.id}")
    assert version.download_url.startswith("http://127.0.0.1:")
    file = version.files[0]
    assert file.primary and file.metadata.format == "SafeTensor"
    hashes = file.hashes
    assert hashes["SHA256"] == hashes["SHA256"].upper() and len(hashes["SHA256"]) == 64
    assert hashes["AutoV2"] == hashes["SHA256"][:10]
    for kind in ("SHA256", "AutoV2", "CRC32", "BLAKE3", "AutoV3"):
        found = client.model_versions_by_hash(hashes[kind].lower())
        assert found is not None and found["id"] == version.id, kind
    assert client.model_versions_by_hash("0" * 64) is None
    bulk = client.model_versions_by_hash_bulk([hashes["SHA256"], "F" * 64])
    assert [v["id"] for v in bulk] == [version.id]
    assert version.images and version.images[0]["meta"]["prompt"]
    with pytest.raises(CivitAINotFoundError):
        client.models_get(10**9)


def test_images_creators_tags_enums(client: CivitAIClient) -> None:
    model_id = client.models_list(limit=1)["items"][0]["id"]
    images = [Image(**i) for i in client.images_list(limit=10, model_id=model_id)["items"]]
    assert images and all(i.meta and i.meta.prompt for i in images)
    assert all(i.url.startswith("http://127.0.0.1:") and i.hash for i in images)
    creators = [Creator(**c) for c in client.creators_list(limit=5)["items"]]
    assert len(creators) == 5 and all(c.model_count and c.link for c in creators)
    tags = [TagItem(**t) for t in client.tags_list(limit=5)["items"]]
    assert len(tags) == 5
    enums = client.enums()
    assert "LORA" in enums["ModelType"] and "SDXL 1.0" in enums["BaseModel"]


def test_upload_then_interrupted_download_resumes_with_range(
    backend_seeded_hub: RunningHub, tmp_path: Path
) -> None:
    key = register(backend_seeded_hub.api, "uploader")
    payload = safetensors_bytes(200_000, seed=3)  # ~800 KB
    response = upload_model(
        backend_seeded_hub.api, key, model_metadata("Resumable"), [("resumable.safetensors", payload)]
    )
    assert response.status_code == 201, response.text
    version_id = response.json()["id"]
    upstream_port = int(backend_seeded_hub.url.rsplit(":", 1)[1])
    with cutting_proxy(upstream_port, cut_after_body_bytes=300_000) as proxy:
        client = CivitAIClient(
            base_url=f"http://127.0.0.1:{proxy.port}/api/v1",
            download_dir=str(tmp_path / "dl"),
            verify_hash=True,
            token=key,
        )
        paths = client.download_model_version(version_id)
        assert client.users_me()["username"] == "uploader"
    assert len(paths) == 1
    data = Path(paths[0]).read_bytes()
    assert data == payload
    assert hashlib.sha256(data).hexdigest().upper() == response.json()["files"][0]["hashes"]["SHA256"]
    ranges = proxy.range_requests()
    assert len(ranges) == 1 and ranges[0].startswith("bytes=") and int(ranges[0][6:].rstrip("-")) > 0
