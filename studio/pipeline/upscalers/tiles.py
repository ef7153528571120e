"""Tiled inference: run an image network tile by tile with overlap and blend the seams, so
memory stays bounded by the tile size whatever the image size."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


def _starts(length: int, tile: int, overlap: int) -> list[int]:
    if length <= tile:
        return [0]
    stride = tile - overlap
    starts = list(range(0, length - tile, stride))
    starts.append(length - tile)
    return starts


def _ramp(length: int, overlap: int, first: bool, last: bool) -> Any:
    """Weights along one tile axis: rising over the overlap except at the image's edges."""
    import torch

    weights = torch.ones(length)
    if overlap > 0:
        ramp = torch.linspace(0, 1, overlap + 2)[1:-1]
        if not first:
            weights[:overlap] = ramp
        if not last:
            weights[-overlap:] = ramp.flip(0)
    return weights


def run_tiled(
    network: Callable[[Any], Any], image: Any, scale: int, tile: int = 256, overlap: int = 32
) -> Any:
    """`network` on image (1, C, H, W) in tiles of `tile` pixels overlapping by `overlap`; the
    output (1, C, H*scale, W*scale) blends overlapping tiles with linear ramps. `tile <= 0`
    runs the whole image at once."""
    import torch

    _, channels, height, width = image.shape
    if tile <= 0 or (height <= tile and width <= tile):
        return network(image)
    overlap = min(overlap, tile // 2)
    output = torch.zeros((1, channels, height * scale, width * scale), dtype=image.dtype)
    weight = torch.zeros((1, 1, height * scale, width * scale), dtype=image.dtype)
    ys, xs = _starts(height, tile, overlap), _starts(width, tile, overlap)
    for y in ys:
        for x in xs:
            piece = image[:, :, y : y + tile, x : x + tile]
            out = network(piece).to(image.dtype)
            h, w = out.shape[2], out.shape[3]
            wy = _ramp(h, overlap * scale, y == ys[0], y == ys[-1])
            wx = _ramp(w, overlap * scale, x == xs[0], x == xs[-1])
            mask = (wy[:, None] * wx[None, :])[None, None].to(image.dtype)
            oy, ox = y * scale, x * scale
            output[:, :, oy : oy + h, ox : ox + w] += out * mask
            weight[:, :, oy : oy + h, ox : ox + w] += mask
    return output / weight.clamp_min(1e-8)
