"""The local hub database: catalog mirror, sync state, downloads, local files, index queue."""

from hub.store.catalog import delete_creator, delete_model, get_model, upsert_creator, upsert_model
from hub.store.database import HubDatabase

__all__ = ["HubDatabase", "delete_creator", "delete_model", "get_model", "upsert_creator", "upsert_model"]
