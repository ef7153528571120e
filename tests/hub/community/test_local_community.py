"""The community half of the local hub against a real hub server on loopback: articles,
collections and the account's notifications are synced, searched and read offline."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest

from hub.cli import main
from hub.server.seed_community import DEMO_PASSWORD, DEMO_USER, CommunitySizes, seed_community
from hub.server.store import ServerStore
from tests.hub.conftest import seed_server

SIZES = CommunitySizes(articles=40, readers=8, collections=8, reviews=10, comments=10, events=20)


@pytest.fixture(scope="module")
def community_server(tmp_path_factory: pytest.TempPathFactory) -> Path:
    data = seed_server(tmp_path_factory.mktemp("community-server") / "hub", 40)
    seed_community(data, seed=5, sizes=SIZES)
    return data


def _server_facts(data: Path, username: str) -> dict:
    store = ServerStore(data)
    try:
        user = store.user_by_name(username)
        assert user is not None
        notes, _cursor, unread = store.notifications.list(user.id, 100, None, False)
        with store.read() as conn:
            published = [
                r[0] for r in conn.execute("SELECT id FROM articles WHERE status = 'Published' ORDER BY id")
            ]
            public = [r[0] for r in conn.execute("SELECT id FROM collections WHERE read = 'Public'")]
            own = [r[0] for r in conn.execute("SELECT id FROM collections WHERE user_id = ?", (user.id,))]
        return {"published": published, "public": public, "own": own, "notes": notes, "unread": unread}
    finally:
        store.close()


def test_sync_then_read_articles_collections_and_notifications_offline(
    tmp_path: Path, community_server: Path, live_server_factory, capsys
) -> None:
    data = tmp_path / "server"
    import shutil

    shutil.copytree(community_server, data)
    server = live_server_factory(data)
    key = httpx.post(
        f"{server.url}/api/v1/auth/login", json={"username": DEMO_USER, "password": DEMO_PASSWORD}
    ).json()["apiKey"]
    mirror = ["--data-dir", str(tmp_path / "studio")]
    assert main(["sync", "--server", server.url, "--api-key", key, "--no-previews", *mirror]) == 0
    assert f"account {DEMO_USER}:" in capsys.readouterr().out
    facts = _server_facts(data, DEMO_USER)
    server.stop()  # everything below is offline

    assert main(["articles", "--limit", "100", "--json", *mirror]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert listed["total"] == len(facts["published"])
    article = listed["items"][0]
    assert main(["article", str(article["id"]), *mirror]) == 0
    shown = capsys.readouterr().out
    assert shown.startswith(article["title"]) and "What worked" in shown and "- " in shown
    assert "<p>" not in shown  # HTML is turned into text
    assert main(["article", "999999", *mirror]) == 1

    word = article["title"].split()[-1]
    assert main(["search", word, "--kind", "all", "--limit", "100", "--json", *mirror]) == 0
    body = json.loads(capsys.readouterr().out)
    mixed = body["items"]
    assert {"article"} <= {i["kind"] for i in mixed}
    assert body["facets"]["article"] == sum(1 for i in mixed if i["kind"] == "article") > 0
    assert main(["search", word, "--kind", "all", *mirror]) == 0
    assert "articles" in capsys.readouterr().out  # the kind facet's counts
    tag = article["tags"][0]
    assert main(["articles", "--tag", tag, "--limit", "100", "--json", *mirror]) == 0
    tagged = json.loads(capsys.readouterr().out)["items"]
    assert tagged and all(tag in a["tags"] for a in tagged)

    assert main(["collections", "--json", *mirror]) == 0
    collections = json.loads(capsys.readouterr().out)
    ids = {c["id"] for c in collections}
    assert set(facts["public"]) <= ids and set(facts["own"]) <= ids
    assert main(["collections", "--mine", "--json", *mirror]) == 0
    assert sorted(c["id"] for c in json.loads(capsys.readouterr().out)) == sorted(facts["own"])
    assert main(["collection", str(facts["own"][0]), *mirror]) == 0
    assert "added" in capsys.readouterr().out

    assert main(["notifications", "--json", *mirror]) == 0
    notes = json.loads(capsys.readouterr().out)
    assert [n["id"] for n in notes["items"]] == [n["id"] for n in facts["notes"]]
    assert notes["unread"] == facts["unread"] > 0
    assert main(["notifications", "--unread", *mirror]) == 0
    assert f"{facts['unread']} unread" in capsys.readouterr().out


def test_read_state_and_unpublishing_reach_the_mirror_on_the_next_sync(
    tmp_path: Path, community_server: Path, live_server_factory, capsys
) -> None:
    import shutil

    data = tmp_path / "server"
    shutil.copytree(community_server, data)
    server = live_server_factory(data)
    api = f"{server.url}/api/v1"
    key = httpx.post(f"{api}/auth/login", json={"username": DEMO_USER, "password": DEMO_PASSWORD}).json()[
        "apiKey"
    ]
    auth = {"Authorization": f"Bearer {key}"}
    mirror = ["--data-dir", str(tmp_path / "studio")]
    assert main(["sync", "--server", server.url, "--api-key", key, "--no-previews", *mirror]) == 0
    assert httpx.post(f"{api}/notifications/read-all", headers=auth).status_code == 200
    private = httpx.post(
        f"{api}/collections", headers=auth, json={"name": "Mine only", "type": "Model"}
    ).json()

    facts = _server_facts(data, DEMO_USER)
    article_id = facts["published"][0]
    author = ServerStore(data)
    try:
        author.articles.set_published(article_id, False)  # back to draft, on the server
    finally:
        author.close()
    capsys.readouterr()
    assert main(["sync", "--no-previews", *mirror]) == 0  # the server and the key are remembered
    assert "account demo" in capsys.readouterr().out
    assert main(["notifications", "--unread", "--json", *mirror]) == 0
    assert json.loads(capsys.readouterr().out)["unread"] == 0
    assert main(["collections", "--mine", "--json", *mirror]) == 0
    assert private["id"] in [c["id"] for c in json.loads(capsys.readouterr().out)]
    assert main(["article", str(article_id), *mirror]) == 1
    assert main(["articles", "--limit", "100", "--json", *mirror]) == 0
    assert article_id not in [a["id"] for a in json.loads(capsys.readouterr().out)["items"]]

    other = httpx.post(f"{api}/auth/register", json={"username": "someoneelse", "password": "p" * 10}).json()[
        "apiKey"
    ]
    assert (
        main(["sync", "--api-key", other, "--no-previews", *mirror]) == 0
    )  # another account: the first one's data goes
    capsys.readouterr()
    assert main(["notifications", "--json", *mirror]) == 0
    assert json.loads(capsys.readouterr().out)["items"] == []
    assert main(["collections", "--mine", "--json", *mirror]) == 0
    assert json.loads(capsys.readouterr().out) == []
    capsys.readouterr()
    assert main(["sync", "--api-key", "atl_not-a-key", "--no-previews", *mirror]) == 2
    assert "account not synced" in capsys.readouterr().err
