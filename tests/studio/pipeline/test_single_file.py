from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
from diffusers import StableDiffusionPipeline
from safetensors.torch import save_file

from studio.config import StudioConfig
from studio.pipeline.engine import Engine
from studio.pipeline.loader import CONFIGS_DIR, ModelLoadError, config_folder_for, detect_architecture
from studio.pipeline.single_file_export import folder_to_single_file, write_config_folder
from studio.progress import GenerationControl
from studio.request import GenerationRequest
from tests.studio.pipeline.conftest import pixels


def test_folder_to_single_file_round_trips_exactly(tmp_path: Path, tiny_model_dir: Path) -> None:
    single = folder_to_single_file(tiny_model_dir, tmp_path / "tiny.safetensors")
    config = write_config_folder(tiny_model_dir, tmp_path / "tiny.config")
    assert not list(config.rglob("*.safetensors"))
    assert detect_architecture(single) == "sd15"
    assert config_folder_for(single) == config
    original = StableDiffusionPipeline.from_pretrained(tiny_model_dir, local_files_only=True)
    loaded = StableDiffusionPipeline.from_single_file(
        str(single),
        config=str(config),
        local_files_only=True,
        safety_checker=None,
        requires_safety_checker=False,
    )
    for name in ("unet", "vae", "text_encoder"):
        expected, actual = getattr(original, name).state_dict(), getattr(loaded, name).state_dict()
        assert set(expected) == set(actual), name
        for key, tensor in expected.items():
            assert torch.equal(tensor, actual[key]), f"{name}.{key}"


def test_engine_generates_from_a_single_file_like_the_folder(
    studio_config: StudioConfig, tiny_model_dir: Path
) -> None:
    folder = studio_config.models_path / "Stable-diffusion"
    folder_to_single_file(tiny_model_dir, folder / "tiny-single.safetensors")
    write_config_folder(tiny_model_dir, folder / "tiny-single.config")
    engine = Engine(studio_config)
    titles = [entry.name for entry in engine.registry.checkpoints()]
    assert titles == ["tiny", "tiny-single.safetensors"]
    request = GenerationRequest(prompt="a tree", seed=2, steps=2, width=64, height=64, save_images=False)
    from_folder = engine.generate(replace(request, model="tiny"), GenerationControl())
    from_file = engine.generate(replace(request, model="tiny-single"), GenerationControl())
    assert np.array_equal(pixels(from_folder.images[0].png), pixels(from_file.images[0].png))
    assert from_file.images[0].infotext.endswith("Model: tiny-single")


def test_an_architecture_without_shipped_configs_asks_for_a_config_folder(tmp_path: Path) -> None:
    path = tmp_path / "v2.safetensors"
    save_file({"cond_stage_model.model.ln_final.weight": torch.zeros(2)}, str(path))
    assert detect_architecture(path) == "sd2"
    with pytest.raises(ModelLoadError, match=r"v2\.config"):
        config_folder_for(path)
    xl = tmp_path / "xl.safetensors"
    save_file({"conditioner.embedders.1.model.ln_final.weight": torch.zeros(2)}, str(xl))
    assert detect_architecture(xl) == "sdxl"
    assert config_folder_for(xl) == CONFIGS_DIR / "sdxl"


def test_shipped_sd15_config_is_a_complete_offline_sd15() -> None:
    from accelerate import init_empty_weights
    from diffusers import AutoencoderKL, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTokenizer

    folder = CONFIGS_DIR / "sd15"
    assert json.loads((folder / "model_index.json").read_text())["_class_name"] == "StableDiffusionPipeline"
    with init_empty_weights():
        unet = UNet2DConditionModel.from_config(UNet2DConditionModel.load_config(folder / "unet"))
        vae = AutoencoderKL.from_config(AutoencoderKL.load_config(folder / "vae"))
        text = CLIPTextModel(CLIPTextConfig.from_pretrained(folder / "text_encoder"))
    assert round(sum(p.numel() for p in unet.parameters()) / 1e6) == 860
    assert round(sum(p.numel() for p in vae.parameters()) / 1e6) == 84
    assert round(sum(p.numel() for p in text.parameters()) / 1e6) == 123
    tokenizer = CLIPTokenizer.from_pretrained(folder / "tokenizer")
    # CLIP's own ids for this prompt.
    assert tokenizer("a photo of an astronaut riding a horse").input_ids == [
        49406,
        320,
        1125,
        539,
        550,
        18376,
        6765,
        320,
        4558,
        49407,
    ]
    assert not [p for p in folder.rglob("*") if p.suffix in (".safetensors", ".bin", ".ckpt")]
