"""sd-webui-controlnet's HTTP API: `/controlnet/*` routes, and the units of an A1111 payload's
`alwayson_scripts.controlnet.args` as `GenerationRequest.controlnet_units`."""

from __future__ import annotations

import io
from collections.abc import Mapping
from typing import Any

from fastapi import APIRouter
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, Field

from studio.controlnet import models as controlnet_models
from studio.controlnet import preprocessors
from studio.controlnet.units import parse_units
from studio.http.errors import COMMON_RESPONSES, StrictJsonRoute
from studio.http.images import decode_image, encode_png_base64
from studio.http.services import HttpServices
from studio.request import RequestError

# The extension's API version that clients check (`/controlnet/version`).
API_VERSION = 2
SCRIPT_NAMES = ("controlnet", "sd-webui-controlnet")


def split_controlnet(
    alwayson_scripts: Mapping[str, Any],
) -> tuple[dict[str, Any], tuple[dict[str, Any], ...]]:
    """The other always-on scripts, and the ControlNet units (JSON-safe) of `alwayson_scripts`."""
    others: dict[str, Any] = {}
    units: tuple[dict[str, Any], ...] = ()
    for name, body in alwayson_scripts.items():
        if str(name).lower() not in SCRIPT_NAMES:
            others[name] = body
            continue
        args = body.get("args", []) if isinstance(body, Mapping) else body
        units = tuple(unit.to_json() for unit in parse_units(args, preprocessors.accepted_names()))
    return others, units


class DetectBody(BaseModel):
    controlnet_module: str = "none"
    controlnet_input_images: list[str] = Field(default_factory=list)
    controlnet_images: list[str] = Field(default_factory=list)  # webuiapi's spelling
    controlnet_processor_res: int = 512
    controlnet_threshold_a: float = -1
    controlnet_threshold_b: float = -1


def detect(services: HttpServices, body: DetectBody) -> dict[str, Any]:
    from PIL import Image, UnidentifiedImageError

    inputs = body.controlnet_input_images or body.controlnet_images
    if not inputs:
        raise RequestError("controlnet_input_images", "give at least one image")
    if not 64 <= body.controlnet_processor_res <= 2048:
        raise RequestError(
            "controlnet_processor_res", f"must be in 64..2048, got {body.controlnet_processor_res}"
        )
    annotators = services.config.models_path / controlnet_models.FOLDER / controlnet_models.ANNOTATORS
    images = []
    for index, data in enumerate(inputs):
        field_name = f"controlnet_input_images[{index}]"
        try:
            image = Image.open(io.BytesIO(decode_image(data, field_name)))
        except (UnidentifiedImageError, OSError) as error:
            raise RequestError(field_name, f"not a readable image ({error})") from error
        detected = preprocessors.run(
            body.controlnet_module,
            image,
            body.controlnet_processor_res,
            body.controlnet_threshold_a,
            body.controlnet_threshold_b,
            annotators,
            "controlnet_module",
            allow_pickle=services.config.allow_pickle,
        )
        buffer = io.BytesIO()
        detected.save(buffer, format="PNG")
        images.append(encode_png_base64(buffer.getvalue()))
    return {"images": images, "info": "Success"}


def model_titles(services: HttpServices) -> list[str]:
    return [
        m.title for m in controlnet_models.scan(services.config.models_path, services.config.allow_pickle)
    ]


def build_router(services: HttpServices) -> APIRouter:
    router = APIRouter(
        prefix="/controlnet",
        tags=["controlnet"],
        route_class=StrictJsonRoute,
        responses=COMMON_RESPONSES,
    )

    @router.get("/version")
    def version() -> dict[str, Any]:
        return {"version": API_VERSION}

    @router.get("/model_list")
    def model_list(update: bool = True) -> dict[str, Any]:
        return {"model_list": model_titles(services)}

    @router.get("/module_list")
    def module_list(alias_names: bool = False) -> dict[str, Any]:
        return {"module_list": preprocessors.module_names(), "module_detail": preprocessors.slider_info()}

    @router.get("/settings")
    def settings() -> dict[str, Any]:
        return {"control_net_unit_count": 3}

    @router.post("/detect")
    async def detect_route(body: DetectBody) -> dict[str, Any]:
        return await run_in_threadpool(detect, services, body)

    return router
