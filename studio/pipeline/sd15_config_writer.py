"""Build tool, run once by a developer (never at run time): writes the Stable Diffusion 1.x config
folder shipped in `studio/pipeline/configs/sd15/`.

`from_single_file` needs a local config folder to load an original SD 1.x checkpoint without
the model hub. This writes it from the architecture's known settings (no weights): UNet,
VAE and CLIP ViT-L/14 text encoder configs, the scheduler, and the CLIP BPE tokenizer files
derived from CLIP's `bpe_simple_vocab_16e6.txt.gz` (MIT, OpenAI; also shipped by open_clip),
exactly as CLIP's own tokenizer builds its vocabulary. Run once by a developer:

    python -m studio.pipeline.sd15_config_writer path/to/bpe_simple_vocab_16e6.txt.gz
"""

from __future__ import annotations

import gzip
import json
import sys
from pathlib import Path

from studio.pipeline.tokenizer_files import BOS_TOKEN, END_OF_WORD, EOS_TOKEN, bytes_to_unicode

SD15_DIR = Path(__file__).resolve().parent / "configs" / "sd15"
CLIP_MERGES = 49152 - 256 - 2

MODEL_INDEX = {
    "_class_name": "StableDiffusionPipeline",
    "feature_extractor": [None, None],
    "image_encoder": [None, None],
    "requires_safety_checker": False,
    "safety_checker": [None, None],
    "scheduler": ["diffusers", "PNDMScheduler"],
    "text_encoder": ["transformers", "CLIPTextModel"],
    "tokenizer": ["transformers", "CLIPTokenizer"],
    "unet": ["diffusers", "UNet2DConditionModel"],
    "vae": ["diffusers", "AutoencoderKL"],
}
UNET = {
    "_class_name": "UNet2DConditionModel",
    "act_fn": "silu",
    "attention_head_dim": 8,
    "block_out_channels": [320, 640, 1280, 1280],
    "center_input_sample": False,
    "cross_attention_dim": 768,
    "down_block_types": [
        "CrossAttnDownBlock2D",
        "CrossAttnDownBlock2D",
        "CrossAttnDownBlock2D",
        "DownBlock2D",
    ],
    "downsample_padding": 1,
    "flip_sin_to_cos": True,
    "freq_shift": 0,
    "in_channels": 4,
    "layers_per_block": 2,
    "mid_block_scale_factor": 1,
    "norm_eps": 1e-05,
    "norm_num_groups": 32,
    "out_channels": 4,
    "sample_size": 64,
    "up_block_types": ["UpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D"],
}
VAE = {
    "_class_name": "AutoencoderKL",
    "act_fn": "silu",
    "block_out_channels": [128, 256, 512, 512],
    "down_block_types": ["DownEncoderBlock2D"] * 4,
    "in_channels": 3,
    "latent_channels": 4,
    "layers_per_block": 2,
    "norm_num_groups": 32,
    "out_channels": 3,
    "sample_size": 512,
    "scaling_factor": 0.18215,
    "up_block_types": ["UpDecoderBlock2D"] * 4,
}
# Stable Diffusion 1.x scheduler settings (what the original checkpoints were trained with).
SCHEDULER = {
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
TEXT_ENCODER = {
    "architectures": ["CLIPTextModel"],
    "attention_dropout": 0.0,
    "bos_token_id": 0,
    "dropout": 0.0,
    "eos_token_id": 2,
    "hidden_act": "quick_gelu",
    "hidden_size": 768,
    "initializer_factor": 1.0,
    "initializer_range": 0.02,
    "intermediate_size": 3072,
    "layer_norm_eps": 1e-05,
    "max_position_embeddings": 77,
    "model_type": "clip_text_model",
    "num_attention_heads": 12,
    "num_hidden_layers": 12,
    "pad_token_id": 1,
    "projection_dim": 768,
    "dtype": "float32",
    "vocab_size": 49408,
}


def _dump(path: Path, data: object) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def write_clip_bpe_files(folder: Path, bpe_gz: Path) -> None:
    with gzip.open(bpe_gz) as handle:
        lines = handle.read().decode("utf-8").split("\n")
    merges = [tuple(line.split()) for line in lines[1 : CLIP_MERGES + 1]]
    base = list(bytes_to_unicode().values())
    tokens = base + [token + END_OF_WORD for token in base] + ["".join(merge) for merge in merges]
    tokens += [BOS_TOKEN, EOS_TOKEN]
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "vocab.json").write_text(
        json.dumps({token: i for i, token in enumerate(tokens)}, ensure_ascii=False), encoding="utf-8"
    )
    (folder / "merges.txt").write_text(
        "#version: 0.2\n" + "\n".join(" ".join(m) for m in merges) + "\n", encoding="utf-8"
    )
    _dump(
        folder / "tokenizer_config.json",
        {
            "tokenizer_class": "CLIPTokenizer",
            "model_max_length": 77,
            "bos_token": BOS_TOKEN,
            "eos_token": EOS_TOKEN,
            "unk_token": EOS_TOKEN,
            "pad_token": EOS_TOKEN,
            "do_lower_case": True,
            "clean_up_tokenization_spaces": False,
        },
    )
    _dump(
        folder / "special_tokens_map.json",
        {"bos_token": BOS_TOKEN, "eos_token": EOS_TOKEN, "unk_token": EOS_TOKEN, "pad_token": EOS_TOKEN},
    )


def write_sd15_config(dest: Path, bpe_gz: Path) -> Path:
    _dump(dest / "model_index.json", MODEL_INDEX)
    _dump(dest / "unet" / "config.json", UNET)
    _dump(dest / "vae" / "config.json", VAE)
    _dump(dest / "text_encoder" / "config.json", TEXT_ENCODER)
    _dump(dest / "scheduler" / "scheduler_config.json", SCHEDULER)
    write_clip_bpe_files(dest / "tokenizer", bpe_gz)
    return dest


if __name__ == "__main__":
    print(write_sd15_config(SD15_DIR, Path(sys.argv[1])))
