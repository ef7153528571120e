"""Names, tags and trigger words are plain text (HTML tags stripped, as Civitai shows them);
descriptions stay HTML, sanitised. A `<script>` in a model name used to be stored as is."""

from __future__ import annotations

import json

import httpx

from hub.server.media import generate_preview
from tests.hub.server.conftest import RunningHub, model_metadata, register, safetensors_bytes, upload_model


def test_uploads_and_edits_store_plain_names(empty_hub: RunningHub) -> None:
    hub = empty_hub
    key = register(hub.api, "marker")
    auth = {"Authorization": f"Bearer {key}"}
    metadata = model_metadata(
        "<script>alert(1)</script>Ink <b>Style</b>",
        trainedWords=["inkstyle <lora:ink:0.8>", "<img src=x onerror=alert(1)>ink"],
        images=[{"meta": {"prompt": "a fox, <lora:ink:0.8> <script>x</script>", "seed": 5}}],
    ) | {"tags": ["<b>ink</b>", "style"], "description": "<p>ok</p><script>alert(1)</script>"}
    metadata["version"]["name"] = "<i>v1</i> &amp; more"
    files = [("ink.safetensors", safetensors_bytes())]
    response = upload_model(hub.api, key, metadata, files, [generate_preview(1)])
    assert response.status_code == 201, response.text
    version = response.json()
    model = httpx.get(f"{hub.api}/models/{version['modelId']}").json()
    assert model["name"] == "Ink Style"
    assert version["name"] == "v1 & more"
    assert model["tags"] == ["ink", "style"]
    assert version["trainedWords"] == ["inkstyle <lora:ink:0.8>", "ink"]
    assert version["images"][0]["meta"] == {"prompt": "a fox, <lora:ink:0.8> ", "seed": 5}
    assert model["description"] == "<p>ok</p>"  # HTML kept, sanitised
    found = httpx.get(f"{hub.api}/models", params={"query": "Ink Style"}).json()["items"]
    assert [m["name"] for m in found] == ["Ink Style"]

    edited = httpx.patch(
        f"{hub.api}/models/{version['modelId']}",
        json={"name": "<svg onload=alert(1)>Renamed</svg>", "tags": ["<u>new</u>"]},
        headers=auth,
    )
    assert edited.status_code == 200, edited.text
    assert edited.json()["name"] == "Renamed" and edited.json()["tags"] == ["new"]
    feed = httpx.get(f"{hub.api}/sync/changes").json()["items"]
    assert [c["data"]["name"] for c in feed if c["entity"] == "model"] == ["Renamed"]


def test_a_name_of_markup_only_is_refused(empty_hub: RunningHub) -> None:
    hub = empty_hub
    key = register(hub.api, "marker")
    metadata = model_metadata("<script>alert(1)</script>")
    response = upload_model(hub.api, key, metadata, [("x.safetensors", safetensors_bytes())])
    assert response.status_code == 400 and response.json()["error"].startswith("metadata.name: empty once")
    response = httpx.patch(
        f"{hub.api}/models/1", json={"name": "<b></b>"}, headers={"Authorization": f"Bearer {key}"}
    )
    assert response.status_code == 400 and "name: empty once" in response.json()["error"]
    bad_tags = model_metadata() | {"tags": ["<b></b>"]}
    response = upload_model(hub.api, key, bad_tags, [("x.safetensors", safetensors_bytes())])
    assert response.status_code == 400 and "metadata.tags" in response.json()["error"]
    assert json.loads(httpx.get(f"{hub.api}/models").text)["items"] == []
