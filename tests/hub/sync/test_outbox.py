"""Tips and purchases made offline in the local hub: queued in the outbox, pushed by `hub sync`
exactly once (a push whose answer was lost is sent again and applied once), refusals kept with
the server's reason (insufficient Buzz, sold out) and shown by `hub outbox`; the user's flags,
balance and shop come back with the sync."""

from __future__ import annotations

import json

import httpx

from hub.cli import main
from hub.server.store import ServerStore
from hub.store import HubDatabase
from tests.hub.conftest import seed_server


def _register(api: str, name: str) -> str:
    response = httpx.post(
        f"{api}/auth/register", json={"username": name, "password": "correct horse battery"}
    )
    assert response.status_code == 201, response.text
    return response.json()["apiKey"]


def test_outbox_pushed_once_with_refusals(tmp_path, live_server_factory, capsys):
    server_dir = seed_server(tmp_path / "server", 5)
    store = ServerStore(server_dir)
    section = store.add_shop_section("Limited")
    last_one = store.add_shop_item(section, {"kind": "badge", "name": "Last one", "price": 10, "quantity": 1})
    contested = store.add_shop_item(
        section, {"kind": "decoration", "name": "Contested", "price": 5, "quantity": 1}
    )
    store.close()
    server = live_server_factory(server_dir)
    api = f"{server.url}/api/v1"
    admin, alice, bob = _register(api, "boxadmin"), _register(api, "alice"), _register(api, "bob")
    headers = {"Authorization": f"Bearer {admin}"}
    assert (
        httpx.post(
            f"{api}/buzz/grants", json={"to": "alice", "amount": 100, "idempotencyKey": "a"}, headers=headers
        ).status_code
        == 200
    )
    data = ["--data-dir", str(tmp_path / "studio")]

    # offline: nothing reaches the server until the sync
    assert main(["tip", "bob", "30", "--memo", "thanks", "--api-key", alice, *data]) == 0
    assert main(["tip", "bob", "5000", *data]) == 0
    assert main(["buy", str(last_one), *data]) == 0
    assert "queued purchase" in capsys.readouterr().out
    assert httpx.get(f"{api}/buzz/balance", headers={"Authorization": f"Bearer {bob}"}).json()["balance"] == 0
    bob_buys = httpx.post(
        f"{api}/shop/items/{last_one}/purchase",
        json={"idempotencyKey": "b"},
        headers={"Authorization": f"Bearer {bob}"},
    )
    assert bob_buys.status_code == 402  # bob has no Buzz yet: the item is still there

    assert main(["sync", "--server", server.url, *data]) == 0
    assert "outbox: 2 sent, 1 refused" in capsys.readouterr().out
    assert main(["outbox", *data]) == 0
    listed = capsys.readouterr().out.splitlines()
    assert "done" in listed[0] and "refused" in listed[1] and "insufficient Buzz" in listed[1]
    assert "done" in listed[2] and "buy shop item" in listed[2]

    # an answer lost after the server applied the tip: the next sync sends it again, once
    with HubDatabase(tmp_path / "studio" / "hub-data" / "hub.db") as db, db.transaction() as conn:
        conn.execute("UPDATE outbox SET state = 'pending', result = NULL WHERE id = 1")
    assert main(["sync", *data]) == 0
    assert "outbox: 1 sent" in capsys.readouterr().out
    assert (
        httpx.get(f"{api}/buzz/balance", headers={"Authorization": f"Bearer {bob}"}).json()["balance"] == 30
    )
    assert main(["outbox", "--json", *data]) == 0
    entries = json.loads(capsys.readouterr().out)
    assert entries[0]["state"] == "done" and entries[0]["result"]["repeated"] is True

    # sold out: someone else bought the last unit before the queued purchase went out
    assert main(["buy", str(contested), *data]) == 0
    assert main(["buy", str(last_one), *data]) == 0  # already owned: refused too
    carol = _register(api, "carol")
    httpx.post(
        f"{api}/buzz/grants", json={"to": "carol", "amount": 50, "idempotencyKey": "c"}, headers=headers
    )
    carol_buys = httpx.post(
        f"{api}/shop/items/{contested}/purchase",
        json={"idempotencyKey": "c"},
        headers={"Authorization": f"Bearer {carol}"},
    )
    assert carol_buys.status_code == 200
    assert main(["sync", *data]) == 0
    assert "0 sent, 2 refused" in capsys.readouterr().out
    assert main(["outbox", *data]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert "refused" in lines[-2] and "sold out" in lines[-2] and "you already own" in lines[-1]

    assert main(["wallet", "--json", *data]) == 0
    wallet = json.loads(capsys.readouterr().out)
    assert (wallet["balance"], wallet["pendingTips"]) == (60, 0)
    assert wallet["history"][0]["amount"] > 0  # the latest transactions, as of the sync
    assert main(["flags", *data]) == 0
    assert "buzz" in capsys.readouterr().out
    assert main(["shop", *data]) == 0
    assert "Last one" in capsys.readouterr().out
    assert main(["equip", str(last_one), *data]) == 0
    assert httpx.get(f"{api}/users/alice").json()["cosmetics"]["badge"]["name"] == "Last one"
