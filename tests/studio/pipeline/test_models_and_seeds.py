from __future__ import annotations

import shutil
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

from studio.config import StudioConfig
from studio.infotext import parse_infotext
from studio.pipeline.engine import Engine
from studio.pipeline.seeds import image_seeds, make_generators, make_noise, slerp
from studio.progress import GenerationControl
from studio.request import GenerationRequest
from tests.studio.pipeline.conftest import pixels

BASE = GenerationRequest(prompt="a blue house", seed=11, steps=2, width=64, height=64, save_images=False)


def test_seed_lists_follow_a1111() -> None:
    assert image_seeds(5, 100, 0.0, 3) == ([5, 6, 7], [100, 101, 102])
    assert image_seeds(5, 100, 0.3, 3) == ([5, 5, 5], [100, 101, 102])


def test_noise_per_image_is_independent_of_batch() -> None:
    alone = make_noise((4, 8, 8), make_generators([42]))
    batch = make_noise((4, 8, 8), make_generators([41, 42]))
    assert torch.equal(alone[0], batch[1])


def test_slerp_ends() -> None:
    a, b = torch.randn(4, 8, 8), torch.randn(4, 8, 8)
    assert torch.allclose(slerp(0.0, a, b), a, atol=1e-5)
    assert torch.allclose(slerp(1.0, a, b), b, atol=1e-5)


def test_variation_seed_moves_between_seed_and_subseed(engine: Engine) -> None:
    plain = pixels(engine.generate(BASE, GenerationControl()).images[0].png)
    sub_alone = pixels(engine.generate(replace(BASE, seed=99), GenerationControl()).images[0].png)
    weak = engine.generate(replace(BASE, subseed=99, subseed_strength=0.1), GenerationControl())
    full = engine.generate(replace(BASE, subseed=99, subseed_strength=1.0), GenerationControl())
    weak_pixels = pixels(weak.images[0].png)
    assert np.abs(weak_pixels - plain).mean() < np.abs(weak_pixels - sub_alone).mean()
    # Strength 1 is the subseed's noise (the ancestral noise still comes from the main seed).
    assert (
        np.abs(pixels(full.images[0].png) - sub_alone).mean()
        < np.abs(pixels(full.images[0].png) - plain).mean()
    )
    parsed = parse_infotext(weak.images[0].infotext)
    assert parsed["Variation seed"] == "99" and parsed["Variation seed strength"] == "0.1"
    batch = engine.generate(
        replace(BASE, subseed=99, subseed_strength=0.1, batch_size=2), GenerationControl()
    )
    assert batch.seeds == [11, 11] and [i.subseed for i in batch.images] == [99, 100]


def test_clip_skip_changes_the_picture_and_is_recorded(engine: Engine) -> None:
    one = engine.generate(BASE, GenerationControl())
    two = engine.generate(replace(BASE, clip_skip=2), GenerationControl())
    assert not np.array_equal(pixels(one.images[0].png), pixels(two.images[0].png))
    assert "Clip skip" not in parse_infotext(one.images[0].infotext)
    assert parse_infotext(two.images[0].infotext)["Clip skip"] == "2"


def test_external_vae_override(studio_config: StudioConfig, tmp_path: Path) -> None:
    from studio.pipeline.tiny_model import build_tiny_pipeline

    other = build_tiny_pipeline(tmp_path / "other", seed=5)
    shutil.copytree(other / "vae", studio_config.models_path / "VAE" / "other-vae")
    engine = Engine(studio_config)
    default = engine.generate(BASE, GenerationControl())
    with_vae = engine.generate(replace(BASE, vae="other-vae"), GenerationControl())
    again = engine.generate(replace(BASE, vae="Automatic"), GenerationControl())
    assert not np.array_equal(pixels(default.images[0].png), pixels(with_vae.images[0].png))
    assert np.array_equal(pixels(default.images[0].png), pixels(again.images[0].png))
    parsed = parse_infotext(with_vae.images[0].infotext)
    assert parsed["VAE"] == "other-vae" and len(parsed["VAE hash"]) == 10


def test_lru_cache_and_shared_components(studio_config: StudioConfig, tiny_model_dir: Path) -> None:
    for name in ("b", "c"):
        shutil.copytree(tiny_model_dir, studio_config.models_path / "Diffusers" / name)
    engine = Engine(replace(studio_config, model_cache_size=2))
    engine.select_model("tiny")
    engine.select_model("b")
    assert engine.cache.loads == 2
    engine.select_model("tiny")  # cached: no load
    assert engine.cache.loads == 2
    engine.select_model("c")  # evicts b (least recently used)
    assert engine.cache.loads == 3
    assert [Path(key).name for key in engine.cache.loaded_paths()] == ["tiny", "c"]
    loaded = engine.cache.get(engine.registry.find("checkpoint", "c"), engine.device, {}, False)
    txt2img, img2img, inpaint = (loaded.pipeline(mode) for mode in ("txt2img", "img2img", "inpaint"))
    assert img2img.unet is txt2img.unet and inpaint.unet is txt2img.unet and inpaint.vae is txt2img.vae
    assert type(img2img).__name__ == "StableDiffusionImg2ImgPipeline"
    assert type(inpaint).__name__ == "StableDiffusionInpaintPipeline"
    assert engine.current_model.startswith("c [")
