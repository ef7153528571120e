"""What the HTTP layer needs of the composition root's services, as a Protocol.

`studio.app.Services` satisfies it; the routes are typed against it rather than against
`studio.app`, so this package never imports the composition root (nor, through it, the
pipeline). The engine is seen as `studio.engine_view.StudioEngine`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from studio.config import StudioConfig
    from studio.engine_view import StudioEngine
    from studio.hub_service import StudioHub
    from studio.jobs import EventBus, JobQueue, JobService, RunnerRegistry
    from studio.options import Options
    from studio.scripts.extensions.manager import ExtensionManager
    from studio.scripts.manager import ScriptManager


class HttpServices(Protocol):
    @property
    def config(self) -> StudioConfig: ...

    @property
    def engine(self) -> StudioEngine: ...

    @property
    def queue(self) -> JobQueue: ...

    @property
    def events(self) -> EventBus: ...

    @property
    def runners(self) -> RunnerRegistry: ...

    @property
    def jobs(self) -> JobService: ...

    @property
    def options(self) -> Options: ...

    @property
    def scripts(self) -> ScriptManager: ...

    @property
    def extensions(self) -> ExtensionManager: ...

    @property
    def hub(self) -> StudioHub | None: ...

    def start(self) -> None:
        """Recover interrupted jobs and start the worker (the app's lifespan, with `serve`)."""
        ...

    def close(self) -> None:
        """Stop the worker and close the databases."""
        ...
