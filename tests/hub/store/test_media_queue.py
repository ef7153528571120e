"""The media queue is written with the catalog rows that reference it (issue #20, defect 9)."""

import pytest

from hub.catalog_generator import sample_model
from hub.store import HubDatabase
from hub.store.catalog import upsert_models
from hub.store.images import link_thumbnail
from hub.store.migrations import MIGRATIONS
from sqlitedb import connect, migrate, write


def queued(store: HubDatabase) -> set[str]:
    return {row[0] for row in store.execute("SELECT url FROM media_queue")}


def thumbnails(model: dict) -> set[str]:
    return {v["images"][0]["url"] for v in model["modelVersions"] if v.get("images")}


def test_an_upsert_queues_its_missing_thumbnails_in_its_own_transaction(store):
    model = sample_model(3)
    with pytest.raises(RuntimeError), store.transaction() as conn:
        upsert_models(conn, [model])
        raise RuntimeError("killed before the commit")
    assert queued(store) == set()  # rolled back together with the catalog rows
    with store.transaction() as conn:
        upsert_models(conn, [model])
    assert queued(store) == thumbnails(model)
    with store.transaction() as conn:
        for url in thumbnails(model):
            link_thumbnail(conn, url, f"/previews/{len(url)}.png")
            conn.execute("DELETE FROM media_queue WHERE url = ?", [url])
        upsert_models(conn, [model])  # an update keeps the fetched copies: nothing to queue
    assert queued(store) == set()


def test_the_migration_queues_the_thumbnails_an_older_mirror_is_missing(tmp_path):
    path = tmp_path / "hub.db"
    conn = connect(path)
    migrate(conn, [m for m in MIGRATIONS if m.name < "0004"])
    model = sample_model(5)
    # A mirror written before the queue existed: catalog rows, thumbnails never fetched (a
    # stand-in table takes this code's queue rows, and goes).
    conn.execute("CREATE TABLE media_queue (url TEXT PRIMARY KEY, run_at REAL, enqueued_at REAL)")
    with write(conn):
        upsert_models(conn, [model])
    conn.execute("DROP TABLE media_queue")
    conn.close()
    with HubDatabase(path) as store:
        assert queued(store) == thumbnails(model)
