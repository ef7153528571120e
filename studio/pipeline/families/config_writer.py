"""Build tool, run once by a developer (never at run time): writes the config folders shipped in
`studio/pipeline/configs/<architecture>/` for SDXL, the SDXL refiner, SD 3.5 medium and large,
Flux.1 dev and schnell and Z-Image Turbo.

Each holds what `from_single_file(config=...)` reads: `model_index.json`, the component
configs and the scheduler config, from the published architectures' settings; no weights.
CLIP tokenizer subfolders hold only their `tokenizer_config.json`: the vocabulary is CLIP's BPE,
shipped once in `configs/sd15/tokenizer/` and shared. T5 and Qwen tokenizers are not shipped
(they cannot be derived; see `studio.pipeline.families.sources`).

    python -m studio.pipeline.families.config_writer
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from studio.pipeline.sd15_config_writer import TEXT_ENCODER as SD15_CLIP_L
from studio.pipeline.sd15_config_writer import VAE as SD15_VAE

CONFIGS_DIR = Path(__file__).resolve().parent.parent / "configs"

BOS, EOS = "<|startoftext|>", "<|endoftext|>"


def clip_tokenizer_config(pad_token: str = EOS) -> dict[str, Any]:
    return {
        "tokenizer_class": "CLIPTokenizer",
        "model_max_length": 77,
        "bos_token": BOS,
        "eos_token": EOS,
        "unk_token": EOS,
        "pad_token": pad_token,
        "do_lower_case": True,
        "clean_up_tokenization_spaces": False,
    }


CLIP_L = {**SD15_CLIP_L}
CLIP_L_PROJECTION = {**SD15_CLIP_L, "architectures": ["CLIPTextModelWithProjection"]}
CLIP_G = {
    "architectures": ["CLIPTextModelWithProjection"],
    "attention_dropout": 0.0,
    "bos_token_id": 0,
    "dropout": 0.0,
    "eos_token_id": 2,
    "hidden_act": "gelu",
    "hidden_size": 1280,
    "initializer_factor": 1.0,
    "initializer_range": 0.02,
    "intermediate_size": 5120,
    "layer_norm_eps": 1e-05,
    "max_position_embeddings": 77,
    "model_type": "clip_text_model",
    "num_attention_heads": 20,
    "num_hidden_layers": 32,
    "pad_token_id": 1,
    "projection_dim": 1280,
    "dtype": "float32",
    "vocab_size": 49408,
}
T5_XXL = {
    "architectures": ["T5EncoderModel"],
    "classifier_dropout": 0.0,
    "d_ff": 10240,
    "d_kv": 64,
    "d_model": 4096,
    "decoder_start_token_id": 0,
    "dense_act_fn": "gelu_new",
    "dropout_rate": 0.1,
    "eos_token_id": 1,
    "feed_forward_proj": "gated-gelu",
    "initializer_factor": 1.0,
    "is_encoder_decoder": True,
    "is_gated_act": True,
    "layer_norm_epsilon": 1e-06,
    "model_type": "t5",
    "num_decoder_layers": 24,
    "num_heads": 64,
    "num_layers": 24,
    "pad_token_id": 0,
    "relative_attention_max_distance": 128,
    "relative_attention_num_buckets": 32,
    "tie_word_embeddings": False,
    "dtype": "bfloat16",
    "vocab_size": 32128,
}
QWEN3_4B = {
    "architectures": ["Qwen3Model"],
    "attention_bias": False,
    "attention_dropout": 0.0,
    "bos_token_id": 151643,
    "eos_token_id": 151645,
    "head_dim": 128,
    "hidden_act": "silu",
    "hidden_size": 2560,
    "initializer_range": 0.02,
    "intermediate_size": 9728,
    "max_position_embeddings": 40960,
    "model_type": "qwen3",
    "num_attention_heads": 32,
    "num_hidden_layers": 36,
    "num_key_value_heads": 8,
    "rms_norm_eps": 1e-06,
    "rope_theta": 1000000,
    "tie_word_embeddings": True,
    "dtype": "bfloat16",
    "vocab_size": 151936,
}
SDXL_VAE = {**SD15_VAE, "sample_size": 1024, "scaling_factor": 0.13025, "force_upcast": True}
FLOW_VAE = {
    **SD15_VAE,
    "latent_channels": 16,
    "sample_size": 1024,
    "force_upcast": True,
    "mid_block_add_attention": True,
    "use_quant_conv": False,
    "use_post_quant_conv": False,
}
SD3_VAE = {**FLOW_VAE, "scaling_factor": 1.5305, "shift_factor": 0.0609}
FLUX_VAE = {**FLOW_VAE, "scaling_factor": 0.3611, "shift_factor": 0.1159}

_SDXL_UNET_COMMON = {
    "_class_name": "UNet2DConditionModel",
    "act_fn": "silu",
    "addition_embed_type": "text_time",
    "addition_embed_type_num_heads": 64,
    "addition_time_embed_dim": 256,
    "center_input_sample": False,
    "flip_sin_to_cos": True,
    "freq_shift": 0,
    "in_channels": 4,
    "layers_per_block": 2,
    "mid_block_scale_factor": 1,
    "mid_block_type": "UNetMidBlock2DCrossAttn",
    "norm_eps": 1e-05,
    "norm_num_groups": 32,
    "out_channels": 4,
    "sample_size": 128,
    "time_embedding_type": "positional",
    "use_linear_projection": True,
}
SDXL_UNET = {
    **_SDXL_UNET_COMMON,
    "attention_head_dim": [5, 10, 20],
    "block_out_channels": [320, 640, 1280],
    "cross_attention_dim": 2048,
    "down_block_types": ["DownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D"],
    "up_block_types": ["CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "UpBlock2D"],
    "projection_class_embeddings_input_dim": 2816,
    "transformer_layers_per_block": [1, 2, 10],
}
SDXL_REFINER_UNET = {
    **_SDXL_UNET_COMMON,
    "attention_head_dim": [6, 12, 24, 24],
    "block_out_channels": [384, 768, 1536, 1536],
    "cross_attention_dim": 1280,
    "down_block_types": ["DownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "DownBlock2D"],
    "up_block_types": ["UpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "UpBlock2D"],
    "projection_class_embeddings_input_dim": 2560,
    "transformer_layers_per_block": 4,
}
SDXL_SCHEDULER = {
    "_class_name": "EulerDiscreteScheduler",
    "beta_end": 0.012,
    "beta_schedule": "scaled_linear",
    "beta_start": 0.00085,
    "interpolation_type": "linear",
    "num_train_timesteps": 1000,
    "prediction_type": "epsilon",
    "steps_offset": 1,
    "timestep_spacing": "leading",
    "trained_betas": None,
    "use_karras_sigmas": False,
}
SD35_LARGE = {
    "_class_name": "SD3Transformer2DModel",
    "attention_head_dim": 64,
    "caption_projection_dim": 2432,
    "in_channels": 16,
    "joint_attention_dim": 4096,
    "num_attention_heads": 38,
    "num_layers": 38,
    "out_channels": 16,
    "patch_size": 2,
    "pooled_projection_dim": 2048,
    "pos_embed_max_size": 192,
    "qk_norm": "rms_norm",
    "sample_size": 128,
}
SD35_MEDIUM = {
    **SD35_LARGE,
    "caption_projection_dim": 1536,
    "dual_attention_layers": list(range(13)),
    "num_attention_heads": 24,
    "num_layers": 24,
    "pos_embed_max_size": 384,
}
SD3_SCHEDULER = {"_class_name": "FlowMatchEulerDiscreteScheduler", "num_train_timesteps": 1000, "shift": 3.0}
FLUX_DEV = {
    "_class_name": "FluxTransformer2DModel",
    "attention_head_dim": 128,
    "axes_dims_rope": [16, 56, 56],
    "guidance_embeds": True,
    "in_channels": 64,
    "joint_attention_dim": 4096,
    "num_attention_heads": 24,
    "num_layers": 19,
    "num_single_layers": 38,
    "patch_size": 1,
    "pooled_projection_dim": 768,
}
FLUX_SCHNELL = {**FLUX_DEV, "guidance_embeds": False}
# Flux.1 Fill: the image latents (64), the masked image's (64) and the 8x8 mask per latent pixel,
# packed 2x2 (256), side by side as input; it predicts the 64 packed latent channels
FLUX_FILL = {**FLUX_DEV, "in_channels": 384, "out_channels": 64}
_FLUX_SCHEDULER = {
    "_class_name": "FlowMatchEulerDiscreteScheduler",
    "base_image_seq_len": 256,
    "base_shift": 0.5,
    "max_image_seq_len": 4096,
    "max_shift": 1.15,
    "num_train_timesteps": 1000,
}
FLUX_DEV_SCHEDULER = {**_FLUX_SCHEDULER, "shift": 3.0, "use_dynamic_shifting": True}
FLUX_SCHNELL_SCHEDULER = {**_FLUX_SCHEDULER, "shift": 1.0, "use_dynamic_shifting": False}
Z_IMAGE = {
    "_class_name": "ZImageTransformer2DModel",
    "all_f_patch_size": [1],
    "all_patch_size": [2],
    "axes_dims": [32, 48, 48],
    "axes_lens": [1536, 512, 512],
    "cap_feat_dim": 2560,
    "dim": 3840,
    "in_channels": 16,
    "n_heads": 30,
    "n_kv_heads": 30,
    "n_layers": 30,
    "n_refiner_layers": 2,
    "norm_eps": 1e-05,
    "qk_norm": True,
    "rope_theta": 256.0,
    "t_scale": 1000.0,
}
Z_IMAGE_SCHEDULER = {
    "_class_name": "FlowMatchEulerDiscreteScheduler",
    "num_train_timesteps": 1000,
    "shift": 3.0,
    "use_dynamic_shifting": False,
}

_CLIP = ["transformers", "CLIPTextModel"]
_CLIP_PROJ = ["transformers", "CLIPTextModelWithProjection"]
_CLIP_TOKENIZER = ["transformers", "CLIPTokenizer"]
_T5 = ["transformers", "T5EncoderModel"]
_T5_TOKENIZER = ["transformers", "T5TokenizerFast"]
_VAE = ["diffusers", "AutoencoderKL"]
_FLOW = ["diffusers", "FlowMatchEulerDiscreteScheduler"]

# architecture -> {subfolder or "model_index": config}
ARCHITECTURE_CONFIGS: dict[str, dict[str, Any]] = {
    "sdxl": {
        "model_index": {
            "_class_name": "StableDiffusionXLPipeline",
            "force_zeros_for_empty_prompt": True,
            "feature_extractor": [None, None],
            "image_encoder": [None, None],
            "scheduler": ["diffusers", "EulerDiscreteScheduler"],
            "text_encoder": _CLIP,
            "text_encoder_2": _CLIP_PROJ,
            "tokenizer": _CLIP_TOKENIZER,
            "tokenizer_2": _CLIP_TOKENIZER,
            "unet": ["diffusers", "UNet2DConditionModel"],
            "vae": _VAE,
        },
        "unet": SDXL_UNET,
        "vae": SDXL_VAE,
        "text_encoder": CLIP_L,
        "text_encoder_2": CLIP_G,
        "scheduler": SDXL_SCHEDULER,
        "tokenizer": clip_tokenizer_config(),
        "tokenizer_2": clip_tokenizer_config("!"),
    },
    "sdxl-refiner": {
        "model_index": {
            "_class_name": "StableDiffusionXLImg2ImgPipeline",
            "force_zeros_for_empty_prompt": False,
            "requires_aesthetics_score": True,
            "feature_extractor": [None, None],
            "image_encoder": [None, None],
            "scheduler": ["diffusers", "EulerDiscreteScheduler"],
            "text_encoder": [None, None],
            "text_encoder_2": _CLIP_PROJ,
            "tokenizer": [None, None],
            "tokenizer_2": _CLIP_TOKENIZER,
            "unet": ["diffusers", "UNet2DConditionModel"],
            "vae": _VAE,
        },
        "unet": SDXL_REFINER_UNET,
        "vae": SDXL_VAE,
        "text_encoder_2": CLIP_G,
        "scheduler": SDXL_SCHEDULER,
        "tokenizer_2": clip_tokenizer_config("!"),
    },
}
for _name, _transformer in (("sd35-medium", SD35_MEDIUM), ("sd35-large", SD35_LARGE)):
    ARCHITECTURE_CONFIGS[_name] = {
        "model_index": {
            "_class_name": "StableDiffusion3Pipeline",
            "feature_extractor": [None, None],
            "image_encoder": [None, None],
            "scheduler": _FLOW,
            "text_encoder": _CLIP_PROJ,
            "text_encoder_2": _CLIP_PROJ,
            "text_encoder_3": _T5,
            "tokenizer": _CLIP_TOKENIZER,
            "tokenizer_2": _CLIP_TOKENIZER,
            "tokenizer_3": _T5_TOKENIZER,
            "transformer": ["diffusers", "SD3Transformer2DModel"],
            "vae": _VAE,
        },
        "transformer": _transformer,
        "vae": SD3_VAE,
        "text_encoder": CLIP_L_PROJECTION,
        "text_encoder_2": CLIP_G,
        "text_encoder_3": T5_XXL,
        "scheduler": SD3_SCHEDULER,
        "tokenizer": clip_tokenizer_config(),
        "tokenizer_2": clip_tokenizer_config("!"),
    }
for _name, _transformer, _scheduler in (
    ("flux-dev", FLUX_DEV, FLUX_DEV_SCHEDULER),
    ("flux-schnell", FLUX_SCHNELL, FLUX_SCHNELL_SCHEDULER),
    ("flux-fill", FLUX_FILL, FLUX_DEV_SCHEDULER),
):
    _extra = (
        {} if _name == "flux-fill" else {"feature_extractor": [None, None], "image_encoder": [None, None]}
    )
    ARCHITECTURE_CONFIGS[_name] = {
        "model_index": {
            "_class_name": "FluxFillPipeline" if _name == "flux-fill" else "FluxPipeline",
            **_extra,
            "scheduler": _FLOW,
            "text_encoder": _CLIP,
            "text_encoder_2": _T5,
            "tokenizer": _CLIP_TOKENIZER,
            "tokenizer_2": _T5_TOKENIZER,
            "transformer": ["diffusers", "FluxTransformer2DModel"],
            "vae": _VAE,
        },
        "transformer": _transformer,
        "vae": FLUX_VAE,
        "text_encoder": CLIP_L,
        "text_encoder_2": T5_XXL,
        "scheduler": _scheduler,
        "tokenizer": clip_tokenizer_config(),
    }
# Chroma1-HD (lodestones/Chroma1-HD): Flux.1 schnell's transformer pruned (no CLIP, no guidance
# embedding; a small approximator gives the modulations), T5-XXL alone, Flux's VAE
CHROMA = {
    "_class_name": "ChromaTransformer2DModel",
    "patch_size": 1,
    "in_channels": 64,
    "out_channels": None,
    "num_layers": 19,
    "num_single_layers": 38,
    "attention_head_dim": 128,
    "num_attention_heads": 24,
    "joint_attention_dim": 4096,
    "axes_dims_rope": [16, 56, 56],
    "approximator_num_channels": 64,
    "approximator_hidden_dim": 5120,
    "approximator_layers": 5,
}
ARCHITECTURE_CONFIGS["chroma"] = {
    "model_index": {
        "_class_name": "ChromaPipeline",
        "feature_extractor": [None, None],
        "image_encoder": [None, None],
        "scheduler": _FLOW,
        "text_encoder": _T5,
        "tokenizer": _T5_TOKENIZER,
        "transformer": ["diffusers", "ChromaTransformer2DModel"],
        "vae": _VAE,
    },
    "transformer": CHROMA,
    "vae": FLUX_VAE,
    "text_encoder": T5_XXL,
    "scheduler": FLUX_DEV_SCHEDULER,
}
ARCHITECTURE_CONFIGS["z-image-turbo"] = {
    "model_index": {
        "_class_name": "ZImagePipeline",
        "scheduler": _FLOW,
        "text_encoder": ["transformers", "Qwen3Model"],
        "tokenizer": ["transformers", "Qwen2Tokenizer"],
        "transformer": ["diffusers", "ZImageTransformer2DModel"],
        "vae": _VAE,
    },
    "transformer": Z_IMAGE,
    "vae": FLUX_VAE,
    "text_encoder": QWEN3_4B,
    "scheduler": Z_IMAGE_SCHEDULER,
}


def _dump(path: Path, data: object) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def config_file_name(sub: str) -> str:
    if sub == "scheduler":
        return "scheduler_config.json"
    return "tokenizer_config.json" if sub.startswith("tokenizer") else "config.json"


def write_architecture(name: str, dest: Path) -> Path:
    for sub, data in ARCHITECTURE_CONFIGS[name].items():
        if sub == "model_index":
            _dump(dest / "model_index.json", data)
        else:
            _dump(dest / sub / config_file_name(sub), data)
    return dest


def write_all(root: Path = CONFIGS_DIR) -> list[Path]:
    return [write_architecture(name, root / name) for name in ARCHITECTURE_CONFIGS]


if __name__ == "__main__":
    for folder in write_all():
        print(folder)
