"""The change feeds carry the community entities; the migrations keep the feed's rows and seq;
the seed fills every community table."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from hub.server.seed import seed_catalog
from hub.server.seed_community import DEMO_PASSWORD, DEMO_USER, seed_community
from hub.server.store import ServerStore
from hub.server.store.schema import INITIAL, MIGRATIONS
from sqlitedb import migrate
from tests.hub.server.community.conftest import Community


def _feed(community: Community, entity: str) -> dict[int, dict]:
    items = community.anonymous.get("/sync/changes", params={"limit": 1000}).json()["items"]
    return {i["id"]: i for i in items if i["entity"] == entity}


def test_the_public_feed_carries_published_articles_and_public_collections(community: Community) -> None:
    author, owner = community.creator.http, community.reader.http
    article = author.post("/articles", json={"title": "Feed me", "content": "text", "tags": ["ink"]}).json()
    assert article["id"] not in _feed(community, "article")  # a draft is not on it
    author.post(f"/articles/{article['id']}/publish")
    entry = _feed(community, "article")[article["id"]]
    assert entry["action"] == "upsert" and entry["data"]["content"] == "text"
    author.post(f"/articles/{article['id']}/unpublish")
    assert _feed(community, "article")[article["id"]]["action"] == "delete"

    collection = owner.post("/collections", json={"name": "Feed", "type": "Model", "read": "Public"}).json()
    owner.post(f"/collections/{collection['id']}/items", json={"itemId": community.model_id})
    entry = _feed(community, "collection")[collection["id"]]
    assert entry["action"] == "upsert" and [i["id"] for i in entry["data"]["items"]] == [community.model_id]
    owner.patch(f"/collections/{collection['id']}", json={"read": "Private"})
    assert _feed(community, "collection")[collection["id"]]["action"] == "delete"
    mine = owner.get("/sync/mine").json()["items"]
    assert [(i["entity"], i["id"], i["data"]["read"]) for i in mine] == [
        ("collection", collection["id"], "Private")
    ]


def test_opening_the_change_feed_keeps_its_rows_and_never_reuses_a_seq(tmp_path: Path) -> None:
    path = tmp_path / "hub.db"
    conn = sqlite3.connect(path, isolation_level=None)
    migrate(conn, MIGRATIONS[:1])
    for n in range(1, 6):
        conn.execute(
            "INSERT INTO changes (entity, entity_id, action) VALUES ('model', ?, 'upsert')", (str(n),)
        )
    conn.execute("DELETE FROM changes WHERE seq = 5")  # the newest entry compacted away
    migrate(conn, MIGRATIONS)
    assert [r[0] for r in conn.execute("SELECT seq FROM changes ORDER BY seq")] == [1, 2, 3, 4]
    conn.execute("INSERT INTO changes (entity, entity_id, action) VALUES ('article', '1', 'upsert')")
    assert conn.execute("SELECT MAX(seq) FROM changes").fetchone()[0] == 6
    conn.close()
    assert "CHECK (entity IN" in INITIAL  # what the migration had to remove


@pytest.mark.slow
def test_the_seed_fills_every_community_table(tmp_path: Path) -> None:
    data = tmp_path / "hub"
    seed_catalog(data, 120, seed=3, unique_files=10)
    result = seed_community(data, seed=3)
    assert result["articles"] == 30 and result["notifications"] > 0
    store = ServerStore(data)
    try:
        with store.read() as conn:
            initial = _tables_of(MIGRATIONS[:1])
            community = [
                name
                for (name,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
                if name not in initial and not name.startswith(("sqlite_", "_", "articles_fts_"))
            ]
            empty = [t for t in community if conn.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0] == 0]
        assert len(community) >= 16 and empty == []
        assert store.user_by_name(DEMO_USER) is not None
    finally:
        store.close()
    from hub.server.auth import password_hasher, verify_password

    demo = ServerStore(data)
    try:
        user = demo.user_by_name(DEMO_USER)
        assert user is not None and verify_password(password_hasher(), user.password_hash, DEMO_PASSWORD)
    finally:
        demo.close()


def _tables_of(migrations) -> set[str]:
    conn = sqlite3.connect(":memory:", isolation_level=None)
    migrate(conn, migrations)
    return {name for (name,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
