"""Collections on a live hub server: public and private, items of each type, paging."""

from __future__ import annotations

from tests.hub.server.community.conftest import Community


def test_a_private_collection_is_visible_only_to_its_owner(community: Community) -> None:
    owner, other, anonymous = community.reader.http, community.creator.http, community.anonymous
    private = owner.post("/collections", json={"name": "Secret stash", "type": "Model"})
    assert private.status_code == 201, private.text
    private = private.json()
    assert private["read"] == "Private" and private["isPublic"] is False and private["itemCount"] == 0
    public = owner.post("/collections", json={"name": "Best inks", "type": "Model", "read": "Public"}).json()

    assert community.admin is not None
    for client in (other, anonymous, community.admin.http):  # private means private: admins too
        assert client.get(f"/collections/{private['id']}").status_code == 404
        assert client.get(f"/collections/{private['id']}/items").status_code == 404
        assert [c["id"] for c in client.get("/collections").json()["items"]] == [public["id"]]
    assert (
        other.post(f"/collections/{private['id']}/items", json={"itemId": community.model_id}).status_code
        == 404
    )
    assert owner.get(f"/collections/{private['id']}").status_code == 200
    mine = owner.get("/collections", params={"mine": "true"}).json()["items"]
    assert sorted(c["id"] for c in mine) == sorted([private["id"], public["id"]])
    assert anonymous.get("/collections", params={"mine": "true"}).status_code == 401

    made_public = owner.patch(f"/collections/{private['id']}", json={"read": "Public"}).json()
    assert made_public["isPublic"] is True
    assert anonymous.get(f"/collections/{private['id']}").status_code == 200
    assert other.patch(f"/collections/{public['id']}", json={"name": "mine"}).status_code == 403
    taken = owner.post("/collections", json={"name": "best INKS", "type": "Image"})
    assert taken.status_code == 409 and "name" in taken.json()["error"]


def test_items_of_each_type_and_their_paging(community: Community) -> None:
    owner = community.reader.http
    models = owner.post("/collections", json={"name": "Models", "type": "Model", "read": "Public"}).json()
    added = owner.post(f"/collections/{models['id']}/items", json={"itemId": community.model_id})
    assert added.status_code == 201 and added.json()["itemCount"] == 1
    again = owner.post(f"/collections/{models['id']}/items", json={"itemId": community.model_id})
    assert again.status_code == 200 and again.json()["itemCount"] == 1
    owner.post(f"/collections/{models['id']}/items", json={"itemId": community.other_model_id})
    missing = owner.post(f"/collections/{models['id']}/items", json={"itemId": 999})
    assert missing.status_code == 400 and "999" in missing.json()["error"]
    assert owner.post(f"/collections/{models['id']}/items", json={"itemId": "1"}).status_code == 400

    first = owner.get(f"/collections/{models['id']}/items", params={"limit": 1}).json()
    assert [i["id"] for i in first["items"]] == [community.other_model_id]  # newest first
    assert first["items"][0]["name"] == "Watercolor Wash" and first["items"][0]["type"] == "Model"
    second = owner.get(
        f"/collections/{models['id']}/items", params={"limit": 1, "cursor": first["metadata"]["nextCursor"]}
    ).json()
    assert [i["id"] for i in second["items"]] == [community.model_id] and second["metadata"] == {}
    assert owner.get(f"/collections/{models['id']}").json()["coverImageUrl"] is None  # uploads had no images

    author = community.creator.http
    article = author.post("/articles", json={"title": "Inks", "content": "text"}).json()
    articles = owner.post("/collections", json={"name": "Reading", "type": "Article"}).json()
    draft = owner.post(f"/collections/{articles['id']}/items", json={"itemId": article["id"]})
    assert draft.status_code == 400 and "published article" in draft.json()["error"]
    author.post(f"/articles/{article['id']}/publish")
    assert (
        owner.post(f"/collections/{articles['id']}/items", json={"itemId": article["id"]}).status_code == 201
    )
    assert author.get(f"/articles/{article['id']}").json()["stats"]["collectedCount"] == 1
    assert owner.delete(f"/collections/{articles['id']}/items/{article['id']}").status_code == 204
    assert author.get(f"/articles/{article['id']}").json()["stats"]["collectedCount"] == 0
    assert owner.delete(f"/collections/{articles['id']}/items/{article['id']}").status_code == 404

    bad = owner.post("/collections", json={"name": "", "type": "Post", "read": "Friends"})
    assert bad.status_code == 400
    for field in ("name", "type", "read"):
        assert field in bad.json()["error"]
    assert owner.delete(f"/collections/{models['id']}").status_code == 204
    assert owner.get(f"/collections/{models['id']}").status_code == 404


def test_collections_paging_by_cursor(community: Community) -> None:
    owner = community.reader.http
    made = [
        owner.post("/collections", json={"name": f"Set {n}", "type": "Model", "read": "Public"}).json()["id"]
        for n in range(5)
    ]
    seen, cursor = [], None
    while True:
        params = {"limit": 2} | ({"cursor": cursor} if cursor else {})
        page = community.anonymous.get("/collections", params=params).json()
        seen += [c["id"] for c in page["items"]]
        cursor = page["metadata"].get("nextCursor")
        if cursor is None:
            break
        assert isinstance(cursor, int)
    assert seen == list(reversed(made))
    found = community.anonymous.get("/collections", params={"query": "set 3"}).json()["items"]
    assert [c["name"] for c in found] == ["Set 3"]
    unsupported = community.anonymous.get("/collections", params={"sort": "Most Followers"})
    assert unsupported.status_code == 400 and "not supported" in unsupported.json()["error"]
