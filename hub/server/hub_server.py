"""What the routes share: config, store, password hasher, rate limiters, a key cache, the
community feature gate, the notification event registry and the job worker's wake-up."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from argon2 import PasswordHasher

from hub.server.cache import Cache, LocalCache
from hub.server.config import ServerConfig
from hub.server.feature_flags import feature_off, flags_for
from hub.server.features import FeatureGate, StaticFeatures
from hub.server.notify import EventRegistry, JobWorker, default_registry
from hub.server.ratelimit import RateLimiter  # or cache.RedisRateLimiter (same `take`)
from hub.server.store import ServerStore, User

KEY_CACHE_SECONDS = 30.0
FLAG_CACHE_SECONDS = 30.0


@dataclass
class HubServer:
    config: ServerConfig
    store: ServerStore
    hasher: PasswordHasher
    ip_limiter: RateLimiter | None
    key_limiter: RateLimiter | None
    cache: Cache = field(default_factory=LocalCache)
    features: FeatureGate = field(default_factory=StaticFeatures)
    registry: EventRegistry = field(default_factory=default_registry)
    worker: JobWorker | None = None
    job_waker: Callable[[], None] | None = None  # set by the in-process worker while it runs
    _key_cache: dict[str, tuple[User | None, float]] = field(default_factory=dict)
    _key_lock: threading.Lock = field(default_factory=threading.Lock)

    def user_for_key_hash(self, digest: str) -> User | None:
        now = time.monotonic()
        with self._key_lock:
            hit = self._key_cache.get(digest)
            if hit and hit[1] > now:
                return hit[0]
        user = self.store.user_by_key_hash(digest)
        with self._key_lock:
            if len(self._key_cache) > 10_000:
                self._key_cache.clear()
            self._key_cache[digest] = (user, now + KEY_CACHE_SECONDS)
        return user

    def forget_keys(self) -> None:
        """Drop cached key lookups (after a key is deleted or a role changes)."""
        with self._key_lock:
            self._key_cache.clear()

    def wake_jobs(self) -> None:
        """Tell the in-process worker a job was queued (no-op without one running)."""
        if self.job_waker is not None:
            self.job_waker()

    def flags_for(self, user: User | None) -> dict[str, bool]:
        """The feature flags as they apply to `user` (rules and cohorts read through the cache)."""
        rules = json.loads(
            self.cache.get_or_load(
                "flags", "rules", FLAG_CACHE_SECONDS, lambda: json.dumps(self.store.feature_flags())
            )
        )
        cohorts: list[str] = []
        if user is not None:
            cohorts = json.loads(
                self.cache.get_or_load(
                    "flags",
                    f"cohorts:{user.id}",
                    FLAG_CACHE_SECONDS,
                    lambda: json.dumps(self.store.cohorts_of(user.id)),
                )
            )
        return flags_for(rules, user, cohorts)

    def require_flag(self, name: str, user: User | None) -> None:
        """404 naming the flag when feature `name` is off for `user`."""
        if not self.flags_for(user).get(name, False):
            raise feature_off(name)
