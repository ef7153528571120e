"""Local hub benchmark: sync, index queue and search at catalog scale, Whoosh vs SQLite FTS5.

    python bench/hub_local.py            100,000 models
    python bench/hub_local.py --quick    10,000 models

Feed pages are built in-process (the Civitai-shaped objects the hub server sends) and applied
with the same `apply_page` the sync client uses, so the figures are the local side only.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from hub.search import IndexStore, ModelSearcher, SearchQuery
from hub.search.schema import plain_text
from hub.store import Store
from hub.store.sample import BASE_MODELS, STYLE, SUBJECTS, sample_model
from hub.sync.apply import apply_page

PAGE = 1000
SERVER = "http://bench.invalid"


def feed_pages(models: list[dict], start_seq: int):
    seq = start_seq
    for start in range(0, len(models), PAGE):
        items = []
        for model in models[start : start + PAGE]:
            seq += 1
            items.append(
                {"seq": seq, "entity": "model", "id": model["id"], "action": "upsert", "data": model}
            )
        yield items, str(seq)


def percentile(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(pct / 100 * (len(ordered) - 1)))]


def build_fts(store: Store) -> float:
    started = time.perf_counter()
    conn = store.conn
    conn.execute("DROP TABLE IF EXISTS bench_fts")
    conn.execute("CREATE VIRTUAL TABLE bench_fts USING fts5(name, content)")
    conn.execute("BEGIN")
    rows = conn.execute(
        "SELECT m.id, m.name, m.description, (SELECT group_concat(t.name, ' ') FROM model_tags mt "
        "JOIN tags t ON t.id = mt.tag_id WHERE mt.model_id = m.id) FROM models m"
    )
    conn.executemany(
        "INSERT INTO bench_fts (rowid, name, content) VALUES (?, ?, ?)",
        ((i, n, f"{n} {tags or ''} {plain_text(d, 10_000)}") for i, n, d, tags in rows),
    )
    conn.execute("COMMIT")
    return time.perf_counter() - started


def fts_query(store: Store, kind: str, text: str) -> list[int]:
    base = "SELECT f.rowid FROM bench_fts f JOIN models m ON m.id = f.rowid WHERE bench_fts MATCH ?"
    if kind == "prefix as you type":
        words = text.split()
        match = " ".join([*words[:-1], f'"{words[-1]}"*'])
        sql = base + " ORDER BY rank LIMIT 20"
    elif kind == "phrase":
        match, sql = text, base + " ORDER BY rank LIMIT 20"
    elif kind == "type + base model":
        match = text
        sql = (
            base + " AND m.type = 'LORA' AND EXISTS (SELECT 1 FROM versions v WHERE v.model_id = m.id "
            "AND v.base_model = 'SD 1.5') ORDER BY rank LIMIT 20"
        )
    elif kind == "sorted by downloads":
        match, sql = text, base + " ORDER BY m.download_count DESC LIMIT 20"
    else:
        match, sql = text.replace("~", ""), base + " ORDER BY rank LIMIT 20"
    return [r[0] for r in store.execute(sql, [match]).fetchall()]


def query_sets(rng: random.Random) -> dict[str, list[tuple[str, SearchQuery]]]:
    def typo(word: str) -> str:
        i = rng.randrange(1, len(word) - 1)
        return word[:i] + word[i + 1 :]  # one deleted letter

    kinds: dict[str, list[tuple[str, SearchQuery]]] = {}
    kinds["single word"] = [(w, SearchQuery(w)) for w in (rng.choice(SUBJECTS) for _ in range(30))]
    kinds["AND"] = [
        (t, SearchQuery(t)) for t in (f"{rng.choice(SUBJECTS)} {rng.choice(STYLE)}" for _ in range(30))
    ]
    kinds["phrase"] = [
        (t, SearchQuery(t)) for t in (f'"{rng.choice(STYLE)} {rng.choice(SUBJECTS)}"' for _ in range(30))
    ]
    prefixes = []
    for _ in range(10):
        word = rng.choice(SUBJECTS)
        for n in (2, 3, 4):
            prefixes.append(word[:n])
    kinds["prefix as you type"] = [(p, SearchQuery(p, as_you_type=True)) for p in prefixes]
    kinds["one-typo fuzzy"] = [(t, SearchQuery(t)) for t in (typo(rng.choice(SUBJECTS)) for _ in range(30))]
    kinds["type + base model"] = [
        (w, SearchQuery(w, types=("LORA",), base_models=("SD 1.5",)))
        for w in (rng.choice(SUBJECTS) for _ in range(30))
    ]
    kinds["sorted by downloads"] = [
        (w, SearchQuery(w, sort="downloads")) for w in (rng.choice(SUBJECTS + STYLE) for _ in range(30))
    ]
    return kinds


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="10,000 models instead of 100,000")
    parser.add_argument("--models", type=int, help="catalog size (overrides --quick)")
    parser.add_argument("--procs", type=int, default=1, help="processes for the full index build")
    args = parser.parse_args(argv)
    count = args.models or (10_000 if args.quick else 100_000)
    rng = random.Random(7)
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        store = Store(root / "hub.db")
        index = IndexStore(root / "index")
        print(f"catalog: {count:,} models")

        models = [sample_model(i) for i in range(1, count + 1)]
        started = time.perf_counter()
        for items, cursor in feed_pages(models, 0):
            apply_page(store, SERVER, items, cursor)
        sync_s = time.perf_counter() - started
        print(
            f"full sync (store, {count // PAGE} pages of {PAGE}): {sync_s:.1f} s ({count / sync_s:,.0f} models/s)"
        )

        started = time.perf_counter()
        built = index.rebuild(store, procs=args.procs)
        build_s = time.perf_counter() - started
        print(f"full index build (reindex, procs={args.procs}): {built:,} docs in {build_s:.1f} s")
        fts_s = build_fts(store)
        print(f"FTS5 build (baseline): {fts_s:.1f} s   ratio whoosh/fts5: {build_s / fts_s:.1f}x")

        changed = [sample_model(i, seed=1) for i in rng.sample(range(1, count + 1), 1000)]
        started = time.perf_counter()
        for items, cursor in feed_pages(changed, count):
            apply_page(store, SERVER, items, cursor)
        incr_s = time.perf_counter() - started
        print(f"incremental sync of 1,000 changes (store + queue): {incr_s * 1000:.0f} ms")

        searcher = ModelSearcher(index)
        started = time.perf_counter()
        report = index.drain(store, batch_size=1000)
        drain_s = time.perf_counter() - started
        started = time.perf_counter()
        searcher.refresh()
        refresh_ms = (time.perf_counter() - started) * 1000
        print(
            f"queue drain: {report.rows} updates in {drain_s:.2f} s ({report.rows / drain_s:,.0f}/s); "
            f"searcher refresh {refresh_ms:.0f} ms; segments {index.segment_count()}"
        )

        print(
            f"\n{'query kind':22} {'whoosh p50':>10} {'p95':>7} {'fts5 p50':>9} {'p95':>7} {'p95 ratio':>9}  hits(w/f)"
        )
        for kind, queries in query_sets(rng).items():
            whoosh_ms, fts_ms, hits_w, hits_f = [], [], 0, 0
            for _ in range(2):  # first pass warms caches (filters, columns), second is measured
                whoosh_ms.clear()
                fts_ms.clear()
                for text, q in queries:
                    t0 = time.perf_counter()
                    result = searcher.search(q)
                    whoosh_ms.append((time.perf_counter() - t0) * 1000)
                    hits_w += len(result.ids)
                    t0 = time.perf_counter()
                    hits_f += len(fts_query(store, kind, text))
                    fts_ms.append((time.perf_counter() - t0) * 1000)
            w50, w95 = statistics.median(whoosh_ms), percentile(whoosh_ms, 95)
            f50, f95 = statistics.median(fts_ms), percentile(fts_ms, 95)
            print(
                f"{kind:22} {w50:10.1f} {w95:7.1f} {f50:9.1f} {f95:7.1f} {w95 / f95:8.1f}x  {hits_w // 2}/{hits_f // 2}"
            )
        print(
            "\n(ms; 30 queries per kind, page of 20; FTS5 has no typo tolerance: its fuzzy row is the exact query)"
        )
        searcher.close()
        store.close()
        _ = BASE_MODELS
    return 0


if __name__ == "__main__":
    sys.exit(main())
