import pytest

from hub.catalog_generator import sample_model
from hub.search import SearchError, SearchQuery
from hub.store.catalog import upsert_models


def model(
    model_id,
    name,
    kind="LORA",
    base="SD 1.5",
    tags=("style",),
    downloads=0,
    rating=4.0,
    nsfw=False,
    creator="alice",
    description="plain words",
    published="2025-01-01T00:00:00.000Z",
):
    data = sample_model(model_id)
    data.update(name=name, type=kind, tags=list(tags), nsfw=nsfw, description=f"<p>{description}</p>")
    data["creator"] = {"username": creator, "image": None}
    data["stats"].update(downloadCount=downloads, rating=rating)
    data["modelVersions"] = data["modelVersions"][:1]
    data["modelVersions"][0].update(baseModel=base, publishedAt=published, trainedWords=[])
    return data


CATALOG = [
    model(
        1,
        "Red Dragon Scales",
        downloads=500,
        rating=4.9,
        tags=("fantasy", "dragon"),
        published="2025-03-01T00:00:00Z",
    ),
    model(2, "Dragon Rider", kind="Checkpoint", base="SDXL 1.0", downloads=9000, rating=4.1, creator="bob"),
    model(
        3,
        "Watercolor Castle",
        downloads=100,
        rating=3.5,
        description="a dragon sleeps behind the castle walls",
    ),
    model(4, "Neon City Nights", kind="LoCon", downloads=700, rating=4.7, nsfw=True, tags=("scifi", "city")),
    model(5, "Castle Watercolor Study", downloads=50, rating=4.0, published="2026-01-01T00:00:00Z"),
    model(
        6,
        "Dragonfly Macro",
        kind="TextualInversion",
        downloads=30,
        rating=3.0,
        tags=("animal", "photography"),
    ),
]


@pytest.fixture
def filled(store, index, searcher):
    with store.transaction() as conn:
        upsert_models(conn, CATALOG)
    index.drain_all(store)
    searcher.refresh()
    return searcher


def ids(searcher, **kwargs):
    return searcher.search(SearchQuery(**kwargs)).ids


def test_words_rank_name_matches_above_description_matches(filled):
    found = ids(filled, text="dragon")
    assert set(found) == {1, 2, 3}
    assert found[-1] == 3  # only in the description
    assert ids(filled, text="castle watercolor") in ([3, 5], [5, 3])
    assert ids(filled, text="castle neon") == []


def test_phrases_keep_word_order(filled):
    assert ids(filled, text='"watercolor castle"') == [3]
    assert ids(filled, text='"castle watercolor"') == [5]


def test_search_as_you_type_matches_the_last_word_as_a_prefix(filled):
    assert set(ids(filled, text="drag", as_you_type=True)) == {1, 2, 3, 6}
    assert set(ids(filled, text="red drag", as_you_type=True)) == {1}
    assert ids(filled, text="drag") == []  # without as_you_type it is a whole word... which has no typo match
    result = filled.search(SearchQuery("drag", as_you_type=True))
    assert "dragon" in result.expanded["drag*"]


def test_one_typo_is_tolerated_when_nothing_matches_exactly(filled):
    result = filled.search(SearchQuery("dargon"))  # transposition: not within distance 1 -> no match
    assert result.ids == []
    result = filled.search(SearchQuery("dragn"))
    assert result.fuzzy_used and set(result.ids) == {1, 2, 3}
    assert set(ids(filled, text="castl~")) == {3, 5}
    assert ids(filled, text="dragn", fuzzy=False) == []


def test_filters(filled):
    assert set(ids(filled, text="dragon", types=("LORA",))) == {1, 3}
    assert set(ids(filled, text="dragon", types=("lora",))) == {1, 3}  # case does not matter
    assert ids(filled, base_models=("SDXL 1.0",)) == [2]
    assert set(ids(filled, types=("LORA", "LoCon"), base_models=("sd 1.5",))) == {1, 3, 4, 5}
    assert ids(filled, creator="BOB") == [2]
    assert ids(filled, tags=("dragon",)) == [1]
    assert ids(filled, nsfw=True) == [4]
    assert 4 not in ids(filled, nsfw=False)


def test_sorts_and_paging(filled):
    assert ids(filled, sort="downloads") == [2, 4, 1, 3, 5, 6]
    assert ids(filled, sort="rating") == [1, 4, 2, 5, 3, 6]
    assert ids(filled, sort="newest")[0] == 5
    assert ids(filled, text="dragon", sort="downloads") == [2, 1, 3]
    first = filled.search(SearchQuery(sort="downloads", page=1, page_size=4))
    second = filled.search(SearchQuery(sort="downloads", page=2, page_size=4))
    assert first.total == second.total == 6
    assert first.ids + second.ids == [2, 4, 1, 3, 5, 6]
    assert ids(filled, sort="downloads", page=3, page_size=4) == []
    relevance = filled.search(SearchQuery("castle", page=2, page_size=1))
    assert relevance.total == 2 and len(relevance.ids) == 1


def test_bad_parameters_name_the_field():
    with pytest.raises(SearchError, match="sort"):
        SearchQuery(sort="stars")
    with pytest.raises(SearchError, match="page_size"):
        SearchQuery(page_size=0)


def test_warm_up_loads_the_frequent_terms(filled):
    assert filled.warm_up(terms=5) == 5
    assert filled.search(SearchQuery("dragon")).total == 3
