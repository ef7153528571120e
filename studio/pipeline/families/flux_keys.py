"""Flux.1 transformer weights: Black Forest Labs' original layout <-> diffusers' layout.

diffusers' own converter (`convert_flux_transformer_checkpoint_to_diffusers`) fixes the model
width at 3072, Flux.1's: right for every released Flux.1 file, wrong for any narrower one (our
tiny test models). This is the same mapping with the width read from the weights, and its
inverse, so a Flux transformer round-trips exactly; a test checks it against diffusers'
converter at the real width. Tensors are only split, joined and reordered, never changed.
"""

from __future__ import annotations

from typing import Any

from studio.pipeline.families.spec import DENOISER_PREFIX

_PLAIN = {
    "time_text_embed.timestep_embedder.linear_1": "time_in.in_layer",
    "time_text_embed.timestep_embedder.linear_2": "time_in.out_layer",
    "time_text_embed.text_embedder.linear_1": "vector_in.in_layer",
    "time_text_embed.text_embedder.linear_2": "vector_in.out_layer",
    "time_text_embed.guidance_embedder.linear_1": "guidance_in.in_layer",
    "time_text_embed.guidance_embedder.linear_2": "guidance_in.out_layer",
    "context_embedder": "txt_in",
    "x_embedder": "img_in",
    "proj_out": "final_layer.linear",
}
_DOUBLE = {
    "norm1.linear": "img_mod.lin",
    "norm1_context.linear": "txt_mod.lin",
    "ff.net.0.proj": "img_mlp.0",
    "ff.net.2": "img_mlp.2",
    "ff_context.net.0.proj": "txt_mlp.0",
    "ff_context.net.2": "txt_mlp.2",
    "attn.to_out.0": "img_attn.proj",
    "attn.to_add_out": "txt_attn.proj",
}
_DOUBLE_NORMS = {
    "attn.norm_q.weight": "img_attn.norm.query_norm.scale",
    "attn.norm_k.weight": "img_attn.norm.key_norm.scale",
    "attn.norm_added_q.weight": "txt_attn.norm.query_norm.scale",
    "attn.norm_added_k.weight": "txt_attn.norm.key_norm.scale",
}
_SINGLE = {"norm.linear": "modulation.lin", "proj_out": "linear2"}
_SINGLE_NORMS = {
    "attn.norm_q.weight": "norm.query_norm.scale",
    "attn.norm_k.weight": "norm.key_norm.scale",
}


def _swap_halves(tensor: Any) -> Any:
    """(shift, scale) <-> (scale, shift): the final norm's order differs between the two."""
    import torch

    first, second = tensor.chunk(2, dim=0)
    return torch.cat([second, first], dim=0)


def _blocks(state: dict[str, Any], prefix: str) -> list[int]:
    return sorted({int(key[len(prefix) :].split(".", 1)[0]) for key in state if key.startswith(prefix)})


def is_diffusers_layout(state: dict[str, Any]) -> bool:
    return any(key.startswith("single_transformer_blocks.") for key in state)


