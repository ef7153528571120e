"""Export tool: a diffusers folder -> an original (LDM / A1111) single-file checkpoint, and
config-only folders.

diffusers reads original single files (`from_single_file`) but has no writer; this is the
reverse mapping for Stable Diffusion 1.x-style UNets (any number of levels and layers per
block; SDXL's added embedding too), AutoencoderKL and a CLIP text encoder, so a folder can be exported as one
`.safetensors` that A1111 / ComfyUI / `from_single_file` load. `write_config_folder` copies a
diffusers folder without its weights: what `from_single_file(config=...)` needs offline.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

WEIGHT_SUFFIXES = (".safetensors", ".bin", ".ckpt", ".pt", ".pth", ".msgpack", ".onnx")
UNET_PREFIX = "model.diffusion_model."
VAE_PREFIX = "first_stage_model."
TEXT_PREFIX = "cond_stage_model.transformer.text_model."

_UNET_TOP = {
    "time_embedding.linear_1.weight": "time_embed.0.weight",
    "time_embedding.linear_1.bias": "time_embed.0.bias",
    "time_embedding.linear_2.weight": "time_embed.2.weight",
    "time_embedding.linear_2.bias": "time_embed.2.bias",
    "conv_in.weight": "input_blocks.0.0.weight",
    "conv_in.bias": "input_blocks.0.0.bias",
    "conv_norm_out.weight": "out.0.weight",
    "conv_norm_out.bias": "out.0.bias",
    "conv_out.weight": "out.2.weight",
    "conv_out.bias": "out.2.bias",
    # SDXL's added (pooled text + size) embedding
    "add_embedding.linear_1.weight": "label_emb.0.0.weight",
    "add_embedding.linear_1.bias": "label_emb.0.0.bias",
    "add_embedding.linear_2.weight": "label_emb.0.2.weight",
    "add_embedding.linear_2.bias": "label_emb.0.2.bias",
}
_UNET_RESNET = [
    ("norm1", "in_layers.0"),
    ("conv1", "in_layers.2"),
    ("norm2", "out_layers.0"),
    ("conv2", "out_layers.3"),
    ("time_emb_proj", "emb_layers.1"),
    ("conv_shortcut", "skip_connection"),
]


def _unet_prefixes(config: dict[str, Any]) -> list[tuple[str, str]]:
    """(diffusers prefix, LDM prefix) pairs for the block layout in the UNet's config."""
    levels = len(config["block_out_channels"])
    per_block = config["layers_per_block"]
    down_attention = ["CrossAttn" in name for name in config["down_block_types"]]
    up_attention = ["CrossAttn" in name for name in config["up_block_types"]]
    pairs: list[tuple[str, str]] = []
    for i in range(levels):
        for j in range(per_block):
            ldm = 1 + i * (per_block + 1) + j
            pairs.append((f"down_blocks.{i}.resnets.{j}.", f"input_blocks.{ldm}.0."))
            if down_attention[i]:
                pairs.append((f"down_blocks.{i}.attentions.{j}.", f"input_blocks.{ldm}.1."))
        if i < levels - 1:
            pairs.append(
                (f"down_blocks.{i}.downsamplers.0.conv.", f"input_blocks.{(i + 1) * (per_block + 1)}.0.op.")
            )
        for j in range(per_block + 1):
            ldm = i * (per_block + 1) + j
            pairs.append((f"up_blocks.{i}.resnets.{j}.", f"output_blocks.{ldm}.0."))
            if up_attention[i]:
                pairs.append((f"up_blocks.{i}.attentions.{j}.", f"output_blocks.{ldm}.1."))
        if i < levels - 1:
            index = i * (per_block + 1) + per_block
            pairs.append(
                (f"up_blocks.{i}.upsamplers.0.", f"output_blocks.{index}.{2 if up_attention[i] else 1}.")
            )
    pairs.append(("mid_block.attentions.0.", "middle_block.1."))
    for j in range(2):
        pairs.append((f"mid_block.resnets.{j}.", f"middle_block.{2 * j}."))
    return pairs


