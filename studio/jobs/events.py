"""The job event bus: any number of subscribers, callable from any thread.

Listeners are called on the publishing thread (the worker) and must be quick; a listener that
raises is logged and the others still run. For consumers elsewhere there are two adapters:
`ThreadSubscription` (a bounded `queue.Queue`) and `AsyncSubscription` (an asyncio queue fed with
`loop.call_soon_threadsafe`). Both drop the oldest *step* event when full, never a state event.
"""

from __future__ import annotations

import asyncio
import collections
import itertools
import logging
import queue
import threading
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import replace
from types import TracebackType

from studio.jobs.types import JobEvent

log = logging.getLogger(__name__)

Listener = Callable[[JobEvent], None]


class EventBus:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._listeners: dict[int, Listener] = {}
        self._tokens = itertools.count(1)
        self._seq = itertools.count(1)

    def subscribe(self, listener: Listener) -> int:
        """Call `listener(event)` for every event from now on. Returns a token for `unsubscribe`."""
        with self._lock:
            token = next(self._tokens)
            self._listeners[token] = listener
            return token

    def unsubscribe(self, token: int) -> None:
        with self._lock:
            self._listeners.pop(token, None)

    @property
    def subscriber_count(self) -> int:
        with self._lock:
            return len(self._listeners)

    def publish(self, event: JobEvent) -> JobEvent:
        """Stamp the event with a sequence number and time, and hand it to every listener."""
        with self._lock:
            event = replace(event, seq=next(self._seq), time=event.time or time.time())
            listeners = list(self._listeners.values())
        for listener in listeners:
            try:
                listener(event)
            except Exception:
                log.exception("job event listener failed on %s", event.type)
        return event

    def thread_subscription(self, job_id: str | None = None, maxsize: int = 256) -> ThreadSubscription:
        return ThreadSubscription(self, job_id, maxsize)

    def async_subscription(
        self, job_id: str | None = None, maxsize: int = 256, loop: asyncio.AbstractEventLoop | None = None
    ) -> AsyncSubscription:
        return AsyncSubscription(self, job_id, maxsize, loop or asyncio.get_running_loop())


class _Buffer:
    """A bounded FIFO of events that drops the oldest step event (or the oldest event) when full."""

    def __init__(self, maxsize: int) -> None:
        self.maxsize = maxsize
        self.items: collections.deque[JobEvent] = collections.deque()
        self.dropped = 0

    def push(self, event: JobEvent) -> None:
        if len(self.items) >= self.maxsize:
            for index, old in enumerate(self.items):
                if old.type == "step":
                    del self.items[index]
                    break
            else:
                self.items.popleft()
            self.dropped += 1
        self.items.append(event)


class ThreadSubscription:
    """Events for one job (or all) collected for a consumer thread. Use as a context manager."""

    def __init__(self, bus: EventBus, job_id: str | None, maxsize: int) -> None:
        self._bus = bus
        self._job_id = job_id
        self._buffer = _Buffer(maxsize)
        self._ready = threading.Condition()
        self._token = bus.subscribe(self._on_event)

    def _on_event(self, event: JobEvent) -> None:
        if self._job_id is not None and event.job_id != self._job_id:
            return
        with self._ready:
            self._buffer.push(event)
            self._ready.notify_all()

    def get(self, timeout: float | None = None) -> JobEvent:
        """The next event; raises `queue.Empty` after `timeout` seconds without one."""
        with self._ready:
            if not self._ready.wait_for(lambda: bool(self._buffer.items), timeout):
                raise queue.Empty
            return self._buffer.items.popleft()

    def close(self) -> None:
        self._bus.unsubscribe(self._token)

    def __enter__(self) -> ThreadSubscription:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


class AsyncSubscription:
    """Events for one job (or all) delivered to an asyncio consumer: `async for event in sub`."""

    def __init__(
        self, bus: EventBus, job_id: str | None, maxsize: int, loop: asyncio.AbstractEventLoop
    ) -> None:
        self._bus = bus
        self._job_id = job_id
        self._loop = loop
        self._buffer = _Buffer(maxsize)
        self._ready = asyncio.Event()
        self._closed = False
        self._token = bus.subscribe(self._on_event)

    def _on_event(self, event: JobEvent) -> None:
        if self._job_id is not None and event.job_id != self._job_id:
            return
        try:
            self._loop.call_soon_threadsafe(self._deliver, event)
        except RuntimeError:  # the loop is closed: nobody listens any more
            self._bus.unsubscribe(self._token)

    def _deliver(self, event: JobEvent) -> None:
        self._buffer.push(event)
        self._ready.set()

    async def get(self, timeout: float | None = None) -> JobEvent:
        """The next event; raises `TimeoutError` after `timeout` seconds without one."""
        while not self._buffer.items:
            self._ready.clear()
            await asyncio.wait_for(self._ready.wait(), timeout)
        return self._buffer.items.popleft()

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self._bus.unsubscribe(self._token)

    async def __aiter__(self) -> AsyncIterator[JobEvent]:
        while not self._closed:
            yield await self.get()

    async def __aenter__(self) -> AsyncSubscription:
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()
