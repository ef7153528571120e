"""The seam through which Buzz and the shop announce "Buzz received" and "purchase done" to
notifications (issue #17).

The notifications' event registry and job queue (`job_queue.emit_event`, another branch) are
not on main yet: until they land, `emit` records nothing. When they land, `emit` calls
`job_queue.emit_event(conn, event_type, data, key, time.time())` inside the caller's
transaction and the registry gets processors for these two types; the call sites (the tip and
purchase transactions in buzz.py and shop.py) stay as they are.
"""

from __future__ import annotations

import sqlite3
from typing import Any

BUZZ_RECEIVED = "buzz_received"  # data: {toUserId, fromUsername, amount, transactionId}
PURCHASE_DONE = "purchase_done"  # data: {userId, itemId, itemName, price, transactionId}


def emit(conn: sqlite3.Connection, event_type: str, data: dict[str, Any], key: str) -> None:
    """Announce an event inside the caller's transaction (keyed: a repeat is one event)."""
    del conn, event_type, data, key  # the seam: see the module docstring
