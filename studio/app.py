"""The composition root: builds the studio's services from the config.

    services = build_services(config)      # engine, job queue, worker, events, options, scripts
    services.start()                       # recover interrupted jobs, start the worker
    app = create_app(services)             # studio.http.app: /sdapi/v1, /studio/v1, the UI at /
    ...
    services.stop()

Nothing here runs at import time; every object gets what it needs passed in. This is the one
place that knows the concrete engine: the HTTP layer and the UI see the services through
Protocols (`studio.http.services.HttpServices`, `studio.ui.services_backend.UIServices`).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from studio.config import StudioConfig
from studio.extras_jobs import register_extras_kinds
from studio.history import HistoryStore
from studio.hub_service import StudioHub
from studio.jobs import (
    GENERATE,
    SELECT_MODEL,
    XYZ,
    EventBus,
    Job,
    JobQueue,
    JobService,
    RunnerRegistry,
    Worker,
)
from studio.jobs.runners import Runner
from studio.jobs.worker import STOP_TIMEOUT
from studio.options import Options
from studio.progress import GenerationControl
from studio.request import RequestError
from studio.scripts.base import Choices
from studio.scripts.builtin.xyz import XYZ_NAME
from studio.scripts.extensions.manager import ExtensionManager
from studio.scripts.manager import ScriptManager
from studio.scripts.system import ScriptSystem, build_script_system

if TYPE_CHECKING:
    from studio.pipeline.engine import Engine

log = logging.getLogger(__name__)


@dataclass
class Services:
    config: StudioConfig
    engine: Engine
    queue: JobQueue
    events: EventBus
    runners: RunnerRegistry
    worker: Worker
    jobs: JobService
    options: Options
    scripts: ScriptManager
    extensions: ExtensionManager
    hub: StudioHub | None = None  # the local hub behind the Hub tab (studio/hub_service.py)
    started: bool = field(default=False, init=False)

    @property
    def history(self) -> HistoryStore:
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
        if self.hub is not None:
            self.hub.start()
        self.started = True
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
        if self.hub is not None:
            self.hub.stop()
        self.started = False

    def close(self) -> None:
        """Stop, then close the databases (safe to call more than once)."""
        self.stop()
        self.queue.close()
        self.options.close()


def register_kinds(
    runners: RunnerRegistry, engine: Engine, scripts: ScriptManager, config: StudioConfig
) -> None:
    """The studio's job kinds. Payloads naming scripts are checked when submitted; `XYZ` is the
    X/Y/Z plot's own kind (the request must name that script); `SELECT_MODEL` loads a checkpoint
    on the worker, in queue order."""

    def choices() -> Choices:
        return Choices.from_engine(engine)

    def saving() -> bool:
        return bool(engine.config.samples_save)

    def runner(require: str | None = None) -> Runner:
        # grids go to outputs and into the history, as the images do (when the settings save)
        return scripts.runner(
            engine.generate,
            outputs_dir=config.outputs_path,
            choices=choices,
            require=require,
            history=engine.history,
            saving=saving,
        )

    runners.register(GENERATE, runner(), decode=scripts.decoder(choices))
    xyz = runner(XYZ_NAME)
    runners.register(XYZ, xyz, decode=scripts.decoder(choices, require=XYZ_NAME))

    def select_model(payload: Mapping[str, Any], control: GenerationControl) -> dict[str, str]:
        return {"model": engine.select_model(payload["name"])}

    runners.register(SELECT_MODEL, select_model, decode=_select_payload)
    register_extras_kinds(runners, engine)  # extras, unload-checkpoint, reload-checkpoint


def build_services(
    config: StudioConfig, *, engine: Engine | None = None, script_system: ScriptSystem | None = None
) -> Services:
    """Make every service (nothing is started). `engine` / `script_system` may be passed in;
    by default the script system has the built-in scripts and the enabled extensions (failures
    are listed, not raised)."""
    config.data_dir.mkdir(parents=True, exist_ok=True)
    if script_system is None:
        script_system = build_script_system(config)
    scripts = script_system.scripts
    if engine is None:
        from studio.pipeline.engine import Engine

        engine = Engine(config, hooks=scripts, registries=script_system.registries)
    queue = JobQueue(config.database_path)
    events = EventBus()
    runners = RunnerRegistry()
    register_kinds(runners, engine, scripts, config)
    worker = _make_worker(config, engine, queue, events, runners, script_system)
    jobs = JobService(queue, events, runners, [worker])
    options = Options(config.database_path, config)  # the settings in effect, one store
    engine.config = options.config  # (values an older release stored as options are adopted)
    options.subscribe(lambda new: setattr(engine, "config", new))  # each save: the next job's
    hub = StudioHub(
        config.data_dir,
        config.models_path,
        on_files_changed=engine.registry.refresh,
        account={"hub_server": options.config.hub_server, "hub_api_key": options.config.hub_api_key},
    )
    return Services(
        config, engine, queue, events, runners, worker, jobs, options, scripts, script_system.extensions, hub
    )


def _make_worker(
    config: StudioConfig,
    engine: Engine,
    queue: JobQueue,
    events: EventBus,
    runners: RunnerRegistry,
    script_system: ScriptSystem,
) -> Worker:
    """The job worker: with `config.worker_process` (the default) the engine runs in a worker
    process (studio.worker) and this process's engine only answers questions (names, checks,
    token counts); otherwise jobs run on a thread of this process."""
    if not config.worker_process:
        return Worker(queue, events, runners, name=str(config.device))
    from studio.worker.messages import catalog_fingerprint
    from studio.worker.process_worker import ProcessWorker

    extensions = script_system.extensions

    def scripts_state() -> object:
        return tuple((info.name, info.status, info.version, info.commit) for info in extensions.list())

    def on_finished(job: Job) -> None:
        if job.kind == SELECT_MODEL and job.result and job.result.get("model"):
            engine.adopt_model(job.result["model"])  # the worker process loaded it

    return ProcessWorker(
        queue,
        events,
        runners,
        lambda: engine.config,
        name=str(config.device),
        catalog=lambda: catalog_fingerprint(engine.registry),
        scripts_state=scripts_state,
        on_finished=on_finished,
    )


def _select_payload(data: object) -> dict[str, Any]:
    if not isinstance(data, dict) or not isinstance(data.get("name"), str) or not data["name"]:
        raise RequestError("name", "a checkpoint title, name or hash is required")
    return dict(data)
