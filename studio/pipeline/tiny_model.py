"""Build a tiny, complete Stable Diffusion 1.x-style diffusers folder offline.

The fallback model of a fresh install (`studio.pipeline.engine.ensure_default_model` builds it
when no checkpoint exists at all), and the model the tests and benchmarks run on: a UNet of ~1 M parameters, a 2-level VAE, a 4-layer CLIP text encoder and a tokenizer whose
files we generate. Weights are random but fixed by `seed`; the folder loads with
`StableDiffusionPipeline.from_pretrained(folder, local_files_only=True)` like any real model.
Its scheduler settings are Stable Diffusion 1.x's, read from the shipped SD 1.x config folder.
"""

from __future__ import annotations

import json
from pathlib import Path

from studio.pipeline.tokenizer_files import write_clip_tokenizer

TINY_WORDS = [
    "a",
    "an",
    "the",
    "of",
    "and",
    "with",
    "on",
    "in",
    "at",
    "photo",
    "painting",
    "drawing",
    "portrait",
    "landscape",
    "of",
    "red",
    "green",
    "blue",
    "yellow",
    "black",
    "white",
    "orange",
    "purple",
    "pink",
    "brown",
    "gray",
    "circle",
    "square",
    "triangle",
    "star",
    "cat",
    "dog",
    "house",
    "tree",
    "car",
    "flower",
    "sky",
    "sea",
    "mountain",
    "city",
    "small",
    "big",
    "bright",
    "dark",
]

# Stable Diffusion 1.x scheduler settings (what the original checkpoints were trained with),
# as shipped for loading SD 1.x single files (written by `studio.pipeline.sd15_config_writer`).
SD1_SCHEDULER_CONFIG_FILE = (
    Path(__file__).resolve().parent / "configs" / "sd15" / "scheduler" / "scheduler_config.json"
)


def build_tiny_pipeline(folder: Path, seed: int = 0) -> Path:
    """Write the tiny pipeline into `folder` (created) and return it."""
    import torch
    from diffusers import AutoencoderKL, PNDMScheduler, StableDiffusionPipeline, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTokenizer

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    tokenizer_dir = write_clip_tokenizer(folder / "tokenizer", TINY_WORDS)
    tokenizer = CLIPTokenizer.from_pretrained(tokenizer_dir)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        unet = UNet2DConditionModel(
            sample_size=32,
            in_channels=4,
            out_channels=4,
            block_out_channels=(32, 64),
            layers_per_block=1,
            down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
            up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
            cross_attention_dim=32,
            attention_head_dim=8,
            norm_num_groups=32,
        )
        vae = AutoencoderKL(
            in_channels=3,
            out_channels=3,
            down_block_types=("DownEncoderBlock2D", "DownEncoderBlock2D"),
            up_block_types=("UpDecoderBlock2D", "UpDecoderBlock2D"),
            block_out_channels=(32, 64),
            layers_per_block=1,
            latent_channels=4,
            norm_num_groups=32,
            sample_size=64,
            scaling_factor=0.18215,
        )
        text_encoder = CLIPTextModel(
            CLIPTextConfig(
                vocab_size=len(tokenizer),
                hidden_size=32,
                intermediate_size=64,
                num_attention_heads=4,
                num_hidden_layers=4,
                max_position_embeddings=77,
                projection_dim=32,
                bos_token_id=tokenizer.bos_token_id,
                eos_token_id=tokenizer.eos_token_id,
                pad_token_id=tokenizer.pad_token_id,
            )
        )
    scheduler_config = json.loads(SD1_SCHEDULER_CONFIG_FILE.read_text(encoding="utf-8"))
    config = {k: v for k, v in scheduler_config.items() if not k.startswith("_")}
    pipe = StableDiffusionPipeline(
        unet=unet,
        vae=vae,
        text_encoder=text_encoder,
        tokenizer=tokenizer,
        scheduler=PNDMScheduler(**config),
        safety_checker=None,
        feature_extractor=None,
        requires_safety_checker=False,
    )
    pipe.save_pretrained(folder, safe_serialization=True)
    return folder
