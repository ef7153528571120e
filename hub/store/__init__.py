"""The local hub database (`HubDatabase`, `migrations`) and every SQL statement of the local hub,
one module per subject: `catalog` (models, creators, tags, versions, files), `images`,
`articles`, `community` (collections and the account's notifications), `search_rows` (what the
search reads), `index_queue`, `media_queue`, `sync_state`, `settings`, `downloads`,
`local_files`, `jobs`, `outbox` (tips and purchases waiting for the next sync). The other packages call these functions; they write no SQL of their own."""

from hub.store.catalog import delete_creator, delete_model, get_model, upsert_creator, upsert_model
from hub.store.database import HubDatabase

__all__ = ["HubDatabase", "delete_creator", "delete_model", "get_model", "upsert_creator", "upsert_model"]
