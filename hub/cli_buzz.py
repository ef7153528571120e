"""The local hub's Buzz, shop and feature-flag commands (part of `hub`, see hub/cli.py):

    hub wallet [--api-key KEY]          Buzz at the last sync, and what pending tips will spend
    hub tip USERNAME AMOUNT [--memo] queue a tip in the outbox (sent by the next `hub sync`)
    hub shop                         the shop as of the last sync
    hub buy ITEM_ID                  queue a purchase in the outbox
    hub equip ITEM_ID [--off]        equip (or unequip) an owned item: online, now
    hub outbox                       every queued tip and purchase: pending, done or refused
    hub flags                        the server's feature flags for this user, as of the last sync

`--api-key KEY` (any of them) remembers the user's API key on the hub server (the same one
`hub sync --api-key` remembers).
"""

from __future__ import annotations

import argparse
import json
import time
from typing import Any

from hub.local import LocalHub


def add_parsers(commands: Any, common: argparse.ArgumentParser) -> None:
    keyed = argparse.ArgumentParser(add_help=False, parents=[common])
    keyed.add_argument("--api-key", help="your API key on the hub server (remembered, as by `hub sync`)")
    wallet = commands.add_parser("wallet", parents=[keyed], help="your Buzz balance (as of the last sync)")
    wallet.add_argument("--json", action="store_true")
    tip = commands.add_parser("tip", parents=[keyed], help="tip a user in Buzz (queued; sent on sync)")
    tip.add_argument("username")
    tip.add_argument("amount", type=int)
    tip.add_argument("--memo", default="")
    shop = commands.add_parser("shop", parents=[keyed], help="the cosmetic shop (as of the last sync)")
    shop.add_argument("--json", action="store_true")
    buy = commands.add_parser("buy", parents=[keyed], help="buy a shop item (queued; sent on sync)")
    buy.add_argument("item_id", type=int)
    equip = commands.add_parser("equip", parents=[keyed], help="equip an owned item (online)")
    equip.add_argument("item_id", type=int)
    equip.add_argument("--off", action="store_true", help="unequip it")
    equip.add_argument("--server", help="hub server URL (default: remembered)")
    box = commands.add_parser("outbox", parents=[keyed], help="queued tips and purchases and their state")
    box.add_argument("--json", action="store_true")
    commands.add_parser("flags", parents=[keyed], help="feature flags for you (as of the last sync)")


def _remember_key(args: argparse.Namespace, hub: LocalHub) -> None:
    if getattr(args, "api_key", None):
        hub.set_api_key(args.api_key)


def cmd_wallet(args: argparse.Namespace, hub: LocalHub) -> int:
    _remember_key(args, hub)
    wallet = hub.wallet()
    if args.json:
        print(json.dumps(wallet))
        return 0
    balance = (
        "unknown (run `hub sync` with --api-key once)" if wallet["balance"] is None else wallet["balance"]
    )
    print(f"Buzz: {balance}; pending tips: {wallet['pendingTips']}")
    return 0


def cmd_tip(args: argparse.Namespace, hub: LocalHub) -> int:
    _remember_key(args, hub)
    entry = hub.queue_tip(args.username, args.amount, args.memo)
    print(f"queued tip #{entry}: {args.amount} Buzz to {args.username}; sent by the next `hub sync`")
    return 0


def cmd_buy(args: argparse.Namespace, hub: LocalHub) -> int:
    _remember_key(args, hub)
    entry = hub.queue_purchase(args.item_id)
    print(f"queued purchase #{entry}: shop item {args.item_id}; sent by the next `hub sync`")
    return 0


def cmd_shop(args: argparse.Namespace, hub: LocalHub) -> int:
    sections = hub.shop()
    if sections is None:
        print("the shop is not synced yet (or is off on the server): run `hub sync`")
        return 1
    if args.json:
        print(json.dumps(sections))
        return 0
    for section in sections:
        print(section["name"])
        for item in section["items"]:
            left = "" if item["remaining"] is None else f"  {item['remaining']} left"
            print(
                f"{item['id']:>6}  {item['kind']:<11} {item['name'][:40]:<40} {item['price']:>6} Buzz{left}"
            )
    return 0


def cmd_equip(args: argparse.Namespace, hub: LocalHub) -> int:
    _remember_key(args, hub)
    done = hub.equip(args.item_id, not args.off, args.server)
    print(f"shop item {done['itemId']}: {'equipped' if done['equipped'] else 'unequipped'}")
    return 0


def cmd_outbox(args: argparse.Namespace, hub: LocalHub) -> int:
    entries = hub.outbox_entries()
    if args.json:
        print(json.dumps([e.__dict__ for e in entries]))
        return 0
    if not entries:
        print("the outbox is empty")
    for e in entries:
        what = (
            f"tip {e.payload['amount']} Buzz to {e.payload['to']}"
            if e.kind == "tip"
            else f"buy shop item {e.payload['itemId']}"
        )
        when = time.strftime("%Y-%m-%d %H:%M", time.localtime(e.created_at))
        note = f"  ({e.error})" if e.error else ""
        print(f"#{e.id:<5} {when}  {e.state:<8} {what}{note}")
    return 0


def cmd_flags(args: argparse.Namespace, hub: LocalHub) -> int:
    flags = hub.flags()
    if not flags:
        print("no feature flags synced yet: run `hub sync`")
    for name, on in sorted(flags.items()):
        print(f"{name:<20} {'on' if on else 'off'}")
    return 0


COMMANDS = {
    "wallet": cmd_wallet,
    "tip": cmd_tip,
    "shop": cmd_shop,
    "buy": cmd_buy,
    "equip": cmd_equip,
    "outbox": cmd_outbox,
    "flags": cmd_flags,
}
