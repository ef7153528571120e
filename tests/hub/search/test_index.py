import subprocess
import sys
import textwrap

import pytest

from hub.catalog_generator import sample_model
from hub.search import IndexStore, ModelSearcher, SearchQuery
from hub.store import HubDatabase
from hub.store.catalog import delete_model, upsert_models


def indexed_ids(searcher: ModelSearcher) -> set[int]:
    searcher.refresh()
    return set(searcher.search(SearchQuery(sort="downloads", page_size=200)).ids)


def store_ids(store: HubDatabase) -> set[int]:
    return {r[0] for r in store.execute("SELECT id FROM models")}


def queued(store: HubDatabase) -> int:
    return store.scalar("SELECT COUNT(*) FROM index_queue")


def test_drain_applies_updates_and_deletes_then_empties_the_queue(store, index, searcher):
    with store.transaction() as conn:
        upsert_models(conn, [sample_model(i) for i in range(1, 61)])
    assert indexed_ids(searcher) == set()  # nothing is indexed on the writer's path
    report = index.drain(store, batch_size=25)
    assert report.rows == 25 and queued(store) == 35
    index.drain_all(store)
    assert queued(store) == 0
    assert indexed_ids(searcher) == store_ids(store)

    renamed = sample_model(5)
    renamed["name"] = "Zanzibar Lighthouse"
    with store.transaction() as conn:
        upsert_models(conn, [renamed])
        delete_model(conn, 6)
        delete_model(conn, 999)  # unknown ids are harmless
    index.drain_all(store)
    assert indexed_ids(searcher) == store_ids(store)
    searcher.refresh()
    assert searcher.search(SearchQuery("zanzibar")).ids == [5]
    assert searcher.doc_count() == 59


def test_a_crash_before_the_index_commit_keeps_the_queue_rows(store, index, searcher):
    with store.transaction() as conn:
        upsert_models(conn, [sample_model(i) for i in range(1, 11)])

    def crash() -> None:
        raise KeyboardInterrupt("power cut")

    with pytest.raises(KeyboardInterrupt):
        index.drain(store, before_commit=crash)
    assert queued(store) == 10
    assert indexed_ids(searcher) == set()
    index.drain_all(store)
    assert indexed_ids(searcher) == store_ids(store)


def test_a_killed_drainer_process_loses_nothing(store, index, searcher, tmp_path):
    with store.transaction() as conn:
        upsert_models(conn, [sample_model(i) for i in range(1, 21)])
    index.drain_all(store)
    with store.transaction() as conn:
        upsert_models(conn, [sample_model(i, seed=3) for i in range(15, 31)])
        delete_model(conn, 1)
    script = textwrap.dedent(
        f"""
        import os
        from hub.search import IndexStore
        from hub.store import HubDatabase
        IndexStore({str(index.folder)!r}).drain(HubDatabase({str(store.path)!r}), before_commit=lambda: os._exit(9))
        """
    )
    result = subprocess.run([sys.executable, "-c", script], cwd=str(_repo_root()), timeout=60)
    assert result.returncode == 9
    assert queued(store) == 17
    IndexStore(index.folder).drain_all(store)  # after a restart
    assert indexed_ids(searcher) == store_ids(store) == set(range(2, 31))


def test_rebuild_swaps_a_new_generation_and_keeps_later_queue_rows(store, index, searcher):
    with store.transaction() as conn:
        upsert_models(conn, [sample_model(i) for i in range(1, 41)])
    old_dir = index.current_dir()
    assert index.rebuild(store) == 40
    assert index.current_dir() != old_dir
    assert queued(store) == 0
    with store.transaction() as conn:
        delete_model(conn, 3)
    assert queued(store) == 1
    index.drain_all(store)
    assert indexed_ids(searcher) == store_ids(store)


def _repo_root():
    from pathlib import Path

    return Path(__file__).resolve().parents[3]


def test_catch_up_rebuilds_when_the_backlog_is_large_and_drains_otherwise(store, index, searcher):
    with store.transaction() as conn:
        upsert_models(conn, [sample_model(i) for i in range(1, 31)])
    first = index.current_dir()
    index.catch_up(store, rebuild_above=10)
    assert index.current_dir() != first and queued(store) == 0
    with store.transaction() as conn:
        delete_model(conn, 7)
    index.catch_up(store, rebuild_above=10)
    assert queued(store) == 0
    assert indexed_ids(searcher) == store_ids(store) == set(range(1, 31)) - {7}
