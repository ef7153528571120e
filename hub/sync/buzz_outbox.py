"""What sync does for the signed-in user besides the catalog: push the outbox (tips and
purchases made offline) exactly once each, then fetch the feature flags that apply to the user,
their Buzz balance and latest transactions, the shop and the cosmetics they own, kept in
`settings` for offline use.

Exactly once: every entry is sent with its own idempotency key, and the server returns the
first result for a key it has seen; so an entry whose answer was lost (crash, timeout) is sent
again on the next sync and marked done then, never applied twice.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import httpx

from hub.store import outbox
from hub.store.database import HubDatabase
from hub.store.settings import get_setting, set_setting

FLAGS_SETTING = "feature_flags"
WALLET_SETTING = "buzz_balance"
SHOP_SETTING = "shop"
HISTORY_SETTING = "buzz_history"  # the newest transactions, as of the last sync
OWNED_SETTING = "shop_owned"  # the account's cosmetics (equipped or not), as of the last sync
HISTORY_KEPT = 50
# Answers that settle an entry for good: the server refused it and would again.
REFUSALS = {400, 402, 404, 409, 422}


@dataclass
class PushReport:
    done: int = 0
    refused: int = 0
    waiting: int = 0
    problems: list[str] = field(default_factory=list)


def _request(entry: outbox.OutboxEntry) -> tuple[str, dict[str, Any]]:
    if entry.kind == "tip":
        body = {k: entry.payload[k] for k in ("to", "amount", "memo") if k in entry.payload}
        return "/api/v1/buzz/tips", body | {"idempotencyKey": entry.idempotency_key}
    return f"/api/v1/shop/items/{entry.payload['itemId']}/purchase", {"idempotencyKey": entry.idempotency_key}


def push_outbox(db: HubDatabase, http: httpx.Client, key: str) -> PushReport:
    """Send every pending entry in order; stop at the first one that gets no answer (it and the
    ones after stay pending for the next sync)."""
    report = PushReport()
    headers = {"Authorization": f"Bearer {key}"}
    pending = outbox.entries(db.conn, "pending")
    for n, entry in enumerate(pending):
        path, body = _request(entry)
        try:
            response = http.post(path, json=body, headers=headers)
        except httpx.TransportError as exc:
            answer, status = f"{type(exc).__name__}: {exc}", None
        else:
            status = response.status_code
            answer = _error_of(response)
        with db.transaction() as conn:
            if status == 200:
                outbox.mark(conn, entry.id, "done", result=response.json())
                report.done += 1
                continue
            if status in REFUSALS:
                outbox.mark(conn, entry.id, "refused", error=f"HTTP {status}: {answer}")
                report.refused += 1
                continue
            outbox.attempted(conn, entry.id, f"HTTP {status}: {answer}" if status else answer)
        report.waiting = len(pending) - n
        report.problems.append(f"outbox #{entry.id}: {answer}; left pending")
        break
    return report


def _error_of(response: httpx.Response) -> str:
    try:
        return str(response.json().get("error", response.text[:200]))
    except ValueError:
        return response.text[:200]


def fetch_user_state(db: HubDatabase, http: httpx.Client, key: str | None) -> dict[str, Any]:
    """The flags that apply to the user (anonymous without a key), their balance and the shop,
    saved in `settings`; returns what was saved. A feature that is off is skipped."""
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    saved: dict[str, Any] = {}
    flags = http.get("/api/v1/flags", headers=headers)
    if flags.status_code == 200:
        saved[FLAGS_SETTING] = flags.json()["flags"]
    if key and saved.get(FLAGS_SETTING, {}).get("buzz"):
        balance = http.get("/api/v1/buzz/balance", headers=headers)
        if balance.status_code == 200:
            saved[WALLET_SETTING] = balance.json()["balance"]
        history = http.get("/api/v1/buzz/transactions", params={"limit": HISTORY_KEPT}, headers=headers)
        if history.status_code == 200:
            saved[HISTORY_SETTING] = history.json()["items"]
    if saved.get(FLAGS_SETTING, {}).get("shop"):
        shop = http.get("/api/v1/shop", headers=headers)
        if shop.status_code == 200:
            saved[SHOP_SETTING] = shop.json()["sections"]
        owned = http.get("/api/v1/shop/owned", headers=headers) if key else None
        if owned is not None and owned.status_code == 200:
            saved[OWNED_SETTING] = owned.json()["items"]
    with db.transaction() as conn:
        for name, value in saved.items():
            set_setting(conn, name, json.dumps(value))
    return saved


def saved(db: HubDatabase, name: str) -> Any:
    text = get_setting(db.conn, name)
    return json.loads(text) if text else None
