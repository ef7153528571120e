"""The upscaler registry and the built-in upscalers. Torch is imported only to run one."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from studio.request import RequestError

# A1111's latent upscale modes: name -> (torch interpolate mode, antialias)
LATENT_MODES: dict[str, tuple[str, bool]] = {
    "Latent": ("bilinear", False),
    "Latent (antialiased)": ("bilinear", True),
    "Latent (bicubic)": ("bicubic", False),
    "Latent (bicubic antialiased)": ("bicubic", True),
    "Latent (nearest)": ("nearest", False),
    "Latent (nearest-exact)": ("nearest-exact", False),
}


@dataclass(frozen=True)
class PixelUpscaler:
    """An upscaler of PIL images: `upscale(image, width, height)` returns the image at that size."""

    name: str
    upscale: Callable[[Any, int, int], Any]
    scale: float = 4.0


def _resample(method: str) -> Callable[[Any, int, int], Any]:
    def upscale(image: Any, width: int, height: int) -> Any:
        from PIL import Image

        return image.resize((width, height), getattr(Image.Resampling, method))

    return upscale


def builtin_pixel_upscalers() -> list[PixelUpscaler]:
    """A1111's None, Lanczos and Nearest (None resizes with Lanczos where a size change is asked)."""
    return [
        PixelUpscaler("None", _resample("LANCZOS"), 1.0),
        PixelUpscaler("Lanczos", _resample("LANCZOS")),
        PixelUpscaler("Nearest", _resample("NEAREST")),
    ]


def upscale_latents(latents: Any, mode: str, antialias: bool, height: int, width: int) -> Any:
    """Latents (N, C, h, w) resized to (height, width) latent pixels (torch interpolate `mode`)."""
    import torch

    kwargs: dict[str, Any] = {"size": (height, width), "mode": mode}
    if mode in ("bilinear", "bicubic"):
        kwargs["antialias"] = antialias
        kwargs["align_corners"] = False
    return torch.nn.functional.interpolate(latents, **kwargs)


class UpscalerRegistry:
    """Pixel upscalers by name plus the latent modes. Model upscalers are added per studio by
    `ModelUpscalers` (their files change at run time)."""

    def __init__(self) -> None:
        self._pixel: dict[str, PixelUpscaler] = {}
        self._latent: dict[str, tuple[str, bool]] = {}

    def add(self, upscaler: PixelUpscaler) -> None:
        if upscaler.name in self._pixel or upscaler.name in self._latent:
            raise ValueError(f"upscaler {upscaler.name!r} is already registered")
        self._pixel[upscaler.name] = upscaler

    def add_latent_mode(self, name: str, mode: str, antialias: bool = False) -> None:
        if name in self._pixel or name in self._latent:
            raise ValueError(f"upscaler {name!r} is already registered")
        self._latent[name] = (mode, antialias)

    def pixel_names(self) -> list[str]:
        return list(self._pixel)

    def latent_names(self) -> list[str]:
        return list(self._latent)

    def is_latent(self, name: str) -> bool:
        return name in self._latent

    def latent_mode(self, name: str) -> tuple[str, bool]:
        """(torch interpolate mode, antialias) of a latent upscaler."""
        return self._latent[name]

    def pixel(self, name: str, field_name: str = "upscaler") -> PixelUpscaler:
        if name not in self._pixel:
            raise RequestError(
                field_name, f"unknown upscaler {name!r}; choose one of: {', '.join(self._pixel)}"
            )
        return self._pixel[name]


def register_builtin_upscalers(registry: UpscalerRegistry) -> None:
    for upscaler in builtin_pixel_upscalers():
        registry.add(upscaler)
    for name, (mode, antialias) in LATENT_MODES.items():
        registry.add_latent_mode(name, mode, antialias)
