import os
import random
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import httpx
import pytest

from hub.search import IndexStore, ModelSearcher, SearchQuery
from hub.server.store import ServerStore
from hub.store import HubDatabase
from hub.store.catalog import get_model
from hub.store.cosmetics import with_cosmetics
from hub.sync import CatalogSync, HubClient, HubUnavailable, saved_cursor
from tests.hub.conftest import seed_server

REPO = Path(__file__).resolve().parents[3]


def server_ids(data_dir: Path) -> set[int]:
    server = ServerStore(data_dir)
    try:
        with server.read() as conn:
            return {row[0] for row in conn.execute("SELECT id FROM models")}
    finally:
        server.close()


def mirror_ids(store: HubDatabase) -> set[int]:
    return {row[0] for row in store.execute("SELECT id FROM models")}


def assert_mirror_equals_server(
    store: HubDatabase, client: HubClient, data_dir: Path, check: list[int]
) -> None:
    assert mirror_ids(store) == server_ids(data_dir)
    for model_id in check:
        response = client.get(f"/api/v1/models/{model_id}")
        if response.status_code == 404:
            assert get_model(store.conn, model_id) is None
        else:  # the creator's cosmetics come through the feed on their own, as the mirror shows them
            mirrored = get_model(store.conn, model_id)
            assert mirrored is not None
            with_cosmetics(store.conn, [mirrored])
            assert mirrored == response.json()


def test_sync_of_a_seeded_server_then_edits_and_deletes_then_resync(store, tmp_path, asgi_client_factory):
    data_dir = seed_server(tmp_path / "server", 1000)
    client = HubClient("http://hub.test", http=asgi_client_factory(data_dir))
    report = CatalogSync(store, client, page_size=250).run()
    assert report.items >= 1000 and store.scalar("SELECT COUNT(*) FROM models") == 1000
    sample = random.Random(1).sample(sorted(mirror_ids(store)), 60)
    assert_mirror_equals_server(store, client, data_dir, sample)

    server = ServerStore(data_dir)
    edited, deleted = sample[:20], sample[20:30]
    for model_id in edited:
        server.update_model(model_id, {"name": f"Edited {model_id}", "tags": ["edited"], "nsfw": True})
    for model_id in deleted:
        server.delete_model(model_id)
    server.close()

    report = CatalogSync(store, client, page_size=250).run()
    assert 30 <= report.items < 100  # only the changes (and their creators), not the catalog again
    assert_mirror_equals_server(store, client, data_dir, sample)
    assert store.scalar("SELECT name FROM models WHERE id = ?", [edited[0]]) == f"Edited {edited[0]}"

    index = IndexStore(tmp_path / "index")
    index.drain_all(store)
    searcher = ModelSearcher(index, store)
    try:
        assert searcher.doc_count() == 990
        assert set(searcher.search(SearchQuery(tags=("edited",), page_size=100)).ids) == set(edited)
    finally:
        searcher.close()


class DropAfter(httpx.BaseTransport):
    """Fault injection: forwards to the real app, then the connection 'drops' after N pages."""

    def __init__(self, inner: httpx.Client, pages: int) -> None:
        self.inner = inner
        self.pages = pages

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if "/sync/changes" in request.url.path:
            if self.pages == 0:
                raise httpx.ConnectError("connection reset", request=request)
            self.pages -= 1
        response = self.inner.request(request.method, str(request.url))
        return httpx.Response(response.status_code, headers=response.headers, content=response.content)


