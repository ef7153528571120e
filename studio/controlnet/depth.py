"""Depth preprocessors on transformers' architectures, fed the original checkpoints that
sd-webui-controlnet downloads: each file's layer names are mapped onto the transformers model in
memory when it is read (nothing is converted on disk, no timm or torchvision needed).

- `depth_anything` (`depth_anything/depth_anything_vitl14.pth`): Depth Anything v1, a DINOv2
  ViT + DPT head (`DepthAnythingForDepthEstimation`). The size (ViT-S/B/L) is read from the file.
  The image is resized so both sides are >= 518 and multiples of 14 (bicubic), ImageNet-normalised;
  the prediction comes back to the image's size and is stretched to 0..255.
- `depth_midas` (`midas/dpt_hybrid-midas-501f0c75.pt`): MiDaS v3 DPT-Hybrid (a BiT ResNet-50
  stem + ViT-B/16, `DPTForDepthEstimation` with `is_hybrid`), run at the image's size padded to
  multiples of 64 with input in [-1, 1], the prediction stretched to 0..255 (the extension's
  MidasDetector).

Each mapping is a table of (file name, model name) pairs built from the model's shape, so the
same table checks a file both ways: every key of the file must map, every weight of the model must
be filled (a strict load).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


# ---- Depth Anything ------------------------------------------------------------------------


def _anything_shape(state: dict[str, Any]) -> dict[str, Any]:
    hidden = int(state["pretrained.pos_embed"].shape[-1])
    layers = 1 + max(int(key.split(".")[2]) for key in state if key.startswith("pretrained.blocks."))
    return {
        "hidden": hidden,
        "layers": layers,
        "intermediate": int(state["pretrained.blocks.0.mlp.fc1.weight"].shape[0]),
        "grid": round(math.sqrt(state["pretrained.pos_embed"].shape[1] - 1)),
        "features": int(state["depth_head.scratch.layer1_rn.weight"].shape[0]),
        "neck": [int(state[f"depth_head.projects.{i}.weight"].shape[0]) for i in range(4)],
        "head": int(state["depth_head.scratch.output_conv2.0.weight"].shape[0]),
    }


def depth_anything_network(state: dict[str, Any]) -> Any:
    """DepthAnythingForDepthEstimation shaped as the file (hidden size, depth, head widths)."""
    from transformers import DepthAnythingConfig, DepthAnythingForDepthEstimation, Dinov2Config

    shape = _anything_shape(state)
    layers = shape["layers"]
    backbone = Dinov2Config(
        hidden_size=shape["hidden"],
        num_hidden_layers=layers,
        num_attention_heads=max(1, shape["hidden"] // 64),  # ViT-S/B/L: 6/12/16 heads of 64
        mlp_ratio=shape["intermediate"] // shape["hidden"],
        patch_size=14,
        image_size=shape["grid"] * 14,
        out_indices=[layers - 3, layers - 2, layers - 1, layers],  # the last four blocks
        apply_layernorm=True,
        reshape_hidden_states=False,
    )
    config = DepthAnythingConfig(
        backbone_config=backbone,
        reassemble_hidden_size=shape["hidden"],
        patch_size=14,
        fusion_hidden_size=shape["features"],
        neck_hidden_sizes=shape["neck"],
        head_hidden_size=shape["head"],
    )
    return DepthAnythingForDepthEstimation(config)


def depth_anything_pairs(layers: int) -> list[tuple[str, str]]:
    """(file key, model key) for everything but the fused qkv (split by `_split_qkv`)."""
    pairs = [
        ("pretrained.cls_token", "backbone.embeddings.cls_token"),
        ("pretrained.mask_token", "backbone.embeddings.mask_token"),
        ("pretrained.pos_embed", "backbone.embeddings.position_embeddings"),
    ]
    params = ("weight", "bias")
    pairs += [
        (f"pretrained.patch_embed.proj.{p}", f"backbone.embeddings.patch_embeddings.projection.{p}")
        for p in params
    ]
    for i in range(layers):
        source, target = f"pretrained.blocks.{i}", f"backbone.encoder.layer.{i}"
        pairs += [(f"{source}.ls1.gamma", f"{target}.layer_scale1.lambda1")]
        pairs += [(f"{source}.ls2.gamma", f"{target}.layer_scale2.lambda1")]
        for p in params:
            pairs += [
                (f"{source}.{name}.{p}", f"{target}.{name}.{p}")
                for name in ("norm1", "norm2", "mlp.fc1", "mlp.fc2")
            ]
            pairs += [(f"{source}.attn.proj.{p}", f"{target}.attention.o_proj.{p}")]
    pairs += [(f"pretrained.norm.{p}", f"backbone.layernorm.{p}") for p in params]
    for i in range(4):
        pairs += [
            (f"depth_head.projects.{i}.{p}", f"neck.reassemble_stage.layers.{i}.projection.{p}")
            for p in params
        ]
        if i != 2:  # the third level keeps its size (no resize layer)
            pairs += [
                (f"depth_head.resize_layers.{i}.{p}", f"neck.reassemble_stage.layers.{i}.resize.{p}")
                for p in params
            ]
        pairs += [(f"depth_head.scratch.layer{i + 1}_rn.weight", f"neck.convs.{i}.weight")]
    pairs += _fusion_pairs("depth_head.scratch", "neck.fusion_stage")
    head = (("output_conv1", "conv1"), ("output_conv2.0", "conv2"), ("output_conv2.2", "conv3"))
    pairs += [(f"depth_head.scratch.{a}.{p}", f"head.{b}.{p}") for a, b in head for p in params]
    return pairs


def _fusion_pairs(source: str, target: str) -> list[tuple[str, str]]:
    """DPT's refinenet1..4 are the fusion layers 3..0."""
    pairs = []
    for i in range(1, 5):
        a, b = f"{source}.refinenet{i}", f"{target}.layers.{4 - i}"
        for p in ("weight", "bias"):
            pairs.append((f"{a}.out_conv.{p}", f"{b}.projection.{p}"))
            for unit in (1, 2):
                for conv in (1, 2):
                    pairs.append(
                        (
                            f"{a}.resConfUnit{unit}.conv{conv}.{p}",
                            f"{b}.residual_layer{unit}.convolution{conv}.{p}",
                        )
                    )
    return pairs


