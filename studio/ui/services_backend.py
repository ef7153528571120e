"""`UIBackend` over the composition root's `Services`: the job service, the engine, the scripts.

Jobs go through `services.jobs` (the persistent queue: submit, cancel, per-job skip); progress
comes from one listener on the event bus that keeps the latest `step` event (and preview) of each
running job, and wakes the UI's waiting handlers. Finished jobs are read back from the queue
(state, error, the images it recorded), so a page that starts following a job late, or after a
restart, still gets the truth.
"""

from __future__ import annotations

import io
import sys
import threading
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from PIL import Image

from studio import options as opt
from studio.config import StudioConfig
from studio.devices.startup import label_of_report, runtime_summary
from studio.network_cards import NetworkCard, cards_for
from studio.options import resolve_model_option
from studio.prompts.styles import PromptStyle, infotext_styles
from studio.request import GenerationRequest, ImageRecord, RequestError
from studio.scripts.base import Choices
from studio.scripts.builtin.xyz.axes import axis_value_choices
from studio.scripts.extensions.manifest import ExtensionError
from studio.ui.backend import (
    ExtensionView,
    HistoryItem,
    JobView,
    SavedSettings,
    ScriptControls,
    StatusView,
    memory_in_use,
)

if TYPE_CHECKING:
    from studio.engine_view import StudioEngine
    from studio.extras import ExtrasSettings
    from studio.history import HistoryEntry, HistoryFilter
    from studio.hub_service import StudioHub
    from studio.jobs import JobEvent, JobService
    from studio.options import Options
    from studio.prompts.parse import TokenCount
    from studio.scripts.extensions.manager import ExtensionManager
    from studio.scripts.manager import ScriptManager

# Settings the running studio picks up at once (the UI puts save/clip skip in each request; the
# engine reads the rest per request or at the next model load);
# the others are used when the services are built, so they wait for a restart.
LIVE_SETTINGS = frozenset(
    {
        "samples_save",
        "clip_skip",
        "default_model",
        "allow_pickle",
        "memory",
        "memory_policy",
        "cost_check",
        "max_job_seconds",
        "hub_server",
        "hub_api_key",
        "backend",
        "openvino_int8",
        "torch_compile",
        "channels_last",
        "quantize_unet",
        "quantize_text_encoder",
    }
)


@dataclass
class _Progress:
    data: dict[str, Any]
    preview: bytes | None


class UIServices(Protocol):
    """What the UI needs of the composition root's services (`studio.app.Services` has it): it
    reaches the engine through these, never by importing `studio.pipeline`."""

    @property
    def config(self) -> StudioConfig: ...

    @property
    def engine(self) -> StudioEngine: ...

    @property
    def jobs(self) -> JobService: ...

    @property
    def scripts(self) -> ScriptManager: ...

    @property
    def extensions(self) -> ExtensionManager: ...

    @property
    def options(self) -> Options: ...

    @property
    def hub(self) -> StudioHub | None: ...


def jobs_ahead(queue: Any, job: Any) -> int:
    """Jobs ahead of a queued `job`: those queued before it, and running ones other than itself.

    `job` is a snapshot: a worker may have claimed it since, so it must not count itself.
    """
    running = [other for other in queue.list(states=["running"], limit=1000) if other.id != job.id]
    return (job.position or 0) + len(running)


