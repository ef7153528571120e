"""Image conversions between Gradio's widgets and a request's encoded bytes (no generation)."""

from __future__ import annotations

import io
from collections.abc import Iterable

from PIL import Image


def png_bytes(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def mask_from_layers(layers: Iterable[Image.Image | None], size: tuple[int, int]) -> Image.Image | None:
    """White where any sketch layer has paint, black elsewhere; None when nothing was painted."""
    mask = Image.new("L", size, 0)
    painted = False
    for layer in layers:
        if layer is None:
            continue
        rgba = layer.convert("RGBA")
        if rgba.size != size:
            rgba = rgba.resize(size)
        alpha = rgba.getchannel("A").point(lambda value: 255 if value > 0 else 0)
        if alpha.getbbox() is not None:
            painted = True
            mask.paste(255, (0, 0), alpha)
    return mask if painted else None


def uploaded_mask(image: Image.Image, size: tuple[int, int]) -> Image.Image:
    """An uploaded mask as a grey image of the init image's size (transparent areas are black)."""
    if image.mode in ("RGBA", "LA"):
        background = Image.new("RGBA", image.size, (0, 0, 0, 255))
        image = Image.alpha_composite(background, image.convert("RGBA"))
    grey = image.convert("L")
    return grey if grey.size == size else grey.resize(size)
