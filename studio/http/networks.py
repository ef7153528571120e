"""LoRAs and embeddings under /studio/v1, the same data as A1111's `/sdapi/v1` routes:

GET  /studio/v1/loras                 [{name, alias, path, metadata}]  (alias: kohya's ss_output_name)
GET  /studio/v1/embeddings            {"loaded": {name: {step, sd_checkpoint, sd_checkpoint_name,
                                       shape, vectors}}, "skipped": {...}}  (for the current model)
POST /studio/v1/refresh-loras         rescan the model folders
POST /studio/v1/refresh-embeddings    rescan the model folders

A prompt uses a LoRA as `<lora:name:weight>` and an embedding by its name (docs/networks.md).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from fastapi import APIRouter

from studio.http.errors import COMMON_RESPONSES, StrictJsonRoute

if TYPE_CHECKING:
    from studio.http.services import HttpServices


def build_router(services: HttpServices) -> APIRouter:
    router = APIRouter(
        prefix="/studio/v1",
        tags=["Atelier LoRAs and embeddings"],
        route_class=StrictJsonRoute,
        responses=COMMON_RESPONSES,
    )
    engine = services.engine

    @router.get("/loras")
    def loras() -> list[dict[str, Any]]:
        return engine.lora_listing()

    @router.get("/embeddings")
    def embeddings() -> dict[str, Any]:
        return engine.embedding_listing()

    @router.post("/refresh-loras")
    def refresh_loras() -> None:
        engine.registry.refresh()

    @router.post("/refresh-embeddings")
    def refresh_embeddings() -> None:
        engine.registry.refresh()

    return router
