"""Depth preprocessors on transformers' architectures, fed checkpoints in the original layouts
sd-webui-controlnet downloads. Each test builds a small model of the same architecture with random
weights, writes it under the original layer names (fused qkv included) and the extension's file
name, runs the preprocessor, and compares with the model it came from: any weight put in the wrong
place changes the map. The layouts follow the original repositories' module names; no real file
is at hand here, so the names are checked against this description, not against a download."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from PIL import Image

from studio.controlnet import depth, preprocessors
from studio.request import RequestError


def original_layout(
    network: Any,
    pairs: list[tuple[str, str]],
    blocks: list[tuple[str, str]],
    hidden: int,
    qkv: tuple[str, ...],
) -> dict[str, torch.Tensor]:
    """The model's weights under the file's names: the pairs reversed, q/k/v fused per block."""
    state = network.state_dict()
    by_model = {target: source for source, target in pairs}
    original = {by_model[key]: value.clone() for key, value in state.items() if key in by_model}
    for source, target in blocks:
        for p in ("weight", "bias"):
            original[f"{source}.attn.qkv.{p}"] = torch.cat([state[f"{target}.{name}.{p}"] for name in qkv])
    covered = set(by_model) | {f"{t}.{n}.{p}" for _, t in blocks for n in qkv for p in ("weight", "bias")}
    assert covered >= set(state), set(state) - covered  # every model weight has a file name
    return original


def picture() -> Image.Image:
    ys, xs = np.mgrid[0:48, 0:64]
    ramp = np.stack([xs * 4, ys * 5, (xs + ys) * 2], axis=-1) % 256
    return Image.fromarray(ramp.astype(np.uint8))


def tiny_depth_anything() -> Any:
    """A 4-block, 64-wide Depth Anything (ViT-L's layout at a fraction of its size)."""
    torch.manual_seed(0)
    probe = {
        "pretrained.pos_embed": torch.zeros(1, 1 + 37 * 37, 64),
        "pretrained.blocks.0.mlp.fc1.weight": torch.zeros(256, 64),
        "depth_head.scratch.layer1_rn.weight": torch.zeros(32, 1, 1, 1),
        "depth_head.scratch.output_conv2.0.weight": torch.zeros(8, 1, 1, 1),
        **{f"pretrained.blocks.{i}.norm1.weight": torch.zeros(64) for i in range(4)},
        **{
            f"depth_head.projects.{i}.weight": torch.zeros(c, 64, 1, 1)
            for i, c in enumerate((16, 32, 64, 64))
        },
    }
    network = depth.depth_anything_network(probe).eval()
    with torch.no_grad():  # random layer scales and biases too, so a misplaced one shows
        for name, value in network.state_dict().items():
            if name.endswith(("lambda1", "bias", "cls_token", "mask_token", "position_embeddings")):
                value.copy_(torch.randn_like(value) * 0.1)
        network.head.conv3.weight.copy_(torch.rand_like(network.head.conv3.weight))  # a positive depth
        network.head.conv3.bias.zero_()  # through the head's final ReLU
    return network


@pytest.mark.slow
def test_depth_anything_runs_the_original_checkpoint(tmp_path: Path) -> None:
    folder = tmp_path / "annotators"
    with pytest.raises(RequestError, match=r"depth_anything/depth_anything_vitl14\.pth"):
        preprocessors.run("depth_anything", picture(), 64, -1, -1, folder)
    network = tiny_depth_anything()
    blocks = [(f"pretrained.blocks.{i}", f"backbone.encoder.layer.{i}") for i in range(4)]
    state = original_layout(network, depth.depth_anything_pairs(4), blocks, 64, depth.DINOV2_QKV)
    assert (
        "pretrained.blocks.3.attn.qkv.weight" in state
        and "depth_head.scratch.refinenet4.out_conv.bias" in state
    )
    path = folder / "depth_anything" / "depth_anything_vitl14.pth"
    path.parent.mkdir(parents=True)
    torch.save(state, str(path))
    out = preprocessors.run("depth_anything", picture(), 64, -1, -1, folder, allow_pickle=True)
    assert out.mode == "RGB" and out.size == (88, 64)
    expected = depth.run_depth_anything(network, preprocessors.resize_short_side(picture(), 64))
    assert np.array_equal(np.asarray(out), np.asarray(expected))
    gray = np.asarray(out.convert("L"))
    assert gray.min() == 0 and gray.max() == 255 and len(np.unique(gray)) > 50
    # a file missing a block's weights is refused, naming the file
    del state["pretrained.blocks.2.mlp.fc2.bias"]
    torch.save(state, str(path))
    with pytest.raises(RequestError, match=r"depth_anything_vitl14\.pth is not a depth_anything annotator"):
        preprocessors.run("depth_anything", picture(), 64, -1, -1, folder, allow_pickle=True)


def tiny_midas() -> Any:
    """A DPT-Hybrid with MiDaS's layout: a 1-1-1 BiT (widths 128/256/512) and a 4-block, 64-wide ViT."""
    torch.manual_seed(1)
    probe: dict[str, Any] = {
        f"{depth.MIDAS}.pos_embed": torch.zeros(1, 1 + 24 * 24, 64),
        f"{depth.MIDAS}.blocks.0.mlp.fc1.weight": torch.zeros(256, 64),
        f"{depth.BIT}.stem.conv.weight": torch.zeros(32, 3, 7, 7),
        **{f"{depth.MIDAS}.blocks.{i}.norm1.weight": torch.zeros(64) for i in range(4)},
        **{
            f"{depth.BIT}.stages.{s}.blocks.0.conv3.weight": torch.zeros(w, 1, 1, 1)
            for s, w in enumerate((128, 256, 512))
        },
        **{
            f"scratch.layer{i + 1}_rn.weight": torch.zeros(32, c, 3, 3)
            for i, c in enumerate((128, 256, 64, 64))
        },
    }
    network = depth.midas_network(probe).eval()
    with torch.no_grad():
        for name, value in network.state_dict().items():
            if name.endswith(("bias", "cls_token", "position_embeddings")) or "norm" in name:
                value.copy_(torch.randn_like(value) * 0.1 + (1.0 if "norm.weight" in name else 0.0))
        network.head.head[4].weight.copy_(torch.rand_like(network.head.head[4].weight))
        network.head.head[4].bias.zero_()
    return network


@pytest.mark.slow
def test_depth_midas_runs_the_original_checkpoint(tmp_path: Path) -> None:
    folder = tmp_path / "annotators"
    with pytest.raises(RequestError, match=r"midas/dpt_hybrid-midas-501f0c75\.pt"):
        preprocessors.run("depth_midas", picture(), 64, -1, -1, folder)
    network = tiny_midas()
    blocks = [(f"{depth.MIDAS}.blocks.{i}", f"dpt.encoder.layer.{i}") for i in range(4)]
    state = original_layout(network, depth.midas_pairs(4, [1, 1, 1]), blocks, 64, depth.DPT_QKV)
    assert f"{depth.BIT}.stages.2.blocks.0.downsample.conv.weight" in state
    assert "pretrained.act_postprocess4.4.weight" in state and "scratch.output_conv.4.bias" in state
    state |= {key: torch.zeros(3) for key in depth.MIDAS_UNUSED}  # timm's classifier, as in the file
    path = folder / "midas" / "dpt_hybrid-midas-501f0c75.pt"
    path.parent.mkdir(parents=True)
    torch.save(state, str(path))
    out = preprocessors.run("depth_midas", picture(), 64, -1, -1, folder, allow_pickle=True)
    assert out.mode == "RGB" and out.size == (88, 64)
    expected = depth.run_midas(network, preprocessors.resize_short_side(picture(), 64))
    assert np.array_equal(np.asarray(out), np.asarray(expected))
    gray = np.asarray(out.convert("L"))
    assert gray.max() > 200 and len(np.unique(gray)) > 50
    # normal_midas: the same file, its threshold_a the background cut (default 0.4)
    normal = preprocessors.run("normal_midas", picture(), 64, -1, -1, folder, allow_pickle=True)
    source = preprocessors.resize_short_side(picture(), 64)
    assert np.array_equal(np.asarray(normal), np.asarray(depth.run_midas(network, source, 0.4)))
    everywhere = preprocessors.run("normal_midas", picture(), 64, 0.0, -1, folder, allow_pickle=True)
    assert np.array_equal(np.asarray(everywhere), np.asarray(depth.run_midas(network, source, 0.0)))
    assert not np.array_equal(np.asarray(normal), np.asarray(everywhere))
    # the hybrid forward with the token grid given equals transformers' own on a square input
    square = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        assert torch.allclose(
            depth._hybrid_depth(network, square), network(pixel_values=square).predicted_depth
        )


@pytest.mark.slow
def test_the_full_size_layouts_are_covered() -> None:
    """At the real files' sizes (on the meta device: shapes only): every weight of MiDaS
    DPT-Hybrid (BiT 3-4-9 + ViT-B/16, 122 M) and Depth Anything ViT-L (335 M) has a file name."""
    midas_probe: dict[str, Any] = {
        f"{depth.MIDAS}.pos_embed": torch.zeros(1, 577, 768),
        f"{depth.MIDAS}.blocks.0.mlp.fc1.weight": torch.zeros(3072, 768),
        f"{depth.BIT}.stem.conv.weight": torch.zeros(64, 3, 7, 7),
        **{f"{depth.MIDAS}.blocks.{i}.norm1.weight": torch.zeros(1) for i in range(12)},
        **{
            f"{depth.BIT}.stages.{s}.blocks.{b}.conv3.weight": torch.zeros(w, 1, 1, 1)
            for s, (n, w) in enumerate(((3, 256), (4, 512), (9, 1024)))
            for b in range(n)
        },
        **{
            f"scratch.layer{i + 1}_rn.weight": torch.zeros(256, c, 3, 3)
            for i, c in enumerate((256, 512, 768, 768))
        },
    }
    with torch.device("meta"):
        midas = depth.midas_network(midas_probe)
    state = midas.state_dict()
    assert sum(v.numel() for v in state.values()) == 122_377_985
    targets = {target for _, target in depth.midas_pairs(12, [3, 4, 9])}
    qkv = {
        f"dpt.encoder.layer.{i}.{n}.{p}" for i in range(12) for n in depth.DPT_QKV for p in ("weight", "bias")
    }
    assert set(state) == targets | qkv
    anything_probe: dict[str, Any] = {
        "pretrained.pos_embed": torch.zeros(1, 1 + 37 * 37, 1024),
        "pretrained.blocks.0.mlp.fc1.weight": torch.zeros(4096, 1024),
        "depth_head.scratch.layer1_rn.weight": torch.zeros(256, 1, 1, 1),
        "depth_head.scratch.output_conv2.0.weight": torch.zeros(32, 1, 1, 1),
        **{f"pretrained.blocks.{i}.norm1.weight": torch.zeros(1) for i in range(24)},
        **{
            f"depth_head.projects.{i}.weight": torch.zeros(c, 1, 1, 1)
            for i, c in enumerate((256, 512, 1024, 1024))
        },
    }
    with torch.device("meta"):
        anything = depth.depth_anything_network(anything_probe)
    state = anything.state_dict()
    assert 335_000_000 < sum(v.numel() for v in state.values()) < 336_000_000
    targets = {target for _, target in depth.depth_anything_pairs(24)}
    qkv = {
        f"backbone.encoder.layer.{i}.{n}.{p}"
        for i in range(24)
        for n in depth.DINOV2_QKV
        for p in ("weight", "bias")
    }
    assert set(state) == targets | qkv


def test_the_midas_normal_map_follows_the_depth_s_slopes() -> None:
    xs = np.mgrid[0:32, 0:32][1].astype(np.float32)
    depth_map = xs * 0.5  # nearer to the right: a slope along x only
    scaled = (depth_map - depth_map.min()) / (depth_map.max() - depth_map.min())
    normal = depth.midas_normal(depth_map, scaled, 0.4).astype(int)
    assert normal[16, 8].tolist() == [127, 127, 255]  # far side (under the threshold): flat
    x, y, z = normal[16, 24]  # near side: tilted along x, not y
    assert x > 140 and y == 127 and z < 255
    assert depth.midas_normal(depth_map, scaled, 0.0)[16, 8, 0] > 140  # threshold 0: every slope
