"""The hub account in the studio, over a real studio and a real seeded hub server on loopback:
the server URL and API key saved with the studio's settings (the key never shown in full), the
wallet (balance, history) and the shop synced for offline use, purchases and tips queued in the
outbox and pushed by the next sync (a refusal kept with its reason, then retried), the unread
notifications count, and the models folder scanned at start and now and then by itself."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from hub.server.seed import seed_catalog
from studio.cli.serve import parse_args
from studio.config import load_config
from studio.hub_service import StudioHub
from tests.hub.server.conftest import RunningHub, register, running_hub
from tests.studio.http.conftest import LiveServer, make_config, serve

pytestmark = pytest.mark.slow


def wait_for(check: Any, timeout: float = 60) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError("timed out")


@pytest.fixture(scope="module")
def hub_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[RunningHub, dict[str, str]]]:
    """A seeded hub server (with its shop) and three accounts: an admin, alice (the studio's
    account: 50 Buzz granted, 10 tipped by bob) and bob."""
    folder = tmp_path_factory.mktemp("hub-server")
    seed_catalog(folder, 12, seed=3, unique_files=3)
    with running_hub(folder) as hub:
        keys = {name: register(hub.api, name) for name in ("boxadmin", "alice", "bob")}
        grant(hub, keys, "alice", 50, "a")
        grant(hub, keys, "bob", 100, "b")
        tip = httpx.post(
            f"{hub.api}/buzz/tips",
            json={"to": "alice", "amount": 10, "idempotencyKey": "t", "memo": "for the wash"},
            headers={"Authorization": f"Bearer {keys['bob']}"},
        )
        assert tip.status_code == 200, tip.text
        wait_for(  # the server's worker turns the tip into alice's notification
            lambda: httpx.get(
                f"{hub.api}/notifications", headers={"Authorization": f"Bearer {keys['alice']}"}
            ).json()["items"]
        )
        yield hub, keys


def grant(hub: RunningHub, keys: dict[str, str], to: str, amount: int, key: str) -> None:
    response = httpx.post(
        f"{hub.api}/buzz/grants",
        json={"to": to, "amount": amount, "idempotencyKey": key},
        headers={"Authorization": f"Bearer {keys['boxadmin']}"},
    )
    assert response.status_code == 200, response.text


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory, tiny_model_dir: Path) -> Iterator[LiveServer]:
    server = serve(make_config(tmp_path_factory.mktemp("hubaccount"), tiny_model_dir))
    yield server
    server.stop()


def sync(base: str) -> dict[str, Any]:
    job = httpx.post(f"{base}/sync", json={}).json()["job"]
    return wait_for(
        lambda: (
            (status := httpx.get(f"{base}/sync").json())["job"]["id"] == job
            and status["job"]["status"] == "done"
            and status
        )
    )


def test_the_models_folder_is_scanned_at_start(live: LiveServer) -> None:
    files = wait_for(lambda: httpx.get(f"{live.url}/studio/v1/hub/local").json())  # no POST /scan
    assert files and all(not f["linked"] for f in files)  # the tiny model: not in any catalog


def test_account_wallet_shop_outbox_and_badge(live: LiveServer, hub_server: Any) -> None:
    hub, keys = hub_server
    base = f"{live.url}/studio/v1/hub"
    saved = httpx.put(f"{base}/account", json={"server": hub.url, "apiKey": keys["alice"]})
    assert saved.status_code == 200, saved.text
    assert saved.json() == {"server": hub.url, "apiKey": "••••" + keys["alice"][-4:], "hasApiKey": True}
    assert keys["alice"] not in httpx.get(f"{base}/account").text
    assert keys["alice"] not in httpx.get(f"{live.url}/sdapi/v1/cmd-flags").text
    config_file = json.loads(live.services.config.config_file.read_text())
    assert config_file["hub_server"] == hub.url and config_file["hub_api_key"] == keys["alice"]
    assert httpx.get(f"{base}/status").json()["unread"] == 0

    sync(base)
    wallet = httpx.get(f"{base}/wallet").json()
    assert wallet["enabled"] and wallet["balance"] == 60
    assert {t["amount"] for t in wallet["history"]} >= {50, 10}
    assert httpx.get(f"{base}/status").json()["unread"] >= 1  # bob's tip
    shop = httpx.get(f"{base}/shop").json()
    items = {item["name"]: item for section in shop["sections"] for item in section["items"]}
    teal = items["Teal"]  # 150 Buzz: more than alice has
    assert shop["owned"] == []

    bought = httpx.post(f"{base}/shop/{teal['id']}/buy")
    tipped = httpx.post(f"{base}/wallet/tips", json={"to": "bob", "amount": 5, "memo": "thanks"})
    assert bought.status_code == tipped.status_code == 200
    outbox = httpx.get(f"{base}/outbox").json()
    assert [e["state"] for e in outbox] == ["pending", "pending"]
    assert httpx.get(f"{base}/status").json()["outboxPending"] == 2
    assert httpx.get(f"{base}/wallet").json()["pendingTips"] == 5

    sync(base)
    states = {e["kind"]: e for e in httpx.get(f"{base}/outbox").json()}
    assert states["purchase"]["state"] == "refused" and "Buzz" in states["purchase"]["error"]
    assert states["tip"]["state"] == "done"
    assert httpx.get(f"{base}/wallet").json()["balance"] == 55

    grant(hub, keys, "alice", 200, "c")
    retried = httpx.post(f"{base}/outbox/{states['purchase']['id']}/retry")
    assert retried.status_code == 200, retried.text
    job = retried.json()["job"]
    wait_for(lambda: httpx.get(f"{base}/sync").json()["job"] == {"id": job, "status": "done", "error": None})
    assert httpx.get(f"{base}/outbox").json()[-1]["state"] == "done"  # oldest last: the purchase
    owned = httpx.get(f"{base}/shop").json()["owned"]
    assert [item["name"] for item in owned] == ["Teal"]
    equipped = httpx.put(f"{base}/shop/{teal['id']}/equip")
    assert equipped.status_code == 200 and equipped.json()["equipped"] is True
    assert httpx.post(f"{base}/outbox/{states['tip']['id']}/retry").status_code == 404  # done

    forgotten = httpx.put(f"{base}/account", json={"apiKey": None})  # the server is kept
    assert forgotten.json() == {"server": hub.url, "apiKey": None, "hasApiKey": False}
    assert json.loads(live.services.config.config_file.read_text())["hub_api_key"] is None
    assert httpx.get(f"{base}/status").json()["unread"] == 0  # the account's data went with it
    assert httpx.get(f"{base}/wallet").json()["balance"] is None
    assert httpx.get(f"{base}/shop").json()["owned"] == []


def test_bad_account_wallet_and_shop_input_names_every_field(live: LiveServer) -> None:
    base = f"{live.url}/studio/v1/hub"
    bad = httpx.put(f"{base}/account", json={"server": "ftp://x", "apiKey": "••••abcd", "user": 1})
    assert bad.status_code == 422
    assert {tuple(e["loc"])[-1] for e in bad.json()["detail"]} == {"server", "apiKey", "user"}
    tip = httpx.post(f"{base}/wallet/tips", json={"to": "", "amount": 0})
    assert {tuple(e["loc"])[-1] for e in tip.json()["detail"]} == {"to", "amount"}
    assert httpx.post(f"{base}/shop/0/buy").status_code == 422
    assert httpx.post(f"{base}/outbox/999/retry").status_code == 404


def test_hub_account_from_the_command_line_and_environment(tmp_path: Path) -> None:
    args = parse_args(["--hub-server", "http://127.0.0.1:9", "--hub-api-key", "k-123"])
    assert (args.hub_server, args.hub_api_key) == ("http://127.0.0.1:9", "k-123")
    config = load_config({"data_dir": tmp_path}, environ={"ATELIER_HUB_API_KEY": "from-env"})
    assert config.hub_api_key == "from-env" and config.hub_server is None
    hub = StudioHub(tmp_path, tmp_path / "models", account={"hub_server": "http://127.0.0.1:9"})
    hub.start()
    try:
        assert hub.account() == {"server": "http://127.0.0.1:9", "apiKey": None, "hasApiKey": False}
    finally:
        hub.stop()


def test_files_that_appear_are_scanned_and_counted(tmp_path: Path) -> None:
    refreshed: list[int] = []
    models = tmp_path / "models"
    (models / "Lora").mkdir(parents=True)
    hub = StudioHub(tmp_path, models, on_files_changed=lambda: refreshed.append(1), scan_every_s=0.2)
    hub.start()
    try:
        before = hub.status()["modelsVersion"]
        (models / "Lora" / "new.safetensors").write_bytes(b"a new file")
        wait_for(lambda: any(Path(f["path"]).name == "new.safetensors" for f in hub.local_files()), 30)
        wait_for(lambda: hub.status()["modelsVersion"] > before, 10)
        assert refreshed
    finally:
        hub.stop()
