"""Build a tiny, complete Stable Diffusion 1.x-style diffusers folder offline.

Used by the tests (and as the fallback model of a fresh install, see `ensure_default_model`):
a UNet of ~1 M parameters, a 2-level VAE, a 4-layer CLIP text encoder and a tokenizer whose
files we generate. Weights are random but fixed by `seed`; the folder loads with
`StableDiffusionPipeline.from_pretrained(folder, local_files_only=True)` like any real model.
"""

from __future__ import annotations

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

# Stable Diffusion 1.x scheduler settings (what the original checkpoints were trained with).
SD1_SCHEDULER_CONFIG = {
    "_class_name": "PNDMScheduler",
    "beta_start": 0.00085,
    "beta_end": 0.012,
    "beta_schedule": "scaled_linear",
    "num_train_timesteps": 1000,
    "set_alpha_to_one": False,
    "skip_prk_steps": True,
    "steps_offset": 1,
    "prediction_type": "epsilon",
    "trained_betas": None,
}


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
    config = {k: v for k, v in SD1_SCHEDULER_CONFIG.items() if not k.startswith("_")}
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
