from __future__ import annotations

import io

import numpy as np
from PIL import Image

from studio.jobs.preview import SD_COEFFICIENTS, latents_to_rgb, preview_png


def test_each_latent_channel_maps_to_its_coefficient_colour() -> None:
    for channel in range(4):
        latents = np.zeros((1, 4, 8, 8), dtype=np.float32)
        latents[0, channel] = 1.0
        pixel = np.asarray(latents_to_rgb(latents))[3, 3] / 255.0
        expected = np.clip((SD_COEFFICIENTS[channel] + 1) / 2, 0, 1)
        assert np.allclose(pixel, expected, atol=1 / 255)


def test_preview_png_is_a_small_png_and_unsupported_latents_give_none() -> None:
    rng = np.random.default_rng(0)
    png = preview_png(rng.standard_normal((2, 4, 8, 12)).astype(np.float32))
    image = Image.open(io.BytesIO(png))
    assert image.format == "PNG" and image.size == (72, 48)  # 8x12 latent, enlarged x6 to >= 64 wide
    assert preview_png(np.zeros((1, 16, 8, 8))) is None


def test_accepts_torch_tensors() -> None:
    import torch

    latents = torch.zeros(1, 4, 8, 8, requires_grad=True)
    assert latents_to_rgb(latents).size == (8, 8)
