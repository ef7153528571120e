"""The hub server's cache of hot reads, and where rate-limit counters live: in this process,
or in Redis (`--redis-url`) so that several server processes share both.

Entries live in namespaces (`models`, `flags`, `leaderboards`); a write invalidates a whole
namespace by bumping its generation number, which is part of every key, so no process can
read an entry cached before the write (entries of older generations age out by their TTL).
Values are JSON text. Every write transaction of the store invalidates every namespace once it
has committed (`invalidate_all`, registered in `ServerStore.after_write`): one rule, right for
writes from routes, background tasks and the store's own callers alike.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Protocol

NAMESPACES = ("models", "leaderboards", "flags")


def invalidate_all(cache: Cache) -> None:
    """What every committed write of the store does (ServerStore.after_write)."""
    for namespace in NAMESPACES:
        cache.invalidate(namespace)


class Cache(Protocol):
    def get_or_load(self, namespace: str, key: str, ttl: float, load: Callable[[], str]) -> str: ...

    def invalidate(self, namespace: str) -> None: ...


class LocalCache:
    """In-process cache (one server process), bounded to `max_entries`."""

    def __init__(self, max_entries: int = 10_000, clock: Callable[[], float] = time.monotonic) -> None:
        self._entries: dict[str, tuple[str, float]] = {}
        self._generations: dict[str, int] = {}
        self._max = max_entries
        self._clock = clock
        self._lock = threading.Lock()

    def get_or_load(self, namespace: str, key: str, ttl: float, load: Callable[[], str]) -> str:
        now = self._clock()
        with self._lock:
            full_key = f"{namespace}:{self._generations.get(namespace, 0)}:{key}"
            hit = self._entries.get(full_key)
            if hit and hit[1] > now:
                return hit[0]
        value = load()
        with self._lock:
            if full_key.startswith(f"{namespace}:{self._generations.get(namespace, 0)}:"):
                if len(self._entries) >= self._max:
                    self._entries.clear()
                self._entries[full_key] = (value, now + ttl)
        return value

    def invalidate(self, namespace: str) -> None:
        with self._lock:
            self._generations[namespace] = self._generations.get(namespace, 0) + 1
            prefix = f"{namespace}:"
            for k in [k for k in self._entries if k.startswith(prefix)]:
                del self._entries[k]


class RedisCache:
    """The same cache in Redis, shared by every server process given the same URL."""

    def __init__(self, client, prefix: str = "atelier-hub") -> None:  # redis.Redis
        self._redis = client
        self._prefix = prefix

    def _generation(self, namespace: str) -> int:
        return int(self._redis.get(f"{self._prefix}:gen:{namespace}") or 0)

    def get_or_load(self, namespace: str, key: str, ttl: float, load: Callable[[], str]) -> str:
        full_key = f"{self._prefix}:{namespace}:{self._generation(namespace)}:{key}"
        hit = self._redis.get(full_key)
        if hit is not None:
            return hit.decode()
        value = load()
        self._redis.set(full_key, value.encode(), px=max(1, int(ttl * 1000)))
        return value

    def invalidate(self, namespace: str) -> None:
        self._redis.incr(f"{self._prefix}:gen:{namespace}")


class RedisRateLimiter:
    """`per_minute` requests per key and fixed minute window, counted in Redis (shared by every
    process); same `take` as ratelimit.RateLimiter."""

    def __init__(self, client, per_minute: int, prefix: str = "atelier-hub:rate", clock=time.time) -> None:
        if per_minute < 1:
            raise ValueError("per_minute must be at least 1")
        self._redis = client
        self.per_minute = per_minute
        self._prefix = prefix
        self._clock = clock

    def take(self, key: str) -> tuple[bool, int, int]:
        now = self._clock()
        window = int(now // 60)
        counter = f"{self._prefix}:{key}:{window}"
        pipe = self._redis.pipeline()
        pipe.incr(counter)
        pipe.expire(counter, 120)
        count = int(pipe.execute()[0])
        if count <= self.per_minute:
            return True, self.per_minute - count, 0
        return False, 0, max(1, int((window + 1) * 60 - now) + 1)


def redis_client(url: str):
    """A Redis client for `url` (redis://host:port/db), checked with a PING."""
    import redis  # the `hubscale` extra; imported only when a Redis URL is given

    client = redis.Redis.from_url(url)
    client.ping()
    return client


def redis_prefix(data_dir: Path) -> str:
    """The key prefix of one catalog in Redis: the processes serving the same data directory
    share it, servers of other catalogs on the same Redis do not collide."""
    return "atelier-hub:" + hashlib.sha256(str(Path(data_dir).resolve()).encode()).hexdigest()[:12]
