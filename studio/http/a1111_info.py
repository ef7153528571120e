"""What `/sdapi/v1/png-info` reads: the parameters stored in an image (PNG text chunk, or EXIF
UserComment for JPEG / WebP)."""

from __future__ import annotations

from typing import Any

from studio.infotext import parse_infotext


def read_png_info(data: bytes) -> dict[str, Any]:
    import io

    from PIL import Image

    from studio.infotext import read_exif_infotext

    with Image.open(io.BytesIO(data)) as image:
        items = {key: value for key, value in image.info.items() if isinstance(value, str)}
        exif_text = read_exif_infotext(image)
    text = items.pop("parameters", None) or exif_text
    parameters: dict[str, Any] = dict(parse_infotext(text)) if text else {}
    return {"info": text or "", "items": items, "parameters": parameters}
