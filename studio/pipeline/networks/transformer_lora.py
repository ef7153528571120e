"""LoRA files for the transformer families (SD 3.5, Flux.1, Z-Image) in the layouts people
download, rewritten onto diffusers' module names.

The kohya / sd-scripts trainers (most Civitai Flux LoRAs) name the original model's layers,
and those layers are sometimes several of diffusers' at once:

| family | original layer (kohya `lora_unet_...`, ComfyUI `diffusion_model....`) | diffusers layers |
| --- | --- | --- |
| Flux.1 | `double_blocks_N_img_attn_qkv` | `transformer_blocks.N.attn.to_q`, `to_k`, `to_v` |
| Flux.1 | `double_blocks_N_txt_attn_qkv` | `...attn.add_q_proj`, `add_k_proj`, `add_v_proj` |
| Flux.1 | `single_blocks_N_linear1` | `single_transformer_blocks.N.attn.to_q/k/v` + `proj_mlp` |
| SD 3.5 | `joint_blocks_N_x_block_attn_qkv` (`attn2_qkv`) | `transformer_blocks.N.attn.to_q/k/v` (`attn2`) |
| SD 3.5 | `joint_blocks_N_context_block_attn_qkv` | `...attn.add_q_proj`, `add_k_proj`, `add_v_proj` |
| Z-Image | `layers_N_attention_qkv` (also in the refiners) | `layers.N.attention.to_q`, `to_k`, `to_v` |

A LoRA on a fused layer is split exactly: the rows of `up` are cut where the fused layer's rows
are, `down` (and `alpha`) are shared, so each part's change is the fused change's rows. A
full (`diff`) module is cut the same way; LoHa / LoKr on a fused layer are refused by name
(their change does not split into smaller LoHa / LoKr factors).

Layers that are one-to-one are renamed; everything already in diffusers' names
(`transformer.<module>` from diffusers / PEFT / ai-toolkit, or kohya's underscored diffusers
path, as Z-Image's trainers write) passes through for `lora_keys.ModuleTable` to resolve.
Text-encoder keys (`lora_te1_`, `lora_te2_`, `lora_te3_`, `text_encoder.`) are left as they are.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from studio.pipeline.networks.lora_format import KIND_NAMES, LoraFormatError, ModuleWeights

ORIGINAL_PREFIXES = ("lora_unet_", "diffusion_model.", "lora_transformer_")

_FLUX_ONE_TO_ONE = {
    "img_attn_proj": "attn.to_out.0",
    "txt_attn_proj": "attn.to_add_out",
    "img_mlp_0": "ff.net.0.proj",
    "img_mlp_2": "ff.net.2",
    "txt_mlp_0": "ff_context.net.0.proj",
    "txt_mlp_2": "ff_context.net.2",
    "img_mod_lin": "norm1.linear",
    "txt_mod_lin": "norm1_context.linear",
}
_FLUX_SINGLE = {"linear2": "proj_out", "modulation_lin": "norm.linear"}
_FLUX_TOP = {
    "time_in_in_layer": "time_text_embed.timestep_embedder.linear_1",
    "time_in_out_layer": "time_text_embed.timestep_embedder.linear_2",
    "vector_in_in_layer": "time_text_embed.text_embedder.linear_1",
    "vector_in_out_layer": "time_text_embed.text_embedder.linear_2",
    "guidance_in_in_layer": "time_text_embed.guidance_embedder.linear_1",
    "guidance_in_out_layer": "time_text_embed.guidance_embedder.linear_2",
    "txt_in": "context_embedder",
    "img_in": "x_embedder",
    "final_layer_linear": "proj_out",
}
_SD3_X = {
    "attn_proj": "attn.to_out.0",
    "attn2_proj": "attn2.to_out.0",
    "mlp_fc1": "ff.net.0.proj",
    "mlp_fc2": "ff.net.2",
    "adaLN_modulation_1": "norm1.linear",
}
_SD3_CONTEXT = {
    "attn_proj": "attn.to_add_out",
    "mlp_fc1": "ff_context.net.0.proj",
    "mlp_fc2": "ff_context.net.2",
    "adaLN_modulation_1": "norm1_context.linear",
}
_SD3_TOP = {
    "x_embedder_proj": "pos_embed.proj",
    "context_embedder": "context_embedder",
    "t_embedder_mlp_0": "time_text_embed.timestep_embedder.linear_1",
    "t_embedder_mlp_2": "time_text_embed.timestep_embedder.linear_2",
    "y_embedder_mlp_0": "time_text_embed.text_embedder.linear_1",
    "y_embedder_mlp_2": "time_text_embed.text_embedder.linear_2",
    "final_layer_linear": "proj_out",
}
# the final norm's modulation is (shift, scale) in the original, (scale, shift) in diffusers
_SWAPPED = "final_layer_adaLN_modulation_1"
_QKV = ("to_q", "to_k", "to_v")
_ADDED_QKV = ("add_q_proj", "add_k_proj", "add_v_proj")


def rewrite_for_family(modules: Sequence[ModuleWeights], family: str, config: Any) -> list[ModuleWeights]:
    """`modules` with the original-layout keys of `family`'s transformer (`flux`, `sd3`,
    `z-image`) rewritten onto diffusers' modules (`transformer.<name>`), fused layers split.
    `config`: the transformer's config (the width the fused layers are cut at)."""
    family = "flux" if family == "flux-fill" else family  # the same transformer, a wider input
    if family not in ("flux", "sd3", "z-image"):
        return list(modules)
    width = _inner_width(config) if family in ("flux", "sd3") else 0
    out: list[ModuleWeights] = []
    for module in modules:
        path = _original_path(module.key)
        if path is None:
            out.append(module)
            continue
        if family == "flux":
            out += _flux(module, path, width)
        elif family == "sd3":
            out += _sd3(module, path, width, int(config.num_layers) - 1)
        else:
            out += _zimage(module, path)
    return out


