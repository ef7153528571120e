"""Tiled inference: run an image network tile by tile with overlap and blend the seams, with
working memory bounded by one horizontal band of tiles, whatever the image's height.

The image is walked in bands (one row of tiles each). Overlapping tiles are blended with linear
ramps, `sum(tile * mask) / sum(mask)` per pixel, in a float32 buffer as tall as one band of
output and as wide as the output; when the next band starts, the rows above it can receive no
more tiles, so they are divided, rounded to uint8, written to the output and dropped from the
buffer. The only thing that grows with the image is the uint8 output itself (which may be a
`numpy.memmap` the caller preallocated on disk). The input is converted to float one tile at a
time.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


def tile_starts(length: int, tile: int, overlap: int) -> list[int]:
    """Where tiles of `tile` pixels overlapping by at least `overlap` start along one axis."""
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


def band_buffer_bytes(width: int, height: int, channels: int, scale: int, tile: int) -> int:
    """The float working buffer's size in bytes for an image of `width` x `height` (the blend
    sums and their weights for one band of output rows): it does not depend on the height."""
    rows = min(tile, height) * scale if tile > 0 else height * scale
    return rows * width * scale * (channels + 1) * 4


def _to_uint8(values: Any) -> Any:
    import numpy as np

    return (values * np.float32(255.0)).round().clip(0, 255).astype(np.uint8)


def _network_on(network: Callable[[Any], Any], piece: Any) -> Any:
    """`network` on a uint8 (h, w, C) array: its output as a float32 (h', w', C) array."""
    import numpy as np
    import torch

    tensor = torch.from_numpy(np.ascontiguousarray(piece, dtype=np.float32) / np.float32(255.0))
    out = network(tensor.permute(2, 0, 1)[None])
    return out[0].to(torch.float32).permute(1, 2, 0).numpy()


def run_tiled(
    network: Callable[[Any], Any],
    image: Any,
    scale: int,
    tile: int = 256,
    overlap: int = 32,
    output: Any = None,
) -> Any:
    """`network` (a function on float tensors (1, C, h, w) in [0, 1] -> (1, C, h*scale,
    w*scale)) on `image`, a uint8 array (H, W, C), in tiles of `tile` pixels overlapping by
    `overlap`: a uint8 array (H*scale, W*scale, C), written into `output` when given (any
    preallocated uint8 array of that shape, e.g. a `numpy.memmap`). `tile <= 0` runs the whole
    image at once."""
    import numpy as np

    height, width, channels = image.shape
    out_h, out_w = height * scale, width * scale
    if output is None:
        output = np.empty((out_h, out_w, channels), dtype=np.uint8)
    if output.shape != (out_h, out_w, channels) or output.dtype != np.uint8:
        raise ValueError(
            f"output must be uint8 {(out_h, out_w, channels)}, not {output.dtype} {output.shape}"
        )
    if tile <= 0 or (height <= tile and width <= tile):
        output[:] = _to_uint8(_network_on(network, image))
        return output
    overlap = min(overlap, tile // 2)
    band_rows = min(tile, height) * scale
    sums = np.zeros((band_rows, out_w, channels), dtype=np.float32)
    weights = np.zeros((band_rows, out_w, 1), dtype=np.float32)
    top = 0  # the output row the buffer's first row stands for

    def finish(rows: int) -> None:
        """Write the buffer's first `rows` rows (complete) to the output; shift the rest up."""
        nonlocal top
        done = sums[:rows] / np.maximum(weights[:rows], np.float32(1e-8))
        output[top : top + rows] = _to_uint8(done)
        sums[: band_rows - rows] = sums[rows:]
        sums[band_rows - rows :] = 0
        weights[: band_rows - rows] = weights[rows:]
        weights[band_rows - rows :] = 0
        top += rows

    ys, xs = tile_starts(height, tile, overlap), tile_starts(width, tile, overlap)
    for y in ys:
        if y * scale > top:
            finish(y * scale - top)
        for x in xs:
            out = _network_on(network, image[y : y + tile, x : x + tile])
            h, w = out.shape[0], out.shape[1]
            wy = _ramp(h, overlap * scale, y == ys[0], y == ys[-1])
            wx = _ramp(w, overlap * scale, x == xs[0], x == xs[-1])
            mask = (wy[:, None] * wx[None, :])[:, :, None].numpy()
            oy, ox = y * scale - top, x * scale
            sums[oy : oy + h, ox : ox + w] += out * mask
            weights[oy : oy + h, ox : ox + w] += mask
    finish(out_h - top)
    return output
