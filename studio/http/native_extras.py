"""Atelier's own Extras routes under /studio/v1: the upscalers and face restorers, and Extras
and checkpoint unload/reload as queued jobs (answered 202 with the job, like POST /jobs).

GET    /upscalers               pixel upscalers (built-in and model files), latent modes,
                                face restorers (with why one is unavailable)
POST   /extras/single           one image through Extras -> 202 {id, state, position, url, ...}
POST   /extras/batch            several images, the same settings -> 202 job
POST   /checkpoint/unload       free the loaded checkpoints and upscalers -> 202 job
POST   /checkpoint/reload       load the current checkpoint again -> 202 job

The job's images are at /studio/v1/images/{id} once it is done; its events stream at
/studio/v1/jobs/{id}/events (one `step` per image); DELETE /studio/v1/jobs/{id} cancels it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from fastapi import APIRouter
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from studio.extras_jobs import EXTRAS, RELOAD_CHECKPOINT, UNLOAD_CHECKPOINT
from studio.http.errors import COMMON_RESPONSES, StrictJsonRoute
from studio.http.images import decode_image, encode_png_base64
from studio.http.native import job_json

if TYPE_CHECKING:
    from studio.http.services import HttpServices


class ExtrasOptions(BaseModel):
    """What Extras does to each image (A1111's extras fields)."""

    resize_mode: int = Field(0, description="0: scale by upscaling_resize; 1: scale to w x h")
    upscaling_resize: float = 2.0
    upscaling_resize_w: int = 512
    upscaling_resize_h: int = 512
    upscaling_crop: bool = Field(True, description="scale to: crop to fill w x h")
    upscaler_1: str = "None"
    upscaler_2: str = "None"
    extras_upscaler_2_visibility: float = Field(0.0, description="blend of upscaler_2's result, 0..1")
    gfpgan_visibility: float = Field(0.0, description="0..1; needs a GFPGAN model file")
    codeformer_visibility: float = Field(0.0, description="0..1; needs a CodeFormer model file")
    codeformer_weight: float = Field(0.0, description="0: strongest restoration, 1: weakest")
    upscale_first: bool = Field(False, description="upscale before restoring faces")
    priority: int = Field(0, ge=-100, le=100, description="higher runs first; FIFO within a priority")


class ExtrasSingle(ExtrasOptions):
    image: str = Field(description="base64 image (or a data URL)")
    name: str = ""


class ExtrasImage(BaseModel):
    data: str = Field(description="base64 image (or a data URL)")
    name: str = ""


class ExtrasBatch(ExtrasOptions):
    images: list[ExtrasImage] = Field(min_length=1)


class CheckpointJob(BaseModel):
    priority: int = Field(0, ge=-100, le=100)


def build_router(services: HttpServices) -> APIRouter:
    router = APIRouter(
        prefix="/studio/v1", tags=["Atelier extras"], route_class=StrictJsonRoute, responses=COMMON_RESPONSES
    )
    upscalers = services.engine.upscalers

    def submit(kind: str, payload: dict[str, Any], priority: int) -> JSONResponse:
        job = services.jobs.submit(kind, payload, priority=priority)
        return JSONResponse(job_json(job), status_code=202)

    def submit_extras(images: list[dict[str, str]], body: ExtrasOptions) -> JSONResponse:
        settings = body.model_dump(exclude={"priority", "image", "name", "images"})
        return submit(EXTRAS, {"images": images, **settings}, body.priority)

    @router.get("/upscalers")
    def list_upscalers() -> dict[str, Any]:
        """`upscalers`: pixel upscalers in A1111's /upscalers shape plus `kind` (builtin or
        model); `latent_modes`: hires fix's latent upscalers; `face_restorers`: each with
        `available` and, when not, the `reason`."""
        entries = [
            {**entry, "kind": "model" if entry["model_path"] else "builtin"} for entry in upscalers.listing()
        ]
        return {
            "upscalers": entries,
            "latent_modes": upscalers.latent_names(),
            "face_restorers": upscalers.face_restorers(),
        }

    @router.post("/extras/single", status_code=202)
    async def extras_single(body: ExtrasSingle) -> JSONResponse:
        def run() -> JSONResponse:
            data = decode_image(body.image, "image")
            return submit_extras([{"data": encode_png_base64(data), "name": body.name}], body)

        return await run_in_threadpool(run)

    @router.post("/extras/batch", status_code=202)
    async def extras_batch(body: ExtrasBatch) -> JSONResponse:
        def run() -> JSONResponse:
            images = [
                {
                    "data": encode_png_base64(decode_image(item.data, f"images[{index}].data")),
                    "name": item.name,
                }
                for index, item in enumerate(body.images)
            ]
            return submit_extras(images, body)

        return await run_in_threadpool(run)

    @router.post("/checkpoint/unload", status_code=202)
    def checkpoint_unload(body: CheckpointJob | None = None) -> JSONResponse:
        return submit(UNLOAD_CHECKPOINT, {}, body.priority if body else 0)

    @router.post("/checkpoint/reload", status_code=202)
    def checkpoint_reload(body: CheckpointJob | None = None) -> JSONResponse:
        return submit(RELOAD_CHECKPOINT, {}, body.priority if body else 0)

    return router


__all__ = ["build_router"]