def flux_to_diffusers(original: dict[str, Any]) -> dict[str, Any]:
    """A BFL-layout Flux transformer state dict (with or without `model.diffusion_model.`) in
    diffusers' layout."""
    import torch

    state = {key.removeprefix(DENOISER_PREFIX): value for key, value in original.items()}
    if is_diffusers_layout(state):
        return state
    width = state["txt_in.weight"].shape[0]
    out: dict[str, Any] = {}
    for new, old in _PLAIN.items():
        for suffix in ("weight", "bias"):
            if f"{old}.{suffix}" in state:
                out[f"{new}.{suffix}"] = state[f"{old}.{suffix}"]
    for suffix in ("weight", "bias"):
        out[f"norm_out.linear.{suffix}"] = _swap_halves(state[f"final_layer.adaLN_modulation.1.{suffix}"])
    for i in _blocks(state, "double_blocks."):
        old, new = f"double_blocks.{i}.", f"transformer_blocks.{i}."
        for suffix in ("weight", "bias"):
            for stream, names in (
                ("img_attn", ("to_q", "to_k", "to_v")),
                ("txt_attn", ("add_q_proj", "add_k_proj", "add_v_proj")),
            ):
                for name, part in zip(
                    names, torch.chunk(state[f"{old}{stream}.qkv.{suffix}"], 3, dim=0), strict=True
                ):
                    out[f"{new}attn.{name}.{suffix}"] = part
            for new_name, old_name in _DOUBLE.items():
                out[f"{new}{new_name}.{suffix}"] = state[f"{old}{old_name}.{suffix}"]
        for new_name, old_name in _DOUBLE_NORMS.items():
            out[f"{new}{new_name}"] = state[f"{old}{old_name}"]
    for i in _blocks(state, "single_blocks."):
        old, new = f"single_blocks.{i}.", f"single_transformer_blocks.{i}."
        for suffix in ("weight", "bias"):
            fused = state[f"{old}linear1.{suffix}"]
            q, k, v, mlp = torch.split(fused, (width, width, width, fused.shape[0] - 3 * width), dim=0)
            for name, part in (("attn.to_q", q), ("attn.to_k", k), ("attn.to_v", v), ("proj_mlp", mlp)):
                out[f"{new}{name}.{suffix}"] = part
            for new_name, old_name in _SINGLE.items():
                out[f"{new}{new_name}.{suffix}"] = state[f"{old}{old_name}.{suffix}"]
        for new_name, old_name in _SINGLE_NORMS.items():
            out[f"{new}{new_name}"] = state[f"{old}{old_name}"]
    return out


def flux_to_original(state: dict[str, Any]) -> dict[str, Any]:
    """The inverse of `flux_to_diffusers` (no prefix): what BFL's `flux1-dev.safetensors` holds."""
    import torch

    out: dict[str, Any] = {}
    for new, old in _PLAIN.items():
        for suffix in ("weight", "bias"):
            if f"{new}.{suffix}" in state:
                out[f"{old}.{suffix}"] = state[f"{new}.{suffix}"]
    for suffix in ("weight", "bias"):
        out[f"final_layer.adaLN_modulation.1.{suffix}"] = _swap_halves(state[f"norm_out.linear.{suffix}"])
    for i in _blocks(state, "transformer_blocks."):
        new, old = f"transformer_blocks.{i}.", f"double_blocks.{i}."
        for suffix in ("weight", "bias"):
            for stream, names in (
                ("img_attn", ("to_q", "to_k", "to_v")),
                ("txt_attn", ("add_q_proj", "add_k_proj", "add_v_proj")),
            ):
                out[f"{old}{stream}.qkv.{suffix}"] = torch.cat(
                    [state[f"{new}attn.{name}.{suffix}"] for name in names]
                )
            for new_name, old_name in _DOUBLE.items():
                out[f"{old}{old_name}.{suffix}"] = state[f"{new}{new_name}.{suffix}"]
        for new_name, old_name in _DOUBLE_NORMS.items():
            out[f"{old}{old_name}"] = state[f"{new}{new_name}"]
    for i in _blocks(state, "single_transformer_blocks."):
        new, old = f"single_transformer_blocks.{i}.", f"single_blocks.{i}."
        for suffix in ("weight", "bias"):
            names = ("attn.to_q", "attn.to_k", "attn.to_v", "proj_mlp")
            out[f"{old}linear1.{suffix}"] = torch.cat([state[f"{new}{name}.{suffix}"] for name in names])
            for new_name, old_name in _SINGLE.items():
                out[f"{old}{old_name}.{suffix}"] = state[f"{new}{new_name}.{suffix}"]
        for new_name, old_name in _SINGLE_NORMS.items():
            out[f"{old}{old_name}"] = state[f"{new}{new_name}"]
    return out
