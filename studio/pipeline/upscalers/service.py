"""One studio's upscalers: the registry's (built-ins, extensions') and the model files', by
name, as the engine, hires fix and Extras use them."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from studio.pipeline.upscalers.faces import FaceRestorers
from studio.pipeline.upscalers.models import ModelUpscalers
from studio.pipeline.upscalers.registry import UpscalerRegistry
from studio.request import RequestError

DEFAULT_TILE = 256
DEFAULT_OVERLAP = 32


class Upscalers:
    def __init__(
        self, registry: Callable[[], UpscalerRegistry], models_path: Path, allow_pickle: Callable[[], bool]
    ) -> None:
        self._registry = registry
        self.models = ModelUpscalers(models_path, allow_pickle)
        self.faces = FaceRestorers(models_path, allow_pickle)
        self.tile = DEFAULT_TILE
        self.overlap = DEFAULT_OVERLAP

    @property
    def registry(self) -> UpscalerRegistry:
        return self._registry()

    def pixel_names(self) -> list[str]:
        """Pixel upscalers: the registry's, then the model files' (A1111's /upscalers order)."""
        taken = set(self.registry.pixel_names())
        return self.registry.pixel_names() + [
            item.name for item in self.models.files() if item.name not in taken
        ]

    def latent_names(self) -> list[str]:
        return self.registry.latent_names()

    def names(self) -> list[str]:
        """Every name hires fix accepts: latent modes and pixel upscalers."""
        return self.latent_names() + self.pixel_names()

    def listing(self) -> list[dict[str, Any]]:
        """A1111's /sdapi/v1/upscalers entries."""
        entries: list[dict[str, Any]] = [
            {
                "name": upscaler.name,
                "model_name": None,
                "model_path": None,
                "model_url": None,
                "scale": upscaler.scale,
            }
            for upscaler in (self.registry.pixel(name) for name in self.registry.pixel_names())
        ]
        taken = {entry["name"] for entry in entries}
        for item in self.models.files():
            if item.name not in taken:
                entries.append(
                    {
                        "name": item.name,
                        "model_name": item.folder,
                        "model_path": str(item.path),
                        "model_url": None,
                        "scale": None,
                    }
                )
        return entries

    def realesrgan_listing(self) -> list[dict[str, Any]]:
        """A1111's /sdapi/v1/realesrgan-models: the files under models/RealESRGAN."""
        return [
            {"name": item.name, "path": str(item.path), "scale": None}
            for item in self.models.files()
            if item.folder == "RealESRGAN"
        ]

    def face_restorers(self) -> list[dict[str, Any]]:
        return self.faces.status()

    def pixel_function(self, name: str, field_name: str = "upscaler") -> Callable[[Any, int, int], Any]:
        """A function (image, width, height) -> image for a pixel upscaler name."""
        if name in self.registry.pixel_names():
            return self.registry.pixel(name, field_name).upscale
        item = self.models.find(name)
        if item is None:
            raise RequestError(
                field_name, f"unknown upscaler {name!r}; choose one of: {', '.join(self.pixel_names())}"
            )

        def upscale(image: Any, width: int, height: int) -> Any:
            return self.models.load(item).upscale(image, width, height, self.tile, self.overlap)

        return upscale

    def unload(self) -> None:
        self.models.unload()
        self.faces.unload()

    def extras(self, data: bytes, settings: Any) -> tuple[bytes, str]:
        """Extras on one image (`settings`: an `ExtrasSettings`): PNG bytes and the
        postprocessing text."""
        from studio.pipeline.upscalers.extras import run_extras

        settings.check()
        first = self.pixel_function(settings.upscaler_1, "upscaler_1")
        second = None
        if settings.upscaler_2 != "None" and settings.extras_upscaler_2_visibility > 0:
            second = self.pixel_function(settings.upscaler_2, "upscaler_2")
        return run_extras(data, settings, first, second, self.face_function(settings))

    def face_function(self, settings: Any) -> Callable[[Any], Any] | None:
        """Extras' face restoration (GFPGAN, then CodeFormer, each at its visibility), or None."""
        if not settings.restores_faces:
            return None
        faces = self.faces
        # load both networks now: a missing model fails before any work
        for name, visibility, field_name in (
            ("GFPGAN", settings.gfpgan_visibility, "gfpgan_visibility"),
            ("CodeFormer", settings.codeformer_visibility, "codeformer_visibility"),
        ):
            if visibility > 0:
                faces.network(name, field_name)

        def restore(image: Any) -> Any:
            image = faces.restore(image, "GFPGAN", settings.gfpgan_visibility, 0.5, "gfpgan_visibility")
            return faces.restore(
                image,
                "CodeFormer",
                settings.codeformer_visibility,
                settings.codeformer_weight,
                "codeformer_visibility",
            )

        return restore
