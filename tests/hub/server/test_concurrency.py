"""Cursor paging and the change feed stay exact while models are added, edited and deleted."""

from __future__ import annotations

import random
import threading
import time

import httpx
import pytest

from tests.hub.server.conftest import RunningHub, model_metadata, register, safetensors_bytes, upload_model


class Writer(threading.Thread):
    """Adds, edits (and optionally deletes) models over HTTP until stopped."""

    def __init__(self, hub: RunningHub, key: str, existing: list[int], delete: bool = False) -> None:
        super().__init__(daemon=True)
        self.hub, self.key, self.existing, self.delete = hub, key, list(existing), delete
        self.stop = threading.Event()
        self.writes = 0
        self.created: list[int] = []
        self.deleted: list[int] = []
        self.error: BaseException | None = None

    def run(self) -> None:
        rng = random.Random(5)
        headers = {"Authorization": f"Bearer {self.key}"}
        try:
            with httpx.Client(headers=headers, timeout=30) as http:
                n = 0
                while not self.stop.is_set():
                    n += 1
                    response = upload_model(
                        self.hub.api,
                        self.key,
                        model_metadata(f"Concurrent {n}"),
                        [(f"c{n}.safetensors", safetensors_bytes(16, seed=1000 + n))],
                    )
                    assert response.status_code == 201, response.text
                    self.created.append(response.json()["modelId"])
                    target = rng.choice(self.existing)
                    edit = {
                        "name": f"Edited {n}",
                        "tags": ["edited", f"round{n}"],
                        "description": f"<p>{n}</p>",
                    }
                    response = http.patch(f"{self.hub.api}/models/{target}", json=edit)
                    assert response.status_code == 200, response.text
                    self.writes += 2
                    if self.delete and n % 3 == 0:
                        victim = self.existing.pop(rng.randrange(len(self.existing)))
                        assert http.delete(f"{self.hub.api}/models/{victim}").status_code == 204
                        self.deleted.append(victim)
                        self.writes += 1
        except BaseException as exc:  # reported by the test
            self.error = exc


@pytest.mark.slow
@pytest.mark.parametrize("sort", ["Highest Rated", "Newest", "Oldest"])
def test_cursor_paging_returns_each_existing_model_once_under_writes(
    seeded_hub: RunningHub, sort: str
) -> None:
    key = register(seeded_hub.api, "admin")  # the first account is the admin: may edit every model
    existing = list(range(1, 1001))
    writer = Writer(seeded_hub, key, existing)
    writer.start()
    seen: list[int] = []
    pages = 0
    with httpx.Client(timeout=30) as http:
        params = {"limit": 37, "nsfw": "true", "sort": sort}
        while True:
            body = http.get(f"{seeded_hub.api}/models", params=params).json()
            seen += [item["id"] for item in body["items"]]
            pages += 1
            cursor = body["metadata"].get("nextCursor")
            if not cursor:
                break
            params["cursor"] = cursor
            if pages <= 6:  # make sure writes land between these pages, however slow the machine
                _wait_for(lambda wanted=2 * pages: writer.writes >= wanted or writer.error is not None)
            time.sleep(0.01)
    writer.stop.set()
    writer.join(30)
    assert writer.error is None, writer.error
    assert writer.writes >= 12, "the writer should have run while we paged"
    assert len(seen) == len(set(seen)), "a model came back twice"
    missing = set(existing) - set(seen)
    assert not missing, f"models that existed throughout were skipped: {sorted(missing)[:10]}"
    assert pages >= 28


