"""Tiny LoRA and embedding files for the tiny SDXL, SD 3.5, Flux.1 and Z-Image models, in the
layouts their trainers write: kohya / sd-scripts (`lora_unet_` with the ORIGINAL model's layer
names: SDXL's `input_blocks_4_1_...`, Flux's fused `double_blocks_N_img_attn_qkv`, SD 3.5's
`joint_blocks_N_x_block_attn_qkv`, Z-Image's `layers_N_attention_qkv`; `lora_te1_` / `lora_te2_`
text encoders, with `alpha`), and diffusers / PEFT (`transformer.<module>.lora_A.weight`).

Names and shapes come from the tiny model's own weight files, so the files fit it exactly.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file

WANTED = (
    "attn",
    "attention",
    "ff",
    "mlp",
    "proj_in",
    "proj_out",
    "qkv",
    "linear1",
    "linear2",
    "feed_forward",
)


def component_state(folder: Path, component: str) -> dict[str, torch.Tensor]:
    state: dict[str, torch.Tensor] = {}
    for file in sorted((folder / component).glob("*.safetensors")):
        state.update(load_file(str(file)))
    return state


def component_config(folder: Path, component: str) -> dict[str, Any]:
    return json.loads((folder / component / "config.json").read_text(encoding="utf-8"))


def original_layers(folder: Path, family: str) -> dict[str, torch.Tensor]:
    """The denoiser's Linear weights under the ORIGINAL model's module names (what kohya's
    trainers name), for the attention / feed-forward layers."""
    from studio.pipeline.families.export import sd3_to_original, zimage_to_original
    from studio.pipeline.families.flux_keys import flux_to_original
    from studio.pipeline.single_file_export import UNET_PREFIX, unet_to_ldm

    if family == "sdxl":
        state = unet_to_ldm(component_state(folder, "unet"), component_config(folder, "unet"))
        state = {key.removeprefix(UNET_PREFIX): value for key, value in state.items()}
    else:
        convert = {"flux": flux_to_original, "sd3": sd3_to_original, "z-image": zimage_to_original}[family]
        state = convert(component_state(folder, "transformer"))
    return _linears(state)


def diffusers_layers(folder: Path, component: str) -> dict[str, torch.Tensor]:
    return _linears(component_state(folder, component))


def _linears(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    return {
        key.removesuffix(".weight"): value
        for key, value in state.items()
        if key.endswith(".weight") and value.dim() == 2 and any(part in key for part in WANTED)
    }


def kohya_state(
    layers: dict[str, torch.Tensor], prefix: str, seed: int, rank: int = 4, alpha: float = 2.0
) -> dict[str, torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    state = {}
    for name, weight in layers.items():
        key = prefix + name.replace(".", "_")
        out_features, in_features = weight.shape
        state[f"{key}.lora_down.weight"] = torch.randn(rank, in_features, generator=generator) * 0.3
        state[f"{key}.lora_up.weight"] = torch.randn(out_features, rank, generator=generator) * 0.3
        state[f"{key}.alpha"] = torch.tensor(alpha)
    return state


def peft_state(
    layers: dict[str, torch.Tensor], component: str, seed: int, rank: int = 4
) -> dict[str, torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    state = {}
    for name, weight in layers.items():
        out_features, in_features = weight.shape
        state[f"{component}.{name}.lora_A.weight"] = torch.randn(rank, in_features, generator=generator) * 0.3
        state[f"{component}.{name}.lora_B.weight"] = (
            torch.randn(out_features, rank, generator=generator) * 0.3
        )
    return state


def write_kohya_family_lora(path: Path, folder: Path, family: str, seed: int) -> Path:
    """A kohya-style LoRA for the tiny `family` model in `folder`: the denoiser in its original
    names, and the CLIP text encoder(s) as sd-scripts names them."""
    state = kohya_state(original_layers(folder, family), "lora_unet_", seed)
    if family in ("sdxl", "sd3", "flux"):
        state.update(kohya_state(diffusers_layers(folder, "text_encoder"), "lora_te1_", seed + 1))
    if family in ("sdxl", "sd3"):
        state.update(kohya_state(diffusers_layers(folder, "text_encoder_2"), "lora_te2_", seed + 2))
    path.parent.mkdir(parents=True, exist_ok=True)
    save_file(state, str(path))
    return path


def write_peft_family_lora(path: Path, folder: Path, family: str, seed: int) -> Path:
    """A diffusers / PEFT LoRA (`unet.` or `transformer.` + diffusers' module names)."""
    component = "unet" if family == "sdxl" else "transformer"
    state = peft_state(diffusers_layers(folder, component), component, seed)
    path.parent.mkdir(parents=True, exist_ok=True)
    save_file(state, str(path))
    return path


def write_sdxl_embedding(path: Path, folder: Path, seed: int, vectors: int = 2) -> Path:
    """An SDXL textual-inversion file as they ship: `clip_l` and `clip_g` tensors."""
    generator = torch.Generator().manual_seed(seed)
    widths = {
        key: component_config(folder, name)["hidden_size"]
        for key, name in (("clip_l", "text_encoder"), ("clip_g", "text_encoder_2"))
    }
    state = {key: torch.randn(vectors, width, generator=generator) for key, width in widths.items()}
    path.parent.mkdir(parents=True, exist_ok=True)
    save_file(state, str(path))
    return path
