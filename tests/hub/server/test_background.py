"""Shutting the server down while its job worker is inside a job: the job finishes before the
store closes (closing a connection a thread still uses crashes the process in SQLite)."""

from __future__ import annotations

import threading
import time
from pathlib import Path

from fastapi.testclient import TestClient

from hub.server.app import create_app
from hub.server.background import BackgroundThreads
from hub.server.notify import EventType
from hub.server.store.job_queue import emit_event
from hub.server.store.notifications import Channels


def test_shutdown_waits_for_the_job_in_progress(tmp_path: Path) -> None:
    app = create_app(tmp_path / "hub", job_poll_seconds=0.05)
    hub = app.state.hub
    started, finished = threading.Event(), threading.Event()

    def slow(_store, _data):
        started.set()
        time.sleep(0.5)
        hub.store.user_by_name("nobody")  # the store is still open here
        finished.set()
        return None

    hub.registry.register(EventType("slow", "Other", "a slow event", Channels(True, False), slow))
    with TestClient(app):
        with hub.store.write() as conn:
            emit_event(conn, "slow", {}, "slow-1", time.time())
        hub.wake_jobs()
        assert started.wait(10), "the worker did not start the job"
    assert finished.is_set(), "the lifespan closed before the job in progress ended"


def test_drain_waits_for_started_work_and_refuses_new_work() -> None:
    import asyncio

    background = BackgroundThreads()
    done: list[int] = []

    async def scenario() -> None:
        task = asyncio.create_task(background.run(lambda: (time.sleep(0.3), done.append(1))))
        await asyncio.sleep(0.05)
        task.cancel()  # the await is cancelled; the thread is not
        await asyncio.to_thread(background.drain)

    asyncio.run(scenario())
    assert done == [1] and background.stopping.is_set()