def test_an_interrupted_sync_resumes_without_loss_or_duplicates(store, tmp_path, asgi_client_factory):
    data_dir = seed_server(tmp_path / "server", 300)
    app_client = asgi_client_factory(data_dir)
    flaky = HubClient(
        "http://hub.test", transport=DropAfter(app_client, pages=3), retries=2, sleep=lambda s: None
    )
    with pytest.raises(HubUnavailable, match="unreachable"):
        CatalogSync(store, flaky, page_size=50).run()
    assert store.scalar("SELECT items_applied FROM sync_state") == 150  # three whole pages, no partial one
    assert 0 < store.scalar("SELECT COUNT(*) FROM models") < 300
    cursor = saved_cursor(store, "http://hub.test")
    assert cursor is not None
    client = HubClient("http://hub.test", http=app_client)
    report = CatalogSync(store, client, page_size=50).run()
    assert report.items > 0
    assert mirror_ids(store) == server_ids(data_dir)
    assert store.scalar("SELECT COUNT(*) FROM models") == 300
    queued = store.execute(
        "SELECT entity_id, COUNT(*) FROM index_queue WHERE entity = 'model' GROUP BY entity_id"
    )
    assert {count for _, count in queued} == {1}  # every model applied exactly once


@pytest.mark.slow
def test_a_sync_killed_mid_way_resumes_against_a_real_server(tmp_path, live_server_factory):
    data_dir = seed_server(tmp_path / "server", 400)
    server = live_server_factory(data_dir)
    db = tmp_path / "mirror" / "hub.db"
    script = textwrap.dedent(
        f"""
        import sys, time
        from hub.store import HubDatabase
        from hub.sync import CatalogSync, HubClient
        def slow(report):
            print(report.pages, flush=True)
            time.sleep(0.3)
        CatalogSync(HubDatabase({str(db)!r}), HubClient({server.url!r}), page_size=40).run(on_page=slow)
        """
    )
    child = subprocess.Popen([sys.executable, "-c", script], cwd=REPO, stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout.readline().strip() == "1"
        assert child.stdout.readline().strip() == "2"
    finally:
        os.kill(child.pid, signal.SIGKILL)
        child.wait(10)
    with HubDatabase(db) as store:
        partial = store.scalar("SELECT COUNT(*) FROM models")
        assert 0 < partial < 400
        with HubClient(server.url) as client:
            CatalogSync(store, client, page_size=40).run()
            assert mirror_ids(store) == server_ids(data_dir)
            assert_mirror_equals_server(
                store, client, data_dir, random.Random(2).sample(sorted(mirror_ids(store)), 20)
            )


def test_previews_are_downloaded_once(store, tmp_path, live_server_factory):
    data_dir = seed_server(tmp_path / "server", 15)
    server = live_server_factory(data_dir)
    previews = tmp_path / "previews"
    with HubClient(server.url) as client:
        report = CatalogSync(store, client, previews).run()
        versions = store.scalar("SELECT COUNT(*) FROM versions WHERE id IN (SELECT version_id FROM images)")
        assert report.previews == versions and report.preview_failures == 0
        stored = store.execute("SELECT local_path FROM images WHERE position = 0").fetchall()
        assert all(
            path and Path(path).read_bytes()[:4] in (b"\x89PNG", b"RIFF", b"\xff\xd8\xff\xe0")
            for (path,) in stored
        )
        again = CatalogSync(store, client, previews).run()
        assert again.previews == 0


def test_a_server_that_is_down_gives_a_clear_error_and_leaves_local_data_alone(store, tmp_path):
    from tests.hub.conftest import free_port

    with store.transaction() as conn:
        conn.execute("INSERT INTO settings (key, value) VALUES ('marker', 'kept')")
    before = store.execute("SELECT * FROM settings").fetchall()
    slept: list[float] = []
    client = HubClient(f"http://127.0.0.1:{free_port()}", retries=3, sleep=slept.append, timeout=2)
    started = time.monotonic()
    with pytest.raises(HubUnavailable, match=r"unreachable \(ConnectError.*local data is unchanged"):
        CatalogSync(store, client).run()
    assert time.monotonic() - started < 10
    assert len(slept) == 3 and slept[0] < slept[2]  # exponential backoff between the tries
    assert store.execute("SELECT * FROM settings").fetchall() == before
    assert store.scalar("SELECT COUNT(*) FROM sync_state") == 0
