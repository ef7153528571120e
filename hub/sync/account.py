"""Pulling the account's private feed (`/api/v1/sync/mine`, with its API key): its
notifications and its own collections, private ones included.

Like the catalog feed, each page is written with its cursor in one transaction. The feed
belongs to one account on one server: when the key's account or the server differs from the
one synced before, the previous account's notifications and own collections are removed and
the feed starts over, in the same transaction as the first page's bookkeeping.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from hub.store import sync_state
from hub.store.community import (
    delete_collection,
    delete_notification,
    forget_account_data,
    upsert_collections,
    upsert_notifications,
)
from hub.store.database import HubDatabase
from hub.store.settings import get_setting, set_setting
from hub.sync.apply import FeedError, saved_cursor
from hub.sync.client import HubClient

ACCOUNT_FEED = "account"
ACCOUNT_SETTING = "hub_account"  # "<server url> <username>" the account feed belongs to
ACCOUNT_FEED_PATH = "/api/v1/sync/mine"


@dataclass
class AccountSyncReport:
    account: str
    pages: int = 0
    items: int = 0
    cursor: str | None = None


def apply_account_page(
    db: HubDatabase, server_url: str, items: Sequence[Mapping[str, Any]], next_cursor: str | None
) -> int:
    with db.transaction() as conn:
        for position, item in enumerate(sorted(items, key=lambda i: int(i.get("seq", 0)))):
            entity, action = item.get("entity"), item.get("action")
            if action not in ("upsert", "delete"):
                raise FeedError(f"items[{position}].action: unknown {action!r}")
            if entity not in ("notification", "collection"):
                raise FeedError(f"items[{position}].entity: unknown {entity!r}")
            entity_id = int(item["id"])
            data = item.get("data")
            if action == "upsert" and not isinstance(data, Mapping):
                raise FeedError(f"items[{position}].data: a {entity} object is required")
            if entity == "notification":
                if action == "upsert":
                    upsert_notifications(conn, [data])
                else:
                    delete_notification(conn, entity_id)
            elif action == "upsert":
                upsert_collections(conn, [data], mine=True)
            else:
                delete_collection(conn, entity_id, mine=True)
        sync_state.advance(conn, ACCOUNT_FEED, server_url, next_cursor, len(items))
    return len(items)


class AccountSync:
    """Pulls the private feed of the account whose API key `client` sends."""

    def __init__(self, db: HubDatabase, client: HubClient, page_size: int = 500) -> None:
        self.db = db
        self.client = client
        self.page_size = page_size

    def _switch_account(self, username: str) -> None:
        owner = f"{self.client.server_url} {username}"
        with self.db.transaction() as conn:
            if get_setting(conn, ACCOUNT_SETTING) != owner:
                forget_account_data(conn)
                sync_state.forget(conn, ACCOUNT_FEED)
                set_setting(conn, ACCOUNT_SETTING, owner)

    def run(self) -> AccountSyncReport:
        username = self.client.account_name()
        self._switch_account(username)
        report = AccountSyncReport(username)
        cursor = saved_cursor(self.db, self.client.server_url, ACCOUNT_FEED)
        while True:
            page = self.client.feed_page(ACCOUNT_FEED_PATH, cursor, self.page_size)
            items = page["items"]
            next_cursor = page.get("nextCursor") or cursor
            if items or next_cursor != cursor:
                apply_account_page(self.db, self.client.server_url, items, next_cursor)
            report.pages += 1
            report.items += len(items)
            cursor = report.cursor = next_cursor
            if not page.get("hasMore") or not items:
                return report
