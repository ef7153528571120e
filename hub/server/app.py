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
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import JSONResponse

from hub.server.auth import password_hasher
from hub.server.config import ServerConfig
from hub.server.errors import ApiError
from hub.server.hub_server import HubServer
from hub.server.middleware import AuthRateLimitMiddleware
from hub.server.ratelimit import RateLimiter
from hub.server.routes import accounts, catalog, downloads, models_write, sync
from hub.server.store import ServerStore

log = logging.getLogger(__name__)


def create_app(data_dir: Path | str, config: ServerConfig | None = None, **options: Any) -> FastAPI:
    """Build the app for the data directory `data_dir`; `options` override ServerConfig fields."""
    config = replace(config or ServerConfig(data_dir=Path(data_dir)), data_dir=Path(data_dir), **options)
    config.data_dir.mkdir(parents=True, exist_ok=True)
    config.tmp_dir.mkdir(parents=True, exist_ok=True)
    hub = HubServer(
        config=config,
        store=ServerStore(config.data_dir),
        hasher=password_hasher(),
        ip_limiter=RateLimiter(config.ip_rate_limit) if config.ip_rate_limit else None,
        key_limiter=RateLimiter(config.key_rate_limit) if config.key_rate_limit else None,
    )

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        task = asyncio.create_task(_refresh_stats_forever(hub)) if config.stats_refresh_seconds > 0 else None
        try:
            yield
        finally:
            if task:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            hub.store.close()

    app = FastAPI(
        title="Atelier hub server", version="1", lifespan=lifespan, docs_url="/api/docs", redoc_url=None
    )
    app.state.hub = hub
    for module in (catalog, downloads, sync, accounts, models_write):
        app.include_router(module.router)
    app.add_middleware(AuthRateLimitMiddleware, hub=hub)

    @app.exception_handler(ApiError)
    async def api_error(_request: Request, exc: ApiError) -> JSONResponse:
        return JSONResponse({"error": exc.message}, status_code=exc.status, headers=exc.headers)

    @app.exception_handler(RequestValidationError)
    async def validation_error(_request: Request, exc: RequestValidationError) -> JSONResponse:
        first = exc.errors()[0] if exc.errors() else {"loc": (), "msg": "invalid request"}
        where = ".".join(str(p) for p in first["loc"][1:]) or "request"
        return JSONResponse({"error": f"{where}: {first['msg']}"}, status_code=400)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_request: Request, exc: StarletteHTTPException) -> JSONResponse:
        return JSONResponse({"error": str(exc.detail)}, status_code=exc.status_code, headers=exc.headers)

    return app


async def _refresh_stats_forever(hub: HubServer) -> None:
    while True:
        await asyncio.sleep(hub.config.stats_refresh_seconds)
        try:
            await run_in_threadpool(hub.store.refresh_stats)
        except Exception:  # keep serving; the next round retries
            log.exception("refreshing download stats failed")
