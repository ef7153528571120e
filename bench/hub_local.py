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

try:
    import resource
except ImportError:  # Windows
    resource = None  # type: ignore[assignment]

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from hub.catalog_generator.civitai_documents import STYLE, SUBJECTS, sample_model
from hub.search import IndexStore, ModelSearcher, SearchQuery
from hub.search.schema import plain_text
from hub.store import HubDatabase
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


def cpu_seconds() -> float:
    """CPU time of this process and of its finished children (the --procs index writers)."""
    if resource is None:
        return time.process_time()
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


class Timer:
    def __enter__(self) -> Timer:
        self._wall, self._cpu = time.perf_counter(), cpu_seconds()
        return self

    def __exit__(self, *exc: object) -> None:
        self.wall = time.perf_counter() - self._wall
        self.cpu = cpu_seconds() - self._cpu

    def __str__(self) -> str:
        return f"{self.wall:.2f} s wall, {self.cpu:.2f} s cpu"


def percentile(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(pct / 100 * (len(ordered) - 1)))]


def build_fts(store: HubDatabase) -> float:
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


def fts_query(store: HubDatabase, kind: str, text: str) -> list[int]:
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
            base + " AND m.type = 'LORA' AND m.id IN (SELECT model_id FROM versions "
            "WHERE base_model = 'SD 1.5') ORDER BY rank LIMIT 20"
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
        store = HubDatabase(root / "hub.db")
        index = IndexStore(root / "index")
        print(f"catalog: {count:,} models")
        print(
            "(wall = elapsed; cpu = this process's CPU time, which other load on the machine does not inflate)"
        )

        models = [sample_model(i) for i in range(1, count + 1)]
        with Timer() as t:
            for items, cursor in feed_pages(models, 0):
                apply_page(store, SERVER, items, cursor)
        print(
            f"full sync (store + queue, {count // PAGE} pages of {PAGE}): {t} ({count / t.wall:,.0f} models/s)"
        )
        del models

        with Timer() as build:
            built = index.rebuild(store, procs=args.procs)
        print(f"full index build (reindex, procs={args.procs}): {built:,} docs, {build}")
        with Timer() as t:
            build_fts(store)
        print(f"FTS5 build (baseline): {t}   ratio whoosh/fts5 (cpu): {build.cpu / max(t.cpu, 0.01):.1f}x")

        changed = [sample_model(i, seed=1) for i in rng.sample(range(1, count + 1), 1000)]
        with Timer() as t:
            for items, cursor in feed_pages(changed, count):
                apply_page(store, SERVER, items, cursor)
        print(f"incremental sync of 1,000 changes (store + queue): {t}")

        searcher = ModelSearcher(index, store)
        with Timer() as t:
            report = index.drain(store, batch_size=1000)
        with Timer() as refresh:
            searcher.refresh()
        print(
            f"queue drain: {report.rows} index updates in one batch: {t} ({report.rows / t.wall:,.0f}/s wall); "
            f"searcher refresh {refresh.wall * 1000:.0f} ms; segments {index.segment_count()}"
        )

        print(
            f"\n{'query kind':20} {'cold p95':>8} {'cpu':>5} | {'whoosh p50':>10} {'p95':>6} {'cpu p95':>7} | "
            f"{'fts5 p50':>8} {'p95':>6} {'cpu p95':>7} | {'p95 ratio':>9} {'cpu ratio':>9}"
        )
        for kind, queries in query_sets(rng).items():
            cold: list[float] = []
            cold_cpu: list[float] = []
            for pass_number in range(2):  # pass 1: cold caches (postings, filters); pass 2: warm
                whoosh_ms, whoosh_cpu, fts_ms, fts_cpu = [], [], [], []
                for text, q in queries:
                    t0, c0 = time.perf_counter(), time.process_time()
                    searcher.search(q)
                    whoosh_ms.append((time.perf_counter() - t0) * 1000)
                    whoosh_cpu.append((time.process_time() - c0) * 1000)
                    t0, c0 = time.perf_counter(), time.process_time()
                    fts_query(store, kind, text)
                    fts_ms.append((time.perf_counter() - t0) * 1000)
                    fts_cpu.append((time.process_time() - c0) * 1000)
                if pass_number == 0:
                    cold, cold_cpu = whoosh_ms, whoosh_cpu
            w50, w95, wc95 = (
                statistics.median(whoosh_ms),
                percentile(whoosh_ms, 95),
                percentile(whoosh_cpu, 95),
            )
            f50, f95, fc95 = statistics.median(fts_ms), percentile(fts_ms, 95), percentile(fts_cpu, 95)
            print(
                f"{kind:20} {percentile(cold, 95):8.1f} {percentile(cold_cpu, 95):5.1f} | {w50:10.1f} {w95:6.1f} {wc95:7.1f} | "
                f"{f50:8.1f} {f95:6.1f} {fc95:7.1f} | {w95 / f95:8.2f}x {wc95 / max(fc95, 0.01):8.2f}x"
            )
        print(
            "\n(ms; 30 queries per kind, page of 20; 'cold' = first run of each query with empty caches; the\n"
            " other columns are the second run. FTS5 has no typo tolerance: its fuzzy row is the exact query.)"
        )
        searcher.close()
        store.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
