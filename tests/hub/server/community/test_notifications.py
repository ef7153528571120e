"""Follows, events, notifications, preferences, the job queue's retries, email over a real SMTP
server on loopback (aiosmtpd) and the daily digest, on a live hub server."""

from __future__ import annotations

import email
import socket
import time
from collections.abc import Iterator
from email.message import Message
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller

from hub.server.notify import EventRegistry, EventType, JobWorker
from hub.server.store.job_queue import emit_event
from hub.server.store.notifications import Channels, FanOut
from tests.hub.server.community.conftest import Community, Template, start_community, upload
from tests.hub.server.conftest import model_metadata, safetensors_bytes


def _types(items: list[dict]) -> list[str]:
    return [n["type"] for n in items]


def _new_version(community: Community, seed: int) -> int:
    """Upload a version of the community's model through the real route; returns its id."""
    import httpx

    files = [{"name": f"v{seed}.safetensors", "primary": True}]
    meta = model_metadata("x", files=files)["version"] | {"name": f"v{seed}"}
    response = httpx.post(
        f"{community.hub.api}/models/{community.model_id}/versions",
        headers={"Authorization": f"Bearer {community.creator.key}"},
        data={"metadata": __import__("json").dumps(meta)},
        files=[("files", (f"v{seed}.safetensors", safetensors_bytes(seed=seed), "application/octet-stream"))],
        timeout=60,
    )
    assert response.status_code == 201, response.text
    return response.json()["id"]


def test_each_event_notifies_the_users_it_concerns(community: Community) -> None:
    reader, creator = community.reader, community.creator
    assert reader.http.put(f"/follows/users/{creator.id}").status_code == 201
    assert reader.http.put(f"/follows/users/{creator.id}").status_code == 200
    assert reader.http.put(f"/follows/models/{community.model_id}").json()["followers"] == 1
    assert reader.http.put("/follows/models/999").status_code == 404
    follows = reader.http.get("/follows").json()
    assert [m["id"] for m in follows["models"]] == [community.model_id]
    assert [u["username"] for u in follows["users"]] == ["inkmaster"]

    version_id = _new_version(community, 7)  # followed model and followed creator: one notification
    article = creator.http.post("/articles", json={"title": "Ink guide", "content": "text"}).json()
    creator.http.post(f"/articles/{article['id']}/publish")
    creator.http.post(f"/articles/{article['id']}/unpublish")
    creator.http.post(f"/articles/{article['id']}/publish")  # published again: no second notification
    reader.http.put(f"/model-versions/{community.version_id}/review", json={"recommended": True})
    reader.http.post(f"/models/{community.model_id}/comments", json={"content": "Great"})
    assert reader.http.get("/notifications").json()["items"] == []  # nothing before the jobs run

    ran = community.run_jobs()
    assert [j.kind for j in ran] == ["event"] * 4
    mine = reader.http.get("/notifications").json()
    assert _types(mine["items"]) == ["article-published", "model-version-published"]
    assert mine["unreadCount"] == 2
    assert mine["items"][0]["details"]["message"] == "inkmaster published an article: Ink guide"
    assert mine["items"][0]["details"]["url"] == f"{community.hub.url}/api/v1/articles/{article['id']}"
    assert mine["items"][1]["details"]["modelVersionId"] == version_id
    assert mine["items"][1]["details"]["message"] == "inkmaster published v7 of Ink Style"
    theirs = creator.http.get("/notifications").json()
    assert _types(theirs["items"]) == ["comment-received", "review-received"]
    assert theirs["items"][1]["details"]["message"] == "reader1 recommends Ink Style (v1)"
    assert community.run_jobs() == []  # done jobs stay done

    # a creator's brand-new model reaches their followers too
    upload(community.hub, creator.key, "Fresh Model", 9)
    community.run_jobs()
    newest = reader.http.get("/notifications", params={"limit": 1}).json()["items"][0]
    assert newest["details"]["message"] == "inkmaster published a new model: Fresh Model"


def test_read_unread_and_mark_all(community: Community) -> None:
    reader, creator = community.reader, community.creator
    reader.http.put(f"/follows/users/{creator.id}")
    for n in range(3):
        article = creator.http.post("/articles", json={"title": f"Post {n}", "content": "text"}).json()
        creator.http.post(f"/articles/{article['id']}/publish")
    community.run_jobs()
    items = reader.http.get("/notifications").json()["items"]
    assert len(items) == 3
    read = reader.http.post(f"/notifications/{items[0]['id']}/read").json()
    assert read["read"] is True and read["readAt"]
    assert reader.http.get("/notifications").json()["unreadCount"] == 2
    unread = reader.http.get("/notifications", params={"unread": "true"}).json()["items"]
    assert [n["id"] for n in unread] == [items[1]["id"], items[2]["id"]]
    assert reader.http.post(f"/notifications/{items[0]['id']}/unread").json()["read"] is False
    assert creator.http.post(f"/notifications/{items[0]['id']}/read").status_code == 404  # not theirs
    assert reader.http.post("/notifications/read-all").json() == {"marked": 3}
    assert reader.http.get("/notifications").json()["unreadCount"] == 0
    page = reader.http.get("/notifications", params={"limit": 2}).json()
    rest = reader.http.get(
        "/notifications", params={"limit": 2, "cursor": page["metadata"]["nextCursor"]}
    ).json()
    assert [n["id"] for n in page["items"] + rest["items"]] == [n["id"] for n in items]

    # the private feed carries the user's notifications (with their read state), nobody else's
    feed = reader.http.get("/sync/mine", params={"limit": 100}).json()
    notes = [i for i in feed["items"] if i["entity"] == "notification"]
    assert sorted(i["id"] for i in notes) == sorted(n["id"] for n in items)
    assert all(i["data"]["read"] for i in notes)
    assert creator.http.get("/sync/mine").json()["items"] == []
    assert community.anonymous.get("/sync/mine").status_code == 401


