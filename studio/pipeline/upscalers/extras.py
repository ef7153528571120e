"""The Extras operation: upscale an image by a factor or to a size with one upscaler, or two
blended, keeping its infotext (A1111's `postprocessing` text is added, as A1111 writes it)."""

from __future__ import annotations

import io
from collections.abc import Callable
from typing import Any

from studio.extras import ExtrasSettings, postprocess_text, target_size
from studio.request import RequestError

Upscale = Callable[[Any, int, int], Any]


def run_extras(
    data: bytes,
    settings: ExtrasSettings,
    first: Upscale,
    second: Upscale | None,
    restore: Callable[[Any], Any] | None = None,
) -> tuple[bytes, str]:
    """PNG bytes of the upscaled image (its `parameters` kept, `postprocessing` added) and the
    postprocessing text. `restore` (face restoration) runs before the upscale, or after it
    with `settings.upscale_first`."""
    from PIL import Image
    from PIL.PngImagePlugin import PngInfo

    try:
        source = Image.open(io.BytesIO(data))
        source.load()
    except Exception as error:  # PIL raises several types for bad data
        raise RequestError("image", f"not a readable image ({error})") from error
    parameters = source.info.get("parameters")
    image = source.convert("RGB")
    if restore is not None and not settings.upscale_first:
        image = restore(image)
    width, height, crop = target_size(settings, image.width, image.height)
    result = first(image, width, height)
    if second is not None and settings.extras_upscaler_2_visibility > 0:
        result = Image.blend(result, second(image, width, height), settings.extras_upscaler_2_visibility)
    if crop:
        w, h = settings.upscaling_resize_w, settings.upscaling_resize_h
        left, top = (result.width - w) // 2, (result.height - h) // 2
        result = result.crop((left, top, left + w, top + h))
    if restore is not None and settings.upscale_first:
        result = restore(result)
    text = postprocess_text(settings)
    info = PngInfo()
    if isinstance(parameters, str):
        info.add_text("parameters", parameters)
    info.add_text("postprocessing", text)
    buffer = io.BytesIO()
    result.save(buffer, format="PNG", pnginfo=info)
    return buffer.getvalue(), text
