"""Issue #20, defect 9: previews survive a sync that dies between a page and its previews."""

import subprocess
import sys
import textwrap
import time
from pathlib import Path

import httpx

from hub.store import HubDatabase
from hub.sync import CatalogSync, HubClient, PreviewFetcher
from tests.hub.conftest import seed_server

REPO = Path(__file__).resolve().parents[3]


def missing_previews(store: HubDatabase) -> list[str]:
    """The thumbnail URLs (first image of a version) with no fetched file on disk."""
    rows = store.execute("SELECT url, local_path FROM images WHERE position = 0 AND url != ''").fetchall()
    return [url for url, path in rows if not path or not Path(path).is_file()]


def test_a_sync_killed_before_a_pages_previews_fetches_them_when_resumed(tmp_path, live_server_factory):
    server = live_server_factory(seed_server(tmp_path / "server", 20))
    db, previews = tmp_path / "mirror" / "hub.db", tmp_path / "previews"
    # The child process dies (os._exit, no cleanup) on its first preview request: the first
    # page's catalog rows and cursor are committed, none of its previews is fetched.
    script = textwrap.dedent(
        f"""
        import os, httpx
        from hub.store import HubDatabase
        from hub.sync import CatalogSync, HubClient

        class DieOnFirstPreview(httpx.HTTPTransport):
            def handle_request(self, request):
                if request.url.path.startswith("/media/"):
                    os._exit(9)
                return super().handle_request(request)

        client = HubClient({server.url!r}, transport=DieOnFirstPreview())
        CatalogSync(HubDatabase({str(db)!r}), client, {str(previews)!r}, page_size=5).run()
        """
    )
    child = subprocess.run([sys.executable, "-c", script], cwd=REPO, timeout=120)
    assert child.returncode == 9
    with HubDatabase(db) as store:
        assert 0 < store.scalar("SELECT COUNT(*) FROM models") < 20  # killed after a page, mid-sync
        assert missing_previews(store)
        with HubClient(server.url) as client:
            report = CatalogSync(store, client, previews, page_size=5).run()
        assert report.preview_failures == 0
        assert store.scalar("SELECT COUNT(*) FROM models") == 20
        assert missing_previews(store) == []
        assert store.scalar("SELECT COUNT(*) FROM media_queue") == 0


def test_a_later_sync_with_nothing_new_fetches_the_previews_an_earlier_one_skipped(
    store, tmp_path, live_server_factory
):
    server = live_server_factory(seed_server(tmp_path / "server", 12))
    previews = tmp_path / "previews"
    with HubClient(server.url) as client:
        CatalogSync(store, client).run()  # `hub sync --no-previews`
        assert missing_previews(store)
        report = CatalogSync(store, client, previews).run()
    assert report.items == 0 and report.previews > 0
    assert missing_previews(store) == []


class NotFoundOnce(httpx.BaseTransport):
    """Answers 404 to the first request for each preview, then forwards to the real server."""

    def __init__(self) -> None:
        self.inner = httpx.HTTPTransport()
        self.refused: set[str] = set()

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path
        if path.startswith("/media/") and path not in self.refused:
            self.refused.add(path)
            return httpx.Response(404, request=request)
        return self.inner.handle_request(request)


def test_a_failed_preview_stays_queued_and_is_retried_after_its_backoff(store, tmp_path, live_server_factory):
    server = live_server_factory(seed_server(tmp_path / "server", 6))
    previews = tmp_path / "previews"
    with HubClient(server.url) as plain:
        CatalogSync(store, plain).run()
    now = [time.time()]
    queued = store.scalar("SELECT COUNT(*) FROM media_queue")
    assert queued > 0
    with HubClient(server.url, transport=NotFoundOnce()) as client:
        fetcher = PreviewFetcher(store, client, previews, retry_base=60, clock=lambda: now[0])
        first = fetcher.drain()
        assert first.failed == queued and first.linked == 0
        rows = store.execute("SELECT attempts, run_at, last_error FROM media_queue").fetchall()
        assert len(rows) == queued
        assert all(
            attempts == 1 and run_at > now[0] and error == "HTTP 404" for attempts, run_at, error in rows
        )
        assert fetcher.drain().failed == 0  # nothing is due before its backoff
        now[0] += 3600
        second = fetcher.drain()
    assert second.failed == 0 and second.linked > 0
    assert store.scalar("SELECT COUNT(*) FROM media_queue") == 0
    assert missing_previews(store) == []