def _inner_width(config: Any) -> int:
    return int(config.num_attention_heads) * int(config.attention_head_dim)


def _original_path(key: str) -> str | None:
    """The module path, underscored, of a key in an original-layout naming; None otherwise."""
    for prefix in ORIGINAL_PREFIXES:
        if key.startswith(prefix):
            return key[len(prefix) :].replace(".", "_")
    return None


def _named(module: ModuleWeights, name: str) -> ModuleWeights:
    return replace(module, key=f"transformer.{name}")


def _flux(module: ModuleWeights, path: str, width: int) -> list[ModuleWeights]:
    match = re.fullmatch(r"double_blocks_(\d+)_(img|txt)_attn_qkv", path)
    if match:
        block, stream = match.groups()
        names = _QKV if stream == "img" else _ADDED_QKV
        return _split(module, [f"transformer_blocks.{block}.attn.{name}" for name in names], None)
    match = re.fullmatch(r"double_blocks_(\d+)_(.+)", path)
    if match and match.group(2) in _FLUX_ONE_TO_ONE:
        return [_named(module, f"transformer_blocks.{match.group(1)}.{_FLUX_ONE_TO_ONE[match.group(2)]}")]
    match = re.fullmatch(r"single_blocks_(\d+)_linear1", path)
    if match:
        prefix = f"single_transformer_blocks.{match.group(1)}."
        names = [f"{prefix}attn.{name}" for name in _QKV] + [f"{prefix}proj_mlp"]
        return _split(module, names, (width, width, width))
    match = re.fullmatch(r"single_blocks_(\d+)_(.+)", path)
    if match and match.group(2) in _FLUX_SINGLE:
        return [_named(module, f"single_transformer_blocks.{match.group(1)}.{_FLUX_SINGLE[match.group(2)]}")]
    if path in _FLUX_TOP:
        return [_named(module, _FLUX_TOP[path])]
    if path == _SWAPPED:
        return [_swapped(module, "norm_out.linear")]
    return [module]  # unmatched: the patcher names it


