"""Background jobs run by `hub-server worker` processes from the queue (saq, on the Redis of
ATELIER_TEST_REDIS_URL and on the PostgreSQL of ATELIER_TEST_POSTGRES_URL, both started by
.ci/run; each half skipped without its server): a worker SIGKILLed in the middle of sending an
email loses nothing (another worker sends it, once), and a failed attempt is retried with backoff.
The web server runs with `queue_url` set, so it runs no job itself."""

from __future__ import annotations

import asyncio
import email
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from email.message import Message
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller

from tests.hub.server.community.conftest import Template, start_community

REDIS_URL = os.environ.get("ATELIER_TEST_REDIS_URL")
pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[4]


class StallingInbox:
    """An SMTP server whose first delivery hangs (the worker is killed meanwhile), whose second
    is refused with a temporary error (the worker retries), and which accepts the rest."""

    def __init__(self) -> None:
        self.calls = 0
        self.messages: list[Message] = []
        self.release = threading.Event()

    async def handle_DATA(self, server, session, envelope) -> str:  # aiosmtpd's handler hook
        self.calls += 1
        if self.calls == 1:
            while not self.release.is_set():
                await asyncio.sleep(0.1)
            return "451 Try again later"
        if self.calls == 2:
            return "451 Try again later"
        self.messages.append(email.message_from_bytes(envelope.content))
        return "250 Message accepted for delivery"


@pytest.fixture
def smtp() -> Iterator[tuple[int, StallingInbox]]:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    inbox = StallingInbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield port, inbox
    finally:
        inbox.release.set()
        controller.stop()


@pytest.fixture(params=["redis", "postgresql"])
def queue_url(request: pytest.FixtureRequest) -> Iterator[str]:
    if request.param == "redis":
        if not REDIS_URL:
            pytest.skip(
                "ATELIER_TEST_REDIS_URL is not set (no redis-server to test against; .ci/run starts one)"
            )
        yield REDIS_URL
        return
    if not os.environ.get("ATELIER_TEST_POSTGRES_URL"):
        pytest.skip(
            "ATELIER_TEST_POSTGRES_URL is not set (no PostgreSQL to test against; .ci/run starts one)"
        )
    from tests.postgres_databases import fresh_database

    with fresh_database("hubscale_queue") as url:
        yield url


@contextmanager
def worker_process(data: Path, smtp_port: int, queue_url: str) -> Iterator[subprocess.Popen]:
    command = [sys.executable, "-m", "hub.server", "worker", "--data", str(data)]
    options = ["--queue-url", queue_url, "--smtp-host", "127.0.0.1", "--smtp-port", str(smtp_port)]
    timing = ["--heartbeat", "2", "--retry-delay", "0.5", "--poll", "0.2", "--log-level", "warning"]
    process = subprocess.Popen(
        [*command, *options, *timing], env=os.environ | {"PYTHONPATH": str(ROOT)}, cwd=ROOT
    )
    try:
        yield process
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            process.wait(timeout=40)


def wait_for(condition: Callable[[], bool], seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


def test_a_killed_worker_loses_no_job_and_a_failed_one_is_retried(
    community_template: Template, tmp_path: Path, smtp: tuple[int, StallingInbox], queue_url: str
) -> None:
    port, inbox = smtp
    data = tmp_path / "hub"
    with start_community(
        community_template, data, smtp_host="127.0.0.1", smtp_port=port, queue_url=queue_url
    ) as c:
        prefs = {"email": "ink@example.org", "types": {"review-received": {"email": True, "inApp": False}}}
        assert c.creator.http.put("/notifications/preferences", json=prefs).status_code == 200
        c.reader.http.put(f"/model-versions/{c.version_id}/review", json={"recommended": True})
        jobs = c.hub.store.jobs
        assert [j.status for j in jobs.list(kind="event")][-1] == "pending"  # the review's

        with worker_process(data, port, queue_url) as first:
            wait_for(lambda: inbox.calls == 1, 60, "the first worker to start sending the email")
            first.send_signal(signal.SIGKILL)  # in the middle of the SMTP conversation
            first.wait(timeout=10)
        (email_job,) = jobs.list(kind="email")
        assert email_job.status == "running"  # handed to the queue; its worker is gone
        assert inbox.messages == []

        with worker_process(data, port, queue_url) as second:
            wait_for(lambda: len(inbox.messages) == 1, 90, "the second worker to send the email")
            wait_for(lambda: jobs.get(email_job.id).status == "done", 30, "the email job to be done")
            time.sleep(5)  # two more heartbeats and sweeps: nothing runs it again
            assert second.poll() is None
        assert inbox.calls == 3  # killed mid-send, refused once (retried), delivered
        assert len(inbox.messages) == 1
        assert inbox.messages[0]["To"] == "ink@example.org"
        assert "recommends Ink Style" in inbox.messages[0]["Subject"]
        assert {j.status for j in jobs.list() if j.kind != "digest"} == {"done"}
        # the digest is an hourly round: one is pending (the next); one that fell due while the
        # test ran (an hour boundary crossed) is done
        digests = [j.status for j in jobs.list(kind="digest")]
        assert digests.count("pending") == 1 and set(digests) <= {"pending", "done"}, digests
