"""The Buzz ledger (functions of a connection; the caller holds a `BEGIN IMMEDIATE` transaction).

Double entry: a transfer writes one transaction and two entries (-amount from the payer,
+amount to the payee) and moves the two balances in the same transaction. A user's account is
debited by one conditional statement (`... WHERE balance >= amount`, rowcount checked), so no
interleaving of requests takes it below zero; the CHECK on `buzz_accounts` is the backstop.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from typing import Any

from hub.server.store import buzz_events
from hub.server.store.errors import NotFound

SYSTEM_ACCOUNTS = ("rewards", "grants", "shop")
# What each reward pays, granted once per (user, reward, reference).
REWARDS = {"daily_login": 25, "first_upload": 100, "review": 10}


class InsufficientFunds(ValueError):
    """The payer's balance is below the amount."""


@dataclass(frozen=True)
class Transfer:
    id: int
    kind: str
    amount: int
    from_account: int
    to_account: int
    memo: str
    created_at: str
    repeated: bool  # True when the idempotency key had been used: this is the first result

    def as_json(self, conn: sqlite3.Connection) -> dict[str, Any]:
        return {
            "id": self.id,
            "kind": self.kind,
            "amount": self.amount,
            "from": account_name(conn, self.from_account),
            "to": account_name(conn, self.to_account),
            "memo": self.memo,
            "createdAt": self.created_at,
            "repeated": self.repeated,
        }


def user_account(conn: sqlite3.Connection, user_id: int) -> int:
    """The account of a user, opened on first use."""
    conn.execute("INSERT INTO buzz_accounts (user_id) VALUES (?) ON CONFLICT DO NOTHING", (user_id,))
    return int(conn.execute("SELECT id FROM buzz_accounts WHERE user_id = ?", (user_id,)).fetchone()[0])


def system_account(conn: sqlite3.Connection, name: str) -> int:
    return int(conn.execute("SELECT id FROM buzz_accounts WHERE system_name = ?", (name,)).fetchone()[0])


def account_name(conn: sqlite3.Connection, account_id: int) -> str:
    row = conn.execute(
        "SELECT COALESCE(u.username, 'system:' || a.system_name) FROM buzz_accounts a "
        "LEFT JOIN users u ON u.id = a.user_id WHERE a.id = ?",
        (account_id,),
    ).fetchone()
    return str(row[0])


def balance(conn: sqlite3.Connection, user_id: int) -> int:
    row = conn.execute("SELECT balance FROM buzz_accounts WHERE user_id = ?", (user_id,)).fetchone()
    return int(row[0]) if row else 0


def _existing(conn: sqlite3.Connection, key: str) -> Transfer | None:
    row = conn.execute(
        "SELECT id, kind, amount, from_account, to_account, memo, created_at FROM buzz_transactions "
        "WHERE idempotency_key = ?",
        (key,),
    ).fetchone()
    return Transfer(**dict(row), repeated=True) if row else None


def transfer(
    conn: sqlite3.Connection,
    key: str,
    kind: str,
    from_account: int,
    to_account: int,
    amount: int,
    memo: str,
    now: str,
) -> Transfer:
    """Move `amount` Buzz once per `key`: a repeated key returns the first transfer unchanged.

    Raises InsufficientFunds (nothing written) when a user account cannot pay."""
    first = _existing(conn, key)
    if first is not None:
        return first
    if amount <= 0:
        raise ValueError("amount must be positive")
    debited = conn.execute(
        "UPDATE buzz_accounts SET balance = balance - ? "
        "WHERE id = ? AND (system_name IS NOT NULL OR balance >= ?)",
        (amount, from_account, amount),
    )
    if debited.rowcount != 1:
        have = conn.execute("SELECT balance FROM buzz_accounts WHERE id = ?", (from_account,)).fetchone()
        raise InsufficientFunds(f"insufficient Buzz: {amount} needed, {have[0] if have else 0} available")
    conn.execute("UPDATE buzz_accounts SET balance = balance + ? WHERE id = ?", (amount, to_account))
    cur = conn.execute(
        "INSERT INTO buzz_transactions (idempotency_key, kind, amount, from_account, to_account, memo, "
        "created_at) VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING id",
        (key, kind, amount, from_account, to_account, memo, now),
    )
    tx_id = int(cur.fetchone()[0])
    conn.executemany(
        "INSERT INTO buzz_entries (transaction_id, account_id, amount) VALUES (?, ?, ?)",
        [(tx_id, from_account, -amount), (tx_id, to_account, amount)],
    )
    total = conn.execute(
        "SELECT SUM(amount) FROM buzz_entries WHERE transaction_id = ?", (tx_id,)
    ).fetchone()[0]
    if total != 0:  # cannot happen with the two rows above; kept as the invariant's guard
        raise AssertionError(f"transaction {tx_id} does not balance ({total})")
    return Transfer(tx_id, kind, amount, from_account, to_account, memo, now, repeated=False)


