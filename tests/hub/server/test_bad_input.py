"""Bad input gets a clear 4xx `{"error": ...}` naming the problem, and nothing is written."""

from __future__ import annotations

import json
import os
import pickle
from pathlib import Path

import httpx
import pytest

from tests.hub.server.conftest import (
    RunningHub,
    data_snapshot,
    model_metadata,
    register,
    running_hub,
    safetensors_bytes,
    upload_model,
)


@pytest.mark.parametrize(
    ("query", "status", "needle"),
    [
        ({"types": "Bogus"}, 400, "types"),
        ({"types": ["LORA", "Nope"]}, 400, "Nope"),
        ({"baseModels": "SD 9"}, 400, "baseModels"),
        ({"sort": "Loudest"}, 400, "sort"),
        ({"period": "Century"}, 400, "period"),
        ({"limit": "-1"}, 400, "limit"),
        ({"limit": "0"}, 400, "limit"),
        ({"limit": "101"}, 400, "limit"),
        ({"limit": "99999999999999999999"}, 400, "limit"),
        ({"limit": "ten"}, 400, "limit"),
        ({"page": "0"}, 400, "page"),
        ({"page": "11", "limit": "100"}, 429, "cursors"),
        ({"page": "2", "query": "fox"}, 400, "query"),
        ({"cursor": "not-a-cursor"}, 400, "cursor"),
        ({"cursor": "bnVsbA"}, 400, "cursor"),
        ({"nsfw": "maybe"}, 400, "nsfw"),
        ({"ids": "1,x"}, 400, "ids"),
    ],
)
def test_model_list_rejects_bad_parameters(
    shared_hub: RunningHub, query: dict, status: int, needle: str
) -> None:
    response = httpx.get(f"{shared_hub.api}/models", params=query)
    assert response.status_code == status, response.text
    assert needle.lower() in response.json()["error"].lower()


def test_cursor_of_another_sort_and_other_routes(shared_hub: RunningHub) -> None:
    seeded_hub = shared_hub
    api = shared_hub.api
    cursor = httpx.get(f"{api}/models", params={"limit": 5, "sort": "Newest"}).json()["metadata"][
        "nextCursor"
    ]
    response = httpx.get(f"{api}/models", params={"limit": 5, "sort": "Oldest", "cursor": cursor})
    assert response.status_code == 400 and "sort" in response.json()["error"]
    for since in ("abc", "-1", "1.5", "9" * 30):
        response = httpx.get(f"{api}/sync/changes", params={"since": since})
        assert response.status_code == 400 and "since" in response.json()["error"], since
    for limit in ("0", "1001", "x"):
        assert httpx.get(f"{api}/sync/changes", params={"limit": limit}).status_code == 400
    for bad in ("xyz", "ABCDEFG", "G" * 64, "12345678901"):
        response = httpx.get(f"{api}/model-versions/by-hash/{bad}")
        assert response.status_code == 400 and "hash" in response.json()["error"], bad
    assert httpx.get(f"{api}/model-versions/by-hash/{'A' * 64}").status_code == 404
    assert httpx.post(f"{api}/model-versions/by-hash", json={"not": "a list"}).status_code == 400
    assert httpx.post(f"{api}/model-versions/by-hash", json=["zz"]).status_code == 400
    assert httpx.post(f"{api}/model-versions/by-hash", json=["A" * 64] * 101).status_code == 400
    assert httpx.get(f"{api}/models/abc").status_code == 400
    assert httpx.get(f"{api}/models/99999999").json() == {"error": "No model with id 99999999"}
    assert httpx.get(f"{api}/model-versions/99999999").status_code == 404
    assert httpx.get(f"{api}/images", params={"nsfw": "Extreme"}).status_code == 400
    assert httpx.get(f"{api}/creators", params={"limit": 100, "page": 11}).status_code == 429
    assert httpx.get(f"{api}/me").status_code == 401
    assert httpx.get(f"{api}/me", params={"token": "atl_wrong"}).status_code == 401
    assert httpx.get(f"{seeded_hub.url}/api/download/models/1", params={"format": "Zip"}).status_code == 400
    assert httpx.get(f"{seeded_hub.url}/api/download/models/99999999").status_code == 404


@pytest.fixture
def uploader(empty_hub: RunningHub) -> tuple[RunningHub, str]:
    return empty_hub, register(empty_hub.api, "creator1")


def _assert_nothing_written(hub: RunningHub, before_files: set[str], before_counts: dict[str, int]) -> None:
    assert data_snapshot(hub.data_dir) == before_files
    assert hub.store.counts() == before_counts
    assert not any((hub.data_dir / "tmp").iterdir())


