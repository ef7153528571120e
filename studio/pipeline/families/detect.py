"""Recognise what a `.safetensors` file holds from its keys (and a few shapes), without torch.

A safetensors file starts with an 8-byte length and a JSON header naming every tensor with its
dtype and shape, so reading what a 20 GB checkpoint is costs a few milliseconds and no weights.

- `detect_architecture(shapes)`: the architecture of a checkpoint (an all-in-one file, a UNet
  or transformer alone, in the original or the diffusers layout), one of
  `spec.ARCHITECTURES`, `spec.UNSUPPORTED` or "unknown".
- `companion_kind(shapes)`: what a separate text encoder or VAE file is (clip, t5, qwen3, vae)
  and its width, so it can fill the part of a "transformer only" checkpoint.
"""

from __future__ import annotations

import json
import struct
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from studio.pipeline.families.spec import DENOISER_PREFIX

Shapes = Mapping[str, Sequence[int]]
FP8_DTYPES = ("F8_E4M3", "F8_E5M2")
MAX_HEADER = 100 * 1024 * 1024


class HeaderError(ValueError):
    pass


@dataclass(frozen=True)
class Header:
    shapes: dict[str, tuple[int, ...]]
    dtypes: dict[str, str]

    @property
    def fp8(self) -> bool:
        """Most weights are 8-bit floats (fp8 files need their own loader; diffusers' does not scale them)."""
        values = list(self.dtypes.values())
        return bool(values) and sum(dtype in FP8_DTYPES for dtype in values) * 2 > len(values)


def read_header(path: Path) -> Header:
    """The tensor names, shapes and dtypes of a `.safetensors` file (reads the header only)."""
    with Path(path).open("rb") as handle:
        raw = handle.read(8)
        if len(raw) != 8:
            raise HeaderError(f"{path.name}: not a safetensors file (shorter than 8 bytes)")
        (length,) = struct.unpack("<Q", raw)
        if length > MAX_HEADER:
            raise HeaderError(f"{path.name}: not a safetensors file (header length {length})")
        try:
            header = json.loads(handle.read(length))
        except ValueError as error:
            raise HeaderError(f"{path.name}: not a safetensors file ({error})") from error
    header.pop("__metadata__", None)
    return Header(
        {key: tuple(value["shape"]) for key, value in header.items()},
        {key: value["dtype"] for key, value in header.items()},
    )


def _denoiser_keys(shapes: Shapes) -> dict[str, Sequence[int]]:
    """The keys of the UNet / transformer: those under `model.diffusion_model.` (prefix removed),
    or all keys of a file that has no such prefix (a denoiser saved alone)."""
    prefixed = {k[len(DENOISER_PREFIX) :]: v for k, v in shapes.items() if k.startswith(DENOISER_PREFIX)}
    return prefixed or dict(shapes)


def _has(keys: Iterable[str], *needles: str) -> bool:
    return any(any(key.startswith(needle) for needle in needles) for key in keys)


def _count(keys: Iterable[str], prefix: str) -> int:
    return len({key[len(prefix) :].split(".", 1)[0] for key in keys if key.startswith(prefix)})


def detect_architecture(shapes: Shapes) -> str:
    """The architecture name of a checkpoint from its tensor names and shapes."""
    keys = list(shapes)
    if _has(keys, "conditioner.embedders.1.model."):
        return "sdxl"
    if _has(keys, "conditioner.embedders.0.model."):
        return "sdxl-refiner"
    if _has(keys, "cond_stage_model.model."):
        return "sd2"
    if _has(keys, "cond_stage_model.transformer."):
        return "sd15"
    denoiser = _denoiser_keys(shapes)
    names = list(denoiser)
    # SD 3 / 3.5 MMDiT: original ("joint_blocks") or diffusers layout
    if _has(names, "joint_blocks.0.") or (
        "pos_embed.proj.weight" in denoiser and _has(names, "transformer_blocks.0.attn.add_q_proj")
    ):
        if _has(names, "joint_blocks.") and any(".x_block.attn2." in key for key in names):
            return "sd35-medium"
        if any(".attn2.to_q." in key for key in names):
            return "sd35-medium"
        layers = _count(names, "joint_blocks.") or _count(names, "transformer_blocks.")
        return "sd35-large" if layers >= 38 else "sd3-medium"
    # Flux.2 / Chroma / Flux.1 (original "double_blocks" or diffusers layout)
    if _has(names, "single_stream_modulation."):
        return "flux2"
    if _has(names, "distilled_guidance_layer."):
        return "chroma"
    if _has(names, "double_blocks.0.") or _has(names, "single_transformer_blocks.0.proj_mlp"):
        image_in = denoiser.get("img_in.weight") or denoiser.get("x_embedder.weight")
        if image_in is not None and len(image_in) == 2 and image_in[1] == 384:
            return "flux-fill"
        guidance = _has(names, "guidance_in.", "time_text_embed.guidance_embedder.")
        return "flux-dev" if guidance else "flux-schnell"
    # Z-Image (original or diffusers layout)
    if "layers.0.adaLN_modulation.0.weight" in denoiser or _has(names, "all_x_embedder."):
        return "z-image-turbo"
    # UNets alone: original (LDM) or diffusers layout
    if "input_blocks.0.0.weight" in denoiser or (
        "conv_in.weight" in denoiser and _has(names, "down_blocks.")
    ):
        added = denoiser.get("label_emb.0.0.weight") or denoiser.get("add_embedding.linear_1.weight")
        if added is not None:
            return "sdxl-refiner" if added[-1] == 2560 else "sdxl"
        context = next((shape for key, shape in denoiser.items() if key.endswith("attn2.to_k.weight")), None)
        return "sd2" if context is not None and context[-1] == 1024 else "sd15"
    return "unknown"


@dataclass(frozen=True)
class CompanionKind:
    kind: str  # clip | t5 | qwen3 | vae (spec's part kinds)
    width: int  # hidden size (text encoders) or latent channels (VAE)
    layers: int = 0


def companion_kind(shapes: Shapes) -> CompanionKind | None:
    """What a separate text encoder or VAE file is, or None when it is neither."""
    names = list(shapes)
    for position in (
        "text_model.embeddings.position_embedding.weight",
        "embeddings.position_embedding.weight",
    ):
        if position in shapes:
            prefix = "text_model.encoder.layers." if position.startswith("text_model.") else "encoder.layers."
            return CompanionKind("clip", int(shapes[position][-1]), _count(names, prefix))
    if "shared.weight" in shapes and _has(names, "encoder.block.0."):
        return CompanionKind("t5", int(shapes["shared.weight"][-1]), _count(names, "encoder.block."))
    for prefix in ("model.", ""):
        embed = shapes.get(f"{prefix}embed_tokens.weight")
        if embed is not None and f"{prefix}layers.0.self_attn.q_norm.weight" in shapes:
            return CompanionKind("qwen3", int(embed[-1]), _count(names, f"{prefix}layers."))
    for prefix in ("", "first_stage_model.", "vae."):
        conv_out = shapes.get(f"{prefix}encoder.conv_out.weight")
        if conv_out is not None and f"{prefix}decoder.conv_in.weight" in shapes:
            # the encoder outputs mean and log-variance: twice the latent channels
            return CompanionKind("vae", int(conv_out[0]) // 2)
    return None
