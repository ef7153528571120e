"""Read a `.safetensors` file's header without torch: its tensor names, shapes and dtypes, and
its `__metadata__` (kohya's `ss_*` training notes, diffusers' adapter config, ...).

The format: 8 bytes little-endian header length N, then N bytes of JSON, then the tensor data.
"""

from __future__ import annotations

import contextlib
import json
import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

MAX_HEADER = 100 * 1024 * 1024  # the safetensors library's own limit


class HeaderError(ValueError):
    """Not a readable safetensors file."""


@dataclass(frozen=True)
class SafetensorsHeader:
    tensors: dict[str, tuple[str, tuple[int, ...]]]  # name -> (dtype, shape)
    metadata: dict[str, str] = field(default_factory=dict)
    data_offset: int = 0  # where the tensor data starts (8 + header length)


def read_header(path: Path) -> SafetensorsHeader:
    """The header of `path`; HeaderError when it is not a safetensors file."""
    with Path(path).open("rb") as handle:
        prefix = handle.read(8)
        if len(prefix) != 8:
            raise HeaderError(f"{Path(path).name}: too short to be a safetensors file")
        (length,) = struct.unpack("<Q", prefix)
        if length > MAX_HEADER:
            raise HeaderError(f"{Path(path).name}: not a safetensors file (header length {length})")
        raw = handle.read(length)
    if len(raw) != length:
        raise HeaderError(f"{Path(path).name}: not a safetensors file (header cut short)")
    try:
        header = json.loads(raw)
    except ValueError:
        raise HeaderError(f"{Path(path).name}: not a safetensors file (header is not JSON)") from None
    if not isinstance(header, dict):
        raise HeaderError(f"{Path(path).name}: not a safetensors file (header is not an object)")
    metadata = header.pop("__metadata__", None) or {}
    tensors: dict[str, tuple[str, tuple[int, ...]]] = {}
    for name, info in header.items():
        if not isinstance(info, dict) or "shape" not in info:
            raise HeaderError(f"{Path(path).name}: not a safetensors file (entry {name!r})")
        tensors[name] = (str(info.get("dtype", "")), tuple(int(n) for n in info["shape"]))
    return SafetensorsHeader(tensors, {str(k): str(v) for k, v in metadata.items()}, data_offset=8 + length)


def a1111_metadata(metadata: dict[str, str]) -> dict[str, Any]:
    """The metadata as A1111's `/sdapi/v1/loras` returns it: values that hold a JSON object
    (kohya's `ss_tag_frequency`, `ss_dataset_dirs`, ...) decoded, the rest as written, with
    the keys A1111 shows first (model name, resolution, clip skip, images, tag frequency) first."""
    order = {"ss_sd_model_name": 1, "ss_resolution": 2, "ss_clip_skip": 3, "ss_num_train_images": 10}
    order["ss_tag_frequency"] = 20
    result: dict[str, Any] = {}
    for key, value in sorted(metadata.items(), key=lambda item: order.get(item[0], 999)):
        result[key] = value
        if value[:1] == "{":
            with contextlib.suppress(ValueError):
                result[key] = json.loads(value)
    return result
