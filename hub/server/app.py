"""`create_app(data_dir, ...)`: the hub server's FastAPI application."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import JSONResponse

from hub.server.auth import password_hasher
from hub.server.background import BackgroundThreads
from hub.server.cache import (
    LocalCache,
    RedisCache,
    RedisRateLimiter,
    invalidate_all,
    redis_client,
    redis_prefix,
)
from hub.server.client_address import parse_proxies
from hub.server.config import ServerConfig
from hub.server.errors import ApiError, describe_errors
from hub.server.feature_flags import FlagFeatures
from hub.server.features import NOTIFICATIONS, StaticFeatures
from hub.server.hub_server import HubServer
from hub.server.middleware import AuthRateLimitMiddleware
from hub.server.notify import JobWorker, default_registry
from hub.server.notify.worker import job_worker_for
from hub.server.openapi import build_openapi
from hub.server.params import INT64_MAX, INT64_MIN, id_out_of_range
from hub.server.ratelimit import RateLimiter
from hub.server.routes import (
    accounts,
    articles,
    buzz,
    catalog,
    collections,
    downloads,
    favorites,
    flags,
    images,
    leaderboards,
    models_write,
    notifications,
    people,
    reviews,
    shop,
    shop_admin,
    sync,
    user_sync,
)
from hub.server.store import ServerStore

log = logging.getLogger(__name__)
DESCRIPTION = (
    "Civitai-compatible API v1 (models, versions, hashes, images, creators, tags, downloads) plus "
    "Atelier's own routes: accounts and API keys, uploads, edits, favourites, the change feed, "
    "Buzz, the cosmetic shop, feature flags and leaderboards. "
    'Errors are `{"error": "..."}` naming every bad parameter; see docs/hub-server.md.'
)


def create_app(data_dir: Path | str, config: ServerConfig | None = None, **options: Any) -> FastAPI:
    """Build the app for the data directory `data_dir`; `options` override ServerConfig fields."""
    config = replace(config or ServerConfig(data_dir=Path(data_dir)), data_dir=Path(data_dir), **options)
    proxies = parse_proxies(config.trusted_proxies)
    config.data_dir.mkdir(parents=True, exist_ok=True)
    config.tmp_dir.mkdir(parents=True, exist_ok=True)
    redis = redis_client(config.redis_url) if config.redis_url else None

    def limiter(per_minute: int | None) -> Any:
        if not per_minute:
            return None
        if redis is None:
            return RateLimiter(per_minute)
        return RedisRateLimiter(redis, per_minute, prefix=f"{redis_prefix(config.data_dir)}:rate")

    hub = HubServer(
        config=config,
        store=ServerStore(config.data_dir, config.database),
        hasher=password_hasher(),
        ip_limiter=limiter(config.ip_rate_limit),
        key_limiter=limiter(config.key_rate_limit),
        cache=RedisCache(redis, redis_prefix(config.data_dir)) if redis is not None else LocalCache(),
        features=StaticFeatures(config.disabled_features),
        registry=default_registry(),
    )
    hub.worker = job_worker_for(config, hub.store, hub.registry)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # Background work runs on threads of its own, drained before the store closes: a
        # cancelled await does not stop its thread, and closing a connection a thread is
        # still using crashes the process inside SQLite.
        background = BackgroundThreads()
        tasks = []
        if config.stats_refresh_seconds > 0:
            tasks.append(asyncio.create_task(_refresh_stats_forever(hub, background)))
        if (
            hub.worker is not None
            and config.queue_url is None  # with a queue, worker processes run the jobs
            and config.job_poll_seconds > 0
            and hub.features.enabled(NOTIFICATIONS, None)
        ):
            tasks.append(asyncio.create_task(_run_jobs_forever(hub, hub.worker, background)))
        try:
            yield
        finally:
            hub.job_waker = None
            background.stopping.set()
            for task in tasks:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            await asyncio.to_thread(background.drain)
            hub.store.close()

    app = FastAPI(
        title="Atelier hub server",
        version="1",
        description=DESCRIPTION,
        lifespan=lifespan,
        docs_url="/api/docs",
        redoc_url=None,
    )
    hub.features = FlagFeatures(hub.features, hub.flags_for)
    hub.store.after_write.append(lambda: invalidate_all(hub.cache))
    app.state.hub = hub
    for module in (
        catalog,
        images,
        people,
        downloads,
        sync,
        accounts,
        models_write,
        favorites,
        articles,
        collections,
        reviews,
        notifications,
        user_sync,
        buzz,
        shop,
        shop_admin,
        flags,
        leaderboards,
    ):
        app.include_router(module.router)
    app.add_middleware(AuthRateLimitMiddleware, hub=hub, proxies=proxies)
    app.openapi = lambda: build_openapi(app, models_write.UPLOAD_SCHEMAS)  # type: ignore[method-assign]

    @app.exception_handler(ApiError)
    async def api_error(_request: Request, exc: ApiError) -> JSONResponse:
        return JSONResponse({"error": exc.message}, status_code=exc.status, headers=exc.headers)

    @app.exception_handler(RequestValidationError)
    async def validation_error(_request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = list(exc.errors())
        ranges = [_id_out_of_range(e) for e in errors]
        if errors and all(ranges):
            return JSONResponse({"error": "; ".join(r.message for r in ranges if r)}, status_code=422)
        return JSONResponse({"error": describe_errors(errors, located=True)}, status_code=400)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_request: Request, exc: StarletteHTTPException) -> JSONResponse:
        return JSONResponse({"error": str(exc.detail)}, status_code=exc.status_code, headers=exc.headers)

    return app


def _id_out_of_range(error: dict[str, Any]) -> ApiError | None:
    """The 422 for an integer outside the database's id range (bounds set by params.py)."""
    bound = (error.get("ctx") or {}).get("le", (error.get("ctx") or {}).get("ge"))
    if error.get("type") not in ("less_than_equal", "greater_than_equal") or bound not in (
        INT64_MAX,
        INT64_MIN,
    ):
        return None
    try:
        value = int(error["input"])
    except (KeyError, TypeError, ValueError):
        return None
    return id_out_of_range(str(error["loc"][-1]), value)


async def _refresh_stats_forever(hub: HubServer, background: BackgroundThreads) -> None:
    while True:
        await asyncio.sleep(hub.config.stats_refresh_seconds)
        try:
            await background.run(hub.store.refresh_stats)
        except Exception:  # keep serving; the next round retries
            log.exception("refreshing download stats failed")


async def _run_jobs_forever(hub: HubServer, worker: JobWorker, background: BackgroundThreads) -> None:
    """The in-process job worker: woken when a request queues a job, else every poll. It
    stops between two jobs once the server is stopping."""
    loop = asyncio.get_running_loop()
    wake = asyncio.Event()
    hub.job_waker = lambda: loop.call_soon_threadsafe(wake.set)
    await background.run(worker.start)
    await worker.run_forever(hub.config.job_poll_seconds, wake, background.run, background.stopping.is_set)
