"""`python -m hub.server seed` (after the catalog): the community tables, for a demo.

Readers (accounts that follow, collect, review and comment; one of them, `demo`, can log in
with the password `atelier-demo`), articles by the catalog's creators (Markdown rendered and
sanitised as the authoring route does, most published, some drafts, most with a cover, linked
to their author's models), follows, public and private collections, reviews and comments,
notification preferences, article views, and notifications made the real way: the seed emits
the events of the newest versions and articles and runs the job worker, which fans them out.
Deterministic from the seed; sizes are parameters (`bench/community.py` seeds 20k articles).
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC
from pathlib import Path
from typing import Any

from hub.catalog_generator.articles import generate_articles
from hub.server import documents
from hub.server.auth import hash_password, password_hasher
from hub.server.event_names import ARTICLE_PUBLISHED, MODEL_VERSION_PUBLISHED
from hub.server.notify import JobWorker, default_registry
from hub.server.rich_text import safe_html
from hub.server.store import ServerStore
from hub.server.store import community_seed as bulk
from hub.server.store.articles import article_owner, fold_views, record_view
from hub.server.store.community_seed import SeedArticle
from hub.server.store.job_queue import emit_event
from hub.server.store.notifications import Channels

DEMO_USER = "demo"
DEMO_PASSWORD = "atelier-demo"
READER_PREFIX = "reader"
BATCH = 2000


@dataclass(frozen=True)
class CommunitySizes:
    articles: int
    readers: int
    collections: int
    reviews: int
    comments: int
    events: int  # newest versions and articles whose notifications the seed makes

    @classmethod
    def for_catalog(cls, models: int, articles: int | None = None) -> CommunitySizes:
        return cls(
            articles=models // 4 if articles is None else articles,
            readers=max(20, min(2000, models // 10)),
            collections=max(10, min(1000, models // 20)),
            reviews=max(20, min(2000, models // 5)),
            comments=max(20, min(2000, models // 5)),
            events=40,
        )


def seed_community(
    data_dir: Path,
    *,
    seed: int = 0,
    articles: int | None = None,
    sizes: CommunitySizes | None = None,
    progress: Callable[[str], None] | None = None,
    database: str | None = None,
) -> dict[str, Any]:
    """Add the community half of a demo to the catalog under `data_dir` (database: a URL, by
    default hub.db there); returns counts."""
    started = time.perf_counter()
    rng = random.Random(f"community-{seed}")
    store = ServerStore(data_dir, database)
    say = progress or (lambda _message: None)
    try:
        models = store.counts()["models"]
        sizes = sizes or CommunitySizes.for_catalog(models, articles)
        readers = _readers(store, sizes.readers, rng)
        say(f"seeded {len(readers)} readers")
        article_ids = _articles(store, sizes.articles, seed, rng, say)
        _follows(store, readers, rng)
        _collections(store, readers, sizes.collections, rng)
        _reviews_and_comments(store, readers, sizes.reviews, sizes.comments, rng)
        _preferences(store, readers, rng)
        _views(store, article_ids, rng)
        made = _notifications(store, sizes.events, readers, rng)
        say(f"made {made} notifications")
        with store.read() as conn:
            counts = {k: store.counts()[k] for k in ("users", "models")} | bulk.community_counts(conn)
    finally:
        store.close()
    return {"seconds": round(time.perf_counter() - started, 2), **counts}


def _readers(store: ServerStore, count: int, rng: random.Random) -> list[int]:
    existing = store.user_by_name(DEMO_USER)
    if existing is None:
        store.create_user(DEMO_USER, hash_password(password_hasher(), DEMO_PASSWORD), "user")
    start = len(_named(store, READER_PREFIX))
    for n in range(start, count):
        store.create_user(f"{READER_PREFIX}{n:05d}", None, "user")
    demo = store.user_by_name(DEMO_USER)
    assert demo is not None
    return [demo.id, *_named(store, READER_PREFIX)[:count]]


def _named(store: ServerStore, prefix: str) -> list[int]:
    with store.read() as conn:
        return bulk.users_named(conn, prefix)


def _articles(
    store: ServerStore, count: int, seed: int, rng: random.Random, say: Callable[[str], None]
) -> list[int]:
    with store.read() as conn:
        authors = bulk.creators(conn)
        models_of = bulk.models_by_user(conn)
        covers = bulk.media_shas(conn, 64)
    if not authors or count <= 0:
        return []
    texts = generate_articles(seed)
    ids: list[int] = []
    while len(ids) < count:
        batch = []
        for _ in range(min(BATCH, count - len(ids) - len(batch))):
            text = next(texts)
            user_id, username = rng.choice(authors)
            own = models_of.get(user_id, [])
            stamp = text.published.astimezone(UTC)
            batch.append(
                SeedArticle(
                    user_id=user_id,
                    username=username,
                    title=text.title,
                    content=safe_html(text.markdown(), "markdown"),
                    nsfw=text.nsfw,
                    published=rng.random() < 0.95,
                    created_at=documents.iso(stamp),
                    created_ms=int(stamp.timestamp() * 1000),
                    view_count=rng.randint(0, 20_000),
                    tags=text.tags,
                    model_ids=tuple(rng.sample(own, min(len(own), rng.randint(0, 2)))),
                    cover_sha=rng.choice(covers) if covers and rng.random() < 0.7 else None,
                )
            )
        with store.write() as conn:
            ids += bulk.insert_articles(conn, batch)
        say(f"seeded {len(ids)}/{count} articles")
    return ids


def _follows(store: ServerStore, readers: list[int], rng: random.Random) -> None:
    with store.read() as conn:
        creator_ids = [c[0] for c in bulk.creators(conn)]
        model_ids = bulk.sample_ids(conn, "models", 500)
    rows: list[tuple[int, str, int]] = []
    for reader in readers:
        rows += [
            (reader, "user", c) for c in rng.sample(creator_ids, min(len(creator_ids), rng.randint(1, 5)))
        ]
        rows += [(reader, "model", m) for m in rng.sample(model_ids, min(len(model_ids), rng.randint(1, 5)))]
    with store.write() as conn:
        bulk.insert_follows(conn, rows, documents.now_iso())


def _collections(store: ServerStore, readers: list[int], count: int, rng: random.Random) -> None:
    with store.read() as conn:
        pools = {
            "Model": bulk.sample_ids(conn, "models", 300),
            "Image": bulk.sample_ids(conn, "images", 300),
            "Article": bulk.sample_ids(conn, "articles", 300),
        }
    names = ("Favourites", "To try", "Inspiration", "Reading list", "Best of", "Workflow")
    kinds = [k for k, pool in pools.items() if pool]
    for n in range(count):
        owner = readers[n % len(readers)]
        kind = rng.choice(kinds)
        read = "Private" if rng.random() < 0.3 else "Public"
        collection_id = store.collections.create(
            owner, f"{rng.choice(names)} #{n + 1}", "", kind, read, False
        )
        for item in rng.sample(pools[kind], min(len(pools[kind]), rng.randint(1, 8))):
            store.collections.add_item(collection_id, item)


def _reviews_and_comments(
    store: ServerStore, readers: list[int], reviews: int, comments: int, rng: random.Random
) -> None:
    with store.read() as conn:
        versions = bulk.newest_versions(conn, max(reviews, 1) * 2)
        articles = bulk.sample_ids(conn, "articles", 200)
    lines = (
        "Works great at 0.7 weight.",
        "Colours drift above 30 steps.",
        "My go-to for **portraits**.",
        "Needs a VAE.",
    )
    made = 0
    for version_id, _model_id, creator in versions:
        if made >= reviews:
            break
        reader = rng.choice(readers)
        if reader != creator:
            store.reviews.upsert(
                version_id, reader, rng.random() < 0.8, safe_html(rng.choice(lines), "markdown")
            )
            made += 1
    for n in range(comments):
        reader = rng.choice(readers)
        text = safe_html(rng.choice(lines), "markdown")
        if articles and n % 3 == 0:
            store.reviews.add_comment("article", rng.choice(articles), reader, text)
        elif versions:
            store.reviews.add_comment("model", rng.choice(versions)[1], reader, text)


def _preferences(store: ServerStore, readers: list[int], rng: random.Random) -> None:
    """Some readers turn review notifications off in-app; some give an address and a daily digest
    (with email switched off, so a demo without SMTP queues no mail)."""
    for reader in readers[: max(1, len(readers) // 4)]:
        channels = {"review-received": Channels(in_app=rng.random() < 0.5, email=False)}
        digest = "daily" if rng.random() < 0.5 else "off"
        store.notifications.set_preferences(reader, channels, f"user{reader}@example.invalid", digest)


def _views(store: ServerStore, article_ids: list[int], rng: random.Random) -> None:
    """A few views waiting to be folded in (the next stats refresh) and some folded now."""
    with store.write() as conn:
        for article_id in rng.sample(article_ids, min(len(article_ids), 50)):
            record_view(conn, article_id)
        fold_views(conn)
        for article_id in rng.sample(article_ids, min(len(article_ids), 20)):
            record_view(conn, article_id)


def _notifications(store: ServerStore, events: int, readers: list[int], rng: random.Random) -> int:
    """Emit the newest versions' and articles' events and run the worker on them (no mailer)."""
    now = time.time()
    with store.read() as conn:
        versions = bulk.newest_versions(conn, events // 2)
        article_ids = bulk.sample_ids(conn, "articles", events // 2)
        authors = {a: article_owner(conn, a)[0] for a in article_ids}
    with store.write() as conn:
        for version_id, model_id, creator in versions:
            data = {"modelId": model_id, "versionId": version_id, "creatorId": creator, "isNewModel": False}
            emit_event(conn, MODEL_VERSION_PUBLISHED, data, f"version:{version_id}", now)
        for article_id in article_ids:
            data = {
                "articleId": article_id,
                "authorId": authors[article_id],
                "title": f"article {article_id}",
            }
            emit_event(conn, ARTICLE_PUBLISHED, data, f"article-published:{article_id}", now)
    worker = JobWorker(store, store.jobs, default_registry(), mailer=None)
    worker.run_due(now=now + 1)
    made = 0
    for reader in readers:
        items, _cursor, _unread = store.notifications.list(reader, 100, None, False)
        made += len(items)
        for item in items[: len(items) // 3]:
            store.notifications.mark(reader, item["id"], True)
    return made
