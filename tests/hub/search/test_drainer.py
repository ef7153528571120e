import time

from hub.catalog_generator import sample_model
from hub.search import IndexDrainer, SearchQuery
from hub.store.catalog import upsert_models


def wait_for(condition, timeout=20.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return False


def test_the_background_drainer_keeps_the_index_up_to_date_without_blocking_writers(store, index, searcher):
    drainer = IndexDrainer(
        store.path, index, interval=0.05, batch_size=50, on_drained=lambda r: searcher.refresh()
    )
    drainer.start()
    try:
        started = time.perf_counter()
        for start in range(1, 201, 20):  # a burst of writes: each commits at once, nothing waits on Whoosh
            with store.transaction() as conn:
                upsert_models(conn, [sample_model(i) for i in range(start, start + 20)])
        assert time.perf_counter() - started < 5
        assert wait_for(lambda: store.scalar("SELECT COUNT(*) FROM index_queue") == 0)
        assert wait_for(lambda: searcher.doc_count() == 200)
        assert len(searcher.search(SearchQuery(sort="downloads", page_size=200)).ids) == 200
        assert drainer.last_error is None
    finally:
        drainer.stop()
