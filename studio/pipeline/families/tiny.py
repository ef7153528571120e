"""Tiny, complete diffusers folders of every family, built offline (for tests and benchmarks).

Each has the real family's architecture at a toy width (a few hundred thousand parameters),
random weights fixed by `seed`, and real tokenizers whose files we generate: CLIP's byte-level
BPE learned on a small word list (`tokenizer_files`), a T5 unigram vocabulary, and a Qwen
byte-level BPE with a chat template. The folders load with `from_pretrained(local_files_only=True)`
and export to single files (`families.export`) like any real model. 64x64 images.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from studio.pipeline.families.config_writer import ARCHITECTURE_CONFIGS
from studio.pipeline.tiny_model import TINY_WORDS, build_tiny_pipeline
from studio.pipeline.tokenizer_files import write_clip_tokenizer

TINY_FAMILIES = (
    "sd15",
    "sdxl",
    "sdxl-refiner",
    "sd3",
    "flux",
    "flux-schnell",
    "flux-fill",
    "z-image",
    "chroma",
)
QWEN_CHAT_TEMPLATE = (
    "{% for message in messages %}<|im_start|>{{ message['role'] }}\n{{ message['content'] }}<|im_end|>\n"
    "{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)
CLIP_L_WIDTH, CLIP_G_WIDTH, T5_WIDTH, QWEN_WIDTH = 32, 64, 128, 16


def _scheduler(architecture: str) -> Any:
    import diffusers

    config = dict(ARCHITECTURE_CONFIGS[architecture]["scheduler"])
    cls = getattr(diffusers, config.pop("_class_name"))
    return cls(**config)


def _clip_tokenizer(folder: Path, pad_token: str = "<|endoftext|>") -> Any:
    from transformers import CLIPTokenizer

    write_clip_tokenizer(folder, TINY_WORDS)
    if pad_token != "<|endoftext|>":
        config_file = folder / "tokenizer_config.json"
        config = json.loads(config_file.read_text(encoding="utf-8"))
        config["pad_token"] = pad_token
        config_file.write_text(json.dumps(config, indent=2), encoding="utf-8")
    return CLIPTokenizer.from_pretrained(folder)


def tiny_t5_tokenizer() -> Any:
    from transformers import T5Tokenizer

    pieces = [("<pad>", 0.0), ("</s>", 0.0), ("<unk>", 0.0), ("▁", -2.0)]
    pieces += [(f"▁{word}", -1.0 - i / 100) for i, word in enumerate(dict.fromkeys(TINY_WORDS))]
    pieces += [(char, -5.0) for char in "abcdefghijklmnopqrstuvwxyz"]
    return T5Tokenizer(vocab=pieces, extra_ids=0)


def tiny_qwen_tokenizer() -> Any:
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers
    from transformers import Qwen2Tokenizer

    specials = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
    bpe = Tokenizer(models.BPE())
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    trainer = trainers.BpeTrainer(
        vocab_size=400, initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False
    )
    bpe.train_from_iterator([" ".join(TINY_WORDS)] * 4, trainer)
    model = json.loads(bpe.to_str())["model"]
    merges = [tuple(m) if isinstance(m, list) else tuple(m.split(" ")) for m in model["merges"]]
    tokenizer = Qwen2Tokenizer(vocab=model["vocab"], merges=merges, additional_special_tokens=specials[1:])
    tokenizer.chat_template = QWEN_CHAT_TEMPLATE
    return tokenizer


def _clip_text(width: int, vocab: int, projection: bool, seed_tokenizer: Any) -> Any:
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTextModelWithProjection

    config = CLIPTextConfig(
        vocab_size=vocab,
        hidden_size=width,
        intermediate_size=width * 2,
        num_attention_heads=4,
        num_hidden_layers=2,
        max_position_embeddings=77,
        projection_dim=width,
        hidden_act="gelu" if width == CLIP_G_WIDTH else "quick_gelu",
        bos_token_id=seed_tokenizer.bos_token_id,
        eos_token_id=seed_tokenizer.eos_token_id,
        pad_token_id=seed_tokenizer.pad_token_id,
    )
    return (CLIPTextModelWithProjection if projection else CLIPTextModel)(config)


def _vae(latent_channels: int, scaling: float, shift: float | None = None) -> Any:
    from diffusers import AutoencoderKL

    flow = latent_channels == 16
    return AutoencoderKL(
        in_channels=3,
        out_channels=3,
        down_block_types=("DownEncoderBlock2D", "DownEncoderBlock2D"),
        up_block_types=("UpDecoderBlock2D", "UpDecoderBlock2D"),
        block_out_channels=(32, 64),
        layers_per_block=1,
        latent_channels=latent_channels,
        norm_num_groups=32,
        sample_size=64,
        scaling_factor=scaling,
        shift_factor=shift,
        use_quant_conv=not flow,
        use_post_quant_conv=not flow,
    )


def _sdxl_unet(refiner: bool) -> Any:
    from diffusers import UNet2DConditionModel

    return UNet2DConditionModel(
        sample_size=32,
        in_channels=4,
        out_channels=4,
        block_out_channels=(32, 64),
        layers_per_block=1,
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
        attention_head_dim=(2, 4),
        transformer_layers_per_block=(1, 2),
        use_linear_projection=True,
        addition_embed_type="text_time",
        addition_time_embed_dim=8,
        projection_class_embeddings_input_dim=(5 if refiner else 6) * 8 + CLIP_G_WIDTH,
        cross_attention_dim=CLIP_G_WIDTH if refiner else CLIP_L_WIDTH + CLIP_G_WIDTH,
        norm_num_groups=32,
    )


def _t5(vocab: int) -> Any:
    from transformers import T5Config, T5EncoderModel

    return T5EncoderModel(
        T5Config(
            vocab_size=vocab,
            d_model=T5_WIDTH,
            d_kv=16,
            d_ff=T5_WIDTH * 2,
            num_layers=2,
            num_heads=4,
            relative_attention_num_buckets=8,
            feed_forward_proj="gated-gelu",
            is_encoder_decoder=False,
            tie_word_embeddings=False,
        )
    )


def _identity_projection(encoder: Any) -> Any:
    """SD3's CLIP-L pooled output is not projected: the original files carry no projection
    (diffusers loads an identity), so the tiny model has one too."""
    import torch

    with torch.no_grad():
        encoder.text_projection.weight.copy_(torch.eye(encoder.text_projection.weight.shape[0]))
    return encoder


def _components(family: str, folder: Path) -> tuple[type, dict[str, Any]]:
    import diffusers

    if family in ("sdxl", "sdxl-refiner"):
        refiner = family == "sdxl-refiner"
        tokenizer_2 = _clip_tokenizer(folder / "tokenizer_2", pad_token="!")
        parts: dict[str, Any] = {
            "unet": _sdxl_unet(refiner),
            "vae": _vae(4, 0.13025),
            "text_encoder_2": _clip_text(CLIP_G_WIDTH, len(tokenizer_2), True, tokenizer_2),
            "tokenizer_2": tokenizer_2,
            "scheduler": _scheduler(family),
        }
        if refiner:
            cls = diffusers.StableDiffusionXLImg2ImgPipeline
            parts.update(text_encoder=None, tokenizer=None, requires_aesthetics_score=True)
        else:
            cls = diffusers.StableDiffusionXLPipeline
            tokenizer = _clip_tokenizer(folder / "tokenizer")
            parts.update(
                text_encoder=_clip_text(CLIP_L_WIDTH, len(tokenizer), False, tokenizer), tokenizer=tokenizer
            )
        return cls, parts
    if family == "sd3":
        tokenizer = _clip_tokenizer(folder / "tokenizer")
        tokenizer_2 = _clip_tokenizer(folder / "tokenizer_2", pad_token="!")
        tokenizer_3 = tiny_t5_tokenizer()
        transformer = diffusers.SD3Transformer2DModel(
            sample_size=32,
            patch_size=2,
            in_channels=16,
            num_layers=2,
            attention_head_dim=8,
            num_attention_heads=4,
            joint_attention_dim=T5_WIDTH,
            caption_projection_dim=32,
            pooled_projection_dim=CLIP_L_WIDTH + CLIP_G_WIDTH,
            out_channels=16,
            pos_embed_max_size=32,
            dual_attention_layers=(0,),
            qk_norm="rms_norm",
        )
        return diffusers.StableDiffusion3Pipeline, {
            "transformer": transformer,
            "vae": _vae(16, 1.5305, 0.0609),
            "text_encoder": _identity_projection(_clip_text(CLIP_L_WIDTH, len(tokenizer), True, tokenizer)),
            "text_encoder_2": _clip_text(CLIP_G_WIDTH, len(tokenizer_2), True, tokenizer_2),
            "text_encoder_3": _t5(len(tokenizer_3)),
            "tokenizer": tokenizer,
            "tokenizer_2": tokenizer_2,
            "tokenizer_3": tokenizer_3,
            "scheduler": _scheduler("sd35-medium"),
        }
    if family in ("flux", "flux-schnell", "flux-fill"):
        tokenizer = _clip_tokenizer(folder / "tokenizer")
        tokenizer_2 = tiny_t5_tokenizer()
        vae = _vae(16, 0.3611, 0.1159)
        scale = 2 ** (len(vae.config.block_out_channels) - 1)
        fill = family == "flux-fill"  # + the masked image's latents and the mask, packed 2x2
        transformer = diffusers.FluxTransformer2DModel(
            patch_size=1,
            in_channels=64 + 64 + 4 * scale * scale if fill else 64,
            out_channels=64 if fill else None,
            num_layers=1,
            num_single_layers=1,
            attention_head_dim=16,
            num_attention_heads=2,
            joint_attention_dim=T5_WIDTH,
            pooled_projection_dim=CLIP_L_WIDTH,
            guidance_embeds=family != "flux-schnell",
            axes_dims_rope=(4, 6, 6),
        )
        return diffusers.FluxFillPipeline if fill else diffusers.FluxPipeline, {
            "transformer": transformer,
            "vae": vae,
            "text_encoder": _clip_text(CLIP_L_WIDTH, len(tokenizer), False, tokenizer),
            "text_encoder_2": _t5(len(tokenizer_2)),
            "tokenizer": tokenizer,
            "tokenizer_2": tokenizer_2,
            "scheduler": _scheduler("flux-schnell" if family == "flux-schnell" else "flux-dev"),
        }
    if family == "z-image":
        from transformers import Qwen3Config, Qwen3Model

        tokenizer = tiny_qwen_tokenizer()
        text_encoder = Qwen3Model(
            Qwen3Config(
                vocab_size=len(tokenizer),
                hidden_size=QWEN_WIDTH,
                intermediate_size=QWEN_WIDTH * 2,
                num_hidden_layers=2,
                num_attention_heads=2,
                num_key_value_heads=1,
                head_dim=8,
                max_position_embeddings=1024,
                tie_word_embeddings=True,
            )
        )
        transformer = diffusers.ZImageTransformer2DModel(
            all_patch_size=(2,),
            all_f_patch_size=(1,),
            in_channels=16,
            dim=32,
            n_layers=2,
            n_refiner_layers=1,
            n_heads=2,
            n_kv_heads=2,
            qk_norm=True,
            cap_feat_dim=QWEN_WIDTH,
            rope_theta=256.0,
            axes_dims=[8, 4, 4],
            axes_lens=[1024, 32, 32],
        )
        return diffusers.ZImagePipeline, {
            "transformer": transformer,
            "vae": _vae(16, 0.3611, 0.1159),
            "text_encoder": text_encoder,
            "tokenizer": tokenizer,
            "scheduler": _scheduler("z-image-turbo"),
        }
    if family == "chroma":
        tokenizer = tiny_t5_tokenizer()
        transformer = diffusers.ChromaTransformer2DModel(
            patch_size=1,
            in_channels=64,
            num_layers=1,
            num_single_layers=1,
            attention_head_dim=16,
            num_attention_heads=2,
            joint_attention_dim=T5_WIDTH,
            axes_dims_rope=(4, 6, 6),
            approximator_num_channels=8,
            approximator_hidden_dim=32,
            approximator_layers=1,
        )
        return diffusers.ChromaPipeline, {
            "transformer": transformer,
            "vae": _vae(16, 0.3611, 0.1159),
            "text_encoder": _t5(len(tokenizer)),
            "tokenizer": tokenizer,
            "scheduler": _scheduler("flux-dev"),
        }
    raise ValueError(f"no tiny model for family {family!r}; choose one of: {', '.join(TINY_FAMILIES)}")


def build_tiny_family(family: str, folder: Path, seed: int = 0) -> Path:
    """Write a tiny diffusers folder of `family` (one of TINY_FAMILIES) into `folder`."""
    import torch

    folder = Path(folder)
    if family == "sd15":
        return build_tiny_pipeline(folder, seed=seed)
    folder.mkdir(parents=True, exist_ok=True)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        cls, parts = _components(family, folder)
    pipe = cls(**parts)
    pipe.save_pretrained(folder, safe_serialization=True)
    return folder
