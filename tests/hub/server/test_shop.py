"""The cosmetic shop through the real server: 50 concurrent buyers of 10 items, windows,
idempotent purchases, equip / unequip shown on the profile and on the creator's model page."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from hub.server.auth import key_hash
from tests.hub.server.conftest import RunningHub, register


def _auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def _grant(hub: RunningHub, admin: str, to: str, amount: int) -> None:
    body = {"to": to, "amount": amount, "idempotencyKey": f"grant-{to}"}
    assert httpx.post(f"{hub.api}/buzz/grants", json=body, headers=_auth(admin)).status_code == 200


def _buy(hub: RunningHub, key: str, item: int, idem: str) -> httpx.Response:
    return httpx.post(
        f"{hub.api}/shop/items/{item}/purchase", json={"idempotencyKey": idem}, headers=_auth(key), timeout=60
    )


@pytest.mark.slow
def test_fifty_buyers_of_ten_items(backend_empty_hub: RunningHub) -> None:
    admin = register(backend_empty_hub.api, "admin")
    section = backend_empty_hub.store.add_shop_section("Badges")
    item = backend_empty_hub.store.add_shop_item(
        section, {"kind": "badge", "name": "Rare", "price": 40, "quantity": 10}
    )
    buyers = [f"buyer{n:02d}" for n in range(50)]
    keys = {}
    for name in buyers:  # registered through the store: argon2 for 50 accounts is slow
        user = backend_empty_hub.store.create_user(name, None)
        keys[name] = f"atl_test_{name}"
        backend_empty_hub.store.add_api_key(user.id, key_hash(keys[name]), "test")
        _grant(backend_empty_hub, admin, name, 100)

    with ThreadPoolExecutor(50) as pool:
        answers = list(pool.map(lambda name: _buy(backend_empty_hub, keys[name], item, "buy-1"), buyers))
    codes = [a.status_code for a in answers]
    assert codes.count(200) == 10 and codes.count(409) == 40, codes
    assert all("sold out" in a.json()["error"] for a in answers if a.status_code == 409)
    shop = httpx.get(f"{backend_empty_hub.api}/shop").json()["sections"]
    assert shop[0]["items"][0]["remaining"] == 0
    winners = [name for name, a in zip(buyers, answers, strict=True) if a.status_code == 200]
    repeat = _buy(backend_empty_hub, keys[winners[0]], item, "buy-1")
    assert repeat.status_code == 200 and repeat.json()["repeated"] is True
    balances = [
        httpx.get(f"{backend_empty_hub.api}/buzz/balance", headers=_auth(keys[n])).json()["balance"]
        for n in buyers
    ]
    assert sorted(balances) == [60] * 10 + [100] * 40
    assert backend_empty_hub.store.ledger_problems() == []


def test_window_funds_ownership_and_equip(backend_empty_hub: RunningHub) -> None:
    admin = register(backend_empty_hub.api, "admin")
    alice = register(backend_empty_hub.api, "alice")
    _grant(backend_empty_hub, admin, "alice", 200)
    section = backend_empty_hub.store.add_shop_section("Colours")
    teal = backend_empty_hub.store.add_shop_item(
        section, {"kind": "name_color", "name": "Teal", "value": "#2a9d8f", "price": 150}
    )
    gold = backend_empty_hub.store.add_shop_item(section, {"kind": "badge", "name": "Gold", "price": 100})
    later = (datetime.now(UTC) + timedelta(days=1)).isoformat()
    future = backend_empty_hub.store.add_shop_item(
        section, {"kind": "badge", "name": "Soon", "price": 1, "availableFrom": later}
    )

    assert "not on sale now" in _buy(backend_empty_hub, alice, future, "f").json()["error"]
    assert _buy(backend_empty_hub, alice, teal, "a").status_code == 200
    assert _buy(backend_empty_hub, alice, teal, "b").status_code == 409  # already owned
    poor = _buy(backend_empty_hub, alice, gold, "c")
    assert poor.status_code == 402 and "100 needed, 50 available" in poor.json()["error"]
    assert _buy(backend_empty_hub, alice, 2**63, "d").status_code == 422
    assert _buy(backend_empty_hub, alice, 999, "e").status_code == 404

    assert (
        httpx.put(f"{backend_empty_hub.api}/shop/items/{teal}/equip", headers=_auth(alice)).json()["equipped"]
        is True
    )
    profile = httpx.get(f"{backend_empty_hub.api}/users/alice").json()
    assert profile["cosmetics"]["nameColor"]["value"] == "#2a9d8f"
    assert (
        httpx.delete(f"{backend_empty_hub.api}/shop/items/{teal}/equip", headers=_auth(alice)).status_code
        == 200
    )
    assert httpx.get(f"{backend_empty_hub.api}/users/alice").json()["cosmetics"] == {}
    assert (
        httpx.put(f"{backend_empty_hub.api}/shop/items/{gold}/equip", headers=_auth(alice)).status_code == 404
    )
    owned = httpx.get(f"{backend_empty_hub.api}/shop/owned", headers=_auth(alice)).json()["items"]
    assert [(o["name"], o["equipped"]) for o in owned] == [("Teal", False)]
    assert backend_empty_hub.store.ledger_problems() == []
