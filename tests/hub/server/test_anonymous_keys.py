"""A key this server did not issue is no key: open routes and public downloads answer it as
anonymous (and say so in X-Atelier-Auth); routes that need an identity answer 401.

Users keep their civitai.com token in CIVITAI_TOKEN, which clients such as civitapy send to any
base URL, and civitdl sends `Bearer None` when it has no key: both used to get 401 everywhere.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from civitapy import CivitAIClient
from civitapy.errors import CivitAIAuthError

from tests.hub.server.conftest import (
    RunningHub,
    model_metadata,
    register,
    running_hub,
    safetensors_bytes,
    upload_model,
)

CIVITAI_TOKEN = "0123456789abcdef0123456789abcdef"  # the shape of a civitai.com key


@pytest.fixture(scope="module")
def published(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[RunningHub, str, dict]]:
    """A server with one public model (read only by the tests)."""
    with running_hub(tmp_path_factory.mktemp("anonymous") / "hub") as hub:
        key = register(hub.api, "publisher")
        payload = safetensors_bytes(500, seed=11)
        response = upload_model(hub.api, key, model_metadata("Open Model"), [("open.safetensors", payload)])
        assert response.status_code == 201, response.text
        yield hub, key, response.json()


def test_civitapy_with_a_civitai_token_reads_and_downloads_as_anonymous(
    published: tuple[RunningHub, str, dict], tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    hub, _key, version = published
    client = CivitAIClient(
        base_url=hub.api, download_dir=str(tmp_path / "dl"), verify_hash=True, token=CIVITAI_TOKEN
    )
    with caplog.at_level(logging.INFO, logger="hub.server.middleware"):
        listed = client.models_list(limit=10)["items"]
        assert [m["name"] for m in listed] == ["Open Model"]
        assert client.models_get(version["modelId"])["id"] == version["modelId"]
        assert client.model_versions_get(version["id"])["id"] == version["id"]
        paths = client.download_model_version(version["id"])
    data = Path(paths[0]).read_bytes()
    assert hashlib.sha256(data).hexdigest().upper() == version["files"][0]["hashes"]["SHA256"]
    with pytest.raises(CivitAIAuthError, match=r"Unauthorized \(unknown key\)"):
        client.users_me()
    logged = [r.getMessage() for r in caplog.records if "served as anonymous" in r.getMessage()]
    assert logged and all("unknown key" in line and CIVITAI_TOKEN not in line for line in logged)


@pytest.mark.parametrize(
    ("headers", "params", "why"),
    [
        ({"Authorization": "Bearer None"}, {}, "unknown key"),
        ({"Authorization": f"Bearer {CIVITAI_TOKEN}"}, {}, "unknown key"),
        ({}, {"token": CIVITAI_TOKEN}, "unknown key"),
        ({"Authorization": "Bearer"}, {}, "empty key"),
        ({}, {"token": ""}, "empty key"),
        ({"Authorization": "Basic dXNlcjpwYXNz"}, {}, "not a Bearer key"),
    ],
)
def test_open_routes_answer_and_identity_routes_refuse(
    published: tuple[RunningHub, str, dict], headers: dict, params: dict, why: str
) -> None:
    hub, _key, version = published
    download = f"{hub.url}/api/download/models/{version['id']}"
    for url in (f"{hub.api}/models", f"{hub.api}/model-versions/{version['id']}", download):
        response = httpx.get(url, headers=headers, params=params)
        assert response.status_code == 200, (url, response.text)
        assert response.headers["X-Atelier-Auth"] == f"anonymous ({why})"
    head = httpx.head(download, headers=headers, params=params)
    assert head.status_code == 200 and head.headers["X-Atelier-Auth"] == f"anonymous ({why})"
    for method, url in (
        ("GET", f"{hub.api}/me"),
        ("GET", f"{hub.api}/auth/keys"),
        ("POST", f"{hub.api}/models"),
    ):
        refused = httpx.request(method, url, headers=headers, params=params)
        assert refused.status_code == 401, (url, refused.text)
        assert refused.json()["error"].startswith(f"Unauthorized ({why}):")
        assert refused.headers["X-Atelier-Auth"] == f"anonymous ({why})"
    assert httpx.get(f"{hub.api}/models", params={"favorites": "true"}, headers=headers).status_code == 401


def test_a_key_of_this_server_is_not_anonymous(published: tuple[RunningHub, str, dict]) -> None:
    hub, key, _version = published
    response = httpx.get(f"{hub.api}/me", headers={"Authorization": f"Bearer {key}"})
    assert response.status_code == 200 and "X-Atelier-Auth" not in response.headers
    assert "X-Atelier-Auth" not in httpx.get(f"{hub.api}/models").headers  # no key at all: nothing to say


def test_unknown_keys_count_against_the_client_address(tmp_path: Path) -> None:
    # slow refills (one request per 30 s) keep this independent of the machine's speed
    with running_hub(tmp_path / "hub", ip_rate_limit=2, key_rate_limit=100) as hub:
        key = register(hub.api, "counted")  # one of this address's two requests
        unknown = {"Authorization": "Bearer None"}
        statuses = [httpx.get(f"{hub.api}/enums", headers=unknown).status_code for _ in range(2)]
        assert statuses == [200, 429]
        limited = httpx.get(f"{hub.api}/enums", headers=unknown)
        assert limited.status_code == 429 and limited.headers["X-Atelier-Auth"] == "anonymous (unknown key)"
        assert httpx.get(f"{hub.api}/enums", headers={"Authorization": f"Bearer {key}"}).status_code == 200
