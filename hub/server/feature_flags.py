"""Feature flags evaluated per request: pure functions of a flag rule and the caller.

A flag that is not `enabled` is off for everyone. Otherwise it is on for the users it names,
the roles it names, the members of the cohorts it names, and a stable `percent` of everyone
else: a user is in the rollout when `sha256(flag name + ":" + user id)` mod 100 is below
`percent`, so raising the percentage only adds users. Anonymous callers get a flag only at
100 percent. A route of a feature behind a flag answers 404 naming the flag when it is off.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import Any

from hub.server.errors import ApiError

# The community features of this server and the flag each sits behind (articles, collections,
# reviews and notifications answer through `FlagFeatures`, the gate of hub/server/features.py).
FLAGS = {
    "buzz": "Buzz (balances, tips, rewards)",
    "shop": "the cosmetic shop",
    "articles": "articles",
    "collections": "collections",
    "reviews": "reviews and comments",
    "notifications": "notifications and follows",
}


def bucket(flag: str, user_id: int) -> int:
    """The user's stable place (0-99) in the flag's percentage rollout."""
    digest = hashlib.sha256(f"{flag}:{user_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") % 100


def is_on(rule: dict[str, Any], user: Any | None, cohorts: list[str]) -> bool:
    """Whether the flag `rule` (a feature_flags row as JSON) applies to `user` (None: anonymous)."""
    if not rule["enabled"]:
        return False
    if user is None:
        return rule["percent"] >= 100
    if user.username.lower() in {u.lower() for u in rule["users"]}:
        return True
    if user.role in rule["roles"] or set(cohorts) & set(rule["cohorts"]):
        return True
    return bucket(rule["name"], user.id) < rule["percent"]


def flags_for(rules: list[dict[str, Any]], user: Any | None, cohorts: list[str]) -> dict[str, bool]:
    return {rule["name"]: is_on(rule, user, cohorts) for rule in rules}


def feature_off(name: str) -> ApiError:
    return ApiError(
        404, f"Not found: {FLAGS.get(name, name)} is switched off on this server (feature flag {name!r})"
    )


class FlagFeatures:
    """The community feature gate (hub/server/features.py) backed by the flags: a feature is on
    for a caller when the server's settings do not switch it off and its flag applies to them."""

    def __init__(self, static: Any, flags_of: Callable[[Any | None], dict[str, bool]]) -> None:
        self.static = static  # features.StaticFeatures (`--disable-feature`)
        self.flags_of = flags_of  # HubServer.flags_for

    def enabled(self, feature: str, user: Any | None) -> bool:
        return self.static.enabled(feature, user) and self.flags_of(user).get(feature, True)
