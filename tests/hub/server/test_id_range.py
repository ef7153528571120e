"""Ids are range-checked where they enter: an id past the signed 64-bit range SQLite holds is a
422 naming the parameter on every route that takes one (it was a 500 from an OverflowError);
zero and negative ids keep their meaning (a 404 in a path, a 400 in a filter)."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator

import httpx
import pytest

from tests.hub.server.conftest import RunningHub, register, running_hub

ABOVE = str(2**63)  # one past the largest signed 64-bit integer
BELOW = str(-(2**63) - 1)
HUGE = "9" * 40


@pytest.fixture(scope="module")
def hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[RunningHub, dict[str, str]]]:
    with running_hub(tmp_path_factory.mktemp("ids") / "hub") as running:
        key = register(running.api, "idchecker")
        yield running, {"Authorization": f"Bearer {key}"}


# (method, path under the server root, query, the parameter the error must name)
PATH_ROUTES = [
    ("GET", "/api/v1/models/{id}", "modelId"),
    ("GET", "/api/v1/model-versions/{id}", "modelVersionId"),
    ("GET", "/api/v1/model-versions/mini/{id}", "modelVersionId"),
    ("GET", "/api/download/models/{id}", "modelVersionId"),
    ("HEAD", "/api/download/models/{id}", "modelVersionId"),
    ("DELETE", "/api/v1/models/{id}", "modelId"),
    ("PATCH", "/api/v1/models/{id}", "modelId"),
    ("PUT", "/api/v1/models/{id}/favorite", "modelId"),
    ("DELETE", "/api/v1/models/{id}/favorite", "modelId"),
    ("POST", "/api/v1/models/{id}/versions", "modelId"),
    ("DELETE", "/api/v1/auth/keys/{id}", "keyId"),
]
QUERY_ROUTES = [
    ("/api/v1/models", "ids"),
    ("/api/v1/users", "ids"),
    ("/api/v1/images", "modelId"),
    ("/api/v1/images", "modelVersionId"),
    ("/api/v1/images", "postId"),
    ("/api/v1/images", "imageId"),
]


def _request(hub: RunningHub, auth: dict[str, str], method: str, path: str, **kwargs) -> httpx.Response:
    body = {"json": {"name": "x"}} if method == "PATCH" else {}
    return httpx.request(method, hub.url + path, headers=auth, timeout=30, **body, **kwargs)


@pytest.mark.parametrize(("method", "template", "name"), PATH_ROUTES)
@pytest.mark.parametrize("value", [ABOVE, BELOW, HUGE])
def test_path_ids_outside_64_bits_are_422(
    hub: tuple[RunningHub, dict[str, str]], method: str, template: str, name: str, value: str
) -> None:
    running, auth = hub
    response = _request(running, auth, method, template.format(id=value))
    assert response.status_code == 422, (method, template, response.text)
    if method != "HEAD":
        error = response.json()["error"]
        assert error.startswith(f"{name}: {value} is ") and "signed 64-bit range" in error


@pytest.mark.parametrize(("path", "name"), QUERY_ROUTES)
def test_query_ids_above_64_bits_are_422(
    hub: tuple[RunningHub, dict[str, str]], path: str, name: str
) -> None:
    running, _auth = hub
    for query in ({name: ABOVE}, {name: HUGE}) if name != "ids" else ({"ids": f"1,{ABOVE}"}, {"ids": HUGE}):
        response = httpx.get(running.url + path, params=query)
        assert response.status_code == 422, (path, query, response.text)
        assert response.json()["error"].startswith(f"{name}: ")


def test_zero_and_negative_ids_keep_their_meaning(hub: tuple[RunningHub, dict[str, str]]) -> None:
    running, auth = hub
    for value in ("0", "-1", str(-(2**63))):
        assert httpx.get(f"{running.api}/models/{value}").status_code == 404
        assert httpx.get(f"{running.api}/model-versions/{value}").status_code == 404
        assert httpx.get(f"{running.url}/api/download/models/{value}").status_code == 404
        assert httpx.delete(f"{running.api}/models/{value}", headers=auth).status_code == 404
    assert httpx.get(f"{running.api}/models/{2**63 - 1}").status_code == 404  # the largest id is an id
    for path, name in QUERY_ROUTES:
        response = httpx.get(running.url + path, params={name: "0"})
        assert response.status_code == 400 and name in response.json()["error"], (path, response.text)


def test_a_cursor_holding_a_huge_id_is_a_malformed_cursor(hub: tuple[RunningHub, dict[str, str]]) -> None:
    running, _auth = hub
    for key in ([5, 2**63], [2**70, 1]):
        raw = json.dumps(["Newest", *key]).encode()
        cursor = base64.urlsafe_b64encode(raw).decode().rstrip("=")
        for path in ("/api/v1/models", "/api/v1/images"):
            response = httpx.get(running.url + path, params={"sort": "Newest", "cursor": cursor})
            assert response.status_code == 400 and "cursor" in response.json()["error"], response.text
