"""What the web process and the engine's worker process send each other (pickled over pipes).

Parent -> child: `RunJob`, `Interrupt`, `Skip`, `Exit`.
Child -> parent: `Ready` (once, when the engine is built), `Fatal` (the engine could not be
built), `Step` (progress and the live preview), `Done` / `Failed` (one per `RunJob`).
No torch import: steps carry no latents, only the preview PNG made in the child.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from studio.progress import StepInfo

if TYPE_CHECKING:
    from studio.config import StudioConfig
    from studio.engine_view import ModelCatalog
    from studio.jobs.queue import NewImage


@dataclass(frozen=True)
class RunJob:
    job_id: str
    kind: str
    payload: dict[str, Any]
    config: StudioConfig  # the settings in effect now (the Settings tab replaces the parent's)
    catalog: tuple[str, ...]  # the parent's model files: the child rescans when its own differ


@dataclass(frozen=True)
class Interrupt:
    job_id: str


@dataclass(frozen=True)
class Skip:
    job_id: str


@dataclass(frozen=True)
class Exit:
    pass


@dataclass(frozen=True)
class Ready:
    pid: int
    kinds: tuple[str, ...]  # the job kinds the child can run
    torch_threads: int = 0  # torch's intra-op threads in the child, as it reports them
    nice: int = 0  # the child's CPU priority (niceness) once it lowered it


@dataclass(frozen=True)
class Fatal:
    message: str


@dataclass(frozen=True)
class Step:
    job_id: str
    info: StepInfo  # latents None
    preview: bytes | None


@dataclass(frozen=True)
class Done:
    job_id: str
    summary: dict[str, Any]
    images: list[NewImage]
    interrupted: bool  # the job's control was interrupted (a user's interrupt or shutdown)


@dataclass(frozen=True)
class Failed:
    job_id: str
    message: str
    field: str | None = None  # the request field a RequestError named


def catalog_fingerprint(catalog: ModelCatalog) -> tuple[str, ...]:
    """The model files a registry knows, as `kind:path` strings (sorted)."""
    listings: Sequence[tuple[str, Sequence[Any]]] = (
        ("checkpoint", catalog.checkpoints()),
        ("vae", catalog.vaes()),
        ("lora", catalog.loras()),
        ("embedding", catalog.embeddings()),
    )
    return tuple(sorted(f"{kind}:{entry.path}" for kind, entries in listings for entry in entries))
