"""Reading single files whose weights are 8-bit floats, by upcasting them on load.

fp8 files are common for Flux.1 and its T5 text encoder (`flux1-dev-fp8.safetensors`,
`t5xxl_fp8_e4m3fn.safetensors`): half the size of a 16-bit file. Two kinds exist:
- plain fp8 (`float8_e4m3fn` / `float8_e5m2` tensors): every fp8 value is exactly a bfloat16
  and float32 value, so upcasting loses nothing;
- ComfyUI's "scaled fp8" (`scaled_fp8` marker, a `<layer>.scale_weight` beside each fp8
  weight): the real weight is the fp8 value times its scale; the product is taken in float32.
  `scale_input` keys (activation scales for fp8 matmuls) are dropped: the model computes in
  the load dtype.
The weights come back in the load dtype, so the model is the size of a 16/32-bit one in memory
(an fp8 file saves disk and download, not memory).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

SCALE_SUFFIX = ".scale_weight"
DROPPED_SUFFIXES = (".scale_input",)
MARKERS = ("scaled_fp8",)


def is_fp8(tensor: Any) -> bool:
    import torch

    return tensor.dtype in (torch.float8_e4m3fn, torch.float8_e5m2)


def upcast_fp8(state: dict[str, Any], dtype: Any) -> dict[str, Any]:
    """`state` with its fp8 tensors in `dtype` (scaled ones multiplied by their scale first),
    the scale keys and markers removed. A state without fp8 tensors comes back unchanged."""
    import torch

    if not any(is_fp8(value) for value in state.values()):
        return state
    if not dtype.is_floating_point or dtype.itemsize < 2:
        dtype = torch.bfloat16
    out: dict[str, Any] = {}
    for key, value in state.items():
        if key in MARKERS or key.endswith(SCALE_SUFFIX) or key.endswith(DROPPED_SUFFIXES):
            continue
        if is_fp8(value):
            scale = state.get(key.removesuffix(".weight") + SCALE_SUFFIX) if key.endswith(".weight") else None
            value = value.to(torch.float32)
            if scale is not None:
                value = value * scale.to(torch.float32)
            value = value.to(dtype)
        out[key] = value
    return out


def load_weights(path: Path, dtype: Any) -> dict[str, Any]:
    """A `.safetensors` file's tensors, fp8 ones upcast to `dtype` (`upcast_fp8`)."""
    from safetensors.torch import load_file

    return upcast_fp8(load_file(str(path)), dtype)
