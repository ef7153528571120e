"""Buzz meets the community features: a tip notifies its receiver ("buzz-received"), a shop
purchase notifies the buyer ("purchase-done"), a review pays its author once per version."""

from __future__ import annotations

from tests.hub.server.community.conftest import Community


def _types(items: list[dict]) -> list[str]:
    return [n["type"] for n in items]


def test_tips_purchases_and_review_rewards(community: Community) -> None:
    reader, creator = community.reader, community.creator
    store = community.hub.store
    store.grant_buzz(reader.username, 100, "notify-test", "test grant")

    tip = {"to": creator.username, "amount": 5, "idempotencyKey": "n1"}
    assert reader.http.post("/buzz/tips", json=tip).status_code == 200
    assert reader.http.post("/buzz/tips", json=tip).json()["repeated"] is True  # one event, not two
    section = store.add_shop_section("Badges")
    item = store.add_shop_item(section, {"kind": "badge", "name": "Ink drop", "price": 20})
    assert reader.http.post(f"/shop/items/{item}/purchase", json={"idempotencyKey": "p1"}).status_code == 200

    for recommended in (True, False):  # a review edited: one reward
        review = {"recommended": recommended}
        assert reader.http.put(f"/model-versions/{community.version_id}/review", json=review).status_code in (
            200,
            201,
        )
    assert reader.http.get("/buzz/balance").json()["balance"] == 100 - 5 - 20 + 10

    community.run_jobs()
    theirs = creator.http.get("/notifications").json()["items"]
    received = [n for n in theirs if n["type"] == "buzz-received"]
    assert len(received) == 1 and received[0]["details"]["message"] == f"{reader.username} tipped you 5 Buzz"
    mine = reader.http.get("/notifications").json()["items"]
    assert _types(mine) == ["purchase-done"]
    assert mine[0]["details"]["message"] == "You bought Ink drop for 20 Buzz"
    assert store.ledger_problems() == []
