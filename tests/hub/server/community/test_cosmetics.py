"""Cosmetics next to names on a live hub server: the admin puts an item in the shop (every bad
field named), a creator buys and equips it, and every response that shows them carries it:
their article (list and page), their collection, their model page, their review and comment;
the change feed carries reviews, comments and the cosmetics themselves. Edits reach the names."""

from __future__ import annotations

from tests.hub.server.community.conftest import Community


def _shop_item(community: Community, **fields: object) -> dict:
    admin = community.admin
    assert admin is not None
    section = admin.http.post("/admin/shop/sections", json={"name": "Colours"}).json()["id"]
    body = {"sectionId": section, "kind": "name_color", "name": "Teal", "value": "#2a9d8f", "price": 50}
    made = admin.http.post("/admin/shop/items", json=body | fields)
    assert made.status_code == 201, made.text
    return made.json()


def _wear(community: Community, who: str, item_id: int) -> None:
    admin = community.admin
    assert admin is not None
    account = community.creator if who == "creator" else community.reader
    grant = {"to": account.username, "amount": 100, "idempotencyKey": f"grant-{who}"}
    assert admin.http.post("/buzz/grants", json=grant).status_code == 200
    bought = account.http.post(f"/shop/items/{item_id}/purchase", json={"idempotencyKey": "k1"})
    assert bought.status_code == 200, bought.text
    assert account.http.put(f"/shop/items/{item_id}/equip").status_code == 200


def test_admin_creates_and_edits_items_naming_every_bad_field(community: Community) -> None:
    admin = community.admin
    assert admin is not None
    item = _shop_item(community, quantity=3)
    assert (item["kind"], item["value"], item["quantity"], item["sold"]) == ("name_color", "#2a9d8f", 3, 0)
    assert community.reader.http.post("/admin/shop/items", json={}).status_code == 403
    assert community.anonymous.post("/admin/shop/items", json={}).status_code == 401

    bad = admin.http.post(
        "/admin/shop/items",
        json={
            "sectionId": 999,
            "kind": "hat",
            "price": 0,
            "quantity": -1,
            "availableFrom": "tomorrow",
            "colour": "red",
        },
    )
    assert bad.status_code == 400
    error = bad.json()["error"]
    for field in ("sectionId", "kind", "name", "price", "quantity", "availableFrom", "colour"):
        assert f"{field}:" in error, (field, error)

    _wear(community, "creator", item["id"])
    edits = {
        "quantity": 0,
        "availableFrom": "2030-01-02T00:00:00Z",
        "availableUntil": "2030-01-01T00:00:00Z",
    }
    refused = admin.http.patch(f"/admin/shop/items/{item['id']}", json=edits | {"kind": "badge"})
    assert refused.status_code == 400
    error = refused.json()["error"]
    for field in ("quantity", "availableUntil", "kind"):
        assert f"{field}:" in error, (field, error)
    colour = admin.http.patch(f"/admin/shop/items/{item['id']}", json={"value": "red"}).json()["error"]
    assert colour == "value: a name colour is #rrggbb, got 'red'"
    assert admin.http.patch("/admin/shop/items/99999", json={}).status_code == 404

    renamed = admin.http.patch(f"/admin/shop/items/{item['id']}", json={"name": "Sea", "value": "#006994"})
    assert renamed.status_code == 200 and renamed.json()["sold"] == 1
    profile = community.anonymous.get(f"/users/{community.creator.username}").json()
    assert profile["cosmetics"]["nameColor"] == {"id": item["id"], "name": "Sea", "value": "#006994"}
    feed = community.anonymous.get("/sync/changes", params={"limit": 1000}).json()["items"]
    worn = [i for i in feed if i["entity"] == "cosmetics" and i["id"] == community.creator.username]
    assert worn[0]["data"]["cosmetics"]["nameColor"]["value"] == "#006994"


