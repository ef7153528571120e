"""What the routes share: config, store, password hasher, rate limiters, a key cache, the
community feature gate, the notification event registry and the job worker's wake-up."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from argon2 import PasswordHasher

from hub.server.config import ServerConfig
from hub.server.features import FeatureGate, StaticFeatures
from hub.server.notify import EventRegistry, JobWorker, default_registry
from hub.server.ratelimit import RateLimiter
from hub.server.store import ServerStore, User

KEY_CACHE_SECONDS = 30.0


@dataclass
class HubServer:
    config: ServerConfig
    store: ServerStore
    hasher: PasswordHasher
    ip_limiter: RateLimiter | None
    key_limiter: RateLimiter | None
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