def user_id_by_name(conn: sqlite3.Connection, username: str) -> int:
    row = conn.execute("SELECT id FROM users WHERE username = ?", (username,)).fetchone()
    if row is None:
        raise NotFound(f"user {username!r} not found")
    return int(row[0])


def tip(
    conn: sqlite3.Connection, user_id: int, to_username: str, amount: int, key: str, memo: str, now: str
) -> dict[str, Any]:
    to_id = user_id_by_name(conn, to_username)
    if to_id == user_id:
        raise ValueError("to: you cannot tip yourself")
    payer, payee = user_account(conn, user_id), user_account(conn, to_id)
    done = transfer(conn, f"u{user_id}:{key}", "tip", payer, payee, amount, memo, now)
    if not done.repeated:
        data = {"toUserId": to_id, "fromUserId": user_id, "amount": amount, "transactionId": done.id}
        buzz_events.emit(conn, buzz_events.BUZZ_RECEIVED, data, f"buzz-received:{done.id}")
    return done.as_json(conn)


def grant(conn: sqlite3.Connection, to_username: str, amount: int, key: str, memo: str, now: str) -> dict:
    to_id = user_id_by_name(conn, to_username)
    done = transfer(
        conn,
        f"grant:{key}",
        "grant",
        system_account(conn, "grants"),
        user_account(conn, to_id),
        amount,
        memo,
        now,
    )
    return done.as_json(conn)


def reward(conn: sqlite3.Connection, user_id: int, name: str, reference: str, now: str) -> dict[str, Any]:
    """Pay reward `name` to the user once per `reference` (a day, a review id; '' for once ever)."""
    done = transfer(
        conn,
        f"reward:{name}:{user_id}:{reference}",
        "reward",
        system_account(conn, "rewards"),
        user_account(conn, user_id),
        REWARDS[name],
        f"{name} {reference}".strip(),
        now,
    )
    return done.as_json(conn)


def history(conn: sqlite3.Connection, user_id: int, limit: int, before: int | None) -> list[dict[str, Any]]:
    """The user's transactions, newest first (`before`: a transaction id to page from)."""
    account = user_account(conn, user_id)
    rows = conn.execute(
        "SELECT t.id, t.kind, e.amount AS change, t.amount, t.from_account, t.to_account, t.memo, "
        "t.created_at FROM buzz_entries e JOIN buzz_transactions t ON t.id = e.transaction_id "
        "WHERE e.account_id = ? AND (CAST(? AS INTEGER) IS NULL OR t.id < ?) ORDER BY t.id DESC LIMIT ?",
        (account, before, before, limit),
    ).fetchall()
    return [
        {
            "id": r["id"],
            "kind": r["kind"],
            "change": r["change"],
            "amount": r["amount"],
            "from": account_name(conn, r["from_account"]),
            "to": account_name(conn, r["to_account"]),
            "memo": r["memo"],
            "createdAt": r["created_at"],
        }
        for r in rows
    ]


def ledger_problems(conn: sqlite3.Connection) -> list[str]:
    """Every way the ledger breaks its invariants (empty when consistent): a transaction whose
    entries do not sum to zero, an account whose balance differs from its entries' sum, a user
    account below zero."""
    problems = [
        f"transaction {r[0]} sums to {r[1]}"
        for r in conn.execute(
            "SELECT t.id, COALESCE(SUM(e.amount), 0) s FROM buzz_transactions t "
            "LEFT JOIN buzz_entries e ON e.transaction_id = t.id GROUP BY t.id HAVING COALESCE(SUM(e.amount), 0) <> 0 "
            "OR COUNT(e.id) <> 2"
        )
    ]
    problems += [
        f"account {r[0]} balance {r[1]} but entries sum to {r[2]}"
        for r in conn.execute(
            "SELECT id, balance, s FROM (SELECT a.id, a.balance, COALESCE((SELECT SUM(amount) "
            "FROM buzz_entries e WHERE e.account_id = a.id), 0) AS s FROM buzz_accounts a) AS sums "
            "WHERE balance <> s"
        )
    ]
    problems += [
        f"user account {r[0]} is negative ({r[1]})"
        for r in conn.execute(
            "SELECT id, balance FROM buzz_accounts WHERE user_id IS NOT NULL AND balance < 0"
        )
    ]
    return problems


def entry_count(conn: sqlite3.Connection) -> int:
    return int(conn.execute("SELECT COUNT(*) FROM buzz_entries").fetchone()[0])


def leaderboard(conn: sqlite3.Connection, limit: int) -> list[dict[str, Any]]:
    """Creators by Buzz received (tips), most first."""
    rows = conn.execute(
        "SELECT u.username, SUM(t.amount) AS buzz FROM buzz_transactions t "
        "JOIN buzz_accounts a ON a.id = t.to_account JOIN users u ON u.id = a.user_id "
        "WHERE t.kind = 'tip' GROUP BY u.id ORDER BY buzz DESC, u.username LIMIT ?",
        (limit,),
    ).fetchall()
    return [{"username": r["username"], "buzzReceived": r["buzz"]} for r in rows]
