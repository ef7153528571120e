"""Fetching preview thumbnails from the media queue (`hub/store/media_queue.py`).

The queue rows are written with the catalog rows that reference them, so whatever killed a
sync (a crash, SIGKILL, a dropped connection) between a page and its previews, the next drain
still finds every missing thumbnail. A fetch writes the file first (a temporary name, then an
atomic rename) and then, in one transaction, links it to the versions and removes the row: a
crash in between leaves a file that the next drain finds on disk and links without fetching.
A failed fetch keeps its row and is tried again later, with exponential backoff.
"""

from __future__ import annotations

import hashlib
import logging
import os
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import httpx

from hub.jobs.backoff import backoff_delay
from hub.store import images, media_queue
from hub.store.database import HubDatabase
from hub.sync.errors import HubUnavailable

log = logging.getLogger(__name__)
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".gif")
BATCH = 100


class PreviewSource(Protocol):
    """What the fetcher needs of a client: `get(url)` -> an httpx response, raising
    `HubUnavailable` when the server keeps failing (`HubClient` is one)."""

    def get(self, path: str, **kwargs: Any) -> httpx.Response: ...


@dataclass
class PreviewReport:
    linked: int = 0  # versions whose thumbnail is now on disk
    failed: int = 0  # fetches that failed (their rows wait for a retry)


class PreviewFetcher:
    """Drains the media queue into `previews_dir` through `client` (a `HubClient`: its own
    retries cover a blip; the queue's backoff covers a server that keeps failing)."""

    def __init__(
        self,
        db: HubDatabase,
        client: PreviewSource,
        previews_dir: Path,
        retry_base: float = 60.0,
        retry_cap: float = 6 * 3600.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.db = db
        self.client = client
        self.previews_dir = Path(previews_dir)
        self.retry_base = retry_base
        self.retry_cap = retry_cap
        self.clock = clock

    def drain(self) -> PreviewReport:
        """Fetch every queued preview that is due; failures are postponed, not raised. When the
        server is unreachable (after the client's own retries) the drain stops there: the other
        rows stay due for the next drain instead of each waiting out the same retries."""
        report = PreviewReport()
        while True:
            batch = media_queue.due(self.db.conn, self.clock(), BATCH)
            if not batch:
                return report
            for row in batch:
                if not self._fetch_one(row, report):
                    return report

    def waiting(self) -> int:
        """Previews still queued (failed ones waiting for their retry)."""
        return media_queue.count(self.db.conn)

    def _fetch_one(self, row: media_queue.QueuedMedia, report: PreviewReport) -> bool:
        """Fetch and link one queued URL, or postpone it; False when the server is unreachable."""
        if not images.thumbnail_wanted(self.db.conn, row.url):
            with self.db.transaction() as conn:
                media_queue.remove(conn, row.url)
            return True
        target = self.previews_dir / preview_name(row.url)
        reachable = True
        try:
            error = None if target.exists() else self._download(row.url, target)
        except HubUnavailable as unavailable:  # the client's retries are spent
            error, reachable = f"{type(unavailable).__name__}: {unavailable}", False
        with self.db.transaction() as conn:
            if error is None:
                report.linked += images.link_thumbnail(conn, row.url, str(target))
                media_queue.remove(conn, row.url)
            else:
                report.failed += 1
                attempts = row.attempts + 1
                delay = backoff_delay(attempts, self.retry_base, cap=self.retry_cap)
                media_queue.postpone(conn, row.url, attempts, self.clock() + delay, error)
                log.warning("preview %s: %s (attempt %d; retry in %.0f s)", row.url, error, attempts, delay)
        return reachable

    def _download(self, url: str, target: Path) -> str | None:
        """Fetch `url` into `target`; returns None, or what went wrong (raises the client's
        HubUnavailable when the server cannot be reached)."""
        try:
            response = self.client.get(url)
        except (httpx.HTTPError, httpx.InvalidURL) as error:
            return f"{type(error).__name__}: {error}"
        if response.status_code != 200:
            return f"HTTP {response.status_code}"
        self.previews_dir.mkdir(parents=True, exist_ok=True)
        handle, tmp = tempfile.mkstemp(dir=self.previews_dir, prefix=f".{target.name}.", suffix=".tmp")
        try:
            with os.fdopen(handle, "wb") as out:
                out.write(response.content)
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return None


def preview_name(url: str) -> str:
    """The file name of a preview: a hash of its URL (so a model update keeps it), and its
    image suffix."""
    suffix = Path(httpx.URL(url).path).suffix.lower()
    if suffix not in IMAGE_SUFFIXES:
        suffix = ".img"
    return f"{hashlib.sha256(url.encode()).hexdigest()[:32]}{suffix}"
