"""Which community features answer: the seam the feature-flag system plugs into.

Every community route group (articles, collections, reviews and comments, notifications and
follows) depends on `require_feature(name)`, which asks the server's `FeatureGate` per request,
with the caller's account. `StaticFeatures` (the server's `--disable-feature` settings) is the
gate for now; flags evaluated per user, role, cohort or rollout are another `FeatureGate`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Protocol

from fastapi import Request

from hub.server.errors import ApiError
from hub.server.store import User

ARTICLES = "articles"
COLLECTIONS = "collections"
REVIEWS = "reviews"  # reviews and comments
NOTIFICATIONS = "notifications"  # notifications, preferences and follows
COMMUNITY_FEATURES = (ARTICLES, COLLECTIONS, REVIEWS, NOTIFICATIONS)


class FeatureGate(Protocol):
    def enabled(self, feature: str, user: User | None) -> bool: ...


class StaticFeatures:
    """Every feature on except those switched off in the server's settings."""

    def __init__(self, disabled: Iterable[str] = ()) -> None:
        unknown = sorted(set(disabled) - set(COMMUNITY_FEATURES))
        if unknown:
            raise ValueError(
                f"disabled features: unknown {', '.join(unknown)}; known: {', '.join(COMMUNITY_FEATURES)}"
            )
        self.disabled = frozenset(disabled)

    def enabled(self, feature: str, user: User | None) -> bool:
        return feature not in self.disabled


def require_feature(feature: str) -> Callable[[Request], None]:
    """A route dependency: 404 `{"error": "... is switched off ..."}` while `feature` is off."""

    def check(request: Request) -> None:
        hub = request.app.state.hub
        if not hub.features.enabled(feature, getattr(request.state, "user", None)):
            raise ApiError(404, f"{feature} are switched off on this hub server")

    return check
