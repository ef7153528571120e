"""The background drainer: applies the index queue to Whoosh in batches, off the writer's path."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from pathlib import Path

from hub.search.index import DrainReport, IndexStore
from hub.store.database import HubDatabase

log = logging.getLogger(__name__)


class IndexDrainer:
    """A thread that drains the queue whenever it has rows (polling every `interval` seconds),
    merges small segments now and then, and calls `on_drained` (e.g. `searcher.refresh`)."""

    def __init__(
        self,
        db_path: Path,
        index: IndexStore,
        interval: float = 0.5,
        batch_size: int = 2000,
        merge_after_segments: int = 12,
        on_drained: Callable[[DrainReport], None] | None = None,
    ) -> None:
        self.db_path = Path(db_path)
        self.index = index
        self.interval = interval
        self.batch_size = batch_size
        self.merge_after_segments = merge_after_segments
        self.on_drained = on_drained
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        self.last_error: BaseException | None = None

    def start(self) -> None:
        self._stop.clear()
        self._thread = threading.Thread(target=self._loop, name="hub-index-drainer", daemon=True)
        self._thread.start()

    def wake(self) -> None:
        self._wake.set()

    def stop(self, timeout: float = 30) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def _loop(self) -> None:
        db = HubDatabase(self.db_path)
        try:
            while not self._stop.is_set():
                try:
                    report = self.index.drain(db, self.batch_size)
                    if report.rows:
                        if self.index.segment_count() > self.merge_after_segments:
                            self.index.merge_small_segments()
                        if self.on_drained:
                            self.on_drained(report)
                        continue  # more may be waiting
                except Exception as error:  # keep draining later; the rows are still queued
                    self.last_error = error
                    log.exception("index drain failed; the queue rows are kept")
                self._wake.wait(self.interval)
                self._wake.clear()
        finally:
            db.close()
