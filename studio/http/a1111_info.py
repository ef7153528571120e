"""What `/sdapi/v1/memory` and `/sdapi/v1/png-info` read: the process's memory, and the
parameters stored in an image (PNG text chunk, or EXIF UserComment for JPEG / WebP)."""

from __future__ import annotations

import sys
from typing import Any

from studio.infotext import parse_infotext


def memory_report() -> dict[str, Any]:
    import psutil

    memory = psutil.virtual_memory()
    ram = {"free": memory.available, "used": memory.total - memory.available, "total": memory.total}
    process = {"rss": psutil.Process().memory_info().rss}
    torch = sys.modules.get("torch")
    if torch is not None and torch.cuda.is_available():
        free, total = torch.cuda.mem_get_info()
        stats = torch.cuda.memory_stats()
        cuda: dict[str, Any] = {
            "system": {"free": free, "used": total - free, "total": total},
            "active": {
                "current": stats.get("active_bytes.all.current", 0),
                "peak": stats.get("active_bytes.all.peak", 0),
            },
            "allocated": {
                "current": stats.get("allocated_bytes.all.current", 0),
                "peak": stats.get("allocated_bytes.all.peak", 0),
            },
            "reserved": {
                "current": stats.get("reserved_bytes.all.current", 0),
                "peak": stats.get("reserved_bytes.all.peak", 0),
            },
        }
    else:
        cuda = {"error": "no CUDA device in use"}
    return {"ram": ram, "process": process, "cuda": cuda}


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
