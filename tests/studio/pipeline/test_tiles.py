"""Tiled upscaling in bands: the same pixels as blending into a whole float image, no seams,
and float working memory bounded by one band whatever the image's height."""

from __future__ import annotations

import tracemalloc
from typing import Any

import numpy as np
import pytest
import torch

from studio.pipeline.upscalers.models import ModelUpscalers
from studio.pipeline.upscalers.tiles import _ramp, band_buffer_bytes, run_tiled, tile_starts
from tests.studio.pipeline.upscaler_models import write_tiny_esrgan


def whole_float_blend(network: Any, array: np.ndarray, scale: int, tile: int, overlap: int) -> np.ndarray:
    """The previous algorithm: the whole output held as float32 while the tiles blend."""
    image = torch.from_numpy(np.asarray(array, dtype=np.float32) / 255.0).permute(2, 0, 1)[None]
    _, channels, height, width = image.shape
    overlap = min(overlap, tile // 2)
    output = torch.zeros((1, channels, height * scale, width * scale))
    weight = torch.zeros((1, 1, height * scale, width * scale))
    ys, xs = tile_starts(height, tile, overlap), tile_starts(width, tile, overlap)
    for y in ys:
        for x in xs:
            out = network(image[:, :, y : y + tile, x : x + tile])
            h, w = out.shape[2], out.shape[3]
            wy = _ramp(h, overlap * scale, y == ys[0], y == ys[-1])
            wx = _ramp(w, overlap * scale, x == xs[0], x == xs[-1])
            mask = (wy[:, None] * wx[None, :])[None, None]
            oy, ox = y * scale, x * scale
            output[:, :, oy : oy + h, ox : ox + w] += out * mask
            weight[:, :, oy : oy + h, ox : ox + w] += mask
    result = (output / weight.clamp_min(1e-8))[0].permute(1, 2, 0).numpy()
    return (result * 255.0).round().clip(0, 255).astype(np.uint8)


def pointwise_network(scale: int) -> Any:
    """A random 1x1 convolution then nearest upsampling: each output pixel depends on one input
    pixel only, so a tile's output equals the whole image's output there (seams would show)."""
    torch.manual_seed(1)
    conv = torch.nn.Conv2d(3, 3, 1)

    def network(piece: Any) -> Any:
        with torch.no_grad():
            return torch.sigmoid(conv(piece)).repeat_interleave(scale, 2).repeat_interleave(scale, 3)

    return network


def _noise(height: int, width: int) -> np.ndarray:
    return np.random.default_rng(0).integers(0, 256, (height, width, 3), dtype=np.uint8)


@pytest.mark.parametrize(("height", "width", "tile", "overlap"), [(72, 100, 32, 8), (50, 40, 24, 12)])
def test_bands_give_the_previous_blend_on_a_random_esrgan(tmp_path, height, width, tile, overlap) -> None:
    write_tiny_esrgan(tmp_path)
    upscalers = ModelUpscalers(tmp_path, lambda: False)
    model = upscalers.load(upscalers.find("tiny-esrgan-2x"))
    network = model.descriptor.model.eval()

    def run(piece: Any) -> Any:
        with torch.no_grad():
            return network(piece).clamp(0, 1)

    array = _noise(height, width)
    expected = whole_float_blend(run, array, 2, tile, overlap)
    got = model.run(array, tile, overlap)
    assert got.dtype == np.uint8 and got.shape == (height * 2, width * 2, 3)
    assert np.abs(got.astype(np.int16) - expected).max() <= 1
    # into a preallocated (memory-mapped) output
    mapped = np.lib.format.open_memmap(tmp_path / "out.npy", mode="w+", dtype=np.uint8, shape=got.shape)
    assert model.run(array, tile, overlap, mapped) is mapped
    assert np.array_equal(np.asarray(mapped), got)


def test_no_seams_with_a_pointwise_network() -> None:
    network = pointwise_network(3)
    array = _noise(90, 70)
    whole = run_tiled(network, array, 3, tile=0)
    tiled = run_tiled(network, array, 3, tile=32, overlap=8)
    assert np.abs(whole.astype(np.int16) - tiled).max() <= 1
    with pytest.raises(ValueError, match="uint8"):
        run_tiled(network, array, 3, tile=32, output=np.zeros((10, 10, 3), np.uint8))


def _traced_peak(array: np.ndarray, tile: int) -> int:
    network = pointwise_network(2)
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        before = tracemalloc.get_traced_memory()[0]
        output = run_tiled(network, array, 2, tile=tile, overlap=8)
        peak = tracemalloc.get_traced_memory()[1] - before
    finally:
        tracemalloc.stop()
    return peak - output.nbytes


def test_float_working_memory_is_one_band_whatever_the_height() -> None:
    width, tile = 64, 32
    short = _traced_peak(_noise(128, width), tile)
    tall = _traced_peak(_noise(1024, width), tile)
    band = band_buffer_bytes(width, 1024, 3, 2, tile)
    assert band == band_buffer_bytes(width, 128, 3, 2, tile)
    # numpy's allocations besides the uint8 output: the band buffers and a few band-sized
    # temporaries, the same for an image 8x taller (the whole float output would be 8x bigger)
    assert tall <= 5 * band
    assert tall <= short * 1.1 + 4096
    whole_float = 1024 * 2 * width * 2 * 4 * 4
    assert tall < whole_float / 4
