"""The composition root: builds the studio's services from the config and the web app over them.

    services = build_services(config)      # engine, job queue, worker, events, options, scripts
    services.start()                       # recover interrupted jobs, start the worker
    app = create_app(services)             # /sdapi/v1, /studio/v1 and (unless api_only) the UI at /
    ...
    services.stop()

Nothing here runs at import time; every object gets what it needs passed in.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from studio.config import StudioConfig
from studio.jobs import GENERATE, EventBus, JobQueue, JobService, RunnerRegistry, Worker
from studio.jobs.worker import STOP_TIMEOUT

log = logging.getLogger(__name__)

SELECT_MODEL = "select-model"


@dataclass
class Services:
    config: StudioConfig
    engine: Any  # studio.pipeline.engine.Engine
    queue: JobQueue
    events: EventBus
    runners: RunnerRegistry
    worker: Worker
    jobs: JobService
    options: Any  # studio.api.options.Options
    scripts: Any = None  # studio.scripts ScriptManager, when the script system is present
    started: bool = field(default=False, init=False)

    @property
    def history(self) -> Any:
        return self.engine.history

    def start(self) -> None:
        """Mark jobs a dead process left running as interrupted, then start the worker."""
        if self.started:
            return
        interrupted = self.jobs.start()
        if interrupted:
            log.warning(
                "%d job(s) were running when the studio stopped; marked interrupted", len(interrupted)
            )
        self.started = True
        if self.scripts is not None and hasattr(self.scripts, "app_started"):
            try:
                self.scripts.app_started(self)
            except Exception:
                log.exception("a script's app_started hook failed")

    def stop(self, timeout: float = STOP_TIMEOUT) -> None:
        """Stop the worker: a running job ends `interrupted` (re-queueable); one still running
        after `timeout` seconds is recorded so by the worker all the same."""
        if not self.started:
            return
        self.jobs.stop(timeout)
        self.started = False

    def close(self) -> None:
        """Stop, then close the databases (safe to call more than once)."""
        self.stop()
        self.queue.close()
        self.options.close()


def default_scripts(config: StudioConfig) -> Any:
    """The script manager with the built-in scripts and the enabled extensions (failures are
    listed, not raised), or None when the script system is absent."""
    try:
        from studio.scripts.system import build_script_system
    except ImportError:
        return None
    return build_script_system(config).scripts


def _generate_runner(engine: Any, scripts: Any, config: StudioConfig) -> Any:
    if scripts is None or not hasattr(scripts, "runner"):
        return engine.generate
    try:
        from studio.scripts.base import Choices

        return scripts.runner(
            engine.generate, outputs_dir=config.outputs_path, choices=lambda: Choices.from_engine(engine)
        )
    except ImportError:
        return scripts.runner(engine.generate, outputs_dir=config.outputs_path)


def _register_script_kinds(runners: RunnerRegistry, engine: Any, scripts: Any, config: StudioConfig) -> None:
    """Payloads naming scripts are checked when submitted; "xyz" is the X/Y/Z plot's job kind."""
    from studio.scripts.base import Choices
    from studio.scripts.builtin.xyz import XYZ_NAME

    def choices() -> Choices:
        return Choices.from_engine(engine)

    runners.register(
        GENERATE, _generate_runner(engine, scripts, config), decode=scripts.decoder(choices), replace=True
    )
    xyz = scripts.runner(engine.generate, outputs_dir=config.outputs_path, choices=choices, require=XYZ_NAME)
    runners.register("xyz", xyz, decode=scripts.decoder(choices, require=XYZ_NAME))


def build_services(
    config: StudioConfig, *, engine: Any = None, scripts: Any = None, load_scripts: bool = True
) -> Services:
    """Make every service (nothing is started). `engine` / `scripts` may be passed in (tests)."""
    from studio.api.options import Options

    config.data_dir.mkdir(parents=True, exist_ok=True)
    if scripts is None and load_scripts:
        scripts = default_scripts(config)
    if engine is None:
        from studio.pipeline.engine import Engine

        engine = Engine(config, hooks=scripts) if scripts is not None else Engine(config)
    queue = JobQueue(config.database_path)
    events = EventBus()
    runners = RunnerRegistry()
    runners.register(GENERATE, _generate_runner(engine, scripts, config))
    if scripts is not None and hasattr(scripts, "decoder"):
        _register_script_kinds(runners, engine, scripts, config)
    runners.register(
        SELECT_MODEL,
        lambda payload, control: {"model": engine.select_model(payload["name"])},
        decode=_select_payload,
    )
    worker = Worker(queue, events, runners, name=str(config.device))
    jobs = JobService(queue, events, runners, [worker])
    options = Options(config.database_path, config)
    return Services(config, engine, queue, events, runners, worker, jobs, options, scripts)


def _select_payload(data: Any) -> dict[str, Any]:
    from studio.request import RequestError

    if not isinstance(data, dict) or not isinstance(data.get("name"), str) or not data["name"]:
        raise RequestError("name", "a checkpoint title, name or hash is required")
    return dict(data)


def create_app(services: Services, *, manage_services: bool = False) -> Any:
    """The FastAPI app: /sdapi/v1 (A1111), /studio/v1 (native), and the Gradio UI at / unless api_only.

    With `manage_services` the app's lifespan starts the services and stops them on shutdown
    (what `serve` uses, so a SIGTERM ends the running job cleanly before the process exits)."""
    from fastapi import FastAPI
    from fastapi.middleware.cors import CORSMiddleware

    from studio.api import a1111, native
    from studio.api.errors import install_error_handlers
    from studio.api.security import BasicAuthMiddleware, BodyLimitMiddleware, parse_credentials

    config = services.config
    lifespan = None
    if manage_services:

        @contextlib.asynccontextmanager
        async def lifespan(app: Any) -> AsyncIterator[None]:
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
    app.include_router(a1111.build_router(services))
    native_router = native.build_router(services)
    if services.scripts is not None and hasattr(services.scripts, "call_api"):
        from fastapi import APIRouter

        extension_routers: dict[str, APIRouter] = {}

        def router_for(owner: str) -> APIRouter:
            return extension_routers.setdefault(
                owner, APIRouter(prefix=f"/ext/{owner}", tags=[f"extension {owner}"])
            )

        services.scripts.call_api(router_for, services)
        for router in extension_routers.values():
            native_router.include_router(router)
    app.include_router(native_router)
    if services.scripts is not None and hasattr(services.scripts, "extensions"):
        from studio.scripts.routes import build_router as build_scripts_router

        app.include_router(build_scripts_router(services.scripts, services.scripts.extensions))

    app.add_middleware(BodyLimitMiddleware, max_bytes=config.max_body_mb * 1024 * 1024)
    credentials = parse_credentials(config.api_auth)
    if credentials:
        app.add_middleware(BasicAuthMiddleware, credentials=credentials)
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


def mount_ui(app: Any, services: Services) -> bool:
    """Mount the Gradio UI at / if `studio.ui` is there; returns whether it was mounted."""
    try:
        from studio.ui import build_blocks
    except ImportError as error:
        log.warning("the UI is not available (%s); serving the API only", error)
        return False
    import gradio as gr

    blocks = build_blocks(services)
    gr.mount_gradio_app(app, blocks, path="/")
    return True
