"""One long-lived Whoosh searcher with the caches that make it fast at 100k models.

- The searcher is opened once and `refresh()`ed after index commits (a new one costs ~100 ms).
- Filters (type, base model, creator, tag, nsfw) are boolean arrays over document numbers,
  built per segment once and cached (segments never change; deletions are a separate mask).
- Sorts by downloads / rating / newest read a cached numpy column per segment and pick the
  page with `argpartition` over the matching document numbers; Whoosh's own sorted search
  scores and sorts every hit in Python, which is the slowest thing it does.
- Relevance uses Whoosh's scored search (BM25F, name boosted) with the filter as a doc set.
"""

from __future__ import annotations

import copy
import threading
from collections import OrderedDict
from pathlib import Path

import numpy as np
from whoosh import index as whoosh_index
from whoosh.query import Query
from whoosh.reading import MultiReader, SegmentReader
from whoosh.searching import Searcher

from hub.search.index import IndexStore
from hub.search.query import SearchQuery, SearchResult, build_text_query, parse_text
from hub.search.schema import SORTABLE_FIELDS, build_schema

FILTER_CACHE_SIZE = 256


class ModelSearcher:
    def __init__(self, index: IndexStore) -> None:
        self.index = index
        self._lock = threading.RLock()
        self._analyzer = build_schema()["content"].analyzer
        self._segment_columns: dict[tuple[str, str], np.ndarray] = {}
        self._segment_terms: OrderedDict[tuple[str, str, str], np.ndarray] = OrderedDict()
        self._generation_dir: Path | None = None
        self._ix = None
        self._searcher = None
        self._open()

    # -- lifecycle ----------------------------------------------------------------------------
    def _open(self) -> None:
        if self._searcher is not None:
            self._searcher.close()
        self._generation_dir = self.index.current_dir()
        self._ix = self.index.open()
        self._generation = self._ix.latest_generation()
        self._searcher = self._ix.searcher()
        self._segment_columns.clear()
        self._segment_terms.clear()
        self._on_new_reader()

    def refresh(self) -> None:
        """Pick up index commits (cheap when nothing changed)."""
        with self._lock:
            if self.index.current_dir() != self._generation_dir:
                self._open()
            elif self._ix.latest_generation() != self._generation:
                self._reopen_reusing_segments()
                self._on_new_reader()

    def _reopen_reusing_segments(self) -> None:
        """A reader for the latest commit that reuses the open segment readers.

        Whoosh's own `Searcher.refresh()` keeps stale deletions and can list a segment twice
        (whoosh-reloaded 2.7.5), and a fresh searcher costs ~100 ms at 100k. Segments never
        change except for their deletion set, so an open reader is reused as is, or shallow-
        copied with the new deletion set."""
        ix = whoosh_index.open_dir(self._ix.storage.folder, schema=self._ix.schema)
        generation = ix.latest_generation()
        segments = ix._segments()
        old = {
            r.segment().segment_id(): r
            for r, _ in self._searcher.reader().leaf_readers()
            if r.segment() is not None
        }
        readers = []
        for segment in segments:
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

    def doc_count(self) -> int:
        with self._lock:
            return self._searcher.doc_count()

    def _on_new_reader(self) -> None:
        searcher = self._searcher
        self._leaves = [(sub, offset) for sub, offset in searcher.leaf_searchers()]
        self._size = searcher.reader().doc_count_all()
        live_segments = {self._segment_id(sub) for sub, _ in self._leaves}
        for key in [k for k in self._segment_columns if k[0] not in live_segments]:
            del self._segment_columns[key]
        for key in [k for k in self._segment_terms if k[0] not in live_segments]:
            del self._segment_terms[key]
        live = np.ones(self._size, dtype=bool)
        for sub, offset in self._leaves:
            deleted = sub.reader().deleted_docs_set if hasattr(sub.reader(), "deleted_docs_set") else None
            if deleted:
                live[offset + np.fromiter(deleted, dtype=np.int64)] = False
        self._live = live
        self._columns: dict[str, np.ndarray] = {}
        self._filters: OrderedDict[tuple, np.ndarray] = OrderedDict()
        self._filter_sets: OrderedDict[tuple, set[int]] = OrderedDict()

    @staticmethod
    def _segment_id(sub) -> str:
        reader = sub.reader()
        segment = reader.segment() if hasattr(reader, "segment") else None
        return segment.segment_id() if segment is not None else str(id(reader))

    # -- cached columns and filters -----------------------------------------------------------
    def _column(self, name: str) -> np.ndarray:
        if name not in self._columns:
            parts = []
            for sub, _ in self._leaves:
                key = (self._segment_id(sub), name)
                if key not in self._segment_columns:
                    reader = sub.reader()
                    count = reader.doc_count_all()
                    if reader.has_column(name):
                        values = np.fromiter(reader.column_reader(name), dtype=np.int64, count=count)
                    else:
                        values = np.zeros(count, dtype=np.int64)
                    self._segment_columns[key] = values
                parts.append(self._segment_columns[key])
            self._columns[name] = np.concatenate(parts) if parts else np.zeros(0, dtype=np.int64)
        return self._columns[name]

    def _term_mask(self, field: str, value: str) -> np.ndarray:
        mask = np.zeros(self._size, dtype=bool)
        for sub, offset in self._leaves:
            key = (self._segment_id(sub), field, value)
            local = self._segment_terms.get(key)
            if local is None:
                reader = sub.reader()
                if (field, value) in reader:
                    matcher = reader._terms.matcher(field, value.encode("utf-8"), reader.schema[field].format)
                    local = np.fromiter(matcher.all_ids(), dtype=np.int64)
                else:
                    local = np.zeros(0, dtype=np.int64)
                self._segment_terms[key] = local
                if len(self._segment_terms) > FILTER_CACHE_SIZE * 4:
                    self._segment_terms.popitem(last=False)
            mask[offset + local] = True
        return mask

    def _filter_key(self, q: SearchQuery) -> tuple:
        return (
            tuple(sorted(t for t in q.types)),
            tuple(sorted(b.lower() for b in q.base_models)),
            (q.creator or "").lower(),
            tuple(sorted(t.lower() for t in q.tags)),
            q.nsfw,
        )

    def _filter_mask(self, q: SearchQuery) -> np.ndarray | None:
        key = self._filter_key(q)
        if key == ((), (), "", (), None):
            return None
        if key in self._filters:
            self._filters.move_to_end(key)
            return self._filters[key]
        types, bases, creator, tags, nsfw = key
        mask = self._live.copy()
        if types:
            mask &= np.logical_or.reduce([self._term_mask("type", t) for t in types])
        if bases:
            mask &= np.logical_or.reduce([self._term_mask("base", b) for b in bases])
        if creator:
            mask &= self._term_mask("creator", creator)
        for tag in tags:
            mask &= self._term_mask("tag", tag)
        if nsfw is not None:
            mask &= self._term_mask("nsfw", "1" if nsfw else "0")
        self._filters[key] = mask
        if len(self._filters) > FILTER_CACHE_SIZE:
            self._filters.popitem(last=False)
        return mask

    def _filter_set(self, q: SearchQuery, mask: np.ndarray) -> set[int]:
        key = self._filter_key(q)
        found = self._filter_sets.get(key)
        if found is None:
            found = set(np.flatnonzero(mask).tolist())
            self._filter_sets[key] = found
            if len(self._filter_sets) > 32:
                self._filter_sets.popitem(last=False)
        return found

    # -- search -------------------------------------------------------------------------------
    def search(self, q: SearchQuery) -> SearchResult:
        with self._lock:
            reader = self._searcher.reader()
            parsed = parse_text(q.text, self._analyzer, q.as_you_type)
            text_query, expanded = build_text_query(parsed, reader)
            result = self._run(q, text_query)
            if result.total == 0 and q.fuzzy and (parsed.words or parsed.prefix):
                fuzzy_query, fuzzy_expanded = build_text_query(parsed, reader, force_fuzzy=True)
                if fuzzy_expanded:
                    result = self._run(q, fuzzy_query)
                    result.fuzzy_used = True
                    expanded.update(fuzzy_expanded)
            result.expanded = expanded
            return result

    def _run(self, q: SearchQuery, text_query: Query | None) -> SearchResult:
        mask = self._filter_mask(q)
        if text_query is not None and q.sort == "relevance":
            allow = self._filter_set(q, mask) if mask is not None else None
            page = self._searcher.search_page(text_query, q.page, pagelen=q.page_size, filter=allow)
            ids = [int(hit["id"]) for hit in page]
            return SearchResult(ids, page.total, q.page, q.page_size, total_is_estimate=False)
        if text_query is None:
            candidates = np.flatnonzero(mask if mask is not None else self._live)
        else:
            candidates = self._matching_docnums(text_query)
            if mask is not None and len(candidates):
                candidates = candidates[mask[candidates]]
        sort_field = q.sort if q.sort in SORTABLE_FIELDS else "downloads"
        return self._sorted_page(candidates, sort_field, q)

    def _matching_docnums(self, text_query: Query) -> np.ndarray:
        parts = []
        for sub, offset in self._leaves:
            matcher = text_query.matcher(sub, sub.boolean_context())
            ids = np.fromiter(matcher.all_ids(), dtype=np.int64)
            if len(ids):
                parts.append(ids + offset)
        return np.concatenate(parts) if parts else np.zeros(0, dtype=np.int64)

    def _sorted_page(self, docnums: np.ndarray, field: str, q: SearchQuery) -> SearchResult:
        total = len(docnums)
        end = q.page * q.page_size
        start = end - q.page_size
        if start >= total:
            return SearchResult([], total, q.page, q.page_size)
        values = self._column(field)[docnums]
        top = np.argpartition(-values, end - 1)[:end] if end < total else np.arange(total)
        # newest id first among equal values, so the order is stable across calls
        order = np.lexsort((-docnums[top], -values[top]))
        chosen = docnums[top][order][start:end]
        ids = [int(self._searcher.stored_fields(int(d))["id"]) for d in chosen]
        return SearchResult(ids, total, q.page, q.page_size)
