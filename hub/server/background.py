"""`BackgroundThreads`: the threads the server's own background tasks run on, drained at shutdown.

An asyncio task awaiting a thread can be cancelled, but its thread runs on; the store must
not close a connection under it (SQLite then crashes the process, not just the call). So the
background tasks run their blocking work here, and the lifespan waits for it before closing.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

T = TypeVar("T")


class BackgroundThreads:
    """A small pool for background work, with a `stopping` flag long work checks between steps."""

    def __init__(self, workers: int = 2) -> None:
        self.stopping = threading.Event()
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="hub-background")

    async def run(self, func: Callable[[], T]) -> T:
        return await asyncio.wrap_future(self._pool.submit(func))

    def drain(self) -> None:
        """Wait for the work already started; refuse new work."""
        self.stopping.set()
        self._pool.shutdown(wait=True, cancel_futures=True)
