"""`GET /api/download/models/{versionId}`: Range (206/416), ETag, Content-Disposition, file choice."""

from __future__ import annotations

import hashlib

import httpx

from tests.hub.server.conftest import RunningHub, model_metadata, register, safetensors_bytes, upload_model


def test_ranges_etag_disposition_and_file_choice(empty_hub: RunningHub) -> None:
    key = register(empty_hub.api, "creator")
    primary = safetensors_bytes(5000, seed=1)
    pruned = safetensors_bytes(100, seed=2)
    metadata = model_metadata(
        files=[
            {"name": "full.safetensors", "primary": True},
            {"name": "small.safetensors", "type": "Pruned Model", "size": "pruned", "fp": "fp16"},
        ]
    )
    created = upload_model(
        empty_hub.api, key, metadata, [("full.safetensors", primary), ("small.safetensors", pruned)]
    )
    assert created.status_code == 201, created.text
    version = created.json()
    url = f"{empty_hub.url}/api/download/models/{version['id']}"
    assert version["downloadUrl"] == url
    files = {f["name"]: f for f in version["files"]}
    assert files["full.safetensors"]["sizeKB"] == len(primary) / 1024
    assert files["full.safetensors"]["metadata"] == {"format": "SafeTensor", "size": None, "fp": "fp32"}
    assert files["small.safetensors"]["downloadUrl"].startswith(url + "?")

    whole = httpx.get(url)
    assert whole.status_code == 200 and whole.content == primary
    sha = hashlib.sha256(primary).hexdigest()
    assert whole.headers["etag"] == f'"{sha}"'
    assert whole.headers["content-disposition"] == 'attachment; filename="full.safetensors"'
    assert whole.headers["accept-ranges"] == "bytes"

    part = httpx.get(url, headers={"Range": "bytes=100-199"})
    assert part.status_code == 206 and part.content == primary[100:200]
    assert part.headers["content-range"] == f"bytes 100-199/{len(primary)}"
    tail = httpx.get(url, headers={"Range": "bytes=-10"})
    assert tail.status_code == 206 and tail.content == primary[-10:]
    rest = httpx.get(url, headers={"Range": f"bytes={len(primary) - 5}-"})
    assert rest.content == primary[-5:]
    past = httpx.get(url, headers={"Range": f"bytes={len(primary) + 10}-"})
    assert past.status_code == 416 and past.headers["content-range"] == f"bytes */{len(primary)}"
    same = httpx.get(url, headers={"Range": "bytes=0-9", "If-Range": f'"{sha}"'})
    assert same.status_code == 206
    changed = httpx.get(url, headers={"Range": "bytes=0-9", "If-Range": '"other"'})
    assert changed.status_code == 200 and changed.content == primary

    chosen = httpx.get(files["small.safetensors"]["downloadUrl"])
    assert (
        chosen.content == pruned and 'filename="small.safetensors"' in chosen.headers["content-disposition"]
    )
    assert httpx.get(url, params={"type": "Pruned Model"}).content == pruned
    missing = httpx.get(url, params={"type": "VAE"})
    assert missing.status_code == 404 and "error" in missing.json()


def test_download_counts_reach_stats_and_feed(empty_hub: RunningHub) -> None:
    key = register(empty_hub.api, "creator")
    created = upload_model(
        empty_hub.api, key, model_metadata(), [("m.safetensors", safetensors_bytes())]
    ).json()
    url = created["downloadUrl"]
    for _ in range(3):
        assert httpx.get(url).status_code == 200
    httpx.get(url, headers={"Range": "bytes=10-"})  # a resume is not a new download
    before = httpx.get(f"{empty_hub.api}/sync/changes").json()["nextCursor"]
    assert empty_hub.store.refresh_stats() == 1
    model = httpx.get(f"{empty_hub.api}/models/{created['modelId']}").json()
    assert model["stats"]["downloadCount"] == 3
    assert model["modelVersions"][0]["stats"]["downloadCount"] == 3
    changes = httpx.get(f"{empty_hub.api}/sync/changes", params={"since": before}).json()["items"]
    assert [(c["entity"], c["id"]) for c in changes] == [("model", created["modelId"])]


def test_accel_redirect_hands_the_bytes_to_nginx(tmp_path) -> None:
    from tests.hub.server.conftest import running_hub

    with running_hub(tmp_path / "hub", accel_redirect="/_files/") as hub:
        key = register(hub.api, "creator")
        created = upload_model(
            hub.api, key, model_metadata(), [("m.safetensors", safetensors_bytes())]
        ).json()
        response = httpx.get(created["downloadUrl"])
        sha = created["files"][0]["hashes"]["SHA256"].lower()
        assert response.status_code == 200 and response.content == b""
        assert response.headers["x-accel-redirect"] == f"/_files/files/{sha[:2]}/{sha}"
        assert (hub.data_dir / response.headers["x-accel-redirect"].removeprefix("/_files/")).is_file()
        assert response.headers["content-disposition"] == 'attachment; filename="m.safetensors"'
