from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from studio.pipeline.upscalers.models import ModelUpscalers
from studio.pipeline.upscalers.registry import LATENT_MODES, UpscalerRegistry, register_builtin_upscalers
from studio.request import RequestError
from tests.studio.pipeline.upscaler_models import write_tiny_esrgan


def _noise_image(size: int) -> Image.Image:
    rng = np.random.default_rng(0)
    return Image.fromarray(rng.integers(0, 255, (size, size, 3), dtype=np.uint8))


def test_builtin_registry_has_a1111_names() -> None:
    registry = UpscalerRegistry()
    register_builtin_upscalers(registry)
    assert registry.pixel_names() == ["None", "Lanczos", "Nearest"]
    assert registry.latent_names() == list(LATENT_MODES)
    assert registry.pixel("Nearest").upscale(_noise_image(8), 16, 16).size == (16, 16)
    with pytest.raises(RequestError, match="hr_upscaler"):
        registry.pixel("Bogus", "hr_upscaler")
    with pytest.raises(ValueError, match="already"):
        registry.add_latent_mode("Lanczos", "bilinear")


def test_model_upscaler_loads_and_tiles_match_whole(tmp_path) -> None:
    write_tiny_esrgan(tmp_path)
    (tmp_path / "ESRGAN" / "pickled.pth").write_bytes(b"not read")
    upscalers = ModelUpscalers(tmp_path, lambda: False)
    assert [item.name for item in upscalers.files()] == ["tiny-esrgan-2x"]
    model = upscalers.load(upscalers.find("tiny-esrgan-2x"))
    assert model.scale == 2
    image = _noise_image(96)
    whole = np.asarray(model.upscale(image, 192, 192, tile=0), dtype=np.int16)
    tiled = np.asarray(model.upscale(image, 192, 192, tile=48, overlap=16), dtype=np.int16)
    assert whole.shape == (192, 192, 3)
    assert np.abs(whole - tiled).mean() < 1.0
    assert np.abs(whole - tiled).max() <= 16
    # to a size that is not a multiple of the model's scale: network, then Lanczos
    assert model.upscale(image, 300, 250).size == (300, 250)


def test_pickle_files_need_the_allowance(tmp_path) -> None:
    import torch

    folder = tmp_path / "RealESRGAN"
    folder.mkdir()
    torch.save({"x": torch.zeros(1)}, folder / "model.pth")
    assert ModelUpscalers(tmp_path, lambda: False).files() == []
    listed = ModelUpscalers(tmp_path, lambda: True)
    with pytest.raises(RequestError, match="not a known upscaler"):
        listed.load(listed.find("model"))
