"""Export tool: a diffusers folder of any family -> the single files people download.

diffusers reads original single files but writes none; these are the inverse mappings of its
converters, per part, so a diffusers folder can be written as
- one all-in-one file (the A1111 / ComfyUI checkpoint layout: every part under its prefix), or
- a denoiser-only file plus separate text encoder and VAE files (how Flux, SD 3.5 and Z-Image
  are usually published: `flux1-dev.safetensors`, `clip_l.safetensors`, `t5xxl_fp16.safetensors`,
  `ae.safetensors` ...).
The tests round-trip every family through these and `from_single_file`, tensor for tensor.
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

from studio.pipeline.families.flux_keys import flux_to_original
from studio.pipeline.families.spec import (
    ARCHITECTURES,
    CHROMA,
    CLIP,
    FLUX,
    MMDIT,
    OPEN_CLIP,
    PIPELINE_FAMILIES,
    QWEN3,
    T5,
    UNET,
    VAE,
    ZIMAGE,
    Family,
    Part,
    family_named,
)
from studio.pipeline.single_file_export import UNET_PREFIX, VAE_PREFIX, unet_to_ldm, vae_to_ldm

_SD3_PLAIN = {
    "pos_embed.pos_embed": "pos_embed",
    "pos_embed.proj.weight": "x_embedder.proj.weight",
    "pos_embed.proj.bias": "x_embedder.proj.bias",
    "time_text_embed.timestep_embedder.linear_1": "t_embedder.mlp.0",
    "time_text_embed.timestep_embedder.linear_2": "t_embedder.mlp.2",
    "context_embedder": "context_embedder",
    "time_text_embed.text_embedder.linear_1": "y_embedder.mlp.0",
    "time_text_embed.text_embedder.linear_2": "y_embedder.mlp.2",
    "proj_out": "final_layer.linear",
}
_SD3_BLOCK = {
    "attn.to_out.0": "x_block.attn.proj",
    "attn.to_add_out": "context_block.attn.proj",
    "attn2.to_out.0": "x_block.attn2.proj",
    "norm1.linear": "x_block.adaLN_modulation.1",
    "norm1_context.linear": "context_block.adaLN_modulation.1",
    "ff.net.0.proj": "x_block.mlp.fc1",
    "ff.net.2": "x_block.mlp.fc2",
    "ff_context.net.0.proj": "context_block.mlp.fc1",
    "ff_context.net.2": "context_block.mlp.fc2",
    "attn.norm_q": "x_block.attn.ln_q",
    "attn.norm_k": "x_block.attn.ln_k",
    "attn.norm_added_q": "context_block.attn.ln_q",
    "attn.norm_added_k": "context_block.attn.ln_k",
    "attn2.norm_q": "x_block.attn2.ln_q",
    "attn2.norm_k": "x_block.attn2.ln_k",
}
_SD3_QKV = {
    "x_block.attn.qkv": ("attn.to_q", "attn.to_k", "attn.to_v"),
    "context_block.attn.qkv": ("attn.add_q_proj", "attn.add_k_proj", "attn.add_v_proj"),
    "x_block.attn2.qkv": ("attn2.to_q", "attn2.to_k", "attn2.to_v"),
}


def _swap_halves(tensor: Any) -> Any:
    import torch

    first, second = tensor.chunk(2, dim=0)
    return torch.cat([second, first], dim=0)


def sd3_to_original(state: dict[str, Any]) -> dict[str, Any]:
    """An SD3 / SD3.5 transformer in the original MMDiT layout (inverse of diffusers' converter)."""
    import torch

    out: dict[str, Any] = {}
    for new, old in _SD3_PLAIN.items():
        for suffix in ("", ".weight", ".bias"):
            if new + suffix in state:
                out[old + suffix] = state[new + suffix]
    for suffix in ("weight", "bias"):
        out[f"final_layer.adaLN_modulation.1.{suffix}"] = _swap_halves(state[f"norm_out.linear.{suffix}"])
    layers = sorted({int(key.split(".")[1]) for key in state if key.startswith("transformer_blocks.")})
    for i in layers:
        new, old = f"transformer_blocks.{i}.", f"joint_blocks.{i}."
        for suffix in ("weight", "bias"):
            for fused, names in _SD3_QKV.items():
                if f"{new}{names[0]}.{suffix}" in state:
                    out[f"{old}{fused}.{suffix}"] = torch.cat(
                        [state[f"{new}{name}.{suffix}"] for name in names]
                    )
            for new_name, old_name in _SD3_BLOCK.items():
                if f"{new}{new_name}.{suffix}" in state:
                    value = state[f"{new}{new_name}.{suffix}"]
                    if new_name == "norm1_context.linear" and i == layers[-1]:
                        value = _swap_halves(value)
                    out[f"{old}{old_name}.{suffix}"] = value
    return out


_ZIMAGE_RENAMES = (
    ("all_final_layer.2-1.", "final_layer."),
    ("all_x_embedder.2-1.", "x_embedder."),
    (".attention.to_out.0.", ".attention.out."),
    (".attention.norm_k.", ".attention.k_norm."),
    (".attention.norm_q.", ".attention.q_norm."),
)


def zimage_to_original(state: dict[str, Any]) -> dict[str, Any]:
    """A Z-Image transformer in its original layout (fused qkv, original names)."""
    import torch

    out: dict[str, Any] = {}
    for key, value in state.items():
        if ".attention.to_k." in key or ".attention.to_v." in key:
            continue
        if ".attention.to_q." in key:
            base = key.replace(".attention.to_q.", ".attention.{}.")
            parts = [state[base.format(name)] for name in ("to_q", "to_k", "to_v")]
            key, value = key.replace(".attention.to_q.", ".attention.qkv."), torch.cat(parts)
        for new, old in _ZIMAGE_RENAMES:
            key = key.replace(new, old)
        out[key] = value
    return out


def openclip_to_original(state: dict[str, Any]) -> dict[str, Any]:
    """A CLIPTextModelWithProjection in OpenCLIP's layout (SDXL's `conditioner.embedders`)."""
    import torch

    state = {
        k if k.startswith(("text_model.", "text_projection")) else f"text_model.{k}": v
        for k, v in state.items()
    }
    out: dict[str, Any] = {
        "positional_embedding": state["text_model.embeddings.position_embedding.weight"],
        "token_embedding.weight": state["text_model.embeddings.token_embedding.weight"],
        "ln_final.weight": state["text_model.final_layer_norm.weight"],
        "ln_final.bias": state["text_model.final_layer_norm.bias"],
        "text_projection": state["text_projection.weight"].T.contiguous(),
    }
    prefix = "text_model.encoder.layers."
    layers = sorted({int(key[len(prefix) :].split(".")[0]) for key in state if key.startswith(prefix)})
    renames = (
        ("layer_norm1", "ln_1"),
        ("layer_norm2", "ln_2"),
        ("mlp.fc1", "mlp.c_fc"),
        ("mlp.fc2", "mlp.c_proj"),
    )
    for i in layers:
        new, old = f"{prefix}{i}.", f"transformer.resblocks.{i}."
        for suffix in ("weight", "bias"):
            out[f"{old}attn.in_proj_{suffix}"] = torch.cat(
                [state[f"{new}self_attn.{name}_proj.{suffix}"] for name in ("q", "k", "v")]
            )
            out[f"{old}attn.out_proj.{suffix}"] = state[f"{new}self_attn.out_proj.{suffix}"]
            for hf_name, ldm_name in renames:
                out[f"{old}{ldm_name}.{suffix}"] = state[f"{new}{hf_name}.{suffix}"]
    return out


def part_to_original(part: Part, state: dict[str, Any], config: dict[str, Any]) -> dict[str, Any]:
    """One part's weights in the layout of a standalone original file (no all-in-one prefix)."""
    if part.kind == UNET:
        return {k.removeprefix(UNET_PREFIX): v for k, v in unet_to_ldm(state, config).items()}
    if part.kind == MMDIT:
        return sd3_to_original(state)
    if part.kind == FLUX:
        return flux_to_original(state)
    if part.kind == ZIMAGE:
        return zimage_to_original(state)
    if part.kind == CHROMA:  # written in diffusers' layout (no original-layout writer yet)
        return dict(state)
    if part.kind == VAE:
        return {k.removeprefix(VAE_PREFIX): v for k, v in vae_to_ldm(state, config).items()}
    if part.kind == OPEN_CLIP:
        return openclip_to_original(state)
    if part.kind == CLIP:
        return {
            k if k.startswith(("text_model.", "text_projection")) else f"text_model.{k}": v
            for k, v in state.items()
        }
    if part.kind == QWEN3:
        return {f"model.{k}": v for k, v in state.items()}
    if part.kind == T5:
        return dict(state)
    raise ValueError(f"{part.name}: no export for kind {part.kind}")


def _component(folder: Path, name: str) -> tuple[dict[str, Any], dict[str, Any]]:
    from safetensors.torch import load_file

    files = sorted((folder / name).glob("*.safetensors"))
    if not files:
        raise FileNotFoundError(f"{folder / name}: no .safetensors weights")
    state: dict[str, Any] = {}
    for file in files:
        state.update(load_file(str(file)))
    config = json.loads((folder / name / "config.json").read_text(encoding="utf-8"))
    return state, config


def folder_family(folder: Path) -> Family:
    index = json.loads((Path(folder) / "model_index.json").read_text(encoding="utf-8"))
    from studio.pipeline.families import identify

    architecture = ARCHITECTURES.get(identify(Path(folder), "diffusers"))
    if architecture is None:
        return family_named(PIPELINE_FAMILIES[index["_class_name"]][0])
    return family_named(architecture.family)


def _save(state: dict[str, Any], output: Path) -> Path:
    from safetensors.torch import save_file

    output.parent.mkdir(parents=True, exist_ok=True)
    temp = output.with_name(output.name + ".tmp")
    save_file({k: v.contiguous() for k, v in state.items()}, str(temp), metadata={"format": "pt"})
    temp.replace(output)
    return output


def export_all_in_one(folder: Path, output: Path) -> Path:
    """Every part of a diffusers folder in one file, each under its all-in-one prefix."""
    family = folder_family(folder)
    merged: dict[str, Any] = {}
    for part in family.parts:
        state, config = _component(Path(folder), part.name)
        merged.update({part.prefix + k: v for k, v in part_to_original(part, state, config).items()})
    return _save(merged, Path(output))


def export_split(folder: Path, output: Path, companions: dict[str, Path]) -> dict[str, Path]:
    """The denoiser alone in `output` (original layout, no prefix), and each other part in the
    file `companions[part name]` names (standalone layout). Returns part name -> file."""
    family = folder_family(folder)
    written: dict[str, Path] = {}
    for part in family.parts:
        target = Path(output) if part is family.denoiser else companions.get(part.name)
        if target is None:
            raise ValueError(f"export_split: no file named for part {part.name}")
        state, config = _component(Path(folder), part.name)
        if part.kind == OPEN_CLIP:  # a separate text encoder file is in transformers' layout
            part = replace(part, kind=CLIP)
        written[part.name] = _save(part_to_original(part, state, config), target)
    return written
