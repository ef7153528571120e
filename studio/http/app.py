"""The FastAPI app over the composition root's services: the API routes, and the UI at `/`.

    services = build_services(config)            # studio.app
    app = create_app(services)                   # /sdapi/v1, /studio/v1 and (unless api_only) the UI

Nothing here runs at import time; FastAPI and Gradio are imported when the app is made.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from fastapi import APIRouter, FastAPI

    from studio.http.services import HttpServices


def create_app(services: HttpServices, *, manage_services: bool = False) -> FastAPI:
    """The FastAPI app: /sdapi/v1 (A1111), /studio/v1 (native), and the Gradio UI at / unless api_only.

    With `manage_services` the app's lifespan starts the services and stops them on shutdown
    (what `serve` uses, so a SIGTERM ends the running job cleanly before the process exits)."""
    from fastapi import APIRouter, FastAPI
    from fastapi.middleware.cors import CORSMiddleware

    from studio.http import (
        a1111,
        a1111_extras,
        controlnet,
        history,
        hub,
        library,
        native,
        native_extras,
        networks,
    )
    from studio.http.a1111_progress import A1111Progress, ProgressFastPath
    from studio.http.errors import install_error_handlers
    from studio.http.extensions import build_router as build_extensions_router
    from studio.http.security import BasicAuthMiddleware, BodyLimitMiddleware, auth_users

    config = services.config
    lifespan = None
    if manage_services:

        @contextlib.asynccontextmanager
        async def lifespan(app: FastAPI) -> AsyncIterator[None]:
            services.start()
            try:
                yield
            finally:
                services.close()

    app = FastAPI(
        lifespan=lifespan,
        title="Atelier",
        description="A1111-compatible /sdapi/v1 and Atelier's job API /studio/v1",
        version="0.1.0",
    )
    app.state.services = services
    install_error_handlers(app)
    progress_answers = A1111Progress(services)
    app.include_router(a1111.build_router(services, progress_answers))
    app.include_router(a1111_extras.build_router(services))
    native_router = native.build_router(services)
    extension_routers: dict[str, APIRouter] = {}

    def router_for(owner: str) -> APIRouter:
        return extension_routers.setdefault(
            owner, APIRouter(prefix=f"/ext/{owner}", tags=[f"extension {owner}"])
        )

    services.scripts.call_api(router_for, services)
    for router in extension_routers.values():
        native_router.include_router(router)
    app.include_router(native_router)
    app.include_router(native_extras.build_router(services))
    app.include_router(networks.build_router(services))
    app.include_router(controlnet.build_router(services))
    app.include_router(library.build_router(services))
    app.include_router(history.build_router(services))
    app.include_router(hub.build_router(services))
    app.include_router(build_extensions_router(services.scripts, services.extensions))

    # innermost: the progress polls skip FastAPI's routing, never the auth, CORS or body limit
    app.add_middleware(ProgressFastPath, progress=progress_answers)
    app.add_middleware(BodyLimitMiddleware, max_bytes=config.max_body_mb * 1024 * 1024)
    api_users, ui_users = auth_users(config.api_auth, config.ui_auth)
    if api_users:
        # around the whole app: the API, the UI mounted below and every Gradio route alike
        app.add_middleware(BasicAuthMiddleware, api_users=api_users, ui_users=ui_users)
    if config.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=list(config.cors_origins),
            allow_credentials=True,
            allow_methods=["*"],
            allow_headers=["*"],
        )
    if not config.api_only:
        mount_ui(app, services)
    return app


def mount_ui(app: FastAPI, services: HttpServices) -> None:
    """Mount the Gradio UI at /.

    Gradio comes with the `studio` extra, as torch and diffusers do, so wherever the services
    could be built (they need the engine) the UI can be mounted: there is no API-only fallback
    for a missing Gradio, only `api_only` in the config."""
    import gradio as gr

    from studio.ui import build_blocks

    # no Gradio `auth`: the app's BasicAuthMiddleware covers every route Gradio serves
    max_bytes = services.config.max_body_mb * 1024 * 1024
    gr.mount_gradio_app(app, build_blocks(services), path="/", max_file_size=max_bytes)
