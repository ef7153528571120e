"""A cheap live preview for every family: latents -> RGB with a fixed linear map.

Each latent channel contributes a fixed RGB colour, plus a bias, then [-1, 1] -> [0, 255]: the
"latent_rgb_factors" approximation of ComfyUI (comfy/latent_formats.py) and A1111's "Approx
cheap". The factors apply to the latents as the sampler holds them (scaled, and shifted for
SD3 / Flux), which is what the step callback passes. The result has the latent's size (1/8 of
the image) and costs well under a millisecond, so the worker sends one every few steps
without slowing generation.

Families (studio.pipeline.families): SD 1.x / 2.x (4 channels), SDXL and its refiner (4
channels, other colours), SD 3.5 (16 channels), Flux.1 (16 channels, packed by the pipeline
into 2x2 patches of 64 values: unpacked here with the image's aspect ratio) and Z-Image (16 channels,
Flux's VAE: Flux's factors). Latents of another shape get no preview (None).
"""

from __future__ import annotations

import io
from typing import Any

import numpy as np
from PIL import Image

# rows: latent channels; columns: R, G, B (ComfyUI latent_formats.SD15)
SD_COEFFICIENTS = np.array(
    [
        [0.3512, 0.2297, 0.3227],
        [0.3250, 0.4974, 0.2350],
        [-0.2829, 0.1762, 0.2721],
        [-0.2120, -0.2616, -0.7177],
    ],
    dtype=np.float32,
)
SDXL_COEFFICIENTS = np.array(  # ComfyUI latent_formats.SDXL
    [
        [0.3651, 0.4232, 0.4341],
        [-0.2533, -0.0042, 0.1068],
        [0.1076, 0.1111, -0.0362],
        [-0.3165, -0.2492, -0.2188],
    ],
    dtype=np.float32,
)
SDXL_BIAS = np.array([0.1084, -0.0175, -0.0011], dtype=np.float32)
SD3_COEFFICIENTS = np.array(  # ComfyUI latent_formats.SD3
    [
        [-0.0922, -0.0175, 0.0749],
        [0.0311, 0.0633, 0.0954],
        [0.1994, 0.0927, 0.0458],
        [0.0856, 0.0339, 0.0902],
        [0.0587, 0.0272, -0.0496],
        [-0.0006, 0.1104, 0.0309],
        [0.0978, 0.0306, 0.0427],
        [-0.0042, 0.1038, 0.1358],
        [-0.0194, 0.0020, 0.0669],
        [-0.0488, 0.0130, -0.0268],
        [0.0922, 0.0988, 0.0951],
        [-0.0278, 0.0524, -0.0542],
        [0.0332, 0.0456, 0.0895],
        [-0.0069, -0.0030, -0.0810],
        [-0.0596, -0.0465, -0.0293],
        [-0.1448, -0.1463, -0.1189],
    ],
    dtype=np.float32,
)
SD3_BIAS = np.array([0.2394, 0.2135, 0.1925], dtype=np.float32)
FLUX_COEFFICIENTS = np.array(  # ComfyUI latent_formats.Flux (the Flux.1 VAE; Z-Image uses it too)
    [
        [-0.0346, 0.0244, 0.0681],
        [0.0034, 0.0210, 0.0687],
        [0.0275, -0.0668, -0.0433],
        [-0.0174, 0.0160, 0.0617],
        [0.0859, 0.0721, 0.0329],
        [0.0004, 0.0383, 0.0115],
        [0.0405, 0.0861, 0.0915],
        [-0.0236, -0.0185, -0.0259],
        [-0.0245, 0.0250, 0.1180],
        [0.1008, 0.0755, -0.0421],
        [-0.0515, 0.0201, 0.0011],
        [0.0428, -0.0012, -0.0036],
        [0.0817, 0.0765, 0.0749],
        [-0.1264, -0.0522, -0.1103],
        [-0.0280, -0.0881, -0.0499],
        [-0.1262, -0.0982, -0.0778],
    ],
    dtype=np.float32,
)
FLUX_BIAS = np.array([-0.0329, -0.0718, -0.0851], dtype=np.float32)
_NO_BIAS = np.zeros(3, dtype=np.float32)

