"""Seed data for Buzz and the cosmetic shop: shop sections and items (one limited, one on a
window), a starting grant for the first creators, some tips between them, a few purchases
(equipped), a cohort and a few favourites, so that a demo has balances, history, a Buzz
leaderboard, cosmetics and things to buy."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from typing import Any

from hub.server.store import ServerStore

SHOP = {
    "Badges": [
        {"kind": "badge", "name": "Early supporter", "value": "early", "price": 100},
        {"kind": "badge", "name": "Golden brush", "value": "golden-brush", "price": 500, "quantity": 10},
    ],
    "Name colours": [
        {"kind": "name_color", "name": "Teal", "value": "#2a9d8f", "price": 150},
        {"kind": "name_color", "name": "Crimson", "value": "#d62828", "price": 150},
    ],
    "Profile decorations": [
        {"kind": "decoration", "name": "Starfield frame", "value": "starfield", "price": 300},
    ],
}


def seed_buzz_and_shop(store: ServerStore, usernames: list[str], seed: int = 0) -> dict[str, int]:
    """Fill the shop (once per data directory) and give the first 50 users Buzz and tips."""
    rng = random.Random(seed)
    items = 0
    if not store.shop_catalog():
        now = datetime.now(UTC)
        for position, (section, entries) in enumerate(SHOP.items()):
            section_id = store.add_shop_section(section, position)
            for entry in entries:
                item: dict[str, Any] = dict(entry)
                if item["name"] == "Starfield frame":  # a limited-time item
                    item["availableFrom"] = (now - timedelta(days=1)).isoformat()
                    item["availableUntil"] = (now + timedelta(days=30)).isoformat()
                store.add_shop_item(section_id, item)
                items += 1
    people = usernames[:50]
    for name in people:
        store.grant_buzz(name, 1000, f"seed:{seed}:{name}", "welcome grant")
    tips = 0
    for n in range(min(200, len(people) * 4) if len(people) > 1 else 0):
        payer, payee = rng.sample(people, 2)
        payer_user = store.user_by_name(payer)
        if payer_user is None:
            continue
        store.tip(payer_user.id, payee, rng.randint(1, 20), f"seed:{seed}:{n}", "seeded tip")
        tips += 1
    bought = 0
    catalog = [item for section in store.shop_catalog() for item in section["items"]]
    for n, name in enumerate(people[:10]):  # a few owners, with their pick equipped
        user = store.user_by_name(name)
        if user is None or not catalog:
            continue
        item = catalog[n % len(catalog)]
        try:
            store.purchase(user.id, item["id"], f"seed:{seed}:buy")
        except (ValueError, LookupError):  # sold out, owned already, not enough Buzz
            continue
        store.set_equipped(user.id, item["id"], True)
        bought += 1
    if people:
        store.set_cohorts(people[0], ["beta"])  # a cohort a flag can name
    last_model = store.max_ids()["models"]
    for name in people[:20]:  # a few favourites, to show on model lists
        user = store.user_by_name(name)
        if user is not None and last_model:
            try:
                store.set_favorite(user.id, rng.randint(1, last_model), True)
            except LookupError:  # a gap in the ids
                continue
    return {"shopItems": items, "buzzAccounts": len(people), "tips": tips, "purchases": bought}
