"""Catalog routes beyond the civitapy tests: mini versions, users, images paging, filters, HEAD."""

from __future__ import annotations

import httpx
from civitapy import CivitAIClient
from civitapy.models import Image, MiniModelVersion, UserLite

from tests.hub.server.conftest import RunningHub


def test_mini_version_and_user_lookup_parse_with_civitapy(shared_hub: RunningHub) -> None:
    client = CivitAIClient(base_url=shared_hub.api)
    model = client.models_list(limit=1, types="Checkpoint")["items"][0]
    version = model["modelVersions"][0]
    mini = MiniModelVersion(**client.model_versions_mini(version["id"]))
    assert mini.model_name == model["name"] and mini.version_name == version["name"]
    assert (
        mini.download_urls[0] == version["downloadUrl"]
        and mini.hashes.sha256 == version["files"][0]["hashes"]["SHA256"]
    )
    users = client.users_lookup(query=model["creator"]["username"][:5])["items"]
    assert model["creator"]["username"] in [UserLite(**u).username for u in users]
    assert httpx.get(f"{shared_hub.api}/users").status_code == 400


def test_images_cursor_paging_and_nsfw_levels(shared_hub: RunningHub) -> None:
    seen: list[Image] = []
    params: dict = {"limit": 50, "sort": "Oldest"}
    for _ in range(3):
        body = httpx.get(f"{shared_hub.api}/images", params=params).json()
        seen += [Image(**i) for i in body["items"]]
        params["cursor"] = body["metadata"]["nextCursor"]
    created = [i.created_at for i in seen]
    assert len({i.id for i in seen}) == 150 and created == sorted(created)
    safe = httpx.get(f"{shared_hub.api}/images", params={"limit": 200, "nsfw": "None"}).json()["items"]
    assert safe and all(i["nsfwLevel"] == "None" for i in safe)
    page = httpx.get(f"{shared_hub.api}/images", params={"limit": 10, "page": 2}).json()["metadata"]
    assert page["currentPage"] == 2 and page["totalItems"] > 1000
    mature = httpx.get(f"{shared_hub.api}/images", params={"limit": 200, "browsingLevel": 4}).json()["items"]
    assert mature and all(i["browsingLevel"] == 4 for i in mature)
    one = seen[0]
    by_post = httpx.get(f"{shared_hub.api}/images", params={"postId": one.post_id}).json()["items"]
    assert [i["id"] for i in by_post] == [one.id]
    assert [
        i["id"] for i in httpx.get(f"{shared_hub.api}/images", params={"imageId": one.id}).json()["items"]
    ] == [one.id]
    flux = httpx.get(f"{shared_hub.api}/images", params={"limit": 50, "baseModels": "Flux.1 D"}).json()[
        "items"
    ]
    assert flux and all(i["baseModel"] == "Flux.1 D" for i in flux)


def test_filters_period_primary_file_only_and_head(shared_hub: RunningHub) -> None:
    api = shared_hub.api
    recent = httpx.get(
        f"{api}/models", params={"period": "Month", "nsfw": "true", "sort": "Oldest", "limit": 100}
    )
    everything = httpx.get(f"{api}/models", params={"nsfw": "true", "limit": 100, "page": 1}).json()
    assert 0 < len(recent.json()["items"]) < everything["metadata"]["totalItems"]
    checkpoints = httpx.get(f"{api}/models", params={"types": "Checkpoint", "checkpointType": "Merge"}).json()
    assert all(i["checkpointType"] == "Merge" for i in checkpoints["items"])
    both = httpx.get(f"{api}/models", params=[("types", "VAE"), ("types", "Upscaler,Controlnet")]).json()[
        "items"
    ]
    assert both and {i["type"] for i in both} <= {"VAE", "Upscaler", "Controlnet"}
    lean = httpx.get(f"{api}/models", params={"primaryFileOnly": "true", "limit": 100, "nsfw": "true"}).json()
    assert all(f["primary"] for i in lean["items"] for v in i["modelVersions"] for f in v["files"])
    version = lean["items"][0]["modelVersions"][0]
    head = httpx.head(version["downloadUrl"])
    assert head.status_code == 200 and head.content == b""
    assert int(head.headers["content-length"]) == round(version["files"][0]["sizeKB"] * 1024)
