"""A1111's /sdapi/v1 routes beyond generation: upscaler and module lists, Extras (single and
batch), checkpoint unload/reload, and the answers for features Atelier lacks (hypernetworks:
none; interrogate: 501 naming the missing captioning model)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from fastapi import APIRouter, HTTPException
from pydantic import BaseModel

from studio.extras_jobs import EXTRAS, RELOAD_CHECKPOINT, UNLOAD_CHECKPOINT
from studio.http.errors import COMMON_RESPONSES, StrictJsonRoute
from studio.http.images import decode_image, encode_png_base64
from studio.http.jobs_sync import run_job
from studio.request import RequestError

if TYPE_CHECKING:
    from studio.http.services import HttpServices


class ExtrasBody(BaseModel):
    """A1111's ExtrasBaseRequest."""

    resize_mode: int = 0
    show_extras_results: bool = True
    gfpgan_visibility: float = 0.0
    codeformer_visibility: float = 0.0
    codeformer_weight: float = 0.0
    upscaling_resize: float = 2.0
    upscaling_resize_w: int = 512
    upscaling_resize_h: int = 512
    upscaling_crop: bool = True
    upscaler_1: str = "None"
    upscaler_2: str = "None"
    extras_upscaler_2_visibility: float = 0.0
    upscale_first: bool = False

    def settings_json(self) -> dict[str, Any]:
        """The Extras settings of the body, as the `extras` job kind takes them."""
        return self.model_dump(exclude={"show_extras_results", "image", "imageList"})


class ExtrasSingleBody(ExtrasBody):
    image: str = ""


class ImageItem(BaseModel):
    data: str
    name: str = ""


class ExtrasBatchBody(ExtrasBody):
    imageList: list[ImageItem]


def _html_info(text: str) -> str:
    return f"<p>{text}</p>"


def build_router(services: HttpServices) -> APIRouter:
    router = APIRouter(
        prefix="/sdapi/v1",
        tags=["A1111-compatible"],
        route_class=StrictJsonRoute,
        responses=COMMON_RESPONSES,
    )
    engine = services.engine

    @router.get("/upscalers")
    def upscalers() -> list[dict[str, Any]]:
        return engine.upscalers.listing()

    @router.get("/latent-upscale-modes")
    def latent_upscale_modes() -> list[dict[str, Any]]:
        return [{"name": name} for name in engine.upscalers.latent_names()]

    @router.get("/face-restorers")
    def face_restorers() -> list[dict[str, Any]]:
        return engine.upscalers.face_restorers()

    @router.get("/realesrgan-models")
    def realesrgan_models() -> list[dict[str, Any]]:
        return engine.upscalers.realesrgan_listing()

    @router.get("/sd-modules")
    def sd_modules() -> list[dict[str, Any]]:
        # A1111 lists its VAEs here too (sd_vae.vae_dict), as model_name + filename
        return [{"model_name": entry.name, "filename": str(entry.path)} for entry in engine.registry.vaes()]

    @router.get("/hypernetworks")
    def hypernetworks() -> list[dict[str, Any]]:
        return []

    @router.post(
        "/interrogate",
        responses={501: {"description": "no captioning model (CLIP interrogator, DeepBooru) is installed"}},
    )
    def interrogate() -> None:
        raise HTTPException(
            status_code=501,
            detail="interrogate needs a captioning model (CLIP interrogator or DeepBooru), and Atelier has none installed",
        )

    @router.post("/unload-checkpoint")
    async def unload_checkpoint() -> dict[str, Any]:
        await run_job(services, UNLOAD_CHECKPOINT, {})
        return {}

    @router.post("/reload-checkpoint")
    async def reload_checkpoint() -> dict[str, Any]:
        await run_job(services, RELOAD_CHECKPOINT, {})
        return {}

    async def extras_job(images: list[dict[str, str]], body: ExtrasBody) -> tuple[list[str], str]:
        """Run an `extras` job (queued behind generations); the base64 PNGs and the html_info."""
        job = await run_job(services, EXTRAS, {"images": images, **body.settings_json()})
        pngs = [stored.read_png() for stored in services.queue.images(job.id)]
        infos = [item.get("infotext") or "" for item in (job.result or {}).get("images", [])]
        return [encode_png_base64(png) for png in pngs if png is not None], _html_info(
            infos[0] if infos else ""
        )

    @router.post("/extra-single-image")
    async def extra_single_image(body: ExtrasSingleBody) -> dict[str, Any]:
        if not body.image:
            raise RequestError("image", "an image is required")
        data = decode_image(body.image, "image")
        images, info = await extras_job([{"data": encode_png_base64(data), "name": ""}], body)
        shown = images[0] if images and body.show_extras_results else ""  # A1111: "" when not shown
        return {"html_info": info, "image": shown}

    @router.post("/extra-batch-images")
    async def extra_batch_images(body: ExtrasBatchBody) -> dict[str, Any]:
        if not body.imageList:
            raise RequestError("imageList", "at least one image is required")
        items = [
            {
                "data": encode_png_base64(decode_image(item.data, f"imageList[{index}].data")),
                "name": item.name,
            }
            for index, item in enumerate(body.imageList)
        ]
        images, info = await extras_job(items, body)
        return {"html_info": info, "images": images if body.show_extras_results else []}

    return router


__all__ = ["build_router"]