def _wait_for(condition, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "the writer made no progress"
        time.sleep(0.01)


def _all_models(api: str) -> dict[int, dict]:
    out: dict[int, dict] = {}
    params: dict = {"limit": 100, "nsfw": "true", "sort": "Oldest"}
    while True:
        body = httpx.get(f"{api}/models", params=params, timeout=30).json()
        out.update({item["id"]: item for item in body["items"]})
        if not body["metadata"].get("nextCursor"):
            return out
        params["cursor"] = body["metadata"]["nextCursor"]


@pytest.mark.slow
def test_change_feed_never_skips_or_repeats_under_writes(backend_seeded_hub: RunningHub) -> None:
    key = register(backend_seeded_hub.api, "admin")
    writer = Writer(backend_seeded_hub, key, list(range(1, 1001)), delete=True)
    mirror: dict[tuple[str, object], dict] = {}
    seqs: list[int] = []
    cursor = None
    started = False
    with httpx.Client(timeout=30) as http:
        while True:
            params = {"limit": 45} | ({"since": cursor} if cursor else {})
            body = http.get(f"{backend_seeded_hub.api}/sync/changes", params=params).json()
            for item in body["items"]:
                seqs.append(item["seq"])
                entity = (item["entity"], item["id"])
                if item["action"] == "delete":
                    assert item["data"] is None
                    mirror.pop(entity, None)
                else:
                    mirror[entity] = item["data"]
            cursor = body["nextCursor"]
            if not started:
                writer.start()
                started = True
            if not body["hasMore"]:
                if writer.is_alive() and writer.writes < 12:
                    time.sleep(0.05)
                    continue
                if writer.is_alive():
                    writer.stop.set()
                    writer.join(30)
                    continue  # drain what the last writes appended
                break
            time.sleep(0.005)
    assert writer.error is None, writer.error
    assert writer.deleted and writer.created
    assert seqs == sorted(seqs) and len(seqs) == len(set(seqs)), "seq must increase, never repeat"
    server_models = _all_models(backend_seeded_hub.api)
    mirror_models = {i: d for (kind, i), d in mirror.items() if kind == "model"}
    assert mirror_models.keys() == server_models.keys()
    for model_id, doc in server_models.items():
        assert mirror_models[model_id] == doc, f"model {model_id} differs from the server"
    creators = {
        c["username"]: c
        for c in httpx.get(f"{backend_seeded_hub.api}/creators", params={"limit": 200}).json()["items"]
    }
    mirror_creators = {i: d for (kind, i), d in mirror.items() if kind == "creator"}
    assert mirror_creators == creators


def test_feed_is_compacted_and_orders_by_commit(backend_seeded_hub: RunningHub) -> None:
    key = register(backend_seeded_hub.api, "admin")
    drained = _drain_feed(backend_seeded_hub.api, None)
    # 1,000 models, 40 creators and the cosmetics of the 10 the seed dressed, one entry each
    assert len(drained) == 1050
    last_seq = drained[-1]["seq"]
    headers = {"Authorization": f"Bearer {key}"}
    for name in ("Once", "Twice"):
        assert (
            httpx.patch(
                f"{backend_seeded_hub.api}/models/5", json={"name": name}, headers=headers
            ).status_code
            == 200
        )
    everything = _drain_feed(backend_seeded_hub.api, None)
    assert len(everything) == 1050
    model5 = [i for i in everything if i["entity"] == "model" and i["id"] == 5]
    assert len(model5) == 1 and model5[0]["seq"] > last_seq and model5[0]["data"]["name"] == "Twice"
    newer = httpx.get(f"{backend_seeded_hub.api}/sync/changes", params={"since": last_seq}).json()
    assert [i["id"] for i in newer["items"]] == [5] and newer["hasMore"] is False
    page = httpx.get(f"{backend_seeded_hub.api}/models/5").json()
    page["creator"].pop("cosmetics")  # added on the way out; the feed carries them apart
    assert newer["items"][0]["data"] == page


def _drain_feed(api: str, since: int | None) -> list[dict]:
    items: list[dict] = []
    cursor = since
    while True:
        params = {"limit": 1000} | ({"since": cursor} if cursor is not None else {})
        body = httpx.get(f"{api}/sync/changes", params=params).json()
        items += body["items"]
        cursor = body["nextCursor"]
        if not body["hasMore"]:
            return items


def test_creator_without_models_is_deleted_from_the_feed(backend_empty_hub: RunningHub) -> None:
    key = register(backend_empty_hub.api, "solo")
    created = upload_model(
        backend_empty_hub.api, key, model_metadata(), [("m.safetensors", safetensors_bytes())]
    ).json()
    items = _drain_feed(backend_empty_hub.api, None)
    assert [(i["entity"], i["id"], i["action"]) for i in items] == [
        ("model", created["modelId"], "upsert"),
        ("creator", "solo", "upsert"),
    ]
    assert items[1]["data"]["modelCount"] == 1 and items[1]["data"]["link"].endswith(
        "/api/v1/models?username=solo"
    )
    headers = {"Authorization": f"Bearer {key}"}
    assert (
        httpx.delete(f"{backend_empty_hub.api}/models/{created['modelId']}", headers=headers).status_code
        == 204
    )
    after = _drain_feed(backend_empty_hub.api, items[-1]["seq"])
    assert [(i["entity"], i["id"], i["action"], i["data"]) for i in after] == [
        ("model", created["modelId"], "delete", None),
        ("creator", "solo", "delete", None),
    ]
    assert httpx.get(f"{backend_empty_hub.api}/models/{created['modelId']}").status_code == 404