def test_preferences_per_type_and_channel(community: Community) -> None:
    reader, creator = community.reader, community.creator
    prefs = creator.http.get("/notifications/preferences").json()
    assert prefs["types"]["review-received"] == {"inApp": True, "email": False}
    assert prefs["emailAvailable"] is False and prefs["digest"] == "off"
    off = creator.http.put(
        "/notifications/preferences", json={"types": {"review-received": {"inApp": False}}}
    )
    assert off.status_code == 200 and off.json()["types"]["review-received"] == {
        "inApp": False,
        "email": False,
    }
    reader.http.put(f"/model-versions/{community.version_id}/review", json={"recommended": True})
    reader.http.post(f"/models/{community.model_id}/comments", json={"content": "Great"})
    community.run_jobs()
    assert _types(creator.http.get("/notifications").json()["items"]) == ["comment-received"]

    no_smtp = creator.http.put(
        "/notifications/preferences", json={"types": {"review-received": {"email": True}}}
    )
    assert no_smtp.status_code == 400 and "SMTP" in no_smtp.json()["error"]
    bad = creator.http.put(
        "/notifications/preferences",
        json={
            "email": "not-an-address",
            "digest": "hourly",
            "types": {"nope": {}, "review-received": {"sms": True}},
        },
    )
    assert bad.status_code == 400
    for part in ("email", "digest", "types.nope", "types.review-received"):
        assert part in bad.json()["error"]
    types = community.anonymous.get("/notifications/types").json()["items"]
    assert {t["type"] for t in types} == set(prefs["types"])


def test_failed_jobs_retry_with_backoff_then_fail_for_good(community: Community) -> None:
    store = community.hub.store
    calls: list[int] = []

    def flaky(_store, data):
        calls.append(1)
        if len(calls) < 3:
            raise ConnectionError("downstream unavailable")
        return FanOut(
            "one-user",
            {"user": community.reader.id},
            None,
            "flaky",
            "Other",
            "flaky:1",
            {"message": "ok"},
            Channels(True, False),
        )

    registry = EventRegistry()
    registry.register(EventType("flaky", "Other", "a test event", Channels(True, False), flaky))
    registry.register(EventType("broken", "Other", "always fails", Channels(True, False), lambda s, d: 1 / 0))
    t0 = 1_000_000.0
    worker = JobWorker(
        store, store.jobs, registry, None, clock=lambda: clock[0], backoff_base=10, backoff_cap=100
    )
    clock = [t0]
    with store.write() as conn:
        emit_event(conn, "flaky", {}, "flaky-1", t0)
        emit_event(conn, "broken", {}, "broken-1", t0)
        emit_event(conn, "unknown-type", {}, "unknown-1", t0)

    worker.run_due()
    jobs = {j.payload["type"]: j for j in store.jobs.list("event")}
    assert jobs["flaky"].status == "pending" and jobs["flaky"].attempts == 1
    assert "downstream unavailable" in jobs["flaky"].last_error
    assert t0 + 5 <= jobs["flaky"].run_at <= t0 + 10  # 10 s, half of it jittered
    assert jobs["unknown-type"].status == "failed" and "no processor" in jobs["unknown-type"].last_error
    assert worker.run_due() == []  # not due yet
    clock[0] = t0 + 10
    worker.run_due()
    flaky_job = store.jobs.get(jobs["flaky"].id)
    assert flaky_job.attempts == 2 and t0 + 20 <= flaky_job.run_at <= t0 + 30  # doubled
    for _ in range(10):
        clock[0] += 100
        worker.run_due()
    assert store.jobs.get(jobs["flaky"].id).status == "done"
    assert _types(community.reader.http.get("/notifications").json()["items"]) == ["flaky"]
    broken = store.jobs.get(jobs["broken"].id)
    assert broken.status == "failed" and broken.attempts == broken.max_attempts
    assert "ZeroDivisionError" in broken.last_error


