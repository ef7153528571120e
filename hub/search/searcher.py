"""One long-lived searcher over the catalog index (models and articles), with the caches that
make it fast at 100k.

- The Whoosh index is opened once; after commits `refresh()` builds a reader that reuses the
  open segments (a fresh searcher costs ~100 ms at 100k, and Whoosh's own refresh keeps stale
  deletions in whoosh-reloaded 2.7.5).
- Text is evaluated with numpy over cached postings (`columnar.py`): BM25F relevance, AND,
  prefix and typo expansions (capped), phrases as word pairs.
- Filters (type, base model, creator, tag, nsfw) are answered by SQLite (the store has them
  indexed) and turned into boolean masks over document numbers through the cached id and kind
  columns, cached per filter combination until the next refresh. The kind facet counts the
  matches of each kind (`np.bincount` over the kind column) before the asked kind is kept.
- Sorts (downloads, rating, newest) read cached numpy columns and pick a page with
  `argpartition`; deleted documents are a mask.
"""

from __future__ import annotations

import copy
import threading
from collections import OrderedDict
from dataclasses import replace
from pathlib import Path

import numpy as np
from whoosh import index as whoosh_index
from whoosh.reading import MultiReader, SegmentReader
from whoosh.searching import Searcher

from hub.search.columnar import SegmentView, Statistics, evaluate
from hub.search.index import IndexStore
from hub.search.query import SearchQuery, SearchResult, build_clauses, parse_text
from hub.search.schema import KINDS, SORTABLE_FIELDS, build_schema
from hub.store.database import HubDatabase
from hub.store.search_rows import filtered_article_ids, filtered_model_ids

FILTER_CACHE_SIZE = 64


