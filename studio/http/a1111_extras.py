"""A1111's /sdapi/v1 routes beyond generation: upscaler and module lists, Extras (single and
batch), checkpoint unload/reload, and the answers for features Atelier lacks (hypernetworks:
none; interrogate: 501 naming the missing captioning model)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from fastapi import APIRouter, HTTPException
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel

from studio.extras import ExtrasSettings
from studio.http.errors import COMMON_RESPONSES, StrictJsonRoute
from studio.http.images import decode_image, encode_png_base64
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

    def settings(self) -> ExtrasSettings:
        return ExtrasSettings(
            resize_mode=self.resize_mode,
            upscaling_resize=self.upscaling_resize,
            upscaling_resize_w=self.upscaling_resize_w,
            upscaling_resize_h=self.upscaling_resize_h,
            upscaling_crop=self.upscaling_crop,
            upscaler_1=self.upscaler_1,
            upscaler_2=self.upscaler_2,
            extras_upscaler_2_visibility=self.extras_upscaler_2_visibility,
        )

    def check_restorers(self, restorers: list[dict[str, Any]]) -> None:
        reasons = {item["name"]: item.get("reason") for item in restorers if not item.get("available")}
        for field_name, name in (("gfpgan_visibility", "GFPGAN"), ("codeformer_visibility", "CodeFormer")):
            if getattr(self, field_name) > 0 and name in reasons:
                raise RequestError(field_name, f"{name} face restoration is unavailable: {reasons[name]}")


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
        await run_in_threadpool(engine.unload_models)
        return {}

    @router.post("/reload-checkpoint")
    async def reload_checkpoint() -> dict[str, Any]:
        await run_in_threadpool(engine.reload_model)
        return {}

    def extras_one(data: bytes, body: ExtrasBody) -> tuple[bytes, str]:
        body.check_restorers(engine.upscalers.face_restorers())
        return engine.upscalers.extras(data, body.settings())

    @router.post("/extra-single-image")
    async def extra_single_image(body: ExtrasSingleBody) -> dict[str, Any]:
        if not body.image:
            raise RequestError("image", "an image is required")
        data = decode_image(body.image, "image")
        png, text = await run_in_threadpool(extras_one, data, body)
        return {"html_info": _html_info(text), "image": encode_png_base64(png)}

    @router.post("/extra-batch-images")
    async def extra_batch_images(body: ExtrasBatchBody) -> dict[str, Any]:
        if not body.imageList:
            raise RequestError("imageList", "at least one image is required")
        images = [
            decode_image(item.data, f"imageList[{index}].data") for index, item in enumerate(body.imageList)
        ]

        def run_all() -> tuple[list[bytes], str]:
            results = [extras_one(data, body) for data in images]
            return [png for png, _ in results], results[0][1]

        pngs, text = await run_in_threadpool(run_all)
        return {"html_info": _html_info(text), "images": [encode_png_base64(png) for png in pngs]}

    return router


__all__ = ["build_router"]