def test_a_job_left_running_by_a_dead_worker_runs_again(community: Community) -> None:
    store = community.hub.store
    community.reader.http.put(f"/follows/users/{community.creator.id}")
    article = community.creator.http.post("/articles", json={"title": "T", "content": "c"}).json()
    community.creator.http.post(f"/articles/{article['id']}/publish")
    claimed = store.jobs.claim(time.time())  # a worker took it ... and died
    assert claimed is not None and store.jobs.get(claimed.id).status == "running"
    assert community.run_jobs() == []
    community.worker.start()  # the next start puts it back
    assert [j.id for j in community.run_jobs()] == [claimed.id]
    assert len(community.reader.http.get("/notifications").json()["items"]) == 1


# -- email --------------------------------------------------------------------------------------------
class Inbox:
    def __init__(self) -> None:
        self.messages: list[Message] = []

    async def handle_DATA(self, server, session, envelope) -> str:  # aiosmtpd's handler hook
        message = email.message_from_bytes(envelope.content)
        message["X-Envelope-To"] = ",".join(envelope.rcpt_tos)
        self.messages.append(message)
        return "250 Message accepted for delivery"


@pytest.fixture
def smtp_server() -> Iterator[tuple[int, Inbox]]:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield port, inbox
    finally:
        controller.stop()


def test_email_notifications_arrive_over_smtp(
    community_template: Template, tmp_path: Path, smtp_server: tuple[int, Inbox]
) -> None:
    port, inbox = smtp_server
    with start_community(
        community_template,
        tmp_path / "hub",
        smtp_host="127.0.0.1",
        smtp_port=port,
        smtp_from="hub@atelier.test",
    ) as c:
        prefs = c.creator.http.put(
            "/notifications/preferences",
            json={"email": "ink@example.org", "types": {"review-received": {"email": True, "inApp": False}}},
        )
        assert prefs.status_code == 200, prefs.text
        assert prefs.json()["emailAvailable"] is True
        c.reader.http.put(f"/model-versions/{c.version_id}/review", json={"recommended": False})
        c.run_jobs()  # the event, then the email job it queued
        assert len(inbox.messages) == 1
        message = inbox.messages[0]
        assert message["To"] == "ink@example.org" and message["X-Envelope-To"] == "ink@example.org"
        assert message["From"] == "hub@atelier.test"
        assert message["Subject"] == "[Atelier hub] reader1 does not recommend Ink Style (v1)"
        assert f"/api/v1/model-versions/{c.version_id}/reviews" in message.get_payload()
        assert c.creator.http.get("/notifications").json()["items"] == []  # email only
        c.run_jobs()
        assert len(inbox.messages) == 1  # sent once


def test_daily_digest_with_a_clock(
    community_template: Template, tmp_path: Path, smtp_server: tuple[int, Inbox]
) -> None:
    port, inbox = smtp_server
    with start_community(community_template, tmp_path / "hub", smtp_host="127.0.0.1", smtp_port=port) as c:
        c.reader.http.put(f"/follows/users/{c.creator.id}")
        c.reader.http.put(
            "/notifications/preferences",
            json={
                "email": "reader@example.org",
                "digest": "daily",
                "types": {"article-published": {"email": True}},
            },
        )

        def publish(title: str) -> None:
            article = c.creator.http.post("/articles", json={"title": title, "content": "c"}).json()
            c.creator.http.post(f"/articles/{article['id']}/publish")

        publish("First")
        publish("Second")
        c.run_jobs()
        assert inbox.messages == []  # no email per event: they wait for the digest
        assert len(c.reader.http.get("/notifications").json()["items"]) == 2  # in-app as usual

        t0 = time.time()
        assert c.worker.send_digests(t0) == 1
        assert len(inbox.messages) == 1
        digest = inbox.messages[0]
        assert digest["Subject"] == "[Atelier hub] Your daily digest: 2 notifications"
        body = digest.get_payload()
        assert "published an article: First" in body and "published an article: Second" in body

        publish("Third")
        c.run_jobs()
        assert c.worker.send_digests(t0 + 3600) == 0  # at most one digest a day
        assert c.worker.send_digests(t0 + 86_400) == 1
        assert inbox.messages[1]["Subject"] == "[Atelier hub] Your daily digest: 1 notification"
        assert "Third" in inbox.messages[1].get_payload() and "First" not in inbox.messages[1].get_payload()
        assert c.worker.send_digests(t0 + 2 * 86_400) == 0  # nothing new


def test_the_in_process_worker_delivers_without_help(community_template: Template, tmp_path: Path) -> None:
    with start_community(community_template, tmp_path / "hub", job_poll_seconds=0.2) as c:
        c.reader.http.put(f"/follows/users/{c.creator.id}")
        article = c.creator.http.post("/articles", json={"title": "Live", "content": "c"}).json()
        c.creator.http.post(f"/articles/{article['id']}/publish")
        deadline = time.monotonic() + 20
        while not c.reader.http.get("/notifications").json()["items"]:
            assert time.monotonic() < deadline, "the worker did not run the event"
            time.sleep(0.1)
        # the digest job is scheduled once, for the next hour
        digests = [j for j in c.hub.store.jobs.list("digest") if j.status == "pending"]
        assert len(digests) == 1 and digests[0].run_at > time.time()