class ModelSearcher:
    def __init__(self, index: IndexStore, db: HubDatabase) -> None:
        """`db`: the catalog the filters are read from (the searcher opens its own
        connection to it, so it may run on any thread)."""
        self.index = index
        self._db = db.reopen()
        self._lock = threading.RLock()
        self._analyzer = build_schema()["content"].analyzer
        self._views: dict[str, SegmentView] = {}
        self._searcher: Searcher | None = None
        self._open()

    # -- lifecycle ----------------------------------------------------------------------------
    def _open(self) -> None:
        if self._searcher is not None:
            self._searcher.close()
        self._generation_dir: Path | None = self.index.current_dir()
        self._ix = self.index.open()
        self._generation = self._ix.latest_generation()
        self._searcher = self._ix.searcher()
        self._views = {}
        self._on_new_reader()

    def refresh(self) -> None:
        """Pick up index commits (cheap when nothing changed)."""
        with self._lock:
            if self.index.current_dir() != self._generation_dir:
                self._open()
                return
            latest = whoosh_index.open_dir(self._ix.storage.folder, schema=self._ix.schema)
            if latest.latest_generation() != self._generation:
                self._reopen_reusing_segments(latest)
                self._on_new_reader()

    def _reopen_reusing_segments(self, ix) -> None:
        """A reader for the latest commit that reuses the open segment readers: segments never
        change except for their deletion set, so an open reader is reused as is, or shallow-
        copied with the new deletion set."""
        generation = ix.latest_generation()
        old = {
            r.segment().segment_id(): r
            for r, _ in self._searcher.reader().leaf_readers()
            if r.segment() is not None
        }
        readers = []
        for segment in ix._segments():
            reader = old.pop(segment.segment_id(), None)
            if reader is None:
                reader = SegmentReader(ix.storage, ix.schema, segment, generation=generation)
            elif set(reader.segment().deleted_docs()) != set(segment.deleted_docs()):
                fresh = copy.copy(reader)
                fresh.__dict__.pop("deleted_docs_set", None)
                fresh._segment = segment
                fresh._perdoc = copy.copy(reader._perdoc)
                fresh._perdoc._segment = segment
                reader = fresh
            readers.append(reader)
        for unused in old.values():
            unused.close()
        if not readers:
            self._open()
            return
        reader = readers[0] if len(readers) == 1 else MultiReader(readers, generation=generation)
        self._ix = ix
        self._generation = generation
        self._searcher = Searcher(reader, fromindex=ix)

    def close(self) -> None:
        with self._lock:
            if self._searcher is not None:
                self._searcher.close()
                self._searcher = None
                self._db.close()

    def warm_up(self, terms: int = 64) -> int:
        """Load the postings of the most frequent title words, the field lengths and the sort
        columns into the caches (call on a background thread after opening: a first query on
        a cold 100k index reads a few megabytes of postings). Returns the terms loaded."""
        with self._lock:
            reader = self._searcher.reader()
            top = [
                t.decode("utf-8") if isinstance(t, bytes) else t
                for _, t in reader.most_frequent_terms("name", terms)
            ]
            for view in self._segments:
                for field in ("content", "name"):
                    view.lengths(field)
                for term in top:
                    view.postings("content", term)
                    view.postings("name", term)
            for column in SORTABLE_FIELDS:
                self._column(column)
            return len(top)

    def doc_count(self) -> int:
        with self._lock:
            return self._searcher.doc_count()

    def _on_new_reader(self) -> None:
        reader = self._searcher.reader()
        views: dict[str, SegmentView] = {}
        self._segments: list[SegmentView] = []
        offset = 0
        for leaf, leaf_offset in reader.leaf_readers():
            segment = leaf.segment() if hasattr(leaf, "segment") else None
            key = segment.segment_id() if segment is not None else f"empty-{leaf_offset}"
            previous = self._views.get(key)
            view = previous.with_reader(leaf, leaf_offset) if previous else SegmentView(leaf, leaf_offset)
            views[key] = view
            self._segments.append(view)
            offset = leaf_offset + view.size
        self._views = views
        self._size = max(offset, reader.doc_count_all())
        live = np.ones(self._size, dtype=bool)
        for view in self._segments:
            deleted = getattr(view.reader, "deleted_docs_set", None)
            if deleted:
                live[view.offset + np.fromiter(deleted, dtype=np.int64, count=len(deleted))] = False
        self._live = live
        self._stats = Statistics.of(reader)
        self._columns: dict[str, np.ndarray] = {}
        self._filters: OrderedDict[tuple, np.ndarray] = OrderedDict()
        self._model_ids: np.ndarray | None = None

    # -- cached columns and filters -----------------------------------------------------------
    def _column(self, name: str) -> np.ndarray:
        found = self._columns.get(name)
        if found is None:
            parts = []
            for view in self._segments:
                cached = view._lengths.get(f"column:{name}")
                if cached is None:
                    reader = view.reader
                    if reader.has_column(name):
                        cached = np.fromiter(reader.column_reader(name), dtype=np.int64, count=view.size)
                    else:
                        cached = np.zeros(view.size, dtype=np.int64)
                    view._lengths[f"column:{name}"] = cached
                parts.append(cached)
            found = np.concatenate(parts) if parts else np.zeros(0, dtype=np.int64)
            self._columns[name] = found
        return found

    def _ids_of(self, docnums: np.ndarray) -> list[int]:
        return [int(model_id) for model_id in self._column("mid")[docnums]]

    @staticmethod
    def _filter_key(q: SearchQuery) -> tuple:
        return (
            tuple(sorted(t.lower() for t in q.types)),
            tuple(sorted(b.lower() for b in q.base_models)),
            (q.creator or "").lower(),
            tuple(sorted(t.lower() for t in q.tags)),
            q.nsfw,
            q.kind,
        )

    def _filter_mask(self, q: SearchQuery) -> np.ndarray:
        """Live documents of the asked kind(s) that pass the filters (cached per combination
        until refresh)."""
        key = self._filter_key(q)
        found = self._filters.get(key)
        if found is not None:
            self._filters.move_to_end(key)
            return found
        types, bases, creator, tags, nsfw, kind = key
        kinds, ids = self._column("kind"), self._column("mid")
        mask = np.zeros(self._size, dtype=bool)
        if kind in (None, "model"):
            part = self._live & (kinds == KINDS.index("model"))
            if (types, bases, creator, tags, nsfw) != ((), (), "", (), None):
                passing = filtered_model_ids(self._db.conn, types, bases, creator, tags, nsfw)
                part &= np.isin(ids, np.fromiter(passing, dtype=np.int64, count=len(passing)))
            mask |= part
        if kind in (None, "article") and not types and not bases:  # only models have types
            part = self._live & (kinds == KINDS.index("article"))
            if (creator, tags, nsfw) != ("", (), None):
                passing = filtered_article_ids(self._db.conn, creator, tags, nsfw)
                part &= np.isin(ids, np.fromiter(passing, dtype=np.int64, count=len(passing)))
            mask |= part
        self._filters[key] = mask
        if len(self._filters) > FILTER_CACHE_SIZE:
            self._filters.popitem(last=False)
        return mask

    # -- search -------------------------------------------------------------------------------
    def search(self, q: SearchQuery) -> SearchResult:
        with self._lock:
            reader = self._searcher.reader()
            parsed = parse_text(q.text, self._analyzer, q.as_you_type)
            clauses, expanded = build_clauses(parsed, reader)
            result = self._run(q, clauses)
            if result.total == 0 and q.fuzzy and (parsed.words or parsed.prefix):
                fuzzy_clauses, fuzzy_expanded = build_clauses(parsed, reader, force_fuzzy=True)
                if fuzzy_expanded.keys() - expanded.keys():
                    result = self._run(q, fuzzy_clauses)
                    result.fuzzy_used = True
                    expanded.update(fuzzy_expanded)
            result.expanded = expanded
            return result

    def _run(self, q: SearchQuery, clauses) -> SearchResult:
        mask = self._filter_mask(replace(q, kind=None))  # every kind, for the facet counts
        if clauses is None:
            docnums = np.flatnonzero(mask)
            scores = None
        else:
            docnums, scores = evaluate(self._segments, clauses, self._stats)
            keep = mask[docnums]
            docnums, scores = docnums[keep], scores[keep]
        kinds = self._column("kind")[docnums]
        counts = np.bincount(kinds, minlength=len(KINDS))
        facets = {name: int(counts[n]) for n, name in enumerate(KINDS)}
        if q.kind is not None:
            keep = kinds == KINDS.index(q.kind)
            docnums = docnums[keep]
            scores = scores[keep] if scores is not None else None
        if q.sort == "relevance" and scores is not None:
            keys = scores.astype(np.float64)
        else:
            keys = self._column(q.sort if q.sort in SORTABLE_FIELDS else "downloads")[docnums].astype(
                np.float64
            )
        result = self._page(docnums, keys, q)
        result.facets = facets
        return result

    def _page(self, docnums: np.ndarray, keys: np.ndarray, q: SearchQuery) -> SearchResult:
        total = len(docnums)
        end = q.page * q.page_size
        start = end - q.page_size
        if start >= total:
            return SearchResult([], total, q.page, q.page_size)
        top = np.argpartition(-keys, end - 1)[:end] if end < total else np.arange(total)
        # ties: lower document number (older document) first, so pages are stable
        order = np.lexsort((docnums[top], -keys[top]))
        chosen = docnums[top][order][start:end]
        kinds = [KINDS[k] for k in self._column("kind")[chosen]]
        return SearchResult(self._ids_of(chosen), total, q.page, q.page_size, kinds=kinds)