# family name -> (factors, bias); unknown names fall back to SD 1.x's
FACTORS: dict[str, tuple[np.ndarray, np.ndarray]] = {
    "sd15": (SD_COEFFICIENTS, _NO_BIAS),
    "sd2": (SD_COEFFICIENTS, _NO_BIAS),
    "sdxl": (SDXL_COEFFICIENTS, SDXL_BIAS),
    "sdxl-refiner": (SDXL_COEFFICIENTS, SDXL_BIAS),
    "sd3": (SD3_COEFFICIENTS, SD3_BIAS),
    "flux": (FLUX_COEFFICIENTS, FLUX_BIAS),
    "flux-fill": (FLUX_COEFFICIENTS, FLUX_BIAS),  # Flux.1's latent space; the fill inputs ride beside
    "chroma": (FLUX_COEFFICIENTS, FLUX_BIAS),  # Flux.1's VAE
    "z-image": (FLUX_COEFFICIENTS, FLUX_BIAS),
}
PACKED_FAMILIES = frozenset({"flux", "flux-fill", "chroma"})  # latents come as [batch, patches, 16 x 2 x 2]


def _to_numpy(latents: Any) -> np.ndarray:
    if hasattr(latents, "detach"):  # a torch tensor, without importing torch here
        latents = latents.detach().float().cpu().numpy()
    return np.asarray(latents, dtype=np.float32)


def _unpack(array: np.ndarray, width: int, height: int) -> np.ndarray | None:
    """[patches, 64] (Flux's 2x2 patches of 16 channels) -> [16, h, w]: the patch grid has the
    image's aspect ratio (a square when the size is not known); None when no grid fits."""
    patches, values = array.shape
    if values != 64:
        return None
    ratio = height / width if width > 0 and height > 0 else 1.0
    rows = max(1, round((patches * ratio) ** 0.5))
    columns = patches // rows
    if rows * columns != patches:
        return None
    grid = array.reshape(rows, columns, 16, 2, 2).transpose(2, 0, 3, 1, 4)
    return grid.reshape(16, rows * 2, columns * 2)


def latents_to_rgb(latents: Any, family: str = "sd15", width: int = 0, height: int = 0) -> Image.Image | None:
    """The first image of a batch of `family`'s latents as an RGB image, or None when the
    shape is not the family's. `width` / `height`: the image's (Flux's latents unpack to its aspect ratio)."""
    array = _to_numpy(latents)
    factors, bias = FACTORS.get(family, FACTORS["sd15"])
    if family in PACKED_FAMILIES:
        if array.ndim == 3:
            array = array[0]
        array = _unpack(array, width, height) if array.ndim == 2 else None
        if array is None:
            return None
    if array.ndim == 4:
        array = array[0]
    if array.ndim != 3 or array.shape[0] != factors.shape[0]:
        return None
    rgb = np.einsum("lxy,lr->xyr", array, factors) + bias
    rgb = np.clip((rgb + 1.0) / 2.0, 0.0, 1.0)
    return Image.fromarray((rgb * 255.0 + 0.5).astype(np.uint8), "RGB")


def preview_png(
    latents: Any, family: str = "sd15", width: int = 0, height: int = 0, min_size: int = 64
) -> bytes | None:
    """PNG bytes of the preview, enlarged (nearest) to at least `min_size` pixels wide; None if unsupported."""
    image = latents_to_rgb(latents, family, width, height)
    if image is None:
        return None
    if image.width < min_size:
        factor = -(-min_size // image.width)
        image = image.resize((image.width * factor, image.height * factor), Image.Resampling.NEAREST)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", compress_level=1)
    return buffer.getvalue()
