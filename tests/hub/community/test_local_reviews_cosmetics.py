"""Reviews, comments, cosmetics and article covers in the local mirror, against a real hub server
on loopback: synced through the change feed, read offline from the CLI (every name with what
its user wears), and changed or removed by the next sync."""

from __future__ import annotations

import io
import json
from pathlib import Path

import httpx
import pytest
from PIL import Image

from hub.cli import main
from hub.server.auth import key_hash
from hub.server.seed_community import CommunitySizes, seed_community
from hub.server.store import ServerStore
from tests.hub.conftest import LiveServer, seed_server

SIZES = CommunitySizes(articles=6, readers=4, collections=2, reviews=8, comments=8, events=4)


def _png() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (24, 16), (20, 120, 200)).save(out, format="PNG")
    return out.getvalue()


def _setup(data: Path) -> dict:
    """A creator who wears a seeded cosmetic and has a model, and a fresh reader; API keys for both."""
    store = ServerStore(data)
    try:
        with store.read() as conn:
            row = conn.execute(
                "SELECT u.id, u.username, m.id, v.id FROM shop_owned o JOIN users u ON u.id = o.user_id "
                "JOIN models m ON m.user_id = u.id JOIN versions v ON v.model_id = m.id "
                "WHERE o.equipped = 1 ORDER BY u.id, m.id LIMIT 1"
            ).fetchone()
        assert row is not None, "the seed equips cosmetics on some creators"
        creator_id, creator, model_id, version_id = row
        worn = store.cosmetics_of([creator_id])[creator_id]
        store.add_api_key(creator_id, key_hash("atl_test_creator"), "test")
        reader = store.create_user("quietreader", None)
        store.add_api_key(reader.id, key_hash("atl_test_reader"), "test")
    finally:
        store.close()
    return {"creator": creator, "worn": worn, "model": model_id, "version": version_id}


@pytest.mark.slow
def test_reviews_comments_cosmetics_and_covers_offline(tmp_path: Path, capsys) -> None:
    data = seed_server(tmp_path / "server", 30)
    seed_community(data, seed=3, sizes=SIZES)
    facts = _setup(data)
    creator = {"Authorization": "Bearer atl_test_creator"}
    reader = {"Authorization": "Bearer atl_test_reader"}
    mirror = ["--data-dir", str(tmp_path / "studio")]

    server = LiveServer(data)
    try:
        api = f"{server.url}/api/v1"
        article = httpx.post(
            f"{api}/articles", headers=creator, json={"title": "Cover story", "content": "Inks **rule**"}
        ).json()
        cover = httpx.put(
            f"{api}/articles/{article['id']}/cover",
            headers=creator | {"Content-Type": "image/png"},
            content=_png(),
        )
        assert cover.status_code == 200, cover.text
        assert httpx.post(f"{api}/articles/{article['id']}/publish", headers=creator).status_code == 200
        review = httpx.put(
            f"{api}/model-versions/{facts['version']}/review",
            headers=reader,
            json={"recommended": False, "details": "Too *dark*"},
        ).json()
        comment = httpx.post(
            f"{api}/articles/{article['id']}/comments",
            headers=reader,
            json={"content": "Where is the ink from?"},
        ).json()
        on_model = httpx.get(f"{api}/models/{facts['model']}/comments", params={"limit": 100}).json()
        server_reviews = httpx.get(f"{api}/model-versions/{facts['version']}/reviews").json()
        assert main(["sync", "--server", server.url, *mirror]) == 0  # previews and covers too
    finally:
        server.stop()
    capsys.readouterr()

    # offline from here
    assert main(["reviews", str(facts["model"]), "--version", str(facts["version"]), "--json", *mirror]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert [r["id"] for r in shown["items"]] == [r["id"] for r in server_reviews["items"]]
    mine = next(r for r in shown["items"] if r["id"] == review["id"])
    assert mine["user"] == {"id": mine["user"]["id"], "username": "quietreader", "cosmetics": {}}
    assert shown["thumbsDown"] == sum(1 for r in server_reviews["items"] if not r["recommended"])
    assert main(["reviews", str(facts["model"]), *mirror]) == 0
    assert "down quietreader" in capsys.readouterr().out

    assert main(["reviews", "999999", *mirror]) == 1
    assert "model 999999 is not in the local mirror" in capsys.readouterr().err
    assert main(["comments", "--model", str(facts["model"]), "--json", *mirror]) == 0
    assert [c["id"] for c in json.loads(capsys.readouterr().out)] == [c["id"] for c in on_model["items"]]
    assert main(["article", str(article["id"]), "--comments", *mirror]) == 0
    text = capsys.readouterr().out
    label = next(iter(facts["worn"].values()))["name"]
    assert f"by {facts['creator']} (" in text and label in text
    assert "quietreader" in text and "Where is the ink from?" in text
    cover_line = next(line for line in text.splitlines() if line.startswith("cover: "))
    cover_file = Path(cover_line.removeprefix("cover: "))
    assert cover_file.is_file() and cover_file.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert main(["show", str(facts["model"]), *mirror]) == 0
    assert f"by {facts['creator']} (" in capsys.readouterr().out
    assert main(["articles", "Cover", *mirror]) == 0
    assert f"{facts['creator']} (" in capsys.readouterr().out

    # the next sync takes the comment and the review away and the cosmetic off
    server = LiveServer(data)
    try:
        api = f"{server.url}/api/v1"
        assert httpx.delete(f"{api}/comments/{comment['id']}", headers=reader).status_code == 204
        assert (
            httpx.delete(f"{api}/model-versions/{facts['version']}/review", headers=reader).status_code == 204
        )
        item_id = next(iter(facts["worn"].values()))["id"]
        assert httpx.delete(f"{api}/shop/items/{item_id}/equip", headers=creator).status_code == 200
        assert main(["sync", "--server", server.url, *mirror]) == 0
    finally:
        server.stop()
    capsys.readouterr()
    assert main(["comments", "--article", str(article["id"]), "--json", *mirror]) == 0
    assert json.loads(capsys.readouterr().out) == []
    assert main(["reviews", str(facts["model"]), "--json", *mirror]) == 0
    assert review["id"] not in [r["id"] for r in json.loads(capsys.readouterr().out)["items"]]
    assert main(["article", str(article["id"]), "--json", *mirror]) == 0
    assert json.loads(capsys.readouterr().out)["user"]["cosmetics"] == {}
