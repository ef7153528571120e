"""Article covers in the mirror: an article's cover URL is queued with the article row, a new
cover URL drops the old local copy, and a mirror made before covers were cached gets the covers
of the articles it already holds queued by its migration."""

from __future__ import annotations

import json

from hub.store import HubDatabase
from hub.store.articles import cover_path, upsert_articles
from hub.store.images import link_thumbnail, thumbnail_wanted
from hub.store.migrations import MIGRATIONS
from sqlitedb import connect, migrate


def _article(article_id: int, cover: str | None) -> dict:
    return {
        "id": article_id,
        "title": f"Article {article_id}",
        "user": {"id": 1, "username": "inkmaster"},
        "coverImage": {"id": 5, "url": cover} if cover else None,
        "content": "<p>text</p>",
    }


def _queued(store: HubDatabase) -> set[str]:
    return {r[0] for r in store.execute("SELECT url FROM media_queue")}


def test_cover_queued_linked_and_replaced(tmp_path) -> None:
    with HubDatabase(tmp_path / "hub.db") as store:
        with store.transaction() as conn:
            upsert_articles(conn, [_article(1, "http://hub.test/media/a.png"), _article(2, None)])
        assert _queued(store) == {"http://hub.test/media/a.png"}
        assert thumbnail_wanted(store.conn, "http://hub.test/media/a.png")
        with store.transaction() as conn:
            assert link_thumbnail(conn, "http://hub.test/media/a.png", "/previews/a.png") == 1
        assert cover_path(store.conn, 1) == "/previews/a.png"
        assert not thumbnail_wanted(store.conn, "http://hub.test/media/a.png")
        with store.transaction() as conn:  # an edit that keeps the cover keeps the local copy
            upsert_articles(conn, [_article(1, "http://hub.test/media/a.png") | {"title": "Renamed"}])
        assert cover_path(store.conn, 1) == "/previews/a.png"
        with store.transaction() as conn:  # a new cover: fetched again
            upsert_articles(conn, [_article(1, "http://hub.test/media/b.png")])
        assert cover_path(store.conn, 1) is None
        assert "http://hub.test/media/b.png" in _queued(store)


def test_migration_queues_the_covers_of_articles_mirrored_before(tmp_path) -> None:
    path = tmp_path / "hub.db"
    conn = connect(path)
    migrate(conn, [m for m in MIGRATIONS if m.name < "0008"])
    data = json.dumps(_article(7, "http://hub.test/media/old.png"))
    conn.execute("INSERT INTO articles (id, title, data) VALUES (7, 'Old', ?)", [data])
    conn.commit()
    conn.close()
    with HubDatabase(path) as store:
        assert _queued(store) == {"http://hub.test/media/old.png"}
        assert store.scalar("SELECT cover_url FROM articles WHERE id = 7") == "http://hub.test/media/old.png"
