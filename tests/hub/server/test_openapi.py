"""The OpenAPI document describes the server as it answers: every parameter and body, every
status each route returns (with the error schema), and one operation id per operation.

It used to declare no query parameters or bodies, only 200 and 422 (which the server never
sent), and one operation id for both HEAD and GET download. Real requests below produce each
status; the document must declare it for that operation. The last tests are the failures the
schemathesis fuzz (test_openapi_fuzz.py) found, kept as plain regression tests.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.hub.server.conftest import (
    RunningHub,
    copy_catalog,
    model_metadata,
    register,
    running_hub,
    safetensors_bytes,
    upload_model,
)

CIVITAI_MODEL_PARAMETERS = {
    "limit", "page", "cursor", "query", "tag", "username", "ids", "types", "baseModels",
    "checkpointType", "sort", "period", "nsfw", "primaryFileOnly", "favorites",
}  # fmt: skip
IMAGE_PARAMETERS = {
    "limit", "page", "cursor", "modelId", "modelVersionId", "postId", "imageId", "username",
    "nsfw", "browsingLevel", "baseModels", "sort", "period",
}  # fmt: skip


@pytest.fixture(scope="module")
def hub(seeded_template: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningHub]:
    data = copy_catalog(seeded_template, tmp_path_factory.mktemp("openapi") / "hub")
    with running_hub(data, max_upload_bytes=10_000) as running:
        yield running


@pytest.fixture(scope="module")
def document(hub: RunningHub) -> dict:
    return httpx.get(f"{hub.url}/openapi.json").json()


def _operation(document: dict, method: str, path: str) -> dict:
    """The operation whose path template matches `path`; literal templates win over {params}."""
    candidates = []
    for template, item in document["paths"].items():
        pattern = "^" + re.sub(r"\{[^/]+\}", "[^/]+", template) + "$"
        if re.match(pattern, path) and method.lower() in item:
            candidates.append((template.count("{"), item[method.lower()]))
    assert candidates, f"{method} {path} is not in the document"
    return min(candidates, key=lambda c: c[0])[1]


def test_operation_ids_are_unique_and_head_has_its_own(document: dict) -> None:
    ids = [op["operationId"] for item in document["paths"].values() for op in item.values()]
    assert len(ids) == len(set(ids)) >= 29
    download = document["paths"]["/api/download/models/{modelVersionId}"]
    assert download["get"]["operationId"] == "downloadModelVersion"
    assert download["head"]["operationId"] == "headModelVersionDownload"


def test_parameters_and_bodies_are_declared(document: dict) -> None:
    def names(method: str, path: str) -> set[str]:
        return {p["name"] for p in _operation(document, method, path).get("parameters", [])}

    assert names("GET", "/api/v1/models") == CIVITAI_MODEL_PARAMETERS
    assert names("GET", "/api/v1/images") == IMAGE_PARAMETERS
    assert names("GET", "/api/download/models/1") == {"modelVersionId", "type", "format", "fp", "size"}
    assert names("GET", "/api/v1/sync/changes") == {"since", "limit"}
    assert names("GET", "/api/v1/creators") == names("GET", "/api/v1/tags") == {"limit", "page", "query"}
    models = {p["name"]: p["schema"] for p in _operation(document, "GET", "/api/v1/models")["parameters"]}
    assert models["limit"] == models["limit"] | {"type": "integer", "minimum": 1, "maximum": 100}
    assert "LORA" in models["types"]["items"]["enum"] and models["nsfw"]["type"] == "boolean"
    for item in document["paths"].values():
        for method, operation in item.items():
            for parameter in operation.get("parameters", []):
                assert {"type": "null"} not in parameter["schema"].get("anyOf", []), parameter
            if method in ("post", "patch") or operation["operationId"] == "setUserRole":
                assert "requestBody" in operation, operation["operationId"]
    upload = _operation(document, "POST", "/api/v1/models")["requestBody"]["content"]
    assert upload["multipart/form-data"]["schema"]["required"] == ["metadata", "files"]
    assert "ModelMeta" in document["components"]["schemas"]
    assert "security" in _operation(document, "GET", "/api/v1/me")
    assert "HTTPValidationError" not in str(document)
    assert "X-Atelier-Auth" in _operation(document, "GET", "/api/v1/models")["responses"]["200"]["headers"]


@pytest.mark.slow
def test_every_status_the_server_answers_is_declared(hub: RunningHub, document: dict) -> None:
    api = hub.api
    owner = register(api, "owner")
    other = register(api, "other")
    as_owner, as_other = {"Authorization": f"Bearer {owner}"}, {"Authorization": f"Bearer {other}"}
    created = upload_model(
        api, owner, model_metadata("Declared"), [("d.safetensors", safetensors_bytes(100))]
    )
    version_id, model_id = created.json()["id"], created.json()["modelId"]
    download = f"{hub.url}/api/download/models/{version_id}"
    size = int(httpx.head(download).headers["content-length"])
    seen: list[tuple[str, str, int]] = []

    def call(method: str, url: str, expected: int, **kwargs) -> None:
        response = httpx.request(method, url, timeout=30, **kwargs)
        assert response.status_code == expected, (method, url, response.text)
        path = httpx.URL(url).path
        declared = _operation(document, method, path)["responses"]
        assert str(expected) in declared, f"{method} {path} answered {expected}, not declared"
        if expected >= 400 and method != "HEAD":
            assert set(response.json()) == {"error"}
        seen.append((method, path, expected))

    call(
        "POST",
        f"{api}/models",
        201,
        headers=as_owner,
        files={"files": ("x.safetensors", safetensors_bytes(9))},
        data={"metadata": '{"name":"N","type":"LORA","version":{"name":"v","baseModel":"SD 1.5"}}'},
    )
    call("GET", f"{api}/models", 200, params={"limit": 1})
    call("GET", f"{api}/models", 400, params={"limit": 0})
    call("GET", f"{api}/models", 401, params={"favorites": "true"})
    call("GET", f"{api}/models", 422, params={"ids": str(2**63)})
    call("GET", f"{api}/models", 429, params={"page": 11})
    call("GET", f"{api}/models/{model_id}", 200)
    call("GET", f"{api}/models/abc", 400)
    call("GET", f"{api}/models/99999999", 404)
    call("GET", f"{api}/models/{2**64}", 422)
    call("GET", f"{api}/model-versions/{version_id}", 200)
    call("GET", f"{api}/model-versions/mini/99999999", 404)
    call("GET", f"{api}/model-versions/by-hash/zz", 400)
    call("GET", f"{api}/model-versions/by-hash/{'A' * 64}", 404)
    call("POST", f"{api}/model-versions/by-hash", 400, json={"no": 1})
    call("POST", f"{api}/model-versions/by-hash/ids", 200, json=["A" * 64])
    call("GET", f"{api}/images", 400, params={"nsfw": "Extreme"})
    call("GET", f"{api}/creators", 429, params={"page": 1001})
    call("GET", f"{api}/tags", 200)
    call("GET", f"{api}/users", 400)
    call("GET", f"{api}/me", 401)
    call("GET", f"{api}/sync/changes", 400, params={"since": "x"})
    call("GET", download, 206, headers={"Range": "bytes=0-9"})
    call("GET", download, 416, headers={"Range": f"bytes={size + 10}-"})
    call("GET", download, 400, headers={"Range": "bytes=9-2"})
    call("HEAD", download, 200)
    call("HEAD", f"{hub.url}/api/download/models/99999999", 404)
    call("GET", f"{hub.url}/media/{'a' * 64}.png", 404)
    call("POST", f"{api}/auth/register", 409, json={"username": "owner", "password": "x" * 10})
    call("POST", f"{api}/auth/login", 401, json={"username": "owner", "password": "wrong password"})
    call("POST", f"{api}/auth/keys", 201, headers=as_owner, json={"name": "ci"})
    call("DELETE", f"{api}/auth/keys/99999999", 404, headers=as_owner)
    call("PUT", f"{api}/users/other/role", 403, headers=as_other, json={"role": "admin"})
    call("PATCH", f"{api}/models/{model_id}", 403, headers=as_other, json={"name": "Mine"})
    call("PATCH", f"{api}/models/{model_id}", 400, headers=as_owner, json={})
    call(
        "POST",
        f"{api}/models/{model_id}/versions",
        411,
        headers=as_owner,
        content=iter([b"chunked: no Content-Length"]),
    )
    call(
        "POST",
        f"{api}/models",
        413,
        headers=as_owner,
        files={"files": ("b.safetensors", b"0" * 2_000_000)},
        data={"metadata": "{}"},
    )
    call("PUT", f"{api}/models/{model_id}/favorite", 200, headers=as_other)
    call("DELETE", f"{api}/models/99999999/favorite", 404, headers=as_other)
    call("DELETE", f"{api}/models/{model_id}", 204, headers=as_owner)
    assert len(seen) >= 39


def test_head_download_documents_its_content_type(hub: RunningHub, document: dict) -> None:
    # fuzz failure: HEAD answered application/octet-stream, documented only application/json
    head = _operation(document, "HEAD", "/api/download/models/1")
    assert "application/octet-stream" in head["responses"]["200"]["content"]
    response = httpx.head(f"{hub.url}/api/download/models/1")
    assert response.status_code == 200 and response.headers["content-type"] == "application/octet-stream"


@pytest.mark.parametrize("path", ["/api/v1/models", "/api/v1/images", "/api/v1/creators", "/api/v1/tags"])
def test_a_page_past_the_cap_is_429_however_large(hub: RunningHub, path: str) -> None:
    # fuzz failure: page=152438809921954817285029888 was a 422 (taken for an id out of range)
    response = httpx.get(hub.url + path, params={"page": str(2**90), "limit": 42})
    assert response.status_code == 429 and "cursors" in response.json()["error"]
