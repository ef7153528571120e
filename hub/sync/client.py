"""The httpx client of the hub server's change feed (see docs/hub.md for the contract).

Each page is written with its cursor in one transaction, so a sync killed at any point resumes
from the last committed page: nothing is skipped (the feed is ordered by commit) and nothing
is doubled (items are upserts keyed by id). The page's thumbnails go into the media queue in
that same transaction, so none is lost either (`previews.py`)."""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from hub.jobs.backoff import backoff_delay
from hub.store.database import HubDatabase
from hub.sync.apply import FEED, FeedError, apply_page, saved_cursor
from hub.sync.errors import AccountRefused, HubUnavailable
from hub.sync.previews import PreviewFetcher

log = logging.getLogger(__name__)
RETRY_STATUS = {429, 500, 502, 503, 504}
BY_HASH_BATCH = 100  # hashes per by-hash request, model ids per models request (the API's limits)


@dataclass
class SyncReport:
    pages: int = 0
    items: int = 0
    previews: int = 0  # versions whose thumbnail was fetched (or found on disk) and linked
    preview_failures: int = 0  # failed preview fetches (they stay queued, retried with backoff)
    previews_waiting: int = 0  # previews still queued when the sync ended
    cursor: str | None = None
    seconds: float = 0.0


class HubClient:
    """HTTP access to one hub server with retries. `transport` is injectable (ASGI, mock)."""

    def __init__(
        self,
        server_url: str,
        transport: httpx.BaseTransport | None = None,
        retries: int = 4,
        backoff_base: float = 0.5,
        timeout: float = 30.0,
        sleep: Callable[[float], None] = time.sleep,
        rng: random.Random | None = None,
        http: httpx.Client | None = None,
        api_key: str | None = None,
    ) -> None:
        """`transport` or a ready `http` client (e.g. Starlette's TestClient on the ASGI app);
        `api_key` is sent with every request (the account's private feed needs it)."""
        self.server_url = server_url.rstrip("/")
        self.retries = retries
        self.backoff_base = backoff_base
        self.sleep = sleep
        self.rng = rng or random.Random()
        self.http = http or httpx.Client(
            base_url=self.server_url, transport=transport, timeout=timeout, follow_redirects=True
        )
        if api_key:
            self.http.headers["Authorization"] = f"Bearer {api_key}"

    def close(self) -> None:
        self.http.close()

    def __enter__(self) -> HubClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def get(self, path: str, **kwargs: Any) -> httpx.Response:
        """GET with retries on connection errors, timeouts, 429 and 5xx; raises HubUnavailable."""
        return self._request("GET", path, **kwargs)

    def post(self, path: str, **kwargs: Any) -> httpx.Response:
        """POST (of a read-only query, safe to repeat) with the retries of `get`."""
        return self._request("POST", path, **kwargs)

    def _request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        last: str = ""
        for attempt in range(1, self.retries + 2):
            try:
                response = self.http.request(method, path, **kwargs)
            except httpx.TransportError as error:
                last = f"{type(error).__name__}: {error}"
            else:
                if response.status_code not in RETRY_STATUS:
                    return response
                last = f"HTTP {response.status_code}"
            if attempt <= self.retries:
                delay = backoff_delay(attempt, self.backoff_base, rng=self.rng)
                log.info(
                    "hub %s%s failed (%s); retry %d in %.1f s", self.server_url, path, last, attempt, delay
                )
                self.sleep(delay)
        raise HubUnavailable(f"hub server {self.server_url} is unreachable ({last}); local data is unchanged")

    def changes(self, since: str | None, limit: int) -> dict[str, Any]:
        params: dict[str, Any] = {"limit": limit}
        if since is not None:
            params["since"] = since
        response = self.get("/api/v1/sync/changes", params=params)
        if response.status_code != 200:
            raise FeedError(f"GET /api/v1/sync/changes: HTTP {response.status_code}: {response.text[:200]}")
        body = response.json()
        if not isinstance(body.get("items"), list):
            raise FeedError("changes.items: missing")
        return body

    def feed_page(self, path: str, since: str | None, limit: int) -> dict[str, Any]:
        """One page of a change feed (`/api/v1/sync/changes` or the account's `/api/v1/sync/mine`)."""
        params: dict[str, Any] = {"limit": limit}
        if since is not None:
            params["since"] = since
        response = self.get(path, params=params)
        if response.status_code == 401:
            raise AccountRefused(
                f"GET {path}: the hub server refused the API key ({response.json().get('error', '')})"
            )
        if response.status_code != 200:
            raise FeedError(f"GET {path}: HTTP {response.status_code}: {response.text[:200]}")
        body = response.json()
        if not isinstance(body.get("items"), list):
            raise FeedError(f"{path}: items missing")
        return body

    def account_name(self) -> str:
        """The username of the API key's account (`GET /api/v1/me`)."""
        response = self.get("/api/v1/me")
        if response.status_code == 401:
            raise AccountRefused(f"the hub server refused the API key ({response.json().get('error', '')})")
        if response.status_code != 200:
            raise FeedError(f"GET /api/v1/me: HTTP {response.status_code}: {response.text[:200]}")
        return str(response.json()["username"])

    def models_by_sha256(self, hashes: list[str]) -> dict[str, dict[str, Any]]:
        """The full model object of each SHA256 the server knows (upper-case hash -> model), in
        batches: one `POST /api/v1/model-versions/by-hash` per 100 hashes, then one
        `GET /api/v1/models?ids=...` per 100 models (never one request per file)."""
        wanted = sorted({h.upper() for h in hashes})
        model_of: dict[str, int] = {}
        for start in range(0, len(wanted), BY_HASH_BATCH):
            batch = wanted[start : start + BY_HASH_BATCH]
            response = self.post("/api/v1/model-versions/by-hash", json=batch)
            if response.status_code != 200:
                raise FeedError(f"POST /api/v1/model-versions/by-hash: HTTP {response.status_code}")
            for version in response.json():
                for file in version.get("files") or []:
                    sha256 = str((file.get("hashes") or {}).get("SHA256", "")).upper()
                    if sha256 in batch:
                        model_of[sha256] = int(version["modelId"])
        models: dict[int, dict[str, Any]] = {}
        ids = sorted(set(model_of.values()))
        for start in range(0, len(ids), BY_HASH_BATCH):
            batch_ids = ids[start : start + BY_HASH_BATCH]
            params = {"ids": ",".join(map(str, batch_ids)), "nsfw": "true", "limit": BY_HASH_BATCH}
            response = self.get("/api/v1/models", params=params)
            if response.status_code != 200:
                raise FeedError(f"GET /api/v1/models?ids=: HTTP {response.status_code}")
            models.update({int(m["id"]): m for m in response.json().get("items") or []})
        return {sha256: models[model_id] for sha256, model_id in model_of.items() if model_id in models}


