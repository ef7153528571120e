"""Pulling the hub server's change feed into the local store."""

from hub.sync.apply import FEED, FeedError, apply_page, saved_cursor
from hub.sync.client import CatalogSync, HubClient, HubUnavailable, SyncReport
from hub.sync.previews import PreviewFetcher, PreviewReport

__all__ = [
    "FEED",
    "CatalogSync",
    "FeedError",
    "HubClient",
    "HubUnavailable",
    "PreviewFetcher",
    "PreviewReport",
    "SyncReport",
    "apply_page",
    "saved_cursor",
]
