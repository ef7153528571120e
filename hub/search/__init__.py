"""Whoosh search over the mirrored catalog, kept in sync through the index queue."""

from hub.search.drainer import IndexDrainer
from hub.search.index import DrainReport, IndexStore
from hub.search.query import SORTS, SearchError, SearchQuery, SearchResult
from hub.search.searcher import ModelSearcher

__all__ = [
    "SORTS",
    "DrainReport",
    "IndexDrainer",
    "IndexStore",
    "ModelSearcher",
    "SearchError",
    "SearchQuery",
    "SearchResult",
]
