"""The Whoosh schema of the catalog index, and how a catalog row becomes a document.

One index holds models and articles (the `kind` column: 0 model, 1 article), so one search
ranks both and counts them per kind (the kind facet). A model's document id is its id
(`"123"`), an article's `"article:123"`; both keep their own id in the `mid` column.
"""

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
from hub.store.search_rows import (
    ArticleText,
    ModelText,
    article_ids_after,
    article_texts,
    model_ids_after,
    model_texts,
)

# Descriptions are long HTML; the first words carry the meaning and index time grows with every
# word, so only this many description words are indexed (name, tags and trained words always are).
# 50 keeps a 100k rebuild under a minute of CPU on a 2-core machine (bench/hub_local.py).
DESCRIPTION_WORDS = 50
RATING_SCALE = 1000  # NUMERIC(float, sortable=True) is broken in Whoosh: ratings are scaled ints

SORTABLE_FIELDS = ("downloads", "rating", "newest")  # an article's "downloads" are its views
KINDS = ("model", "article")  # the `kind` column's values are positions in this tuple
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
        mid=COLUMN(NumericColumn("q", default=0)),  # the model's (or article's) id, for numpy lookups
        kind=COLUMN(NumericColumn("B", default=0)),  # 0 model, 1 article (KINDS)
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


def article_documents_for(conn: sqlite3.Connection, article_ids: Sequence[int]) -> dict[int, dict[str, Any]]:
    """Index documents for the given articles that exist in the mirror."""
    return {
        article_id: _article_document(text) for article_id, text in article_texts(conn, article_ids).items()
    }


def article_doc_id(article_id: int) -> str:
    return f"article:{article_id}"


def iter_all_documents(conn: sqlite3.Connection, batch: int = 5000) -> Iterator[dict[str, Any]]:
    """Every model's document, then every article's."""
    for ids_after, documents in (
        (model_ids_after, documents_for),
        (article_ids_after, article_documents_for),
    ):
        last = -1
        while True:
            ids = ids_after(conn, last, batch)
            if not ids:
                break
            docs = documents(conn, ids)
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
        "kind": 0,
    }


def _article_document(text: ArticleText) -> dict[str, Any]:
    title = " ".join([text.title, *text.tags])
    return {
        "id": article_doc_id(text.id),
        "mid": text.id,
        "name": title,
        "content": plain_text(text.content),
        "pairs": title,
        "downloads": int(text.views),
        "rating": 0,
        "newest": _epoch(text.published_at),
        "kind": 1,
    }
