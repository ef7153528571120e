"""Pulling the hub server's change feed into the local store."""

from hub.sync.account import AccountSync, AccountSyncReport, apply_account_page
from hub.sync.apply import FEED, FeedError, apply_page, saved_cursor
from hub.sync.client import CatalogSync, HubClient, HubUnavailable, SyncReport
from hub.sync.errors import AccountRefused
from hub.sync.previews import PreviewFetcher, PreviewReport

__all__ = [
    "FEED",
    "AccountRefused",
    "AccountSync",
    "AccountSyncReport",
    "CatalogSync",
    "FeedError",
    "HubClient",
    "HubUnavailable",
    "PreviewFetcher",
    "PreviewReport",
    "SyncReport",
    "apply_account_page",
    "apply_page",
    "saved_cursor",
]