def _sd3(module: ModuleWeights, path: str, width: int, last_block: int) -> list[ModuleWeights]:
    match = re.fullmatch(r"joint_blocks_(\d+)_(x|context)_block_(.+)", path)
    if match:
        block, stream, layer = match.groups()
        prefix = f"transformer_blocks.{block}."
        if layer in ("attn_qkv", "attn2_qkv"):
            attention = "attn2" if layer == "attn2_qkv" else "attn"
            names = _QKV if stream == "x" else _ADDED_QKV
            return _split(module, [f"{prefix}{attention}.{name}" for name in names], None)
        table = _SD3_X if stream == "x" else _SD3_CONTEXT
        if stream == "context" and layer == "adaLN_modulation_1" and int(block) == last_block:
            return [_swapped(module, prefix + table[layer])]  # the last block's is a final norm
        if layer in table:
            return [_named(module, prefix + table[layer])]
        return [module]
    if path in _SD3_TOP:
        return [_named(module, _SD3_TOP[path])]
    if path == _SWAPPED:
        return [_swapped(module, "norm_out.linear")]
    return [module]


def _zimage(module: ModuleWeights, path: str) -> list[ModuleWeights]:
    """Z-Image's trainers write diffusers' own path, underscored, with the original code's
    fused `attention_qkv` and `attention_out` where diffusers has `to_q/k/v` and `to_out.0`."""
    match = re.fullmatch(r"(.+)_attention_qkv", path)
    if match:
        prefix = match.group(1).replace("_", ".")
        prefix = re.sub(r"(noise|context)\.refiner", r"\1_refiner", prefix)
        return _split(module, [f"{prefix}.attention.{name}" for name in _QKV], None)
    path = re.sub(r"_attention_out$", "_attention_to_out_0", path)
    return [replace(module, key="lora_unet_" + path)]


def _split(module: ModuleWeights, names: list[str], sizes: tuple[int, ...] | None) -> list[ModuleWeights]:
    """One module per name, each with its rows of the fused layer's change: `sizes` the first
    parts' rows (the last takes the rest); None: equal parts."""
    import torch

    if module.kind not in ("lora", "full") or "mid" in module.tensors:
        kind = KIND_NAMES.get(module.kind, module.kind)
        raise LoraFormatError(
            f"module {module.key}: a {kind} change on a fused layer (it is {len(names)} layers in "
            "diffusers) cannot be split; only LoRA/LoCon and full (diff) modules can"
        )
    role = "up" if module.kind == "lora" else "diff"
    rows = int(module.tensors[role].shape[0])
    if sizes is None:
        if rows % len(names):
            raise LoraFormatError(
                f"module {module.key}: {rows} rows do not split into {len(names)} equal parts"
            )
        counts = [rows // len(names)] * len(names)
    else:
        counts = [*sizes, rows - sum(sizes)]
        if counts[-1] <= 0:
            raise LoraFormatError(f"module {module.key}: {rows} rows, fewer than the layer's {sum(sizes)}")
    pieces: list[dict[str, Any]] = [{} for _ in names]
    for name, tensor in module.tensors.items():
        if name in ("up", "diff", "diff_b"):
            for piece, part in zip(pieces, torch.split(tensor, counts, dim=0), strict=True):
                piece[name] = part.contiguous()
        else:
            for piece in pieces:
                piece[name] = tensor
    return [
        replace(module, key=f"transformer.{name}", tensors=piece)
        for name, piece in zip(names, pieces, strict=True)
    ]


def _swapped(module: ModuleWeights, name: str) -> ModuleWeights:
    """The module with its output rows' halves swapped (the final norm's shift/scale order)."""
    import torch

    tensors = dict(module.tensors)
    for role in ("up", "diff", "diff_b"):
        if role in tensors:
            first, second = tensors[role].chunk(2, dim=0)
            tensors[role] = torch.cat([second, first], dim=0)
    if module.kind not in ("lora", "full") or "mid" in tensors:
        raise LoraFormatError(
            f"module {module.key}: only LoRA/LoCon and full modules can patch the final norm"
        )
    return replace(module, key=f"transformer.{name}", tensors=tensors)
