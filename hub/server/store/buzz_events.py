"""How Buzz and the shop announce "Buzz received" and "purchase done" to notifications:
as events queued in the caller's transaction (`job_queue.emit_event`), processed by the
notification worker like every other event (hub/server/notify/events.py)."""

from __future__ import annotations

import sqlite3
import time
from typing import Any

from hub.server.event_names import BUZZ_RECEIVED, PURCHASE_DONE
from hub.server.store.job_queue import emit_event

__all__ = ["BUZZ_RECEIVED", "PURCHASE_DONE", "emit"]


def emit(conn: sqlite3.Connection, event_type: str, data: dict[str, Any], key: str) -> None:
    """Queue an event inside the caller's transaction (keyed: a repeat is one event).

    BUZZ_RECEIVED data: {toUserId, fromUserId, amount, transactionId};
    PURCHASE_DONE data: {userId, itemId, itemName, price, transactionId}."""
    emit_event(conn, event_type, data, key, time.time())
