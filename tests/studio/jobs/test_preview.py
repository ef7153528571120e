from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from studio.jobs.preview import FACTORS, PACKED_FAMILIES, SD_COEFFICIENTS, latents_to_rgb, preview_png

CHANNELS = {
    "sd15": 4,
    "sd2": 4,
    "sdxl": 4,
    "sdxl-refiner": 4,
    "sd3": 16,
    "flux": 16,
    "flux-fill": 16,
    "z-image": 16,
    "chroma": 16,
}


def test_every_family_has_factors() -> None:
    from studio.pipeline.families.spec import FAMILIES

    assert set(FAMILIES) <= set(FACTORS)
    for name, (factors, bias) in FACTORS.items():
        assert factors.shape == (CHANNELS[name], 3) and bias.shape == (3,)


def test_each_latent_channel_maps_to_its_coefficient_colour() -> None:
    for channel in range(4):
        latents = np.zeros((1, 4, 8, 8), dtype=np.float32)
        latents[0, channel] = 1.0
        pixel = np.asarray(latents_to_rgb(latents))[3, 3] / 255.0
        expected = np.clip((SD_COEFFICIENTS[channel] + 1) / 2, 0, 1)
        assert np.allclose(pixel, expected, atol=1 / 255)


def _packed(latents: np.ndarray) -> np.ndarray:
    """Flux's packing, by the diffusers pipeline's own function."""
    import torch
    from diffusers import FluxPipeline

    batch, channels, height, width = latents.shape
    return FluxPipeline._pack_latents(torch.from_numpy(latents), batch, channels, height, width).numpy()


@pytest.mark.parametrize("family", sorted(CHANNELS))
def test_each_family_gets_its_own_colours_and_the_latent_size(family: str) -> None:
    """A latent of the family's layout (Flux packed as its pipeline packs it) at 64x128 px:
    the preview is 8x16, each channel shows the family's colour plus bias, and a smooth random
    latent gives a picture that uses the colour range, neither black nor white."""
    factors, bias = FACTORS[family]
    channels = CHANNELS[family]
    for channel in (0, channels - 1):
        latents = np.zeros((1, channels, 16, 8), dtype=np.float32)  # image 64 wide, 128 high
        latents[0, channel] = 1.0
        given = _packed(latents) if family in PACKED_FAMILIES else latents
        image = latents_to_rgb(given, family, width=64, height=128)
        assert image is not None and image.size == (8, 16)
        expected = np.clip((factors[channel] + bias + 1) / 2, 0, 1)
        assert np.allclose(np.asarray(image)[5, 3] / 255.0, expected, atol=1 / 255)
    rng = np.random.default_rng(1)
    latents = rng.standard_normal((2, channels, 16, 8)).astype(np.float32)
    given = _packed(latents) if family in PACKED_FAMILIES else latents
    pixels = np.asarray(latents_to_rgb(given, family, width=64, height=128))
    assert 5 < pixels.mean() < 250 and pixels.std() > 2


def test_sdxl_colours_differ_from_sd15() -> None:
    latents = np.random.default_rng(0).standard_normal((1, 4, 8, 8)).astype(np.float32)
    assert (np.asarray(latents_to_rgb(latents, "sdxl")) != np.asarray(latents_to_rgb(latents, "sd15"))).any()


def test_latents_of_another_layout_give_no_preview() -> None:
    assert latents_to_rgb(np.zeros((1, 16, 8, 8)), "sd15") is None
    assert latents_to_rgb(np.zeros((1, 4, 8, 8)), "sd3") is None
    assert latents_to_rgb(np.zeros((1, 33, 64)), "flux", 64, 64) is None  # not a grid
    assert latents_to_rgb(np.zeros((1, 16, 8, 8)), "flux") is None  # flux latents are packed


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
