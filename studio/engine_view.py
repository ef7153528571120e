"""The engine as its consumers see it: small Protocols, no torch and no `studio.pipeline` import.

The HTTP layer (`studio.http`), the UI (`studio.ui`) and the scripts' early checks
(`studio.scripts.base.Choices`) reach the engine only through the composition root's services.
They are typed against these Protocols instead of `studio.pipeline`'s classes, so importing a
front end never imports the pipeline (and torch) and the layers stay apart. The real
`studio.pipeline.engine.Engine`, its `ModelRegistry` and `ModelEntry` satisfy them structurally;
`studio.app.Services` holds the concrete engine.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from studio.config import StudioConfig
    from studio.extras import ExtrasSettings
    from studio.history import HistoryStore
    from studio.memory.estimate import CostVerdict
    from studio.prompts.expansion import PromptLibrary
    from studio.prompts.parse import TokenCount
    from studio.request import GenerationRequest
    from studio.sidecars import Sidecar


class ModelEntryView(Protocol):
    """One model file or folder the registry found (checkpoint, VAE, LoRA, embedding)."""

    @property
    def name(self) -> str: ...

    @property
    def path(self) -> Path: ...

    @property
    def sha256(self) -> str: ...

    @property
    def hash10(self) -> str: ...

    @property
    def title(self) -> str: ...

    @property
    def model_name(self) -> str: ...

    @property
    def architecture(self) -> str:
        """Checkpoints: the architecture read from the file (flux-dev, sdxl ...)."""
        ...

    @property
    def family(self) -> str:
        """Checkpoints: the model family (sd15, sdxl, sd3, flux, z-image ...) or "unknown"."""
        ...

    @property
    def a1111_model_name(self) -> str:
        """A1111's `model_name`: the name without extension, folders joined by "_"."""
        ...

    @property
    def short_name(self) -> str:
        """The bare file name without extension (A1111's LoRA / embedding name)."""
        ...

    @property
    def sidecar(self) -> Sidecar:
        """What the files beside the model say: preview, trigger words, preferred weight."""
        ...

    def matches(self, wanted: str) -> bool: ...


class ModelCatalog(Protocol):
    """The model registry: what is installed, and finding one by title, name or hash."""

    def checkpoints(self) -> Sequence[ModelEntryView]: ...

    def vaes(self) -> Sequence[ModelEntryView]: ...

    def loras(self) -> Sequence[ModelEntryView]: ...

    def embeddings(self) -> Sequence[ModelEntryView]: ...

    def find(self, kind: str, wanted: str, field_name: str = "model") -> ModelEntryView:
        """The entry of `kind` matching `wanted`; RequestError naming `field_name` if none."""
        ...

    def refresh(self) -> None: ...


class EngineNames(Protocol):
    """The names valid right now (samplers, schedule types, models): what early checks read."""

    @property
    def registry(self) -> ModelCatalog: ...

    def sampler_names(self) -> list[str]: ...

    def schedule_types(self) -> list[str]: ...

    def sampler_aliases(self, sampler_name: str) -> list[str]:
        """The sampler's other names: A1111 aliases and the combined names of A1111 < 1.9."""
        ...

    def normalize_sampler(self, sampler_name: str, schedule: str = "Automatic") -> tuple[str, str]:
        """(sampler, schedule type) for an alias or a combined name ("DPM++ 2M Karras")."""
        ...

    def device_names(self) -> list[str]:
        """Device backends registered now: the built-ins and every enabled extension's."""
        ...

    def device_report(self) -> dict[str, Any]:
        """The device in use: name, dtype policy, and why the asked-for one fell back (if it did)."""
        ...


class DeviceView(Protocol):
    """The device the engine runs on, as the status line names it."""

    @property
    def name(self) -> str: ...

    @property
    def dtype(self) -> object: ...


class UpscalersView(Protocol):
    """The studio's upscalers (`studio.pipeline.upscalers.service.Upscalers`)."""

    def pixel_names(self) -> list[str]: ...

    def latent_names(self) -> list[str]: ...

    def names(self) -> list[str]: ...

    def listing(self) -> list[dict[str, Any]]: ...

    def realesrgan_listing(self) -> list[dict[str, Any]]: ...

    def face_restorers(self) -> list[dict[str, Any]]: ...

    def extras(self, data: bytes, settings: ExtrasSettings) -> tuple[bytes, str]:
        """One image through Extras: PNG bytes (infotext kept) and the postprocessing text."""
        ...


class StudioEngine(EngineNames, Protocol):
    """What the front ends (HTTP routes, UI) read of the engine; generation itself goes through
    the job queue. `config` is replaced when the UI saves settings the engine reads per request."""

    config: StudioConfig

    @property
    def history(self) -> HistoryStore: ...

    @property
    def prompt_library(self) -> PromptLibrary:
        """The styles (styles.csv) and wildcards of the data dir, as the engine applies them."""
        ...

    @property
    def current_model(self) -> str | None:
        """The title of the loaded (or default) checkpoint; None when there is none."""
        ...

    @property
    def device(self) -> DeviceView: ...

    def native_size(self) -> int:
        """The trained resolution of the current (or default) model."""
        ...

    def model_info(self, name: str | None = None) -> dict[str, Any]:
        """A checkpoint's family, native size, samplers, schedule types, defaults and
        family-only request fields (the current model when `name` is None)."""
        ...

    def lora_listing(self) -> list[dict[str, Any]]:
        """The installed LoRAs as A1111's `/sdapi/v1/loras` lists them (name, alias, path, metadata)."""
        ...

    def embedding_listing(self) -> dict[str, dict[str, Any]]:
        """The embeddings as A1111's `/sdapi/v1/embeddings` lists them: `loaded` and `skipped`."""
        ...

    @property
    def upscalers(self) -> UpscalersView: ...

    def unload_models(self) -> None:
        """Free the loaded checkpoints and upscalers."""
        ...

    def reload_model(self) -> str | None:
        """Load the current (or default) checkpoint again; its title."""
        ...

    def check(self, request: GenerationRequest) -> tuple[GenerationRequest, object, object]:
        """The request with names resolved, checked against the engine before it is queued
        (RequestError naming the field); the other two items are the checkpoint and VAE entries."""
        ...

    def check_cost(self, request: GenerationRequest) -> CostVerdict:
        """The `cost_check` policy's verdict on a request: its time and memory estimate and
        warnings; raises CostRefused (a RequestError) when the policy refuses it."""
        ...

    def count_tokens(
        self, prompt: str, steps: int = 20, positive: bool = True, model: str | None = None
    ) -> TokenCount:
        """A1111's token counter (tokens of the longest text over the steps, and the 75-token
        chunks they fill) with the tokenizer of `model`, default the current one."""
        ...