@pytest.mark.parametrize(
    ("name", "needle"),
    [
        ("../evil.safetensors", "file name"),
        ("sub/dir.safetensors", "file name"),
        ("..\\evil.safetensors", "file name"),
        (".hidden.safetensors", "file name"),
        ("con.safetensors", "reserved"),
        ("model.exe", "extension"),
        ("a" * 300 + ".safetensors", "file name"),
    ],
)
def test_path_tricks_in_file_names_are_refused(
    uploader: tuple[RunningHub, str], name: str, needle: str
) -> None:
    hub, key = uploader
    before_files, before_counts = data_snapshot(hub.data_dir), hub.store.counts()
    response = upload_model(hub.api, key, model_metadata(), [(name, safetensors_bytes())])
    assert response.status_code == 400, response.text
    assert needle in response.json()["error"]
    _assert_nothing_written(hub, before_files, before_counts)


def test_invalid_files_and_metadata_are_refused(uploader: tuple[RunningHub, str]) -> None:
    hub, key = uploader
    before_files, before_counts = data_snapshot(hub.data_dir), hub.store.counts()
    good = safetensors_bytes()
    broken_offsets = bytearray(good)
    header_len = int.from_bytes(good[:8], "little")
    header = json.loads(good[8 : 8 + header_len])
    header["weight"]["data_offsets"][1] += 4
    raw = json.dumps(header).encode()
    broken_offsets = len(raw).to_bytes(8, "little") + raw + good[8 + header_len :]
    cases = [
        (model_metadata(), [("x.safetensors", os.urandom(500))], "safetensors"),
        (model_metadata(), [("x.safetensors", bytes(broken_offsets))], "safetensors"),
        (model_metadata(), [("x.safetensors", b"")], "safetensors"),
        (model_metadata(), [], "files"),
        (model_metadata(files=[{"name": "x.ckpt", "format": "SafeTensor"}]), [("x.ckpt", good)], "extension"),
        (model_metadata(baseModel="SD 9"), [("x.safetensors", good)], "baseModel"),
        (model_metadata() | {"type": "Weird"}, [("x.safetensors", good)], "type"),
        (model_metadata() | {"surprise": 1}, [("x.safetensors", good)], "surprise"),
        (
            model_metadata(files=[{"name": "other.safetensors"}]),
            [("x.safetensors", good)],
            "other.safetensors",
        ),
        (model_metadata(), [("x.safetensors", good), ("x.safetensors", good)], "same name"),
    ]
    for metadata, files, needle in cases:
        response = upload_model(hub.api, key, metadata, files)
        assert response.status_code == 400, (needle, response.text)
        assert needle in response.json()["error"], (needle, response.json())
    response = upload_model(
        hub.api, key, model_metadata(), [("x.safetensors", good)], images=[b"not an image"]
    )
    assert response.status_code == 400 and "image" in response.json()["error"]
    response = httpx.post(f"{hub.api}/models", headers={"Authorization": f"Bearer {key}"}, json={"a": 1})
    assert response.status_code == 400
    _assert_nothing_written(hub, before_files, before_counts)


def test_oversized_upload_is_refused(tmp_path: Path) -> None:
    with running_hub(tmp_path / "hub", max_upload_bytes=10_000) as hub:
        key = register(hub.api, "creator1")
        before_files, before_counts = data_snapshot(hub.data_dir), hub.store.counts()
        big = safetensors_bytes(5_000)  # 20 KB of tensor data, within the form overhead allowance
        response = upload_model(hub.api, key, model_metadata(), [("big.safetensors", big)])
        assert response.status_code == 413 and "limit" in response.json()["error"]
        huge = safetensors_bytes(400_000)  # 1.6 MB: refused from Content-Length before reading
        response = upload_model(hub.api, key, model_metadata(), [("huge.safetensors", huge)])
        assert response.status_code == 413
        _assert_nothing_written(hub, before_files, before_counts)


def test_pickles_are_accepted_when_declared_and_flagged(uploader: tuple[RunningHub, str]) -> None:
    hub, key = uploader

    class Evil:
        def __reduce__(self):
            return (os.system, ("echo pwned",))

    evil = pickle.dumps({"state_dict": Evil()})
    clean = pickle.dumps({"state_dict": {"w": [1.0, 2.0]}})
    metadata = model_metadata(
        files=[
            {"name": "evil.ckpt", "format": "PickleTensor", "primary": True},
            {"name": "clean.pt", "type": "Pruned Model"},
        ]
    ) | {"type": "Checkpoint"}
    response = upload_model(hub.api, key, metadata, [("evil.ckpt", evil), ("clean.pt", clean)])
    assert response.status_code == 201, response.text
    files = {f["name"]: f for f in response.json()["files"]}
    assert files["evil.ckpt"]["pickleScanResult"] == "Danger"
    assert "system" in files["evil.ckpt"]["pickleScanMessage"]
    assert files["clean.pt"]["pickleScanResult"] == "Success"
    assert files["evil.ckpt"]["metadata"]["format"] == "PickleTensor" and files["evil.ckpt"]["primary"]


