"""The community half of the store's facade: `ServerStore.articles`, `.collections`, `.reviews`,
`.notifications` and `.jobs`. Each method is one transaction around functions of the modules
beside this one (which hold the SQL), as in `ServerStore` itself."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterator, Mapping
from contextlib import AbstractContextManager
from datetime import UTC, datetime
from typing import Any, Protocol

from hub.server import community_documents, documents
from hub.server.documents import dumps
from hub.server.records import NewMedia
from hub.server.store import articles, collections, job_queue, notifications, reviews, user_feed
from hub.server.store.articles import ArticleFields, ArticleQuery
from hub.server.store.change_feed import Change
from hub.server.store.collections import CollectionQuery
from hub.server.store.job_queue import Job
from hub.server.store.notifications import Channels, Delivery, FanOut
from hub.server.store.paging import Page


class Transactions(Protocol):
    def write(self) -> AbstractContextManager[sqlite3.Connection]: ...

    def read(self) -> AbstractContextManager[sqlite3.Connection]: ...


def _now() -> tuple[str, int]:
    """Now as a Civitai timestamp and as epoch milliseconds (the articles' sort keys)."""
    clock = time.time()
    return documents.iso(datetime.fromtimestamp(clock, UTC)), int(clock * 1000)


class ArticleStore:
    def __init__(self, tx: Transactions) -> None:
        self.tx = tx

    def create(self, user_id: int, fields: ArticleFields) -> int:
        now, ms = _now()
        with self.tx.write() as conn:
            return articles.create_article(conn, user_id, fields, now, ms)

    def update(self, article_id: int, fields: ArticleFields) -> None:
        now, ms = _now()
        with self.tx.write() as conn:
            articles.update_article(conn, article_id, fields, now, ms)

    def set_published(self, article_id: int, published: bool) -> None:
        now, ms = _now()
        with self.tx.write() as conn:
            articles.set_status(conn, article_id, published, now, ms, time.time())

    def set_cover(self, article_id: int, media: NewMedia, nsfw_level: int) -> None:
        now, _ = _now()
        with self.tx.write() as conn:
            articles.set_cover(conn, article_id, media, nsfw_level, now)

    def delete(self, article_id: int) -> None:
        with self.tx.write() as conn:
            articles.delete_article(conn, article_id)

    def owner(self, article_id: int) -> tuple[int, str]:
        with self.tx.read() as conn:
            return articles.article_owner(conn, article_id)

    def list(self, q: ArticleQuery) -> Page:
        with self.tx.read() as conn:
            return articles.list_articles(conn, q)

    def document(self, article_id: int) -> dict[str, Any]:
        with self.tx.read() as conn:
            return articles.article_document(conn, article_id)

    def of_user(self, user_id: int, limit: int, offset: int) -> tuple[list[dict[str, Any]], int]:
        with self.tx.read() as conn:
            return articles.articles_of_user(conn, user_id, limit, offset)

    def record_view(self, article_id: int) -> None:
        with self.tx.write() as conn:
            articles.record_view(conn, article_id)


class CollectionStore:
    def __init__(self, tx: Transactions) -> None:
        self.tx = tx

    def create(self, user_id: int, name: str, description: str, kind: str, read: str, nsfw: bool) -> int:
        now, _ = _now()
        with self.tx.write() as conn:
            collections.check_name_free(conn, user_id, name)
            return collections.create_collection(conn, user_id, name, description, kind, read, nsfw, now)

    def update(self, collection_id: int, changes: dict[str, Any]) -> None:
        now, _ = _now()
        with self.tx.write() as conn:
            if "name" in changes:
                owner, _read = collections.collection_owner(conn, collection_id)
                collections.check_name_free(conn, owner, changes["name"], collection_id)
            collections.update_collection(conn, collection_id, changes, now)

    def delete(self, collection_id: int) -> None:
        with self.tx.write() as conn:
            collections.delete_collection(conn, collection_id)

    def add_item(self, collection_id: int, item_id: int) -> bool:
        now, _ = _now()
        with self.tx.write() as conn:
            return collections.add_item(conn, collection_id, item_id, now)

    def remove_item(self, collection_id: int, item_id: int) -> None:
        now, _ = _now()
        with self.tx.write() as conn:
            collections.remove_item(conn, collection_id, item_id, now)

    def owner(self, collection_id: int) -> tuple[int, str]:
        with self.tx.read() as conn:
            return collections.collection_owner(conn, collection_id)

    def list(self, q: CollectionQuery) -> Page:
        with self.tx.read() as conn:
            return collections.list_collections(conn, q)

    def document(self, collection_id: int) -> dict[str, Any]:
        with self.tx.read() as conn:
            return collections.collection_document(conn, collection_id)

    def items(
        self, collection_id: int, limit: int, after: int | None
    ) -> tuple[list[dict[str, Any]], int | None]:
        with self.tx.read() as conn:
            return collections.collection_items(conn, collection_id, limit, after)


class ReviewStore:
    """Reviews of model versions and comments on models and articles."""

    def __init__(self, tx: Transactions) -> None:
        self.tx = tx

    def version_model(self, version_id: int) -> tuple[int, int]:
        with self.tx.read() as conn:
            return reviews.version_model(conn, version_id)

    def upsert(
        self, version_id: int, user_id: int, recommended: bool, details: str
    ) -> tuple[dict[str, Any], bool]:
        now, _ = _now()
        with self.tx.write() as conn:
            review_id, created = reviews.upsert_review(
                conn, version_id, user_id, recommended, details, now, time.time()
            )
            return reviews.review_document(conn, review_id), created

    def delete(self, version_id: int, user_id: int) -> None:
        with self.tx.write() as conn:
            reviews.delete_review(conn, version_id, user_id)

    def list(self, version_id: int, limit: int, offset: int) -> tuple[list[dict[str, Any]], int]:
        with self.tx.read() as conn:
            return reviews.list_reviews(conn, version_id, limit, offset)

    def add_comment(self, entity_type: str, entity_id: int, user_id: int, content: str) -> dict[str, Any]:
        now, _ = _now()
        with self.tx.write() as conn:
            comment_id = reviews.add_comment(conn, entity_type, entity_id, user_id, content, now, time.time())
            return reviews.comment_document(conn, comment_id)

    def comment_author(self, comment_id: int) -> int:
        with self.tx.read() as conn:
            return reviews.comment_author(conn, comment_id)

    def delete_comment(self, comment_id: int) -> None:
        with self.tx.write() as conn:
            reviews.delete_comment(conn, comment_id)

    def comments(
        self, entity_type: str, entity_id: int, limit: int, offset: int
    ) -> tuple[list[dict[str, Any]], int]:
        with self.tx.read() as conn:
            return reviews.list_comments(conn, entity_type, entity_id, limit, offset)


class NotificationStore:
    """Follows, preferences, notifications (fan-out, reading, marking, email) and each user's
    private change feed."""

    def __init__(self, tx: Transactions) -> None:
        self.tx = tx

    def follow(self, user_id: int, target_type: str, target_id: int) -> bool:
        now, _ = _now()
        with self.tx.write() as conn:
            return notifications.follow(conn, user_id, target_type, target_id, now)

    def unfollow(self, user_id: int, target_type: str, target_id: int) -> None:
        with self.tx.write() as conn:
            notifications.unfollow(conn, user_id, target_type, target_id)

    def follows_of(self, user_id: int) -> dict[str, list[dict[str, Any]]]:
        with self.tx.read() as conn:
            return notifications.follows_of(conn, user_id)

    def follower_count(self, target_type: str, target_id: int) -> int:
        with self.tx.read() as conn:
            return notifications.follower_count(conn, target_type, target_id)

    def preferences(self, user_id: int) -> tuple[dict[str, Channels], Delivery]:
        with self.tx.read() as conn:
            return notifications.channel_settings(conn, user_id), notifications.delivery(conn, user_id)

    def set_preferences(
        self, user_id: int, channels: Mapping[str, Channels], email: str | None, digest: str
    ) -> None:
        with self.tx.write() as conn:
            notifications.set_channels(conn, user_id, channels)
            notifications.set_delivery(conn, user_id, email, digest)

    def fan_out(self, spec: FanOut, conn: sqlite3.Connection | None = None) -> int:
        """Create one event's notifications (in `conn`'s transaction when given)."""
        now, _ = _now()
        if conn is not None:
            return notifications.fan_out(conn, spec, now, time.time())
        with self.tx.write() as own:
            return notifications.fan_out(own, spec, now, time.time())

    def list(
        self, user_id: int, limit: int, before_id: int | None, unread_only: bool
    ) -> tuple[list[dict[str, Any]], int | None, int]:
        """(documents, next cursor, unread count)."""
        with self.tx.read() as conn:
            rows, cursor = notifications.list_notifications(conn, user_id, limit, before_id, unread_only)
            unread = notifications.unread_count(conn, user_id)
        return [community_documents.notification_document(r) for r in rows], cursor, unread

    def mark(self, user_id: int, notification_id: int, read: bool) -> dict[str, Any]:
        now, _ = _now()
        with self.tx.write() as conn:
            notifications.mark(conn, user_id, notification_id, read, now)
            row = notifications.notification_rows(conn, [notification_id])[notification_id]
            return community_documents.notification_document(row)

    def mark_all_read(self, user_id: int) -> int:
        now, _ = _now()
        with self.tx.write() as conn:
            return notifications.mark_all_read(conn, user_id, now)

    def email_of(self, notification_id: int) -> tuple[dict[str, Any], str | None] | None:
        with self.tx.read() as conn:
            found = notifications.email_of_notification(conn, notification_id)
        if found is None:
            return None
        return community_documents.notification_document(found[0]), found[1]

    def mark_emailed(self, ids: list[int]) -> None:
        with self.tx.write() as conn:
            notifications.mark_emailed(conn, ids)

    def digests_due(self, now: float, period: float) -> list[tuple[int, str, list[dict[str, Any]]]]:
        with self.tx.read() as conn:
            due = notifications.digests_due(conn, now, period)
        return [(u, a, [community_documents.notification_document(r) for r in rows]) for u, a, rows in due]

    def digest_sent(self, user_id: int, ids: list[int], now: float) -> None:
        with self.tx.write() as conn:
            notifications.digest_sent(conn, user_id, ids, now)

    def names(
        self, user_ids: list[int], model: tuple[int, int | None] | None = None
    ) -> tuple[dict[int, str], tuple[str, str | None] | None]:
        """Usernames of `user_ids`, and (model name, version name) of `model` (model id, version id)."""
        with self.tx.read() as conn:
            users = notifications.usernames(conn, user_ids) if user_ids else {}
            names = notifications.model_and_version_names(conn, *model) if model else None
        return users, names

    def changes_since(self, user_id: int, since: int, limit: int) -> tuple[list[Change], bool]:
        """One page of the user's private feed, with the data of each upsert, from one snapshot."""
        with self.tx.read() as conn:
            changes, more = user_feed.user_changes_since(conn, user_id, since, limit)
            data = dict(self._feed_documents(conn, changes))
        return [
            Change(c.seq, c.entity, c.entity_id, c.action, data.get((c.entity, c.entity_id))) for c in changes
        ], more

    @staticmethod
    def _feed_documents(
        conn: sqlite3.Connection, changes: list[Change]
    ) -> Iterator[tuple[tuple[str, str], str]]:
        upserts = [c for c in changes if c.action == "upsert"]
        note_ids = [int(c.entity_id) for c in upserts if c.entity == "notification"]
        for note_id, row in notifications.notification_rows(conn, note_ids).items():
            yield ("notification", str(note_id)), dumps(community_documents.notification_document(row))
        collection_ids = [int(c.entity_id) for c in upserts if c.entity == "collection"]
        for collection_id, doc in collections.collection_documents(
            conn, collection_ids, with_items=True
        ).items():
            yield ("collection", str(collection_id)), dumps(doc)


class JobStore:
    """The persisted background job queue (`job_queue`)."""

    def __init__(self, tx: Transactions) -> None:
        self.tx = tx

    def enqueue(
        self,
        kind: str,
        payload: dict[str, Any],
        *,
        run_at: float | None = None,
        dedupe_key: str | None = None,
    ) -> int | None:
        with self.tx.write() as conn:
            return job_queue.enqueue(conn, kind, payload, time.time(), run_at=run_at, dedupe_key=dedupe_key)

    def claim(self, now: float, kinds: tuple[str, ...] | None = None) -> Job | None:
        with self.tx.write() as conn:
            return job_queue.claim(conn, now, kinds)

    def finish(self, job_id: int, now: float) -> None:
        with self.tx.write() as conn:
            job_queue.finish(conn, job_id, now)

    def fail(self, job_id: int, error: str, now: float, retry_at: float | None) -> None:
        with self.tx.write() as conn:
            job_queue.fail(conn, job_id, error, now, retry_at)

    def recover_interrupted(self, now: float) -> int:
        with self.tx.write() as conn:
            return job_queue.recover_interrupted(conn, now)

    def prune_done(self, before: float) -> int:
        with self.tx.write() as conn:
            return job_queue.prune_done(conn, before)

    def get(self, job_id: int) -> Job | None:
        with self.tx.read() as conn:
            return job_queue.get(conn, job_id)

    def list(self, kind: str | None = None, status: str | None = None) -> list[Job]:
        with self.tx.read() as conn:
            return job_queue.jobs_of(conn, kind, status)

    def counts(self) -> dict[str, int]:
        with self.tx.read() as conn:
            return job_queue.counts(conn)

    def next_due(self) -> float | None:
        with self.tx.read() as conn:
            return job_queue.next_due(conn)

    def due_for_handover(self, now: float, limit: int, *, running_too: bool = False) -> list[Job]:
        with self.tx.read() as conn:
            return job_queue.due_for_handover(conn, now, limit, running_too=running_too)

    def mark_handed_over(self, job_ids: list[int], now: float) -> int:
        with self.tx.write() as conn:
            return job_queue.mark_handed_over(conn, job_ids, now)

    def note_error(self, job_id: int, error: str, now: float) -> None:
        with self.tx.write() as conn:
            job_queue.note_error(conn, job_id, error, now)