class CatalogSync:
    """Pulls the change feed into the store, page by page; after each page, fetches the preview
    thumbnails waiting in the media queue (the page's own, and any an earlier sync left)."""

    def __init__(
        self,
        db: HubDatabase,
        client: HubClient,
        previews_dir: Path | None = None,
        page_size: int = 500,
        feed: str = FEED,
    ) -> None:
        self.db = db
        self.client = client
        self.previews = PreviewFetcher(db, client, Path(previews_dir)) if previews_dir else None
        self.page_size = page_size
        self.feed = feed

    def run(
        self, max_pages: int | None = None, on_page: Callable[[SyncReport], None] | None = None
    ) -> SyncReport:
        started = time.perf_counter()
        report = SyncReport()
        cursor = saved_cursor(self.db, self.client.server_url, self.feed)
        while max_pages is None or report.pages < max_pages:
            page = self.client.changes(cursor, self.page_size)
            items = page["items"]
            next_cursor = page.get("nextCursor") or cursor
            if items or next_cursor != cursor:
                apply_page(self.db, self.client.server_url, items, next_cursor, self.feed)
            report.pages += 1
            report.items += len(items)
            cursor = next_cursor
            report.cursor = cursor
            if self.previews is not None:
                fetched = self.previews.drain()
                report.previews += fetched.linked
                report.preview_failures += fetched.failed
            if on_page:
                on_page(report)
            if not page.get("hasMore") or not items:
                break
        if self.previews is not None:
            report.previews_waiting = self.previews.waiting()
        report.seconds = time.perf_counter() - started
        return report
