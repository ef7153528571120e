"""Store-level checks: both query plans of search/tag filters give the same pages."""

from __future__ import annotations

import json

import pytest

from hub.server.records import ModelQuery
from hub.server.store import ServerStore
from hub.server.store import catalog_queries as store_module
from tests.hub.server.conftest import Catalog, catalog_copy


@pytest.fixture(scope="module")
def store(backend_catalog: Catalog, tmp_path_factory: pytest.TempPathFactory):
    """A store on a copy of the seeded catalog, on each backend."""
    with catalog_copy(backend_catalog, tmp_path_factory.mktemp("store") / "hub") as copy:
        opened = ServerStore(copy.folder, copy.database)
        yield opened
        opened.close()


def _walk(store: ServerStore, **filters) -> list[int]:
    ids: list[int] = []
    after = None
    while True:
        page = store.list_models(ModelQuery(limit=7, nsfw=None, after=after, **filters))
        ids += [json.loads(d)["id"] for d in page.docs]
        if page.last_key is None:
            return ids
        after = page.last_key


@pytest.mark.parametrize(
    "filters",
    [
        {"query": "lora", "sort": "Highest Rated"},
        {"query": "vel", "sort": "Newest"},
        {"tag": "anime", "sort": "Most Downloaded"},
        {"tag": "anime", "query": "cyber", "sort": "Oldest"},
        {"query": "zzzz", "sort": "Most Liked"},
    ],
)
def test_sorting_the_few_and_walking_the_index_agree(store: ServerStore, monkeypatch, filters: dict) -> None:
    few = _walk(store, **filters)
    monkeypatch.setattr(store_module, "FEW_MATCHES", -1)  # force the index walk
    walked = _walk(store, **filters)
    assert few == walked
    docs = [json.loads(store.model_doc(i)) for i in few]
    if "tag" in filters:
        assert all(filters["tag"] in d["tags"] for d in docs)
    if "query" in filters and filters["query"] != "zzzz":
        assert few and all(
            any(
                w.lower().startswith(filters["query"])
                for w in [*d["name"].split(), *d["tags"], d["creator"]["username"]]
            )
            for d in docs
        )


def test_creators_and_tags_filter_by_a_literal_substring_and_count_the_matches(store: ServerStore) -> None:
    creators, creator_total = store.list_creators(limit=500, offset=0, query=None)
    tags, tag_total = store.list_tags(limit=500, offset=0, query=None)
    assert creators and tags and creator_total == len(creators) and tag_total == len(tags)
    assert [c["username"] for c in creators] == sorted(c["username"] for c in creators)
    counts = [t["modelCount"] for t in tags]
    assert counts == sorted(counts, reverse=True)

    needle = creators[0]["username"][1:3]
    found, total = store.list_creators(limit=2, offset=0, query=needle)
    expected = [c["username"] for c in creators if needle.lower() in c["username"].lower()]
    assert total == len(expected) and [c["username"] for c in found] == expected[:2]
    tag_needle = tags[0]["name"][:3]
    found_tags, total = store.list_tags(limit=500, offset=0, query=tag_needle)
    assert total == len(found_tags) == sum(tag_needle.lower() in t["name"].lower() for t in tags)
    # LIKE wildcards in the query are literal characters
    assert store.list_creators(limit=10, offset=0, query="%") == ([], 0)
    assert store.list_tags(limit=10, offset=0, query="_") == ([], 0)