def _split_qkv(
    state: dict[str, Any], source: str, target: str, hidden: int, names: tuple[str, ...]
) -> dict[str, Any]:
    """The fused `attn.qkv` projection split into the model's three (`names`, in q, k, v order)."""
    out = {}
    for p in ("weight", "bias"):
        fused = state[f"{source}.attn.qkv.{p}"]
        for index, name in enumerate(names):
            out[f"{target}.{name}.{p}"] = fused[index * hidden : (index + 1) * hidden]
    return out


DINOV2_QKV = ("attention.q_proj", "attention.k_proj", "attention.v_proj")


def depth_anything_state(state: dict[str, Any]) -> dict[str, Any]:
    """The original checkpoint's keys onto DepthAnythingForDepthEstimation's; a key of neither
    is kept so the strict load names it."""
    shape = _anything_shape(state)
    pairs = depth_anything_pairs(shape["layers"])
    mapped = {target: state[source] for source, target in pairs if source in state}
    for i in range(shape["layers"]):
        if f"pretrained.blocks.{i}.attn.qkv.weight" in state:
            source, target = f"pretrained.blocks.{i}", f"backbone.encoder.layer.{i}"
            mapped |= _split_qkv(state, source, target, shape["hidden"], DINOV2_QKV)
    known = {source for source, _ in pairs} | {
        f"pretrained.blocks.{i}.attn.qkv.{p}" for i in range(shape["layers"]) for p in ("weight", "bias")
    }
    return mapped | {key: value for key, value in state.items() if key not in known}


def _stretch(depth: np.ndarray) -> Any:
    from PIL import Image

    low, high = float(depth.min()), float(depth.max())
    scaled = (depth - low) / (high - low) if high > low else np.zeros_like(depth)
    return Image.fromarray((scaled * 255.0).clip(0, 255).astype(np.uint8)).convert("RGB")


def run_depth_anything(network: Any, image: Any) -> Any:
    import cv2
    import torch

    rgb = np.asarray(image.convert("RGB"), dtype=np.float32) / 255.0
    height, width = rgb.shape[:2]
    scale = max(518 / height, 518 / width)  # both sides at least 518 ...

    def multiple(x: float) -> int:  # ... and multiples of 14
        y = round(x / 14) * 14
        return int(y if y >= 518 else math.ceil(x / 14) * 14)

    resized = cv2.resize(
        rgb, (multiple(width * scale), multiple(height * scale)), interpolation=cv2.INTER_CUBIC
    )
    normalised = (resized - np.array(IMAGENET_MEAN, np.float32)) / np.array(IMAGENET_STD, np.float32)
    tensor = torch.from_numpy(np.ascontiguousarray(normalised.transpose(2, 0, 1)[None]))
    with torch.no_grad():
        depth = network(pixel_values=tensor).predicted_depth[:, None]
        depth = torch.nn.functional.interpolate(depth, (height, width), mode="bilinear", align_corners=False)
    return _stretch(depth[0, 0].numpy())
