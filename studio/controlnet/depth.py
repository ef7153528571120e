"""Depth preprocessors on transformers' architectures, fed the original checkpoints that
sd-webui-controlnet downloads: each file's layer names are mapped onto the transformers model in
memory when it is read (nothing is converted on disk, no timm or torchvision needed).

- `depth_anything` (`depth_anything/depth_anything_vitl14.pth`): Depth Anything v1, a DINOv2
  ViT + DPT head (`DepthAnythingForDepthEstimation`). The size (ViT-S/B/L) is read from the file.
  The image is resized so both sides are >= 518 and multiples of 14 (bicubic), its channels
  swapped as the extension swaps them (cv2 BGR2RGB on an RGB image), ImageNet-normalised;
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

import functools
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

    # the extension hands the network its RGB image through cv2's BGR2RGB: the channels arrive
    # swapped, and so they do here, so the maps match the extension's
    rgb = np.asarray(image.convert("RGB"), dtype=np.float32)[:, :, ::-1] / 255.0
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


# ---- MiDaS DPT-Hybrid ----------------------------------------------------------------------

MIDAS = "pretrained.model"
BIT = f"{MIDAS}.patch_embed.backbone"
DPT_QKV = ("attention.attention.query", "attention.attention.key", "attention.attention.value")
MIDAS_UNUSED = (f"{MIDAS}.head.weight", f"{MIDAS}.head.bias")  # timm's ImageNet classifier


def _midas_shape(state: dict[str, Any]) -> dict[str, Any]:
    def count(prefix: str) -> int:
        numbers = {int(key[len(prefix) :].split(".")[0]) for key in state if key.startswith(prefix)}
        return 1 + max(numbers) if numbers else 0

    stages = count(f"{BIT}.stages.")
    return {
        "hidden": int(state[f"{MIDAS}.pos_embed"].shape[-1]),
        "layers": count(f"{MIDAS}.blocks."),
        "intermediate": int(state[f"{MIDAS}.blocks.0.mlp.fc1.weight"].shape[0]),
        "grid": round(math.sqrt(state[f"{MIDAS}.pos_embed"].shape[1] - 1)),
        "stem": int(state[f"{BIT}.stem.conv.weight"].shape[0]),
        "depths": [count(f"{BIT}.stages.{s}.blocks.") for s in range(stages)],
        "widths": [int(state[f"{BIT}.stages.{s}.blocks.0.conv3.weight"].shape[0]) for s in range(stages)],
        "neck": [int(state[f"scratch.layer{i}_rn.weight"].shape[1]) for i in range(1, 5)],
        "features": int(state["scratch.layer1_rn.weight"].shape[0]),
    }


def midas_network(state: dict[str, Any]) -> Any:
    """DPTForDepthEstimation (hybrid: BiT stem + ViT) shaped as the file."""
    from transformers import BitConfig, DPTConfig, DPTForDepthEstimation

    shape = _midas_shape(state)
    layers, widths = shape["layers"], shape["widths"]
    out_indices = (
        [2, 5, 8, 11] if layers == 12 else [layers // 4 - 1, layers // 2 - 1, 3 * layers // 4 - 1, layers - 1]
    )
    backbone = BitConfig(
        embedding_size=shape["stem"],
        hidden_sizes=[*widths, widths[-1] * 2],
        depths=shape["depths"],
        global_padding="same",
        layer_type="bottleneck",
        out_features=[f"stage{s + 1}" for s in range(len(widths))],
        embedding_dynamic_padding=True,
    )
    config = DPTConfig(
        is_hybrid=True,
        backbone_config=backbone,
        backbone_featmap_shape=[1, widths[-1], shape["grid"], shape["grid"]],
        hidden_size=shape["hidden"],
        num_hidden_layers=layers,
        num_attention_heads=max(1, shape["hidden"] // 64),
        intermediate_size=shape["intermediate"],
        image_size=shape["grid"] * 16,
        patch_size=16,
        backbone_out_indices=out_indices,
        neck_hidden_sizes=shape["neck"],
        fusion_hidden_size=shape["features"],
        reassemble_factors=[1, 1, 1, 0.5],
        readout_type="project",
        use_batch_norm_in_fusion_residual=False,
    )
    network = DPTForDepthEstimation(config)
    # MiDaS runs at the image's own size: the position embeddings are resized to its grid
    # (DPTModel does not pass this flag down to the hybrid embeddings itself)
    embeddings = network.dpt.embeddings
    embeddings.forward = functools.partial(embeddings.forward, interpolate_pos_encoding=True)
    return network


def midas_pairs(layers: int, depths: list[int]) -> list[tuple[str, str]]:
    """(file key, model key) for MiDaS v3 DPT-Hybrid, but the fused qkv."""
    params = ("weight", "bias")
    bit = "dpt.embeddings.backbone.bit"
    pairs = [
        (f"{MIDAS}.cls_token", "dpt.embeddings.cls_token"),
        (f"{MIDAS}.pos_embed", "dpt.embeddings.position_embeddings"),
        (f"{BIT}.stem.conv.weight", f"{bit}.embedder.convolution.weight"),
    ]
    pairs += [(f"{BIT}.stem.norm.{p}", f"{bit}.embedder.norm.{p}") for p in params]
    for s, blocks in enumerate(depths):
        for b in range(blocks):
            source, target = f"{BIT}.stages.{s}.blocks.{b}", f"{bit}.encoder.stages.{s}.layers.{b}"
            parts = ("1", "2", "3") if b else ("1", "2", "3", "downsample")
            for part in parts:
                conv, norm = (
                    ("downsample.conv", "downsample.norm")
                    if part == "downsample"
                    else (f"conv{part}", f"norm{part}")
                )
                pairs += [(f"{source}.{conv}.weight", f"{target}.{conv}.weight")]
                pairs += [(f"{source}.{norm}.{p}", f"{target}.{norm}.{p}") for p in params]
    pairs += [(f"{MIDAS}.patch_embed.proj.{p}", f"dpt.embeddings.projection.{p}") for p in params]
    vit = (
        ("norm1", "layernorm_before"), ("norm2", "layernorm_after"), ("attn.proj", "attention.output.dense"),
        ("mlp.fc1", "intermediate.dense"), ("mlp.fc2", "output.dense"),
    )  # fmt: skip
    for i in range(layers):
        pairs += [
            (f"{MIDAS}.blocks.{i}.{a}.{p}", f"dpt.encoder.layer.{i}.{b}.{p}") for a, b in vit for p in params
        ]
    pairs += [(f"{MIDAS}.norm.{p}", f"dpt.layernorm.{p}") for p in params]
    stage = "neck.reassemble_stage"
    for i in (2, 3):  # the ViT levels; the first two come from the BiT stages as they are
        pairs += [
            (f"pretrained.act_postprocess{i + 1}.0.project.0.{p}", f"{stage}.readout_projects.{i}.0.{p}")
            for p in params
        ]
        pairs += [
            (f"pretrained.act_postprocess{i + 1}.3.{p}", f"{stage}.layers.{i}.projection.{p}") for p in params
        ]
    pairs += [(f"pretrained.act_postprocess4.4.{p}", f"{stage}.layers.3.resize.{p}") for p in params]
    pairs += [(f"scratch.layer{i + 1}_rn.weight", f"neck.convs.{i}.weight") for i in range(4)]
    pairs += _fusion_pairs("scratch", "neck.fusion_stage")
    pairs += [(f"scratch.output_conv.{i}.{p}", f"head.head.{i}.{p}") for i in (0, 2, 4) for p in params]
    return pairs


def midas_state(state: dict[str, Any]) -> dict[str, Any]:
    """dpt_hybrid-midas-501f0c75.pt's keys onto DPTForDepthEstimation's (the ImageNet head dropped);
    a key of neither is kept so the strict load names it."""
    shape = _midas_shape(state)
    pairs = midas_pairs(shape["layers"], shape["depths"])
    mapped = {target: state[source] for source, target in pairs if source in state}
    for i in range(shape["layers"]):
        if f"{MIDAS}.blocks.{i}.attn.qkv.weight" in state:
            mapped |= _split_qkv(
                state, f"{MIDAS}.blocks.{i}", f"dpt.encoder.layer.{i}", shape["hidden"], DPT_QKV
            )
    known = {source for source, _ in pairs} | set(MIDAS_UNUSED)
    known |= {f"{MIDAS}.blocks.{i}.attn.qkv.{p}" for i in range(shape["layers"]) for p in ("weight", "bias")}
    return mapped | {key: value for key, value in state.items() if key not in known}


def _hybrid_depth(network: Any, pixel_values: Any) -> Any:
    """DPTForDepthEstimation's hybrid forward with the token grid given to the neck, which would
    otherwise take it as square: MiDaS runs at any multiple of 32, not only square ones."""
    outputs = network.dpt(pixel_values, output_hidden_states=True)
    wanted = network.config.backbone_out_indices[2:]
    states = list(outputs.intermediate_activations)
    states += [feature for index, feature in enumerate(outputs.hidden_states[1:]) if index in wanted]
    features = network.neck(states, pixel_values.shape[2] // 16, pixel_values.shape[3] // 16)
    return network.head(features)


def run_midas(network: Any, image: Any, normal_background: float | None = None) -> Any:
    """The extension's MidasDetector: [-1, 1] input at the image's size padded (edge) to multiples
    of 64, the relative inverse depth stretched to 0..255; or, with `normal_background`
    (normal_midas), the normal map made of the depth's Sobel gradients."""
    import torch
    from PIL import Image

    rgb = np.asarray(image.convert("RGB"), dtype=np.float32)
    height, width = rgb.shape[:2]
    padded = np.pad(rgb, ((0, -height % 64), (0, -width % 64), (0, 0)), mode="edge") / 127.5 - 1.0
    tensor = torch.from_numpy(np.ascontiguousarray(padded.transpose(2, 0, 1)[None])).float()
    with torch.no_grad():
        predicted = _hybrid_depth(network, tensor)[0].numpy()
    low, high = float(predicted.min()), float(predicted.max())
    scaled = (predicted - low) / (high - low) if high > low else np.zeros_like(predicted)
    if normal_background is None:
        return Image.fromarray((scaled[:height, :width] * 255.0).clip(0, 255).astype(np.uint8)).convert("RGB")
    return Image.fromarray(midas_normal(predicted, scaled, normal_background)[:height, :width])


def midas_normal(depth: np.ndarray, scaled: np.ndarray, background: float) -> np.ndarray:
    """The extension's normal from MiDaS depth: Sobel x / y of the raw depth and a constant z of
    2 pi, flat (0, 0, 1) where the stretched depth is under `background`, unit length, to 0..255."""
    import cv2

    x = cv2.Sobel(depth.astype(np.float32), cv2.CV_32F, 1, 0, ksize=3)
    y = cv2.Sobel(depth.astype(np.float32), cv2.CV_32F, 0, 1, ksize=3)
    x[scaled < background] = 0
    y[scaled < background] = 0
    normal = np.stack([x, y, np.full_like(x, np.pi * 2.0)], axis=2)
    normal /= np.sqrt((normal**2).sum(axis=2, keepdims=True))
    return (normal * 127.5 + 127.5).clip(0, 255).astype(np.uint8)
