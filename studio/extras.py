"""Extras settings (A1111's extras fields), their target size and the `postprocessing` text
A1111 writes. Torch-free: the HTTP layer and the UI build these; the pipeline runs them
(`studio.pipeline.upscalers.extras`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from studio.infotext import format_value
from studio.request import Problems, RequestError


@dataclass(frozen=True)
class ExtrasSettings:
    """A1111's extras fields: resize_mode 0 scales by `upscaling_resize`, 1 scales to w x h
    (cropping to fill when `upscaling_crop`)."""

    resize_mode: int = 0
    upscaling_resize: float = 2.0
    upscaling_resize_w: int = 512
    upscaling_resize_h: int = 512
    upscaling_crop: bool = True
    upscaler_1: str = "None"
    upscaler_2: str = "None"
    extras_upscaler_2_visibility: float = 0.0
    gfpgan_visibility: float = 0.0
    codeformer_visibility: float = 0.0
    codeformer_weight: float = 0.0
    upscale_first: bool = False  # A1111: upscale before restoring faces (default: faces first)

    @property
    def restores_faces(self) -> bool:
        return self.gfpgan_visibility > 0 or self.codeformer_visibility > 0

    def check(self) -> None:
        """RequestError (RequestErrors) naming every out-of-range field."""
        problems = Problems()
        if self.resize_mode not in (0, 1):
            problems.add(
                RequestError("resize_mode", f"{self.resize_mode} is not 0 (scale by) or 1 (scale to)")
            )
        if not 0.1 <= self.upscaling_resize <= 8:
            problems.add(RequestError("upscaling_resize", f"{self.upscaling_resize} is out of range 0.1..8"))
        for name in ("upscaling_resize_w", "upscaling_resize_h"):
            if not 1 <= getattr(self, name) <= 8192:
                problems.add(RequestError(name, f"{getattr(self, name)} is out of range 1..8192"))
        for name in (
            "extras_upscaler_2_visibility",
            "gfpgan_visibility",
            "codeformer_visibility",
            "codeformer_weight",
        ):
            if not 0 <= getattr(self, name) <= 1:
                problems.add(RequestError(name, f"{getattr(self, name)} is out of range 0..1"))
        problems.raise_any()


def target_size(settings: ExtrasSettings, width: int, height: int) -> tuple[int, int, bool]:
    """(width, height, crop): the size the upscalers make, and whether to crop to w x h after."""
    if settings.resize_mode == 0:
        return round(width * settings.upscaling_resize), round(height * settings.upscaling_resize), False
    w, h = settings.upscaling_resize_w, settings.upscaling_resize_h
    if not settings.upscaling_crop:
        return w, h, False
    ratio = max(w / width, h / height)
    return round(width * ratio), round(height * ratio), True


def postprocess_text(settings: ExtrasSettings) -> str:
    params: dict[str, Any] = {}
    if settings.resize_mode == 0:
        params["Postprocess upscale by"] = settings.upscaling_resize
    else:
        params["Postprocess upscale to"] = f"{settings.upscaling_resize_w}x{settings.upscaling_resize_h}"
        params["Postprocess crop to fit"] = settings.upscaling_crop
    params["Postprocess upscaler"] = settings.upscaler_1
    if settings.upscaler_2 != "None" and settings.extras_upscaler_2_visibility > 0:
        params["Postprocess upscaler 2"] = settings.upscaler_2
        params["Postprocess upscaler 2 visibility"] = settings.extras_upscaler_2_visibility
    if settings.gfpgan_visibility > 0:
        params["GFPGAN visibility"] = settings.gfpgan_visibility
    if settings.codeformer_visibility > 0:
        params["CodeFormer visibility"] = settings.codeformer_visibility
        params["CodeFormer weight"] = settings.codeformer_weight
    return ", ".join(f"{key}: {format_value(value)}" for key, value in params.items())