class ServicesBackend:
    def __init__(self, services: UIServices) -> None:
        self.services = services
        self._changed = threading.Condition()
        self._progress: dict[str, _Progress] = {}
        self._warnings: dict[str, tuple[str, ...]] = {}  # job id -> the cost check's, until it ends
        self._token = self.jobs.events.subscribe(self._on_event)

    # --- parts of the services ----------------------------------------------------------------
    @property
    def jobs(self) -> JobService:
        return self.services.jobs

    @property
    def engine(self) -> StudioEngine:
        return self.services.engine

    # --- configuration ---------------------------------------------------------------------------
    @property
    def config(self) -> StudioConfig:
        """The settings in effect: one store with the options API (`studio.options`)."""
        return self.services.options.config

    def save_settings(self, changes: dict[str, Any]) -> SavedSettings:
        config = self.config
        current = config.to_json()

        def same(name: str, value: Any) -> bool:
            old = current.get(name)
            return (None if value is None else str(value)) == (None if old is None else str(old))

        changed = {name: value for name, value in changes.items() if not same(name, value)}
        if changed.get("default_model") or ("allow_pickle" in changed and config.default_model):
            # checked against the registry before it is saved, as /sdapi/v1/options does
            allow_pickle = bool(changed.get("allow_pickle", config.allow_pickle))
            wanted = changed.get("default_model", config.default_model)
            resolve_model_option(
                self.engine.registry, "checkpoint", wanted, "default_model", allow_pickle=allow_pickle
            )
        # the engine (reading these per request or per model load) is handed the new config
        new_config = self.services.options.save_settings(changed)
        account = {name: changed[name] for name in ("hub_server", "hub_api_key") if name in changed}
        if account and self.services.hub is not None:
            self.services.hub.use_account(account)  # the local hub syncs with them from now on
        return SavedSettings(
            config=new_config,
            applied=tuple(name for name in changed if name in LIVE_SETTINGS),
            on_restart=tuple(name for name in changed if name not in LIVE_SETTINGS),
        )

    # --- jobs -------------------------------------------------------------------------------------
    def _on_event(self, event: JobEvent) -> None:
        with self._changed:
            if event.type == "step":
                old = self._progress.get(event.job_id)
                preview = event.preview if event.preview is not None else (old.preview if old else None)
                self._progress[event.job_id] = _Progress(dict(event.data), preview)
            elif event.final:
                self._progress.pop(event.job_id, None)
                self._warnings.pop(event.job_id, None)
            self._changed.notify_all()

    def submit(self, request: GenerationRequest) -> str:
        """Queue the request after the cost check (CostRefused, a RequestError, when it refuses)."""
        verdict = self.engine.check_cost(request)
        job_id = self.jobs.submit_request(request).id
        if verdict.warnings:
            with self._changed:
                self._warnings[job_id] = tuple(verdict.warnings)
        return job_id

    def job(self, job_id: str) -> JobView:
        job = self.jobs.get(job_id)
        state = str(job.state)
        with self._changed:
            progress = self._progress.get(job_id)
            warnings = self._warnings.get(job_id, ())
        if job.result and job.result.get("warnings"):
            warnings = tuple(job.result["warnings"])
        position = jobs_ahead(self.jobs.queue, job) if state == "queued" else 0
        view = JobView(
            id=job.id,
            state=state,  # type: ignore[arg-type]
            position=position,
            started_at=job.started_at,
            finished_at=job.finished_at,
            error=job.error,
            warnings=warnings,
            runtime=runtime_summary((job.result or {}).get("runtime")),
        )
        if state == "running" and progress is not None:
            data = progress.data
            preview = Image.open(io.BytesIO(progress.preview)) if progress.preview else None
            view = JobView(
                **{
                    **view.__dict__,
                    "step": int(data.get("step", 0)),
                    "steps": int(data.get("steps", 0)),
                    "image_index": int(data.get("image_index", 0)),
                    "image_count": int(data.get("image_count", 1)),
                    "progress": float(data.get("progress", 0.0)),
                    "eta": data.get("eta"),
                    "preview": preview,
                }
            )
        elif job.state.final:
            images = tuple(
                ImageRecord(
                    png=png,
                    seed=stored.seed if stored.seed is not None else -1,
                    subseed=stored.subseed if stored.subseed is not None else -1,
                    infotext=stored.infotext or "",
                    path=stored.path,
                )
                for stored in self.jobs.queue.images(job_id)
                if (png := stored.read_png()) is not None
            )
            view = JobView(**{**view.__dict__, "images": images, "progress": 1.0})
        return view

    def wait(self, job_id: str, timeout: float) -> JobView:
        with self._changed:
            self._changed.wait(timeout)
        return self.job(job_id)

    def interrupt(self, job_id: str) -> None:
        self.jobs.cancel(job_id)

    def skip(self, job_id: str) -> None:
        for worker in self.jobs.workers:
            if worker.skip(job_id):
                return

    # --- pickers --------------------------------------------------------------------------------
    def checkpoints(self) -> list[str]:
        return [entry.title for entry in self.engine.registry.checkpoints()]

    def device_names(self) -> list[str]:
        return self.engine.device_names()

    def vaes(self) -> list[str]:
        return [entry.title for entry in self.engine.registry.vaes()]

    def refresh_models(self) -> None:
        self.engine.registry.refresh()

    def default_size(self) -> int:
        return self.engine.native_size()

    def sampler_names(self) -> list[str]:
        return list(self.engine.sampler_names())

    def model_info(self, name: str | None) -> dict[str, Any]:
        return self.engine.model_info(name)

    def count_tokens(self, prompt: str, steps: int, positive: bool, model: str | None) -> TokenCount:
        return self.engine.count_tokens(prompt, steps, positive, model)

    def schedule_types(self) -> list[str]:
        return list(self.engine.schedule_types())

    def upscaler_names(self) -> list[str]:
        return self.engine.upscalers.names()

    def face_restorers(self) -> list[dict[str, Any]]:
        return self.engine.upscalers.face_restorers()

    def submit_extras(self, data: bytes, settings: ExtrasSettings) -> str:
        from studio.extras_jobs import EXTRAS, ExtrasJob

        return self.jobs.submit(EXTRAS, ExtrasJob((("", data),), settings).to_json()).id

    def schedule_types_for(self, sampler_name: str, model: str | None = None) -> list[str]:
        samplers = self.engine.samplers
        name, _ = samplers.normalize(sampler_name)
        if name not in samplers.sampler_names():
            return self.schedule_types()
        try:
            flow = bool(
                self.engine.model_info(None if model in (None, "", "(current)") else model).get("flow")
            )
        except RequestError:  # no such model (any more): the plain samplers' types
            flow = False
        return list(samplers.schedule_types_for(name, flow)) or self.schedule_types()

    def normalize_sampler(self, sampler_name: str, schedule: str) -> tuple[str, str]:
        return self.engine.normalize_sampler(sampler_name, schedule)

    # --- prompt library -------------------------------------------------------------------------
    def styles(self) -> list[PromptStyle]:
        return self.engine.prompt_library.styles.styles()

    def save_style(self, style: PromptStyle, replace: str | None = None) -> PromptStyle:
        return self.engine.prompt_library.styles.save(style, replace=replace)

    def delete_style(self, name: str) -> None:
        self.engine.prompt_library.styles.delete(name)

    def import_styles(self, csv_text: str) -> list[str]:
        return self.engine.prompt_library.styles.import_csv(csv_text)

    def infotext_styles(self, parsed: dict[str, Any]) -> dict[str, Any]:
        mode = self.services.options.get(opt.INFOTEXT_STYLES)
        return infotext_styles(parsed, self.styles(), mode)

    def network_cards(self, kind: str) -> list[NetworkCard]:
        return cards_for(kind, self.engine.registry, self.engine.prompt_library.wildcards)

    def script_table(self) -> list[dict[str, str]]:
        return [
            {
                "name": str(item.get("name", "")),
                "kind": str(item.get("kind", "")),
                "source": str(item.get("source", "")),
                "description": str(item.get("description", "")),
            }
            for item in self.services.scripts.describe()
        ]

    def scripts(self, tab: str) -> list[ScriptControls]:
        manager = self.services.scripts
        controls = []
        for name in manager.names(kind="selectable"):
            script = manager.get(name)
            if script is not None and tab in script.tabs:
                controls.append(ScriptControls(name, tuple(script.params), selectable=True))
        for name, params in manager.ui_params(tab).items():
            controls.append(ScriptControls(name, tuple(params), selectable=False))
        return controls

    def axis_value_choices(self, axis: str) -> list[str] | None:
        return axis_value_choices(axis, Choices.from_engine(self.engine))

    def extensions(self) -> list[ExtensionView]:
        return [
            ExtensionView(
                name=info.name,
                path=info.path,
                enabled=info.enabled,
                error=info.error,
                source=info.source or "",
                version=str(info.version or ""),
                commit=str(info.commit or "")[:10],
                shipped=info.shipped,
            )
            for info in self.services.extensions.list()
        ]

    def manage_extension(self, operation: str, name: str) -> str:
        manager = self.services.extensions
        if operation not in ("enable", "disable", "update", "uninstall"):
            raise ValueError(f"operation: expected enable, disable, update or uninstall, got {operation!r}")
        try:
            if operation == "uninstall":
                manager.uninstall(name)
                return f"Uninstalled {name}."
            info = getattr(manager, operation)(name)
        except ExtensionError as error:
            raise ValueError(str(error)) from error
        state = "error: " + info.error if info.error else ("enabled" if info.enabled else "disabled")
        return (
            f"{operation.capitalize()}d {name} ({state})."
            if operation != "update"
            else f"Updated {name} ({state})."
        )

    def install_extension(self, source: str, kind: str, *, local_allowed: bool) -> str:
        source = (source or "").strip()
        if not source:
            raise ValueError("source: give a folder, a .zip path or a git URL")
        try:
            # the manager parses the source (remote git URL or a path here) and refuses a path
            # for a client on another machine
            info = self.services.extensions.install(source, kind=kind, local_client=local_allowed)
        except ExtensionError as error:
            raise ValueError(str(error)) from error
        return f"Installed {info.name}" + (f" (error: {info.error})" if info.error else " and loaded it.")

    def install_extension_zip(self, data: bytes, filename: str) -> str:
        try:
            info = self.services.extensions.install_zip_bytes(data, filename)
        except ExtensionError as error:
            raise ValueError(str(error)) from error
        return f"Installed {info.name}" + (f" (error: {info.error})" if info.error else " and loaded it.")

    # --- history ---------------------------------------------------------------------------------
    @staticmethod
    def _item(entry: HistoryEntry) -> HistoryItem:
        return HistoryItem(
            id=entry.id,
            created_at=time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(entry.created_at)),
            prompt=entry.prompt,
            seed=entry.seed,
            path=entry.path,
            infotext=entry.infotext,
            kind=entry.kind,
            grid_id=entry.grid_id,
        )

    def history_page(
        self, offset: int, limit: int, query: str | None, filters: HistoryFilter | None = None
    ) -> tuple[list[HistoryItem], int]:
        history = self.engine.history
        entries = history.list(offset, limit, query, filters)
        return [self._item(entry) for entry in entries], history.count(query, filters)

    def history_delete(self, item_id: int) -> bool:
        return self.engine.history.delete(item_id)

    def history_item(self, item_id: int) -> HistoryItem | None:
        entry = self.engine.history.get(item_id)
        return None if entry is None else self._item(entry)

    # --- status line ------------------------------------------------------------------------------
    def _device(self) -> str:
        try:  # the device, its dtypes (the last model's) and why it fell back, if it did
            return label_of_report(self.engine.device_report())
        except Exception as error:  # no usable device: say so on the status line
            return f"{self.config.device} (unavailable: {error})"

    def _memory(self, device: str) -> str:
        """Process memory, plus the accelerator's when torch reports it (CUDA / ROCm)."""
        text = memory_in_use()
        torch = sys.modules.get("torch")
        if torch is not None and device.startswith(("cuda", "rocm")):
            try:
                if torch.cuda.is_available():
                    text += f" · VRAM {torch.cuda.memory_allocated() / 2**20:.0f} MB"
            except Exception:  # a status line never fails over a memory probe
                pass
        return text

    def status(self) -> StatusView:
        queue = self.jobs.queue
        device = self._device()
        return StatusView(
            device=device,
            memory_in_use=self._memory(device),
            queue_length=queue.count(states=["queued", "running"]),
            model_loaded=self.engine.current_model,
        )
