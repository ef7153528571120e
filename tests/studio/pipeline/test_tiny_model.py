from pathlib import Path

import torch
from diffusers import StableDiffusionPipeline

from studio.config import StudioConfig


def test_tiny_pipeline_loads_offline_and_generates(tiny_model_dir: Path) -> None:
    pipe = StableDiffusionPipeline.from_pretrained(tiny_model_dir, local_files_only=True)
    pipe.set_progress_bar_config(disable=True)
    unet_params = sum(p.numel() for p in pipe.unet.parameters())
    assert 0.5e6 < unet_params < 1.5e6
    with torch.no_grad():
        image = pipe(
            "a red circle",
            num_inference_steps=2,
            width=64,
            height=64,
            generator=torch.Generator().manual_seed(1),
        ).images[0]
    assert image.size == (64, 64)


def test_same_seed_same_weights(tmp_path: Path, tiny_model_dir: Path) -> None:
    from studio.pipeline.tiny_model import build_tiny_pipeline

    again = build_tiny_pipeline(tmp_path / "again", seed=0)
    other = build_tiny_pipeline(tmp_path / "other", seed=1)
    name = "unet/diffusion_pytorch_model.safetensors"
    assert (again / name).read_bytes() == (tiny_model_dir / name).read_bytes()
    assert (other / name).read_bytes() != (tiny_model_dir / name).read_bytes()


def test_studio_config_fixture(studio_config: StudioConfig) -> None:
    assert (studio_config.models_path / "Diffusers" / "tiny" / "model_index.json").exists()
    assert studio_config.builtin_models_path != studio_config.models_path
