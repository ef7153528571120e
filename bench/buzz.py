"""Buzz benchmark: concurrent tips per second through a real hub server process, with the
ledger checked afterwards (every transaction balanced, balances equal to their entries, no
user below zero).

    python bench/buzz.py                       # 200 users, 16 client threads, 10 s
    python bench/buzz.py --users 50 --threads 8 --seconds 5
    python bench/buzz.py --users 10000 --ledger-entries 1000000   # the issue's ledger size

`--ledger-entries N` first writes N/2 balanced past transfers between those users (two entries
each; `ServerStore.bulk_ledger_history`), so the tips run against a ledger of that size, and
the closing consistency check reads all of it (its time is reported as `ledgerCheckSeconds`).

`tips_per_second` is the function bench/community.py calls for its "concurrent tips per
second" figure. The server runs as its own process with rate limits off; clients are threads
with keep-alive httpx clients in this process. Every tip is accepted or refused (402) as the
payer's balance allows; both count as answered.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from hub.server.auth import key_hash  # noqa: E402
from hub.server.store import ServerStore  # noqa: E402


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def tips_per_second(
    data_dir: Path, users: int = 200, threads: int = 16, seconds: float = 10.0, ledger_entries: int = 0
) -> dict:
    """Seed `users` accounts with 1,000 Buzz each in `data_dir` (and `ledger_entries` entries
    of past transfers), serve it, tip between random pairs from `threads` clients for
    `seconds`; returns the figures and the ledger check."""
    store = ServerStore(data_dir)
    keys = []
    for n in range(users):
        name = f"tipper{n:05d}"
        user = store.user_by_name(name) or store.create_user(name, None, "user")
        keys.append((name, f"atl_bench_{name}"))
        store.add_api_key(user.id, key_hash(keys[-1][1]), "bench")
        store.grant_buzz(name, 1000, f"bench-start:{name}", "bench")
    history_started = time.monotonic()
    written = store.bulk_ledger_history(ledger_entries // 2) if ledger_entries else 0
    history_seconds = time.monotonic() - history_started
    store.close()
    port = _free_port()
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "hub.server",
            "--data",
            str(data_dir),
            "--port",
            str(port),
            "--log-level",
            "warning",
            "--ip-rate-limit",
            "0",
            "--key-rate-limit",
            "0",
            "--stats-refresh",
            "0",
        ],
        env=os.environ | {"PYTHONPATH": str(ROOT)},
        cwd=ROOT,
    )
    api = f"http://127.0.0.1:{port}/api/v1"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                httpx.get(f"{api}/flags")
                break
            except httpx.TransportError:
                if time.monotonic() > deadline or server.poll() is not None:
                    raise RuntimeError("the server did not start") from None
                time.sleep(0.2)
        counts = {"accepted": 0, "refused": 0, "errors": 0}
        lock = threading.Lock()
        stop = time.monotonic() + seconds

        def client(seed: int) -> None:
            rng = random.Random(seed)
            local = {"accepted": 0, "refused": 0, "errors": 0}
            with httpx.Client(timeout=30) as http:
                n = 0
                while time.monotonic() < stop:
                    (_payer, key), (payee, _) = rng.sample(keys, 2)
                    body = {"to": payee, "amount": rng.randint(1, 50), "idempotencyKey": f"b{seed}-{n}"}
                    n += 1
                    status = http.post(
                        f"{api}/buzz/tips", json=body, headers={"Authorization": f"Bearer {key}"}
                    ).status_code
                    local["accepted" if status == 200 else "refused" if status == 402 else "errors"] += 1
            with lock:
                for k, v in local.items():
                    counts[k] += v

        started = time.monotonic()
        workers = [threading.Thread(target=client, args=(i,)) for i in range(threads)]
        for w in workers:
            w.start()
        for w in workers:
            w.join()
        elapsed = time.monotonic() - started
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=30)
    store = ServerStore(data_dir)
    try:
        check_started = time.monotonic()
        problems = store.ledger_problems()
        check_seconds = time.monotonic() - check_started
        entries = store.ledger_entry_count()
    finally:
        store.close()
    answered = counts["accepted"] + counts["refused"]
    return counts | {
        "seconds": round(elapsed, 2),
        "tipsPerSecond": round(counts["accepted"] / elapsed, 1),
        "answersPerSecond": round(answered / elapsed, 1),
        "ledgerProblems": problems,
        "historyEntries": written,
        "historySeconds": round(history_seconds, 1),
        "ledgerEntries": entries,
        "ledgerCheckSeconds": round(check_seconds, 2),
    }


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--users", type=int, default=200)
    parser.add_argument("--threads", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--ledger-entries", type=int, default=0, help="past entries written first")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        result = tips_per_second(
            Path(folder) / "hub", args.users, args.threads, args.seconds, args.ledger_entries
        )
    print(json.dumps(result))
    return 0 if not result["ledgerProblems"] and not result["errors"] else 1


if __name__ == "__main__":
    sys.exit(main())