def test_auth_roles_and_rate_limits(tmp_path: Path) -> None:
    with running_hub(tmp_path / "hub") as hub:
        admin = register(hub.api, "admin")
        alice = register(hub.api, "alice")
        bob = register(hub.api, "bob")
        assert (
            httpx.get(f"{hub.api}/me", headers={"Authorization": f"Bearer {admin}"}).json()["role"] == "admin"
        )
        assert httpx.get(f"{hub.api}/me", params={"token": alice}).json()["role"] == "user"
        response = upload_model(hub.api, "", model_metadata(), [("x.safetensors", safetensors_bytes())])
        assert response.status_code == 401
        response = upload_model(
            hub.api, alice, model_metadata("Alice's"), [("x.safetensors", safetensors_bytes())]
        )
        model_id = response.json()["modelId"]
        as_bob = {"Authorization": f"Bearer {bob}"}
        assert (
            httpx.patch(f"{hub.api}/models/{model_id}", json={"name": "Mine"}, headers=as_bob).status_code
            == 403
        )
        assert httpx.delete(f"{hub.api}/models/{model_id}", headers=as_bob).status_code == 403
        response = httpx.put(f"{hub.api}/users/bob/role", json={"role": "moderator"}, headers=as_bob)
        assert response.status_code == 403
        response = httpx.put(
            f"{hub.api}/users/bob/role",
            json={"role": "moderator"},
            headers={"Authorization": f"Bearer {admin}"},
        )
        assert response.status_code == 200
        assert (
            httpx.patch(
                f"{hub.api}/models/{model_id}", json={"name": "Moderated"}, headers=as_bob
            ).status_code
            == 200
        )
        assert (
            httpx.post(
                f"{hub.api}/auth/register", json={"username": "alice", "password": "x" * 10}
            ).status_code
            == 409
        )
        assert (
            httpx.post(f"{hub.api}/auth/register", json={"username": "a/b", "password": "x" * 10}).status_code
            == 400
        )
        assert (
            httpx.post(
                f"{hub.api}/auth/register", json={"username": "carol", "password": "short"}
            ).status_code
            == 400
        )
        login = httpx.post(
            f"{hub.api}/auth/login", json={"username": "alice", "password": "correct horse battery"}
        )
        assert login.status_code == 200 and login.json()["apiKey"].startswith("atl_")
        bad = httpx.post(f"{hub.api}/auth/login", json={"username": "alice", "password": "wrong password"})
        assert bad.status_code == 401
        description = httpx.get(f"{hub.api}/models/{model_id}").json()["description"]
        assert "<script>" not in description and "<p>hello</p>" in description
    # slow refills (one request per 20-30 s) keep this independent of the machine's speed
    with running_hub(tmp_path / "limited", ip_rate_limit=2, key_rate_limit=3) as hub:
        key = register(hub.api, "limited")  # one of this IP's two requests
        keyed = [httpx.get(f"{hub.api}/enums", params={"token": key}).status_code for _ in range(4)]
        assert keyed == [200, 200, 200, 429]  # the key has its own bucket
        statuses = [httpx.get(f"{hub.api}/enums").status_code for _ in range(3)]
        assert statuses == [200, 429, 429]
        limited = httpx.get(f"{hub.api}/enums")
        assert int(limited.headers["Retry-After"]) >= 1 and "Rate limit" in limited.json()["error"]


def test_form_parts_are_checked_before_they_are_read_whole(tmp_path: Path) -> None:
    with running_hub(tmp_path / "hub", max_image_bytes=1000) as hub:
        key = register(hub.api, "former")
        auth = {"Authorization": f"Bearer {key}"}
        metadata = json.dumps(model_metadata())
        good = ("x.safetensors", safetensors_bytes(), "application/octet-stream")
        before_files, before_counts = data_snapshot(hub.data_dir), hub.store.counts()

        def post(data: dict, files: list) -> httpx.Response:
            return httpx.post(f"{hub.api}/models", headers=auth, data=data, files=files, timeout=60)

        response = post({"metadata": metadata, "extra": "1"}, [("files", good)])
        assert response.status_code == 400 and "unknown form fields extra" in response.json()["error"]
        response = post({"metadata": metadata, "files": "not a file"}, [("files", good)])
        assert response.status_code == 400 and response.json()["error"].startswith("files: ")
        big_image = ("i.png", b"\x89PNG" + b"0" * 5000, "image/png")
        response = post({"metadata": metadata}, [("files", good), ("images", big_image)])
        assert response.status_code == 413 and response.json()["error"].startswith("images: ")
        big_metadata = ("m.json", b" " * (1024 * 1024 + 1), "application/json")
        response = post({}, [("metadata", big_metadata), ("files", good)])
        assert response.status_code == 413 and response.json()["error"].startswith("metadata: ")
        _assert_nothing_written(hub, before_files, before_counts)
