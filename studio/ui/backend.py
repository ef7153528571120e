"""What the UI needs from the studio, in one narrow class over the composition root's Services.

The tabs never touch the engine, the queue or the event bus directly: they call a `UIBackend`.
It submits `GenerationRequest`s to the job queue, follows the job through the event bus, and
answers the pickers (models, samplers), the History tab and the status line. Keeping the seam
here means the Gradio code is about widgets only, and a change in the services' shape touches
this one file.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, Protocol

if TYPE_CHECKING:
    from PIL.Image import Image

    from studio.config import StudioConfig
    from studio.extras import ExtrasSettings
    from studio.history import HistoryFilter
    from studio.network_cards import NetworkCard
    from studio.prompts.parse import TokenCount
    from studio.prompts.styles import PromptStyle
    from studio.request import GenerationRequest, ImageRecord

JobState = Literal["queued", "running", "done", "failed", "interrupted", "cancelled"]
FINISHED: frozenset[str] = frozenset({"done", "failed", "interrupted", "cancelled"})


@dataclass(frozen=True)
class JobView:
    """A snapshot of one job as the progress area shows it."""

    id: str
    state: JobState
    position: int = 0  # jobs ahead of this one while queued
    step: int = 0  # steps done in the current batch
    steps: int = 0
    image_index: int = 0
    image_count: int = 1
    progress: float = 0.0  # 0..1 over the whole job
    eta: float | None = None  # seconds left
    started_at: float | None = None  # time.time()
    finished_at: float | None = None
    preview: Image | None = None
    images: tuple[ImageRecord, ...] = ()
    error: str | None = None
    warnings: tuple[str, ...] = ()  # the cost check's (estimated too long, or short of memory)
    runtime: str = ""  # what it ran with: device, dtypes, memory strategies (a finished job)

    @property
    def finished(self) -> bool:
        return self.state in FINISHED


@dataclass(frozen=True)
class StatusView:
    device: str
    memory_in_use: str
    queue_length: int
    model_loaded: str | None


@dataclass(frozen=True)
class SavedSettings:
    config: StudioConfig
    applied: tuple[str, ...]  # settings in effect now
    on_restart: tuple[str, ...]  # settings that take effect at the next start


@dataclass(frozen=True)
class ScriptControls:
    """A script's controls for one tab: its typed parameters, and whether it is picked from the
    Script dropdown (selectable, runs instead of generation) or enabled beside it (always-on)."""

    name: str
    params: tuple[Any, ...]  # studio.scripts.params.Param
    selectable: bool


@dataclass(frozen=True)
class ExtensionView:
    name: str
    path: str
    enabled: bool
    error: str | None = None
    source: str = ""
    version: str = ""
    commit: str = ""
    shipped: bool = False


@dataclass(frozen=True)
class HistoryItem:
    id: int
    created_at: str
    prompt: str
    seed: int
    path: str | None
    infotext: str
    kind: str = "image"  # "grid": an X/Y/Z grid, its cells listed with HistoryFilter(grid_id=id)
    grid_id: int | None = None  # the grid this image is a cell of


class UIBackend(Protocol):
    """The studio as the UI sees it. `ServicesBackend` implements it over the real services."""

    @property
    def config(self) -> StudioConfig: ...

    def save_settings(self, changes: dict[str, Any]) -> SavedSettings:
        """Persist to the user's config file and apply what can be applied without a restart."""
        ...

    # jobs
    def submit(self, request: GenerationRequest) -> str: ...

    def job(self, job_id: str) -> JobView: ...

    def wait(self, job_id: str, timeout: float) -> JobView:
        """The job's view once it changed, or after `timeout` seconds."""
        ...

    def interrupt(self, job_id: str) -> None: ...

    def skip(self, job_id: str) -> None: ...

    # pickers
    def checkpoints(self) -> list[str]: ...

    def vaes(self) -> list[str]: ...

    def refresh_models(self) -> None: ...

    def default_size(self) -> int:
        """Width and height a new form starts at: the default model's trained resolution."""
        ...

    def sampler_names(self) -> list[str]: ...

    def model_info(self, name: str | None) -> dict[str, Any]:
        """A checkpoint's family, native size, samplers, schedule types, defaults and
        family-only fields (the current model when `name` is None)."""
        ...

    def count_tokens(self, prompt: str, steps: int, positive: bool, model: str | None) -> TokenCount:
        """A1111's token counter with `model`'s tokenizer (None: the current model)."""
        ...

    def schedule_types(self) -> list[str]: ...

    def upscaler_names(self) -> list[str]:
        """Hires fix's upscalers: the latent modes, then None, Lanczos, Nearest and model files."""
        ...

    def face_restorers(self) -> list[dict[str, Any]]:
        """GFPGAN and CodeFormer: `available`, `reason`, `model_path`, and the face detector
        that runs (`detector`, `aligned`, `detector_note`)."""
        ...

    def submit_extras(self, data: bytes, settings: ExtrasSettings) -> str:
        """Queue one image through Extras (an `extras` job, behind the generations); its id.
        The job's view (`job` / `wait`) has the PNG (infotext kept) and the postprocessing
        text as its image's infotext. RequestError naming a bad field, nothing queued."""
        ...

    def schedule_types_for(self, sampler_name: str, model: str | None = None) -> list[str]:
        """The schedule types that apply to `sampler_name` (all of them for an unknown sampler)
        with the checkpoint `model` (a title; "(current)" or None: the current model)."""
        ...

    def normalize_sampler(self, sampler_name: str, schedule: str) -> tuple[str, str]:
        """(sampler, schedule type) for an alias or an A1111 < 1.9 name ("DPM++ 2M Karras")."""
        ...

    # prompt library
    def styles(self) -> list[PromptStyle]: ...

    def save_style(self, style: PromptStyle, replace: str | None = None) -> PromptStyle:
        """Create or update (or rename `replace` to) the style; RequestError on a bad field."""
        ...

    def delete_style(self, name: str) -> None: ...

    def import_styles(self, csv_text: str) -> list[str]:
        """Merge an A1111 styles.csv; the names imported."""
        ...

    def infotext_styles(self, parsed: dict[str, Any]) -> dict[str, Any]:
        """Parsed infotext with the styles found in its prompt taken off it ("Styles array"),
        as the `infotext_styles` option says."""
        ...

    def network_cards(self, kind: str) -> list[NetworkCard]:
        """Extra Networks cards: checkpoint, lora, embedding or wildcard."""
        ...

    def device_names(self) -> list[str]:
        """The device backends the Settings tab offers (built-ins and extensions')."""
        ...

    def scripts(self, tab: str) -> list[ScriptControls]: ...

    def axis_value_choices(self, axis: str) -> list[str] | None:
        """The values an X/Y/Z name axis offers (samplers, checkpoints ...), None for typed axes."""
        ...

    def extensions(self) -> list[ExtensionView]: ...

    def manage_extension(self, operation: str, name: str) -> str:
        """enable / disable / update / uninstall `name` now; a message saying what happened.
        Raises ValueError with the reason when it cannot be done."""
        ...

    def install_extension(self, source: str, kind: str, *, local_allowed: bool) -> str:
        """Install from a folder or .zip on the studio's machine (only when `local_allowed`) or a
        git URL, enable and load it; a message. ValueError with the reason when it fails."""
        ...

    def install_extension_zip(self, data: bytes, filename: str) -> str:
        """Install an uploaded .zip; a message. ValueError with the reason when it fails."""
        ...

    def script_table(self) -> list[dict[str, str]]:
        """Every registered script: name, kind (selectable / alwayson), source, description."""
        ...

    # history
    def history_page(
        self, offset: int, limit: int, query: str | None, filters: HistoryFilter | None = None
    ) -> tuple[list[HistoryItem], int]:
        """A page of history (newest first) matching `query` (prompt or infotext) and `filters`."""
        ...

    def history_delete(self, item_id: int) -> bool:
        """Delete the history row and its image file; False if there is no such item."""
        ...

    def history_item(self, item_id: int) -> HistoryItem | None: ...

    # status line
    def status(self) -> StatusView: ...


def memory_in_use() -> str:
    """Resident memory of this process, readable (e.g. '612 MB'). psutil comes with the `studio`
    extra, as Gradio does, so it is there wherever the UI runs."""
    import psutil

    rss = psutil.Process().memory_info().rss
    return f"{rss / 2**20:.0f} MB"
