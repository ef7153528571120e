"""The Whoosh schema of the model index, and how a catalog row becomes a document."""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Iterator, Sequence
from datetime import datetime
from typing import Any

from whoosh.analysis import BiWordFilter
from whoosh.columns import NumericColumn
from whoosh.fields import COLUMN, ID, TEXT, FieldType, Schema
from whoosh.formats import Existence

from hub.search.analysis import WordAnalyzer
from hub.store.search_rows import ModelText, model_ids_after, model_texts

# Descriptions are long HTML; the first words carry the meaning and index time grows with every
# word, so only this many description words are indexed (name, tags and trained words always are).
# 50 keeps a 100k rebuild under a minute of CPU on a 2-core machine (bench/hub_local.py).
DESCRIPTION_WORDS = 50
RATING_SCALE = 1000  # NUMERIC(float, sortable=True) is broken in Whoosh: ratings are scaled ints

SORTABLE_FIELDS = ("downloads", "rating", "newest")
_TAGS = re.compile(r"<[^>]+>")


def _with_lengths(field: FieldType) -> FieldType:
    """Give an unscored field a length column anyway. Whoosh's segment writer looks up a
    posting's field length for every posting it writes; for a field without a length column
    that lookup is a file-exists check on disk each time (never cached), which was ~15% of the
    index build. A one-byte-per-document column is far cheaper."""
    field.scorable = True
    return field


def build_schema() -> Schema:
    analyzer = WordAnalyzer()
    return Schema(
        id=_with_lengths(ID(stored=True, unique=True)),
        # the "title": name, tags and trained words (boosted; prefix and typo expansions come
        # from this field's short vocabulary, not from every word of every description)
        name=TEXT(analyzer=analyzer, field_boost=3.0, phrase=False),
        # the description's first words (the title is not repeated here: a word matches when it
        # is in either field); term frequencies, no positions
        content=TEXT(analyzer=analyzer, phrase=False),
        # the title as adjacent word pairs: a phrase is a lookup of its pairs, not a position
        # check over every document that has all its words. Only the title: pairs of every
        # description word doubled the index time (one postings block per unique pair).
        # Existence only: no frequencies, the cheapest postings Whoosh has.
        pairs=_with_lengths(FieldType(Existence(), WordAnalyzer() | BiWordFilter(sep=" "))),
        # Filters (type, base model, creator, tag, nsfw) are answered by SQLite, which has them
        # indexed anyway: as Whoosh terms they were ~15% of the index build.
        mid=COLUMN(NumericColumn("q", default=0)),  # the model id, for numpy lookups
        # Sort keys are columns only: a sortable NUMERIC also indexes several terms per value,
        # which made every document ~40% slower to index and is never searched here.
        downloads=COLUMN(NumericColumn("q", default=0)),
        rating=COLUMN(NumericColumn("q", default=0)),
        newest=COLUMN(NumericColumn("q", default=0)),
    )


def _epoch(text: str | None) -> int:
    if not text:
        return 0
    try:
        return int(datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp())
    except ValueError:
        return 0


def plain_text(html: str | None, max_words: int = DESCRIPTION_WORDS) -> str:
    if not html:
        return ""
    words = _TAGS.sub(" ", html).split()
    return " ".join(words[:max_words])


def documents_for(conn: sqlite3.Connection, model_ids: Sequence[int]) -> dict[int, dict[str, Any]]:
    """Index documents for the given models that exist in the store (missing ones are absent)."""
    return {model_id: _document(text) for model_id, text in model_texts(conn, model_ids).items()}


def iter_all_documents(conn: sqlite3.Connection, batch: int = 5000) -> Iterator[dict[str, Any]]:
    last = -1
    while True:
        ids = model_ids_after(conn, last, batch)
        if not ids:
            return
        docs = documents_for(conn, ids)
        yield from (docs[i] for i in ids if i in docs)
        last = ids[-1]


def _document(text: ModelText) -> dict[str, Any]:
    title = " ".join([text.name, *text.tags, *text.trained_words])
    return {
        "id": str(text.id),
        "mid": text.id,
        "name": title,
        "content": plain_text(text.description),
        "pairs": title,
        "downloads": int(text.downloads),
        "rating": round(float(text.rating) * RATING_SCALE),
        "newest": _epoch(text.published_at),
    }
