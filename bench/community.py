"""Community benchmark: article search in the local mirror, notification fan-out on the server.

    python bench/community.py                      20,000 articles beside 20,000 models; 10,000 followers
    python bench/community.py --quick              2,000 articles beside 2,000 models; 10,000 followers
    python bench/community.py --articles N --models N --followers N

1. Article search: Civitai-shaped articles and models (hub.catalog_generator) are applied with
   the sync's own `apply_page`, the one index is rebuilt, then each query kind runs 30 times
   (kind=article unless noted; page of 20), cold (first run) and warm.
2. Fan-out: a hub server store with one creator followed by N accounts (a tenth of them with
   email notifications on, so email jobs are queued too); the creator publishes an article
   and the job worker runs its event: the figure is that job (every notification, private feed
   entry and email job written in one transaction).

Prints wall and CPU time; other processes on the machine inflate wall time, not CPU time.
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.hub_local import Timer, cpu_seconds, percentile
from hub.catalog_generator.articles import ARTICLE_TAGS, SUBJECTS, sample_articles
from hub.catalog_generator.civitai_documents import sample_catalog
from hub.search import IndexStore, ModelSearcher, SearchQuery
from hub.store import HubDatabase
from hub.sync.apply import apply_page

PAGE = 1000
SERVER = "http://bench.invalid"
RUNS = 30


def _apply(store: HubDatabase, entity: str, docs, seq: int) -> int:
    batch: list[dict] = []
    for doc in docs:
        seq += 1
        batch.append({"seq": seq, "entity": entity, "id": doc["id"], "action": "upsert", "data": doc})
        if len(batch) == PAGE:
            apply_page(store, SERVER, batch, str(seq))
            batch = []
    if batch:
        apply_page(store, SERVER, batch, str(seq))
    return seq


def query_kinds(rng: random.Random, authors: list[str]) -> dict[str, list[SearchQuery]]:
    def many(make) -> list[SearchQuery]:
        return [make() for _ in range(RUNS)]

    words = [s.split()[0] for s in SUBJECTS] + ["lighting", "workflow", "training", "guide"]
    return {
        "single word": many(lambda: SearchQuery(rng.choice(words), kind="article")),
        "AND (2 words)": many(
            lambda: SearchQuery(f"{rng.choice(words)} {rng.choice(words)}", kind="article")
        ),
        "prefix as you type": many(
            lambda: SearchQuery(rng.choice(words)[:3], kind="article", as_you_type=True)
        ),
        "tag filter + word": many(
            lambda: SearchQuery(rng.choice(words), kind="article", tags=(rng.choice(ARTICLE_TAGS),))
        ),
        "author, newest": many(
            lambda: SearchQuery(kind="article", creator=rng.choice(authors), sort="newest")
        ),
        "sorted by views": many(lambda: SearchQuery(rng.choice(words), kind="article", sort="downloads")),
        "models + articles (facet)": many(lambda: SearchQuery(rng.choice(words), kind=None)),
    }


def bench_search(articles: int, models: int, folder: Path) -> None:
    store = HubDatabase(folder / "hub.db")
    index = IndexStore(folder / "index")
    with Timer() as synced:
        seq = _apply(store, "model", sample_catalog(models, seed=1), 0)
        _apply(store, "article", sample_articles(articles, seed=1), seq)
    with Timer() as built:
        count = index.rebuild(store)
    print(
        f"mirror: {models:,} models + {articles:,} articles applied in {synced}; index of {count:,} built in {built}"
    )
    authors = [r[0] for r in store.execute("SELECT DISTINCT creator FROM articles")]
    kinds = query_kinds(random.Random(7), authors)
    searcher = ModelSearcher(index, store)
    print(
        f"\n{'query kind':<28} {'cold p95':>9} {'p50':>7} {'p95':>7} {'CPU p95':>8}  ms, {RUNS} queries, page of 20"
    )
    try:
        for name, queries in kinds.items():
            cold = [_timed(searcher, q) for q in queries]
            warm = [_timed(searcher, q) for q in queries]
            print(
                f"{name:<28} {percentile([c[0] for c in cold], 95):>9.1f} {percentile([w[0] for w in warm], 50):>7.1f} "
                f"{percentile([w[0] for w in warm], 95):>7.1f} {percentile([w[1] for w in warm], 95):>8.1f}"
            )
        hits = searcher.search(kinds["models + articles (facet)"][0])
        print(f"(a mixed query's facet: {hits.facets})")
    finally:
        searcher.close()
        store.close()


def _timed(searcher: ModelSearcher, query: SearchQuery) -> tuple[float, float]:
    wall, cpu = time.perf_counter(), cpu_seconds()
    searcher.search(query)
    return (time.perf_counter() - wall) * 1000, (cpu_seconds() - cpu) * 1000


def bench_fan_out(followers: int, folder: Path) -> None:
    from hub.server.notify import JobWorker, default_registry
    from hub.server.store import ServerStore
    from hub.server.store import community_seed as bulk
    from hub.server.store.articles import ArticleFields
    from hub.server.store.notifications import Channels

    store = ServerStore(folder / "server")
    try:
        creator = store.create_user("creator", None, "user")
        start = store.max_ids()["users"] + 1
        stamp = "2025-01-01T00:00:00.000Z"
        rows = [(start + n, f"follower{n:06d}", None, "user", None, stamp, 0) for n in range(followers)]
        with Timer() as made:
            store.bulk_insert({"users": rows}, [])
            with store.write() as conn:
                bulk.insert_follows(conn, [(r[0], "user", creator.id) for r in rows], stamp)
            for user_id, *_ in rows[:: max(1, 10)]:
                store.notifications.set_preferences(
                    user_id, {"article-published": Channels(True, True)}, f"u{user_id}@example.invalid", "off"
                )
        print(f"\nfan-out: {followers:,} followers of one creator (a tenth with email on) made in {made}")
        article = store.articles.create(
            creator.id, ArticleFields("Benchmark", "<p>b</p>", "html", (), (), False)
        )
        store.articles.set_published(article, True)
        worker = JobWorker(store, store.jobs, default_registry(), mailer=None)
        with Timer() as fanned:
            ran = [worker.run_one(now=time.time() + 1)]  # the event (its email jobs stay queued)
        counts = store.jobs.counts()
        with store.read() as conn:
            notes = conn.execute("SELECT COUNT(*) FROM notifications").fetchone()[0]
            feed = conn.execute("SELECT COUNT(*) FROM user_changes WHERE entity = 'notification'").fetchone()[
                0
            ]
        print(
            f"event job ({ran[0].kind if ran[0] else 'none'}): {fanned}; {notes:,} notifications, {feed:,} private feed entries, "
            f"{counts['pending']:,} email jobs queued"
        )
    finally:
        store.close()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="2,000 articles and 2,000 models")
    parser.add_argument("--articles", type=int, default=None)
    parser.add_argument("--models", type=int, default=None)
    parser.add_argument("--followers", type=int, default=10_000)
    args = parser.parse_args()
    articles = args.articles or (2_000 if args.quick else 20_000)
    models = args.models or (2_000 if args.quick else 20_000)
    with tempfile.TemporaryDirectory() as tmp:
        bench_search(articles, models, Path(tmp) / "mirror")
        bench_fan_out(args.followers, Path(tmp))


if __name__ == "__main__":
    main()
