"""A cheap live preview: latents -> RGB with a fixed linear map, as A1111's "Approx cheap".

Each of the 4 latent channels contributes a fixed RGB colour (A1111's coefficients for SD 1.x/2.x
and for SDXL); the result has the latent's size (1/8 of the image) and costs well under a
millisecond, so the worker can send one every few steps. Latents with another channel count
(SD3, Flux ...) get no preview.
"""

from __future__ import annotations

import io
from typing import Any

import numpy as np
from PIL import Image

# rows: latent channels; columns: R, G, B (A1111 sd_vae_approx.cheap_approximation)
SD_COEFFICIENTS = np.array(
    [
        [0.298, 0.207, 0.208],
        [0.187, 0.286, 0.173],
        [-0.158, 0.189, 0.264],
        [-0.184, -0.271, -0.473],
    ],
    dtype=np.float32,
)
SDXL_COEFFICIENTS = np.array(
    [
        [0.3448, 0.4168, 0.4395],
        [-0.1953, -0.0290, 0.0250],
        [0.1074, 0.0886, -0.0163],
        [-0.3730, -0.2499, -0.2088],
    ],
    dtype=np.float32,
)


def _to_numpy(latents: Any) -> np.ndarray:
    if hasattr(latents, "detach"):  # a torch tensor, without importing torch here
        latents = latents.detach().float().cpu().numpy()
    return np.asarray(latents, dtype=np.float32)


def latents_to_rgb(latents: Any, family: str = "sd") -> Image.Image | None:
    """The first image of a `[batch, 4, h, w]` (or `[4, h, w]`) latent as an RGB image, or None."""
    array = _to_numpy(latents)
    if array.ndim == 4:
        array = array[0]
    if array.ndim != 3 or array.shape[0] != 4:
        return None
    coefficients = SDXL_COEFFICIENTS if family == "sdxl" else SD_COEFFICIENTS
    rgb = np.einsum("lxy,lr->xyr", array, coefficients)
    rgb = np.clip((rgb + 1.0) / 2.0, 0.0, 1.0)
    return Image.fromarray((rgb * 255.0 + 0.5).astype(np.uint8), "RGB")


def preview_png(latents: Any, family: str = "sd", min_size: int = 64) -> bytes | None:
    """PNG bytes of the preview, enlarged (nearest) to at least `min_size` pixels wide; None if unsupported."""
    image = latents_to_rgb(latents, family)
    if image is None:
        return None
    if image.width < min_size:
        factor = -(-min_size // image.width)
        image = image.resize((image.width * factor, image.height * factor), Image.Resampling.NEAREST)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", compress_level=1)
    return buffer.getvalue()