def unet_to_ldm(state: dict[str, Any], config: dict[str, Any]) -> dict[str, Any]:
    prefixes = _unet_prefixes(config)
    out = {}
    for key, value in state.items():
        if key in _UNET_TOP:
            out[UNET_PREFIX + _UNET_TOP[key]] = value
            continue
        for hf_prefix, ldm_prefix in prefixes:
            if key.startswith(hf_prefix):
                rest = key[len(hf_prefix) :]
                if "resnets" in hf_prefix:
                    for hf_part, ldm_part in _UNET_RESNET:
                        rest = rest.replace(hf_part, ldm_part)
                out[UNET_PREFIX + ldm_prefix + rest] = value
                break
        else:
            raise ValueError(f"unet: no LDM name for {key}")
    return out


_VAE_ATTENTION = [
    ("group_norm.", "norm."),
    ("to_q.", "q."),
    ("to_k.", "k."),
    ("to_v.", "v."),
    ("to_out.0.", "proj_out."),
]


def vae_to_ldm(state: dict[str, Any], config: dict[str, Any]) -> dict[str, Any]:
    levels = len(config["block_out_channels"])
    per_block = config["layers_per_block"]
    pairs: list[tuple[str, str]] = []
    for i in range(levels):
        for j in range(per_block):
            pairs.append((f"encoder.down_blocks.{i}.resnets.{j}.", f"encoder.down.{i}.block.{j}."))
        if i < levels - 1:
            pairs.append((f"encoder.down_blocks.{i}.downsamplers.0.", f"encoder.down.{i}.downsample."))
            pairs.append((f"decoder.up_blocks.{i}.upsamplers.0.", f"decoder.up.{levels - 1 - i}.upsample."))
        for j in range(per_block + 1):
            pairs.append((f"decoder.up_blocks.{i}.resnets.{j}.", f"decoder.up.{levels - 1 - i}.block.{j}."))
    for part in ("encoder", "decoder"):
        for i in range(2):
            pairs.append((f"{part}.mid_block.resnets.{i}.", f"{part}.mid.block_{i + 1}."))
        pairs.append((f"{part}.mid_block.attentions.0.", f"{part}.mid.attn_1."))
    out = {}
    for key, value in state.items():
        new = key
        for hf_prefix, ldm_prefix in pairs:
            if key.startswith(hf_prefix):
                new = ldm_prefix + key[len(hf_prefix) :]
                if ".mid.attn_1." in new:
                    for hf_part, ldm_part in _VAE_ATTENTION:
                        new = new.replace(".attn_1." + hf_part, ".attn_1." + ldm_part)
                    if new.endswith("weight") and value.ndim == 2:
                        value = value.reshape(*value.shape, 1, 1)  # linear -> 1x1 conv
                break
        new = new.replace("conv_shortcut", "nin_shortcut").replace("conv_norm_out", "norm_out")
        out[VAE_PREFIX + new] = value
    return out


def text_encoder_to_ldm(state: dict[str, Any]) -> dict[str, Any]:
    return {TEXT_PREFIX + key.removeprefix("text_model."): value for key, value in state.items()}


def folder_to_single_file(folder: Path, output: Path) -> Path:
    """Write the diffusers SD folder as one LDM-layout `.safetensors` file (atomically)."""
    from safetensors.torch import load_file, save_file

    folder, output = Path(folder), Path(output)

    def component(name: str) -> tuple[dict[str, Any], dict[str, Any]]:
        config = json.loads((folder / name / "config.json").read_text(encoding="utf-8"))
        files = sorted((folder / name).glob("*.safetensors"))
        if not files:
            raise FileNotFoundError(f"{folder / name}: no .safetensors weights")
        state: dict[str, Any] = {}
        for file in files:
            state.update(load_file(str(file)))
        return state, config

    unet, unet_config = component("unet")
    vae, vae_config = component("vae")
    text, _ = component("text_encoder")
    merged = {**unet_to_ldm(unet, unet_config), **vae_to_ldm(vae, vae_config), **text_encoder_to_ldm(text)}
    merged = {key: value.contiguous() for key, value in merged.items()}
    output.parent.mkdir(parents=True, exist_ok=True)
    temp = output.with_name(output.name + ".tmp")
    save_file(merged, str(temp), metadata={"format": "pt"})
    temp.replace(output)
    return output


def write_config_folder(folder: Path, dest: Path) -> Path:
    """Copy a diffusers folder without its weights (configs, scheduler, tokenizer files)."""
    folder, dest = Path(folder), Path(dest)
    for path in sorted(folder.rglob("*")):
        if (
            path.is_file()
            and path.suffix.lower() not in WEIGHT_SUFFIXES
            and not path.name.endswith(".index.json")
        ):
            target = dest / path.relative_to(folder)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, target)
    return dest
