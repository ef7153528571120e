"""Buzz through the real server: grants, tips, history, idempotency keys, rewards once, no
negative balance under 50 concurrent spenders, the ledger balanced over every row."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from tests.hub.server.conftest import RunningHub, model_metadata, register, safetensors_bytes, upload_model


def _auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def _grant(hub: RunningHub, admin: str, to: str, amount: int, key: str) -> httpx.Response:
    body = {"to": to, "amount": amount, "idempotencyKey": key}
    return httpx.post(f"{hub.api}/buzz/grants", json=body, headers=_auth(admin))


def _balance(hub: RunningHub, key: str) -> int:
    response = httpx.get(f"{hub.api}/buzz/balance", headers=_auth(key))
    assert response.status_code == 200, response.text
    return response.json()["balance"]


def test_grant_tip_history_and_idempotency(backend_empty_hub: RunningHub) -> None:
    admin = register(backend_empty_hub.api, "admin")  # the first account is the admin
    alice, bob = register(backend_empty_hub.api, "alice"), register(backend_empty_hub.api, "bob")
    first = _grant(backend_empty_hub, admin, "alice", 100, "g1")
    assert first.status_code == 200, first.text
    again = _grant(backend_empty_hub, admin, "alice", 100, "g1")
    assert again.json()["id"] == first.json()["id"] and again.json()["repeated"] is True
    assert _balance(backend_empty_hub, alice) == 100
    assert _grant(backend_empty_hub, alice, "alice", 5, "x").status_code == 403  # admins only

    tip = {"to": "bob", "amount": 30, "idempotencyKey": "t1", "memo": "nice model"}
    done = httpx.post(f"{backend_empty_hub.api}/buzz/tips", json=tip, headers=_auth(alice))
    assert done.status_code == 200 and done.json()["from"] == "alice" and done.json()["to"] == "bob"
    repeat = httpx.post(f"{backend_empty_hub.api}/buzz/tips", json=tip | {"amount": 99}, headers=_auth(alice))
    assert repeat.json()["id"] == done.json()["id"] and repeat.json()["amount"] == 30
    assert (_balance(backend_empty_hub, alice), _balance(backend_empty_hub, bob)) == (70, 30)

    broke = httpx.post(
        f"{backend_empty_hub.api}/buzz/tips",
        json=tip | {"idempotencyKey": "t2", "amount": 71},
        headers=_auth(alice),
    )
    assert broke.status_code == 402 and "71 needed, 70 available" in broke.json()["error"]
    itself = httpx.post(
        f"{backend_empty_hub.api}/buzz/tips",
        json=tip | {"to": "alice", "idempotencyKey": "t3"},
        headers=_auth(alice),
    )
    assert itself.status_code == 400 and "yourself" in itself.json()["error"]
    nobody = httpx.post(
        f"{backend_empty_hub.api}/buzz/tips",
        json=tip | {"to": "nobody", "idempotencyKey": "t4"},
        headers=_auth(alice),
    )
    assert nobody.status_code == 404
    bad = httpx.post(
        f"{backend_empty_hub.api}/buzz/tips",
        json={"to": "bob", "amount": 0, "extra": 1},
        headers=_auth(alice),
    )
    assert bad.status_code == 400
    assert all(f in bad.json()["error"] for f in ("amount", "idempotencyKey", "extra"))
    assert httpx.get(f"{backend_empty_hub.api}/buzz/balance").status_code == 401

    history = httpx.get(f"{backend_empty_hub.api}/buzz/transactions", headers=_auth(alice)).json()["items"]
    assert [(h["kind"], h["change"]) for h in history] == [("tip", -30), ("grant", 100)]
    assert backend_empty_hub.store.ledger_problems() == []


def test_rewards_are_granted_once(backend_empty_hub: RunningHub) -> None:
    register(backend_empty_hub.api, "admin")
    alice = register(backend_empty_hub.api, "alice")
    claims = [
        httpx.put(f"{backend_empty_hub.api}/buzz/rewards/daily-login", headers=_auth(alice)) for _ in range(3)
    ]
    assert len({c.json()["id"] for c in claims}) == 1 and _balance(backend_empty_hub, alice) == 25
    for n in range(2):
        files = [(f"m{n}.safetensors", safetensors_bytes(seed=n))]
        meta = model_metadata(f"Model {n}", files=[{"name": f"m{n}.safetensors"}])
        assert upload_model(backend_empty_hub.api, alice, meta, files).status_code == 201
    rewards = [
        h
        for h in httpx.get(f"{backend_empty_hub.api}/buzz/transactions", headers=_auth(alice)).json()["items"]
    ]
    assert sorted(h["memo"] for h in rewards if h["kind"] == "reward")[1] == "first_upload"
    assert _balance(backend_empty_hub, alice) == 125  # one first-upload reward for two uploads
    assert backend_empty_hub.store.ledger_problems() == []


@pytest.mark.slow
def test_fifty_concurrent_spenders_never_overdraw(backend_empty_hub: RunningHub) -> None:
    admin = register(backend_empty_hub.api, "admin")
    alice = register(backend_empty_hub.api, "alice")
    register(backend_empty_hub.api, "bob")
    assert _grant(backend_empty_hub, admin, "alice", 100, "seed").status_code == 200

    def spend(n: int) -> httpx.Response:
        body = {"to": "bob", "amount": 10, "idempotencyKey": f"spend-{n}"}
        return httpx.post(f"{backend_empty_hub.api}/buzz/tips", json=body, headers=_auth(alice), timeout=60)

    with ThreadPoolExecutor(50) as pool:
        answers = list(pool.map(spend, range(50)))
    codes = sorted(a.status_code for a in answers)
    assert codes.count(200) == 10 and codes.count(402) == 40, codes
    assert all("insufficient Buzz" in a.json()["error"] for a in answers if a.status_code == 402)
    assert _balance(backend_empty_hub, alice) == 0
    assert backend_empty_hub.store.ledger_problems() == []


def test_bulk_ledger_history_keeps_the_invariants(tmp_path) -> None:
    """The benchmarks' large ledger (bench/buzz.py --ledger-entries) is a consistent one:
    balanced transactions, balances equal to their entries, nobody below zero; then a real
    transfer on top of it is still checked."""
    from hub.server.store import ServerStore

    store = ServerStore(tmp_path / "hub")
    try:
        ids = []
        for name in ("ann", "bob", "cy"):
            ids.append(store.create_user(name, None).id)
            store.grant_buzz(name, 30, f"start-{name}", "start")
        before = store.ledger_entry_count()
        assert store.bulk_ledger_history(2_000, seed=1) == 4_000
        assert store.ledger_entry_count() == before + 4_000
        assert store.ledger_problems() == []
        balances = [store.buzz_balance(user_id) for user_id in ids]
        assert sum(balances) > 90 and min(balances) >= 0
    finally:
        store.close()