def test_cosmetics_shown_next_to_every_name(community: Community) -> None:
    creator, reader = community.creator, community.reader
    item = _shop_item(community)
    _wear(community, "creator", item["id"])
    expected = {"nameColor": {"id": item["id"], "name": "Teal", "value": "#2a9d8f"}}

    article = creator.http.post("/articles", json={"title": "Inking", "content": "How I ink"}).json()
    assert article["user"]["cosmetics"] == expected
    creator.http.post(f"/articles/{article['id']}/publish")
    listed = community.anonymous.get("/articles").json()["items"]
    assert next(a for a in listed if a["id"] == article["id"])["user"]["cosmetics"] == expected
    assert community.anonymous.get(f"/articles/{article['id']}").json()["user"]["cosmetics"] == expected

    model = community.anonymous.get(f"/models/{community.model_id}").json()
    assert model["creator"]["cosmetics"] == expected

    made = creator.http.post("/collections", json={"name": "Mine", "type": "Model", "read": "Public"}).json()
    assert made["user"]["cosmetics"] == expected
    listed = community.anonymous.get("/collections").json()["items"]
    assert next(c for c in listed if c["id"] == made["id"])["user"]["cosmetics"] == expected
    creator.http.post(f"/collections/{made['id']}/items", json={"itemId": community.model_id})
    items = community.anonymous.get(f"/collections/{made['id']}/items").json()["items"]
    assert items[0]["creator"]["cosmetics"] == expected

    board = community.anonymous.get("/leaderboards/creators", params={"by": "downloads"}).json()["items"]
    assert next(p for p in board if p["username"] == creator.username)["cosmetics"] == expected

    # the reader wears nothing: an empty set, not a missing key; the creator's comment shows it
    review = reader.http.put(f"/model-versions/{community.version_id}/review", json={"recommended": True})
    assert review.json()["user"]["cosmetics"] == {}
    comment = creator.http.post(f"/models/{community.model_id}/comments", json={"content": "Thanks!"})
    assert comment.status_code == 201 and comment.json()["user"]["cosmetics"] == expected
    comments = community.anonymous.get(f"/models/{community.model_id}/comments").json()["items"]
    assert comments[0]["user"]["cosmetics"] == expected
    _wear(community, "reader", item["id"])
    reviews = community.anonymous.get(f"/model-versions/{community.version_id}/reviews").json()["items"]
    assert reviews[0]["user"]["cosmetics"] == expected

    # the feed carries reviews, comments and who wears what; a deleted comment leaves it
    feed = community.anonymous.get("/sync/changes", params={"limit": 1000}).json()["items"]
    by_key = {(i["entity"], i["id"]): i for i in feed}
    assert by_key["review", review.json()["id"]]["data"]["recommended"] is True
    assert by_key["comment", comment.json()["id"]]["data"]["content"] == "<p>Thanks!</p>"
    assert by_key["cosmetics", reader.username]["data"]["cosmetics"] == expected
    assert creator.http.delete(f"/comments/{comment.json()['id']}").status_code == 204
    feed = community.anonymous.get("/sync/changes", params={"limit": 1000}).json()["items"]
    gone = next(i for i in feed if i["entity"] == "comment" and i["id"] == comment.json()["id"])
    assert gone["action"] == "delete" and gone["data"] is None

    # with the shop switched off, nobody's cosmetics show, in responses or in the feed
    admin = community.admin
    assert admin is not None
    rule = {"enabled": False, "percent": 100}
    assert admin.http.put("/admin/flags/shop", json=rule).status_code == 200
    assert community.anonymous.get(f"/articles/{article['id']}").json()["user"]["cosmetics"] == {}
    assert community.anonymous.get(f"/models/{community.model_id}").json()["creator"]["cosmetics"] == {}
    feed = community.anonymous.get("/sync/changes", params={"limit": 1000}).json()["items"]
    assert not [i for i in feed if i["entity"] == "cosmetics"]
