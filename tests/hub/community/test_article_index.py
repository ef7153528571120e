"""Articles in the same index as models (one index, a kind facet), kept in sync through the
same crash-safe index queue; public and private collection feeds applied in any order."""

from __future__ import annotations

import pytest

from hub.catalog_generator import sample_catalog
from hub.catalog_generator.articles import sample_articles
from hub.search import IndexStore, ModelSearcher, SearchQuery
from hub.store import HubDatabase
from hub.store.community import list_collections
from hub.sync import apply_account_page, apply_page

SERVER = "http://hub.test"


def _feed(entity: str, docs: list[dict], action: str = "upsert") -> list[dict]:
    return [
        {"seq": n, "entity": entity, "id": d["id"], "action": action, "data": d}
        for n, d in enumerate(docs, 1)
    ]


def _mirror(store: HubDatabase, models: int = 40, articles: int = 30) -> list[dict]:
    docs = list(sample_articles(articles, seed=2))
    apply_page(store, SERVER, _feed("model", list(sample_catalog(models, seed=2))), "1")
    apply_page(store, SERVER, _feed("article", docs), "2")
    return docs


def _queued(store: HubDatabase, entity: str) -> int:
    return store.scalar("SELECT COUNT(*) FROM index_queue WHERE entity = ?", [entity])


def test_one_index_for_models_and_articles_with_a_kind_facet(store: HubDatabase, index: IndexStore) -> None:
    articles = _mirror(store)
    assert _queued(store, "article") == 30  # queued with the rows, indexed later
    index.drain_all(store)
    searcher = ModelSearcher(index, store)
    try:
        everything = searcher.search(SearchQuery(kind=None, sort="newest", page_size=200))
        assert everything.total == 70 and everything.facets == {"model": 40, "article": 30}
        assert sorted(everything.kinds) == ["article"] * 30 + ["model"] * 40
        models_only = searcher.search(SearchQuery(sort="newest", page_size=200))  # the default kind
        assert models_only.total == 40 and set(models_only.kinds) == {"model"}
        assert models_only.facets == {"model": 40, "article": 30}

        first = articles[0]
        word = first["title"].split()[-1].lower()
        found = searcher.search(SearchQuery(word, kind="article", page_size=200))
        expected = {
            a["id"] for a in articles if word in a["title"].lower() or word in {t["name"] for t in a["tags"]}
        }
        assert set(found.ids) >= expected and first["id"] in found.ids
        tag = first["tags"][0]["name"]
        tagged = searcher.search(SearchQuery(kind="article", tags=(tag,), page_size=200))
        assert set(tagged.ids) == {a["id"] for a in articles if tag in {t["name"] for t in a["tags"]}}
        author = first["user"]["username"]
        by_author = searcher.search(SearchQuery(kind="article", creator=author, page_size=200))
        assert set(by_author.ids) == {a["id"] for a in articles if a["user"]["username"] == author}
        typed = searcher.search(SearchQuery(kind=None, types=("LORA",), page_size=200))
        assert set(typed.kinds) == {"model"}  # only models have types
        views = searcher.search(SearchQuery(kind="article", sort="downloads", page_size=3)).ids
        assert views == [a["id"] for a in sorted(articles, key=lambda a: -a["stats"]["viewCount"])[:3]]
    finally:
        searcher.close()

    apply_page(
        store,
        SERVER,
        [{"seq": 99, "entity": "article", "id": first["id"], "action": "delete", "data": None}],
        "3",
    )
    index.drain_all(store)
    searcher = ModelSearcher(index, store)
    try:
        result = searcher.search(SearchQuery(kind="article", page_size=200))
        assert first["id"] not in result.ids and result.total == 29
    finally:
        searcher.close()
    assert index.rebuild(store) == 69  # a rebuild indexes both kinds


def test_a_crash_before_the_index_commit_keeps_article_updates_queued(
    store: HubDatabase, index: IndexStore
) -> None:
    _mirror(store, models=5, articles=12)

    def crash() -> None:
        raise KeyboardInterrupt("power cut")

    with pytest.raises(KeyboardInterrupt):
        index.drain(store, before_commit=crash)
    assert _queued(store, "article") == 12
    searcher = ModelSearcher(index, store)
    try:
        assert searcher.search(SearchQuery(kind="article")).total == 0
        index.drain_all(store)
        assert _queued(store, "article") == 0
        searcher.refresh()
        assert searcher.search(SearchQuery(kind="article")).total == 12
    finally:
        searcher.close()


def _collection(collection_id: int, name: str, read: str) -> dict:
    return {
        "id": collection_id,
        "name": name,
        "type": "Model",
        "read": read,
        "itemCount": 1,
        "user": {"id": 1, "username": "me"},
        "items": [{"id": 3, "addedAt": "2025-01-01T00:00:00.000Z"}],
    }


def test_the_accounts_own_collections_are_the_private_feeds_in_any_order(store: HubDatabase) -> None:
    public_delete = [{"seq": 5, "entity": "collection", "id": 7, "action": "delete", "data": None}]
    # made private on the server: the private feed's upsert may arrive before the public delete
    apply_account_page(store, SERVER, _feed("collection", [_collection(7, "Mine", "Private")]), "1")
    apply_page(store, SERVER, public_delete, "5")
    apply_page(store, SERVER, _feed("collection", [_collection(7, "Old public name", "Public")]), "6")
    [kept] = list_collections(store.conn, mine_only=True, limit=10)
    assert kept["name"] == "Mine" and kept["read"] == "Private"
    # a public collection of someone else comes and goes with the catalog feed
    apply_page(store, SERVER, _feed("collection", [_collection(8, "Theirs", "Public")]), "7")
    assert {c["id"] for c in list_collections(store.conn, mine_only=False, limit=10)} == {7, 8}
    apply_page(
        store, SERVER, [{"seq": 9, "entity": "collection", "id": 8, "action": "delete", "data": None}], "9"
    )
    apply_account_page(
        store, SERVER, [{"seq": 2, "entity": "collection", "id": 7, "action": "delete", "data": None}], "2"
    )
    assert list_collections(store.conn, mine_only=False, limit=10) == []
