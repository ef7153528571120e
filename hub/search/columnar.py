"""Query evaluation over Whoosh's postings with numpy ("column-store" style).

Whoosh stores and maintains the index; this module reads a term's postings (document numbers
and term frequencies) block by block into numpy arrays, caches them per segment, and scores
with BM25F (name boosted) using dense per-segment arrays. AND, OR-of-expansions (prefix,
typo), phrases (as word-pair terms), filters and every sort are then vector operations, where
Whoosh's own matchers walk every posting in Python. Measured at 100k in bench/hub_local.py.
"""

from __future__ import annotations

import math
from collections import OrderedDict
from dataclasses import dataclass

import numpy as np
from whoosh.util.numeric import byte_to_length

K1 = 1.2
B = 0.75
NAME_BOOST = 3.0
POSTINGS_CACHE_TERMS = 256  # per segment
_LENGTH_TABLE = np.array([byte_to_length(i) for i in range(256)], dtype=np.float32)
_EMPTY = (np.zeros(0, dtype=np.int32), np.zeros(0, dtype=np.float32))


@dataclass(frozen=True)
class Clause:
    """A document matches the clause when it has at least one of `terms` in `field`:
    "content" means the title or the description words (scored on both, title boosted);
    "pairs" is the title's word pairs, for phrases."""

    terms: tuple[str, ...]
    field: str = "content"


class SegmentView:
    """Numpy views of one (immutable) segment: postings, field lengths, sort columns."""

    def __init__(self, reader, offset: int) -> None:
        self.reader = reader
        self.offset = offset
        self.size = reader.doc_count_all()
        self._lengths: dict[str, np.ndarray] = {}
        self._postings: OrderedDict[tuple[str, str], tuple[np.ndarray, np.ndarray]] = OrderedDict()

    def with_reader(self, reader, offset: int) -> SegmentView:
        """The same segment under a new reader (only its deletions changed): keep the caches."""
        view = SegmentView.__new__(SegmentView)
        view.reader, view.offset, view.size = reader, offset, self.size
        view._lengths, view._postings = self._lengths, self._postings
        return view

    def lengths(self, field: str) -> np.ndarray:
        found = self._lengths.get(field)
        if found is None:
            perdoc = self.reader._perdoc
            from whoosh.codec.whoosh3 import LENGTHS_COLUMN

            column = perdoc._cached_reader(f"_{field}_len", LENGTHS_COLUMN)
            if column is None:
                found = np.zeros(self.size, dtype=np.float32)
            else:
                found = _LENGTH_TABLE[np.fromiter(column, dtype=np.uint8, count=self.size)]
            self._lengths[field] = found
        return found

    def postings(self, field: str, term: str) -> tuple[np.ndarray, np.ndarray]:
        key = (field, term)
        found = self._postings.get(key)
        if found is not None:
            self._postings.move_to_end(key)
            return found
        found = self._read_postings(field, term)
        self._postings[key] = found
        if len(self._postings) > POSTINGS_CACHE_TERMS:
            self._postings.popitem(last=False)
        return found

    def _read_postings(self, field: str, term: str) -> tuple[np.ndarray, np.ndarray]:
        reader = self.reader
        if (field, term) not in reader:
            return _EMPTY
        matcher = reader._terms.matcher(field, term.encode("utf-8"), reader.schema[field].format)
        ids, weights = [], []
        while True:
            matcher._read_ids()
            matcher._read_weights()
            ids.append(np.asarray(matcher._ids, dtype=np.int32))
            weights.append(np.asarray(matcher._weights, dtype=np.float32))
            if matcher._lastblock:
                break
            matcher._goto(matcher._nextoffset)
        return np.concatenate(ids), np.concatenate(weights)


@dataclass
class Statistics:
    """Index-wide figures BM25 needs: document count, average field lengths, term df."""

    reader: object
    doc_count: int
    average_length: dict[str, float]

    @classmethod
    def of(cls, reader) -> Statistics:
        count = max(1, reader.doc_count_all())
        fields = ("content", "name", "pairs")
        return cls(reader, count, {f: max(1.0, reader.field_length(f) / count) for f in fields})

    def idf(self, field: str, term: str) -> float:
        df = self.reader.doc_frequency(field, term)
        return math.log(1 + (self.doc_count - df + 0.5) / (df + 0.5))


def _bm25(tf: np.ndarray, lengths: np.ndarray, idf: float, average: float, boost: float) -> np.ndarray:
    return (boost * idf) * tf * (K1 + 1) / (tf + K1 * (1 - B + B * lengths / average))


def evaluate(
    segments: list[SegmentView], clauses: list[Clause], stats: Statistics
) -> tuple[np.ndarray, np.ndarray]:
    """Global document numbers matching every clause, and their BM25F scores."""
    idf: dict[tuple[str, str], float] = {}

    def term_idf(field: str, term: str) -> float:
        key = (field, term)
        if key not in idf:
            idf[key] = stats.idf(field, term)
        return idf[key]

    found_ids, found_scores = [], []
    for segment in segments:
        n = segment.size
        if n == 0:
            continue
        matched = np.zeros(n, dtype=np.uint8)
        score = np.zeros(n, dtype=np.float32)
        for clause in clauses:
            present = np.zeros(n, dtype=bool)
            scored_fields = (
                (("content", 1.0), ("name", NAME_BOOST)) if clause.field == "content" else (("pairs", 2.0),)
            )
            for term in clause.terms:
                for field, boost in scored_fields:
                    ids, tf = segment.postings(field, term)
                    if not len(ids):
                        continue
                    present[ids] = True
                    lengths = segment.lengths(field)[ids]
                    score[ids] += _bm25(
                        tf, lengths, term_idf(field, term), stats.average_length[field], boost
                    )
            matched += present
        local = np.flatnonzero(matched == len(clauses))
        if len(local):
            found_ids.append(local.astype(np.int64) + segment.offset)
            found_scores.append(score[local])
    if not found_ids:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float32)
    return np.concatenate(found_ids), np.concatenate(found_scores)
