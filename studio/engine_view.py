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
    from studio.history import HistoryStore
    from studio.request import GenerationRequest


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

    def device_names(self) -> list[str]:
        """Device backends registered now: the built-ins and every enabled extension's."""
        ...


class DeviceView(Protocol):
    """The device the engine runs on, as the status line names it."""

    @property
    def name(self) -> str: ...

    @property
    def dtype(self) -> object: ...


class StudioEngine(EngineNames, Protocol):
    """What the front ends (HTTP routes, UI) read of the engine; generation itself goes through
    the job queue. `config` is replaced when the UI saves settings the engine reads per request."""

    config: StudioConfig

    @property
    def history(self) -> HistoryStore: ...

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

    def check(self, request: GenerationRequest) -> tuple[GenerationRequest, object, object]:
        """The request with names resolved, checked against the engine before it is queued
        (RequestError naming the field); the other two items are the checkpoint and VAE entries."""
        ...
