"""Store-level checks: both query plans of search/tag filters give the same pages."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from hub.server import store as store_module
from hub.server.records import ModelQuery
from hub.server.store import Store
from tests.hub.server.conftest import copy_catalog


@pytest.fixture(scope="module")
def store(seeded_template: Path, tmp_path_factory: pytest.TempPathFactory):
    opened = Store(copy_catalog(seeded_template, tmp_path_factory.mktemp("store") / "hub"))
    yield opened
    opened.close()


def _walk(store: Store, **filters) -> list[int]:
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
def test_sorting_the_few_and_walking_the_index_agree(store: Store, monkeypatch, filters: dict) -> None:
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
