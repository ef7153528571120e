"""`favorites=true` lists the caller's favourite models (it used to return every model), and is a
401 for an anonymous caller, as on Civitai; favourites are set with
`PUT`/`DELETE /api/v1/models/{id}/favorite`."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from civitapy import CivitAIClient
from civitapy.errors import CivitAIAuthError

from tests.hub.server.conftest import RunningHub, copy_catalog, register, running_hub


@pytest.fixture(scope="module")
def seeded_hub(seeded_template: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningHub]:
    """One writable copy of the catalog for this module (each test uses its own accounts)."""
    with running_hub(copy_catalog(seeded_template, tmp_path_factory.mktemp("favorites") / "hub")) as hub:
        yield hub


def _ids(response: httpx.Response) -> list[int]:
    assert response.status_code == 200, response.text
    return sorted(item["id"] for item in response.json()["items"])


def test_favorites_filter_by_the_caller(seeded_hub: RunningHub) -> None:
    api = seeded_hub.api
    alice, bob = register(api, "alice"), register(api, "bob")
    as_alice, as_bob = {"Authorization": f"Bearer {alice}"}, {"Authorization": f"Bearer {bob}"}
    models = _ids(httpx.get(f"{api}/models", params={"limit": 5, "nsfw": "true"}))
    liked = models[:3]
    for model_id in liked:
        response = httpx.put(f"{api}/models/{model_id}/favorite", headers=as_alice)
        assert response.json() == {"modelId": model_id, "favorite": True}
    httpx.put(f"{api}/models/{liked[0]}/favorite", headers=as_alice)  # twice: still one favourite
    httpx.put(f"{api}/models/{models[4]}/favorite", headers=as_bob)

    mine = {"favorites": "true", "nsfw": "true"}
    assert _ids(httpx.get(f"{api}/models", params=mine, headers=as_alice)) == liked
    assert _ids(httpx.get(f"{api}/models", params=mine, headers=as_bob)) == [models[4]]
    # other filters still apply, and paging walks the favourites only
    first = httpx.get(f"{api}/models", params=mine | {"limit": 2, "sort": "Newest"}, headers=as_alice).json()
    rest = httpx.get(
        f"{api}/models",
        params={"cursor": first["metadata"]["nextCursor"]} | mine | {"limit": 2, "sort": "Newest"},
        headers=as_alice,
    ).json()
    assert (
        sorted(m["id"] for m in first["items"] + rest["items"]) == liked
        and "nextCursor" not in rest["metadata"]
    )
    response = httpx.delete(f"{api}/models/{liked[1]}/favorite", headers=as_alice)
    assert response.json() == {"modelId": liked[1], "favorite": False}
    assert _ids(httpx.get(f"{api}/models", params=mine, headers=as_alice)) == [liked[0], liked[2]]
    # favorites=false (or absent) is the whole catalog
    assert (
        len(_ids(httpx.get(f"{api}/models", params={"favorites": "false", "limit": 5}, headers=as_alice)))
        == 5
    )

    # civitapy's favorites filter, with Alice's key
    client = CivitAIClient(base_url=api, token=alice)
    assert sorted(m["id"] for m in client.models_list(favorites=True, nsfw=True)["items"]) == [
        liked[0],
        liked[2],
    ]


def test_favorites_need_an_account(seeded_hub: RunningHub) -> None:
    api = seeded_hub.api
    response = httpx.get(f"{api}/models", params={"favorites": "true"})
    assert response.status_code == 401 and "API key" in response.json()["error"]
    with pytest.raises(CivitAIAuthError):
        CivitAIClient(base_url=api).models_list(favorites=True)
    assert httpx.put(f"{api}/models/1/favorite").status_code == 401
    assert httpx.delete(f"{api}/models/1/favorite").status_code == 401


def test_favourites_of_unknown_and_deleted_models(seeded_hub: RunningHub) -> None:
    api = seeded_hub.api
    key = register(api, "curator")
    auth = {"Authorization": f"Bearer {key}"}
    response = httpx.put(f"{api}/models/99999999/favorite", headers=auth)
    assert response.status_code == 404 and "99999999" in response.json()["error"]
    assert httpx.delete(f"{api}/models/99999999/favorite", headers=auth).status_code == 404
    model_id = _ids(httpx.get(f"{api}/models", params={"limit": 1, "page": 9}))[0]  # not one of alice's
    httpx.put(f"{api}/models/{model_id}/favorite", headers=auth)
    seeded_hub.store.delete_model(model_id)
    assert _ids(httpx.get(f"{api}/models", params={"favorites": "true", "nsfw": "true"}, headers=auth)) == []
    with seeded_hub.store.read() as conn:
        assert (
            conn.execute("SELECT COUNT(*) FROM favorites WHERE model_id = ?", (model_id,)).fetchone()[0] == 0
        )
