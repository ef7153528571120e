"""Tiny LoRA / LyCORIS / embedding files for the tiny model, in the formats people download.

Each writer takes the loaded tiny pipeline (for its layer names and shapes) and a seed, and
writes real files: kohya/A1111 (`lora_unet_*`, `lora_te_*`, with `alpha`), LoCon (3x3 convs
too), diffusers/PEFT (`unet.*.lora_A.weight` + diffusers' adapter metadata), the original LDM
block names, LyCORIS LoHa, LoKr and full (diff), and textual-inversion embeddings.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import save_file

ATTENTION_PARTS = ("attn1", "attn2", "ff.net", "proj_in", "proj_out", "self_attn", "mlp")


def targets(pipe: Any, convs: bool = False, te: bool = True, unet: bool = True) -> dict[str, tuple[str, Any]]:
    """kohya key -> (dotted name with component, layer) for the layers a LoRA patches: attention,
    feed-forward and projections (plus every 3x3 conv of the UNet's resnets when `convs`)."""
    found: dict[str, tuple[str, Any]] = {}
    components = [("unet", "lora_unet_", pipe.unet)] if unet else []
    if te:
        components.append(("text_encoder", "lora_te_", pipe.text_encoder))
    for component, prefix, model in components:
        for name, layer in model.named_modules():
            if not isinstance(layer, (torch.nn.Linear, torch.nn.Conv2d)):
                continue
            wanted = any(part in name for part in ATTENTION_PARTS)
            if convs and component == "unet" and "resnets" in name and name.endswith(("conv1", "conv2")):
                wanted = True
            if wanted:
                kohya = name if component == "unet" else "text_model." + name
                found[prefix + kohya.replace(".", "_")] = (f"{component}.{name}", layer)
    return found


def _random(generator: torch.Generator, *shape: int, scale: float = 1.0) -> torch.Tensor:
    return torch.randn(*shape, generator=generator) * scale


def kohya_state(
    pipe: Any, seed: int, rank: int = 4, alpha: float = 2.0, **kinds: Any
) -> dict[str, torch.Tensor]:
    """A kohya LoRA (LoCon when convs=True) state dict with up and down both random (a trained
    LoRA's shape, strong enough to change the tiny model's picture)."""
    generator = torch.Generator().manual_seed(seed)
    state = {}
    for key, (_name, layer) in targets(pipe, **kinds).items():
        out_features, in_features = layer.weight.shape[:2]
        kernel = tuple(layer.weight.shape[2:])
        state[f"{key}.lora_down.weight"] = _random(generator, rank, in_features, *kernel, scale=0.3)
        up_shape = (out_features, rank, 1, 1) if kernel else (out_features, rank)
        state[f"{key}.lora_up.weight"] = _random(generator, *up_shape, scale=0.3)
        state[f"{key}.alpha"] = torch.tensor(alpha)
    return state


def write_kohya(
    path: Path, pipe: Any, seed: int, metadata: dict[str, str] | None = None, **kinds: Any
) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    save_file(kohya_state(pipe, seed, **kinds), str(path), metadata=metadata)
    return path


def write_peft(path: Path, pipe: Any, seed: int, rank: int = 4, alpha: float = 8.0) -> Path:
    """diffusers' own layout: `unet.<module>.lora_A.weight` / `lora_B.weight`, with each
    component's PEFT LoraConfig (`r`, `lora_alpha`, targets) in `lora_adapter_metadata`, as
    `save_lora_weights(..., unet_lora_adapter_metadata=...)` writes it."""
    from peft import LoraConfig

    generator = torch.Generator().manual_seed(seed)
    state = {}
    modules: dict[str, list[str]] = {"unet": [], "text_encoder": []}
    for _key, (name, layer) in targets(pipe).items():
        if isinstance(layer, torch.nn.Conv2d):
            continue
        out_features, in_features = layer.weight.shape
        state[f"{name}.lora_A.weight"] = _random(generator, rank, in_features, scale=0.3)
        state[f"{name}.lora_B.weight"] = _random(generator, out_features, rank, scale=0.3)
        component, _, module = name.partition(".")
        modules[component].append(module)
    config: dict[str, Any] = {}
    for component, names in modules.items():
        settings = LoraConfig(r=rank, lora_alpha=alpha, target_modules=names).to_dict()
        for key, value in settings.items():
            config[f"{component}.{key}"] = sorted(value) if isinstance(value, set) else value
    path.parent.mkdir(parents=True, exist_ok=True)
    metadata = {"lora_adapter_metadata": json.dumps(config, sort_keys=True, default=str), "format": "pt"}
    save_file(state, str(path), metadata=metadata)
    return path


def ldm_name(kohya_key: str) -> str | None:
    """The tiny UNet's attention layers under the original (LDM) block names, derived by hand
    from its layout (1 layer per block; down: plain, cross-attention; up: cross-attention,
    plain): input_blocks 3 holds down block 1's attention, middle_block 1 the middle one,
    output_blocks 0 and 1 up block 0's two attentions."""
    rules = (
        ("lora_unet_down_blocks_1_attentions_0_", "lora_unet_input_blocks_3_1_"),
        ("lora_unet_mid_block_attentions_0_", "lora_unet_middle_block_1_"),
        ("lora_unet_up_blocks_0_attentions_0_", "lora_unet_output_blocks_0_1_"),
        ("lora_unet_up_blocks_0_attentions_1_", "lora_unet_output_blocks_1_1_"),
    )
    for diffusers, ldm in rules:
        if kohya_key.startswith(diffusers):
            return ldm + kohya_key[len(diffusers) :]
    return None


def write_ldm(path: Path, pipe: Any, seed: int) -> tuple[Path, dict[str, torch.Tensor]]:
    """The UNet part of a kohya LoRA, its keys under LDM names; returns the diffusers-named
    state dict too (the same weights), to compare against."""
    state = kohya_state(pipe, seed, te=False)
    renamed = {}
    for key, tensor in state.items():
        module, _, suffix = key.partition(".")
        ldm = ldm_name(module)
        if ldm is not None:
            renamed[f"{ldm}.{suffix}"] = tensor
    kept = {key: tensor for key, tensor in state.items() if ldm_name(key.partition(".")[0]) is not None}
    path.parent.mkdir(parents=True, exist_ok=True)
    save_file(renamed, str(path))
    return path, kept


def write_loha(path: Path, pipe: Any, seed: int, rank: int = 4, alpha: float = 2.0) -> Path:
    generator = torch.Generator().manual_seed(seed)
    state = {}
    for key, (_name, layer) in targets(pipe, convs=True).items():
        out_features = layer.weight.shape[0]
        in_size = layer.weight[0].numel()
        for n in (1, 2):
            state[f"{key}.hada_w{n}_a"] = _random(generator, out_features, rank, scale=0.5)
            state[f"{key}.hada_w{n}_b"] = _random(generator, rank, in_size, scale=0.5)
        state[f"{key}.alpha"] = torch.tensor(alpha)
    path.parent.mkdir(parents=True, exist_ok=True)
    save_file(state, str(path))
    return path


def write_lokr(path: Path, pipe: Any, seed: int, rank: int = 2, alpha: float = 2.0) -> Path:
    """LoKr with a full w1 (2x2) and a low-rank w2 (a_ @ b_), LyCORIS' usual factorisation."""
    generator = torch.Generator().manual_seed(seed)
    state = {}
    for key, (_name, layer) in targets(pipe).items():
        out_features, in_features = layer.weight.shape[:2]
        if out_features % 2 or in_features % 2 or layer.weight.dim() != 2:
            continue
        state[f"{key}.lokr_w1"] = _random(generator, 2, 2)
        state[f"{key}.lokr_w2_a"] = _random(generator, out_features // 2, rank, scale=0.5)
        state[f"{key}.lokr_w2_b"] = _random(generator, rank, in_features // 2, scale=0.5)
        state[f"{key}.alpha"] = torch.tensor(alpha)
    path.parent.mkdir(parents=True, exist_ok=True)
    save_file(state, str(path))
    return path


def write_full(path: Path, pipe: Any, seed: int) -> Path:
    generator = torch.Generator().manual_seed(seed)
    state = {}
    for key, (_name, layer) in targets(pipe).items():
        state[f"{key}.diff"] = _random(generator, *layer.weight.shape, scale=0.05)
        if layer.bias is not None:
            state[f"{key}.diff_b"] = _random(generator, *layer.bias.shape, scale=0.05)
    path.parent.mkdir(parents=True, exist_ok=True)
    save_file(state, str(path))
    return path


def write_embedding(path: Path, vectors: torch.Tensor, layout: str = "emb_params") -> Path:
    """An embedding file: `.safetensors` with `emb_params` or `string_to_param.*`, or an A1111
    `.pt` (`string_to_param` dict, step and checkpoint names) when `layout="a1111-pt"`."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if layout == "a1111-pt":
        torch.save(
            {
                "string_to_token": {"*": 265},
                "string_to_param": {"*": vectors},
                "name": path.stem,
                "step": 1500,
                "sd_checkpoint": "abcdef0123",
                "sd_checkpoint_name": "tiny",
            },
            str(path),
        )
    elif layout == "string_to_param":
        save_file({"string_to_param.*": vectors.contiguous()}, str(path))
    else:
        save_file({"emb_params": vectors.contiguous()}, str(path))
    return path
