"""The hub account in Chromium, against a real studio and a real seeded hub server on loopback:
the server and API key saved in Settings (the key shown masked after saving and after a
reload), a sync from the Hub tab, the unread badge, the wallet, a tip and a purchase queued in
the outbox, pushed by the next sync (the purchase refused for want of Buzz, then retried and
done), the owned cosmetic equipped; then a checkpoint and a LoRA downloaded from the Hub tab
show up in the txt2img model dropdown and the Extra Networks cards without a refresh click."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from hub.server.seed import seed_catalog
from tests.hub.server.conftest import RunningHub, register, running_hub
from tests.studio.http.test_hub_account import grant, wait_for
from tests.studio.ui.test_browser import open_page, shot

pytestmark = [pytest.mark.browser, pytest.mark.slow]


@pytest.fixture(scope="module")
def hub_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[RunningHub, dict[str, str]]]:
    folder = tmp_path_factory.mktemp("hub-server")
    seed_catalog(folder, 12, seed=4, unique_files=4)
    with running_hub(folder) as hub:
        keys = {name: register(hub.api, name) for name in ("boxadmin", "alice", "bob")}
        grant(hub, keys, "alice", 50, "a")
        grant(hub, keys, "bob", 100, "b")
        tip = httpx.post(
            f"{hub.api}/buzz/tips",
            json={"to": "alice", "amount": 10, "idempotencyKey": "t"},
            headers={"Authorization": f"Bearer {keys['bob']}"},
        )
        assert tip.status_code == 200, tip.text
        wait_for(
            lambda: httpx.get(
                f"{hub.api}/notifications", headers={"Authorization": f"Bearer {keys['alice']}"}
            ).json()["items"]
        )
        yield hub, keys


def sync_in_hub_tab(page: Any) -> None:
    """Click "Sync now" and wait until the sync it queued is done (a newer "Last sync")."""
    before = page.inner_text("#hub_sync_status")
    page.click("#hub_sync")
    page.wait_for_function(
        """(before) => {
          const text = document.querySelector('#hub_sync_status').textContent;
          return /Last sync: (?!never)/.test(text) && !text.includes('Syncing') && text !== before;
        }""",
        arg=before,
        timeout=120_000,
    )


def finished_downloads(base: str, count: int) -> list[dict[str, Any]] | None:
    rows = [d for d in httpx.get(f"{base}/downloads").json() if d["status"] == "done"]
    return rows if len(rows) == count else None


def outbox_states(page: Any) -> dict[str, str]:
    page.evaluate("() => { document.querySelector('#hub_account').innerHTML = ''; }")  # no stale rows
    page.click("#hub_outbox_button")
    page.wait_for_selector("#hub_outbox")
    rows = page.locator(".hub-outbox-entry")
    return {
        rows.nth(i).inner_text().split("\t")[1].split()[0]: rows.nth(i).get_attribute("data-state")
        for i in range(rows.count())
    }


def test_account_in_settings_wallet_shop_outbox_and_fresh_model_lists(
    browser: Any, studio: Any, hub_server: Any, artifacts_dir: Path
) -> None:
    hub, keys = hub_server
    key = keys["alice"]
    page = open_page(browser, studio.url)
    page.click("#tab_settings-button")
    page.fill("#settings_hub_server textarea, #settings_hub_server input", hub.url)
    page.fill("#settings_hub_api_key textarea, #settings_hub_api_key input", key)
    page.click("#settings_save")
    page.wait_for_function(
        "() => (document.querySelector('#settings_message')?.textContent || '').includes('hub_api_key')"
    )
    masked_box = "#settings_hub_api_key textarea, #settings_hub_api_key input"
    page.wait_for_function(f"() => document.querySelector({masked_box!r}).value.startsWith('••••')")
    assert page.input_value(masked_box) == "••••" + key[-4:]
    shot(page, artifacts_dir, "hub-account-1-settings")
    page.close()

    page = open_page(browser, studio.url)  # a reload: the key is still shown masked only
    assert key not in page.content()
    page.click("#tab_settings-button")
    assert page.input_value(masked_box) == "••••" + key[-4:]
    page.click("#tab_hub-button")
    page.wait_for_selector("#hub_query")
    page.wait_for_function(f"() => document.querySelector('#hub_server').value === {hub.url!r}")
    sync_in_hub_tab(page)
    page.wait_for_selector("#hub_badge:has-text('1')")  # bob's tip, unread
    page.click("#hub_notifications_button")
    page.wait_for_selector(".hub-notification:has-text('tipped you 10 Buzz')")

    page.click("#hub_wallet_button")
    page.wait_for_selector("#hub_balance:has-text('60')")
    assert page.locator("#hub_history tr").count() >= 3  # a header and two transactions
    page.fill("#hub_tip_to", "bob")
    page.fill("#hub_tip_amount", "5")
    page.click("#hub_tip_send")
    page.wait_for_selector("#hub_tip_message:has-text('Queued')")
    page.click("#hub_shop_button")
    page.locator(".hub-shop-item:has-text('Teal') button.hub-buy").click()  # 150 Buzz: too dear
    page.wait_for_selector(".hub-shop-item:has-text('Teal') .hub-queued")
    page.wait_for_selector("#hub_outbox_button:has-text('2 pending')")
    assert outbox_states(page) == {"Tip": "pending", "Buy": "pending"}
    assert "Buy Teal" in page.inner_text("#hub_outbox")
    shot(page, artifacts_dir, "hub-account-2-outbox-pending")

    sync_in_hub_tab(page)
    assert outbox_states(page) == {"Tip": "done", "Buy": "refused"}
    assert "insufficient Buzz" in page.inner_text(".hub-outbox-entry[data-state=refused]")
    shot(page, artifacts_dir, "hub-account-3-outbox-refused")

    grant(hub, keys, "alice", 200, "c")
    page.click(".hub-outbox-entry[data-state=refused] button.hub-retry")
    wait_for(lambda: outbox_states(page) == {"Tip": "done", "Buy": "done"}, timeout=60)
    page.click("#hub_shop_button")
    page.wait_for_selector(".hub-owned-item:has-text('Teal')")
    page.click(".hub-owned-item:has-text('Teal') button.hub-equip")
    page.wait_for_selector(".hub-owned-item:has-text('Teal'):has-text('Equipped')")
    shot(page, artifacts_dir, "hub-account-4-equipped")

    # downloads: the txt2img dropdown and the Extra Networks cards pick them up by themselves
    base = f"{studio.url.rstrip('/')}/studio/v1/hub"
    downloaded: dict[str, str] = {}
    for kind in ("Checkpoint", "LORA"):
        response = httpx.get(f"{base}/search", params={"types": kind, "nsfw": "any"})
        assert response.status_code == 200, response.text
        found = response.json()["items"]
        page.fill("#hub_query", found[0]["name"])
        page.click(f"#hub_results .hub-item[data-model='{found[0]['id']}']")
        page.wait_for_selector("#hub_model button.hub-download")
        page.locator("#hub_model button.hub-download").first.click()
        page.wait_for_selector("#hub_model .hub-on-disk", timeout=120_000)
        done = wait_for(lambda: finished_downloads(base, len(downloaded) + 1))
        downloaded[kind] = Path(max(done, key=lambda d: d["job"])["path"]).stem
    page.click("#tab_txt2img-button")
    page.locator("#txt2img_model input").first.click()
    page.wait_for_selector(f"ul[role=listbox] li:has-text('{downloaded['Checkpoint']}')", timeout=30_000)
    page.keyboard.press("Escape")
    page.click(
        "#txt2img_extra_networks button:has-text('Extra networks'), #txt2img_extra_networks .label-wrap"
    )
    page.click("#txt2img_networks_lora-button")
    page.wait_for_selector(f"#txt2img_cards_lora .atelier-card[data-name='{downloaded['LORA']}']")
    shot(page, artifacts_dir, "hub-account-5-fresh-lists")
