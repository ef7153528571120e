import json

import pytest

from hub.catalog_generator import sample_model
from hub.store import HubDatabase
from hub.store.catalog import (
    CatalogError,
    delete_model,
    find_files_by_sha256,
    find_version,
    get_model,
    upsert_creator,
    upsert_models,
)
from hub.store.migrations import MIGRATIONS


def queue(store: HubDatabase) -> list[tuple]:
    return store.execute("SELECT entity, entity_id, action FROM index_queue ORDER BY seq").fetchall()


def test_migrations_are_named_applied_once_and_wal_is_on(tmp_path):
    path = tmp_path / "hub.db"
    HubDatabase(path).close()
    with HubDatabase(path) as store:
        names = [r[0] for r in store.execute("SELECT name FROM _migrations ORDER BY name")]
        assert names == [migration.name for migration in MIGRATIONS]
        assert store.scalar("PRAGMA journal_mode") == "wal"


def test_upsert_writes_all_tables_and_enqueues_in_the_same_transaction(store):
    model = sample_model(7)
    with store.transaction() as conn:
        upsert_models(conn, [model])
    assert get_model(store.conn, 7) == model
    versions = store.scalar("SELECT COUNT(*) FROM versions WHERE model_id = 7")
    assert versions == len(model["modelVersions"])
    sha = model["modelVersions"][0]["files"][0]["hashes"]["SHA256"]
    assert find_files_by_sha256(store.conn, sha.lower())[0]["model_id"] == 7
    assert store.scalar("SELECT COUNT(*) FROM images") == 2 * versions
    assert queue(store) == [("model", "7", "update")]
    assert find_version(store.conn, model["modelVersions"][0]["id"])["model"]["id"] == 7


def test_a_failed_write_leaves_neither_catalog_rows_nor_queue_rows(store):
    broken = sample_model(8)
    del broken["modelVersions"][0]["id"]
    with pytest.raises(CatalogError, match="modelVersions"), store.transaction() as conn:
        upsert_models(conn, [sample_model(1), broken])
    assert store.scalar("SELECT COUNT(*) FROM models") == 0
    assert queue(store) == []


def test_replacing_a_model_replaces_its_children_and_keeps_cached_previews(store):
    first = sample_model(3)
    with store.transaction() as conn:
        upsert_models(conn, [first])
        url = first["modelVersions"][0]["images"][0]["url"]
        conn.execute("UPDATE images SET local_path = 'p.png' WHERE url = ?", [url])
    edited = json.loads(json.dumps(first))
    edited["name"] = "Renamed"
    edited["modelVersions"] = edited["modelVersions"][:1]
    edited["tags"] = ["new-tag"]
    with store.transaction() as conn:
        upsert_models(conn, [edited])
    assert store.scalar("SELECT name FROM models WHERE id = 3") == "Renamed"
    assert store.scalar("SELECT COUNT(*) FROM versions WHERE model_id = 3") == 1
    assert store.scalar("SELECT local_path FROM images WHERE url = ?", [url]) == "p.png"
    tags = store.execute("SELECT t.name FROM model_tags mt JOIN tags t ON t.id = mt.tag_id").fetchall()
    assert tags == [("new-tag",)]


def test_delete_cascades_and_enqueues(store):
    with store.transaction() as conn:
        upsert_models(conn, [sample_model(4)])
        upsert_creator(conn, {"username": "artist1", "image": None, "modelCount": 1, "link": None})
    with store.transaction() as conn:
        delete_model(conn, 4)
    assert store.scalar("SELECT COUNT(*) FROM versions") == 0
    assert store.scalar("SELECT COUNT(*) FROM files") == 0
    assert queue(store)[-1] == ("model", "4", "delete")
    assert ("creator", "artist1", "update") in queue(store)
