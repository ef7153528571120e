"""M-LSD straight lines (the `mlsd` preprocessor): sd-webui-controlnet's MobileV2_MLSD_Large
(`mlsd/mlsd_large_512_fp32.pth`) with its module names, and its line decoding: the centre map's
local maxima (3x3, top 200) whose score passes the value threshold and whose segment is longer
than the distance threshold become segments from the displacement maps, drawn 1 px white on black.
"""

from __future__ import annotations

from typing import Any

import numpy as np

TOP_K = 200
PEAK_WINDOW = 3


def mlsd_network() -> Any:
    """MobileV2_MLSD_Large: a MobileNetV2 backbone (to 96 channels, stride 16, TFLite padding),
    four A/B decoder blocks up to stride 2 and a dilated C block with 16 outputs (the last 9 kept)."""
    import torch
    from torch import nn
    from torch.nn import functional

    class BlockTypeA(nn.Module):
        def __init__(self, in_c1: int, in_c2: int, out_c1: int, out_c2: int, upscale: bool = True) -> None:
            super().__init__()
            self.conv1 = nn.Sequential(
                nn.Conv2d(in_c2, out_c2, 1), nn.BatchNorm2d(out_c2), nn.ReLU(inplace=True)
            )
            self.conv2 = nn.Sequential(
                nn.Conv2d(in_c1, out_c1, 1), nn.BatchNorm2d(out_c1), nn.ReLU(inplace=True)
            )
            self.upscale = upscale

        def forward(self, a: Any, b: Any) -> Any:
            b, a = self.conv1(b), self.conv2(a)
            if self.upscale:
                b = functional.interpolate(b, scale_factor=2.0, mode="bilinear", align_corners=True)
            return torch.cat((a, b), dim=1)

    class BlockTypeB(nn.Module):
        def __init__(self, in_c: int, out_c: int) -> None:
            super().__init__()
            self.conv1 = nn.Sequential(nn.Conv2d(in_c, in_c, 3, padding=1), nn.BatchNorm2d(in_c), nn.ReLU())
            self.conv2 = nn.Sequential(nn.Conv2d(in_c, out_c, 3, padding=1), nn.BatchNorm2d(out_c), nn.ReLU())

        def forward(self, x: Any) -> Any:
            return self.conv2(self.conv1(x) + x)

    class BlockTypeC(nn.Module):
        def __init__(self, in_c: int, out_c: int) -> None:
            super().__init__()
            self.conv1 = nn.Sequential(
                nn.Conv2d(in_c, in_c, 3, padding=5, dilation=5), nn.BatchNorm2d(in_c), nn.ReLU()
            )
            self.conv2 = nn.Sequential(nn.Conv2d(in_c, in_c, 3, padding=1), nn.BatchNorm2d(in_c), nn.ReLU())
            self.conv3 = nn.Conv2d(in_c, out_c, 1)

        def forward(self, x: Any) -> Any:
            return self.conv3(self.conv2(self.conv1(x)))

    class ConvBNReLU(nn.Sequential):
        def __init__(
            self, inputs: int, outputs: int, kernel: int = 3, stride: int = 1, groups: int = 1
        ) -> None:
            padding = 0 if stride == 2 else (kernel - 1) // 2  # TFLite pads stride-2 layers by hand
            super().__init__(
                nn.Conv2d(inputs, outputs, kernel, stride, padding, groups=groups, bias=False),
                nn.BatchNorm2d(outputs),
                nn.ReLU6(inplace=True),
            )
            self.stride = stride

        def forward(self, x: Any) -> Any:
            if self.stride == 2:
                x = functional.pad(x, (0, 1, 0, 1), "constant", 0)
            for module in self:
                x = module(x)
            return x

    class InvertedResidual(nn.Module):
        def __init__(self, inputs: int, outputs: int, stride: int, expand: int) -> None:
            super().__init__()
            hidden = round(inputs * expand)
            self.use_res_connect = stride == 1 and inputs == outputs
            layers: list[Any] = [ConvBNReLU(inputs, hidden, kernel=1)] if expand != 1 else []
            layers += [
                ConvBNReLU(hidden, hidden, stride=stride, groups=hidden),
                nn.Conv2d(hidden, outputs, 1, 1, 0, bias=False),
                nn.BatchNorm2d(outputs),
            ]
            self.conv = nn.Sequential(*layers)

        def forward(self, x: Any) -> Any:
            return x + self.conv(x) if self.use_res_connect else self.conv(x)

    class MobileNetV2(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            features: list[Any] = [ConvBNReLU(4, 32, stride=2)]
            channels = 32
            for expand, outputs, repeats, stride in (
                (1, 16, 1, 1),
                (6, 24, 2, 2),
                (6, 32, 3, 2),
                (6, 64, 4, 2),
                (6, 96, 3, 1),
            ):
                for i in range(repeats):
                    features.append(InvertedResidual(channels, outputs, stride if i == 0 else 1, expand))
                    channels = outputs
            self.features = nn.Sequential(*features)
            self.fpn_selected = (1, 3, 6, 10, 13)

        def forward(self, x: Any) -> list[Any]:
            selected = []
            for index, feature in enumerate(self.features):
                x = feature(x)
                if index in self.fpn_selected:
                    selected.append(x)
            return selected

    class MobileV2MLSDLarge(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.backbone = MobileNetV2()
            self.block15 = BlockTypeA(64, 96, 64, 64, upscale=False)
            self.block16 = BlockTypeB(128, 64)
            self.block17 = BlockTypeA(32, 64, 64, 64)
            self.block18 = BlockTypeB(128, 64)
            self.block19 = BlockTypeA(24, 64, 64, 64)
            self.block20 = BlockTypeB(128, 64)
            self.block21 = BlockTypeA(16, 64, 64, 64)
            self.block22 = BlockTypeB(128, 64)
            self.block23 = BlockTypeC(64, 16)

        def forward(self, x: Any) -> Any:
            c1, c2, c3, c4, c5 = self.backbone(x)
            x = self.block16(self.block15(c4, c5))
            x = self.block18(self.block17(c3, x))
            x = self.block20(self.block19(c2, x))
            x = self.block22(self.block21(c1, x))
            return self.block23(x)[:, 7:, :, :]

    return MobileV2MLSDLarge()


def decode_lines(maps: Any, value_threshold: float, distance_threshold: float) -> np.ndarray:
    """Segments (x0, y0, x1, y1) in the maps' own pixels from the network's output (1, 9+, h, w):
    channel 0 the centre logits, 1-4 the start/end displacements."""
    import torch
    from torch.nn import functional

    width = maps.shape[3]
    displacement = maps[0, 1:5].numpy().transpose(1, 2, 0)
    heat = torch.sigmoid(maps[:, 0])
    peaks = functional.max_pool2d(heat, (PEAK_WINDOW, PEAK_WINDOW), stride=1, padding=(PEAK_WINDOW - 1) // 2)
    heat = (heat * (peaks == heat).float()).reshape(-1)
    scores, indices = torch.topk(heat, min(TOP_K, heat.numel()), dim=-1, largest=True)
    lengths = np.sqrt(((displacement[:, :, :2] - displacement[:, :, 2:]) ** 2).sum(axis=-1))
    segments = []
    for score, index in zip(scores.numpy(), indices.numpy(), strict=True):
        y, x = divmod(int(index), width)
        if score > value_threshold and lengths[y, x] > distance_threshold:
            dx0, dy0, dx1, dy1 = displacement[y, x]
            segments.append((x + dx0, y + dy0, x + dx1, y + dy1))
    return np.array(segments, dtype=np.float64).reshape(-1, 4)


def run_mlsd(network: Any, image: Any, value_threshold: float, distance_threshold: float) -> Any:
    """White 1 px segments on black at the image's size (the extension's MLSDdetector)."""
    import cv2
    import torch
    from PIL import Image

    rgb = np.asarray(image.convert("RGB"))
    height, width = rgb.shape[:2]
    # padded (edge pixels) to multiples of 64 as the extension does, so every stride divides
    padded = np.pad(rgb, ((0, -height % 64), (0, -width % 64), (0, 0)), mode="edge").astype(np.float32)
    batch = np.concatenate([padded, np.ones((*padded.shape[:2], 1), np.float32)], axis=-1)
    batch = batch.transpose(2, 0, 1)[None] / 127.5 - 1.0
    with torch.no_grad():
        maps = network(torch.from_numpy(np.ascontiguousarray(batch)).float())
    lines = 2 * decode_lines(maps, value_threshold, distance_threshold)  # the maps are at half size
    canvas = np.zeros(padded.shape[:2], np.uint8)
    for x0, y0, x1, y1 in lines:
        cv2.line(canvas, (int(x0), int(y0)), (int(x1), int(y1)), 255, 1)
    return Image.fromarray(canvas[:height, :width]).convert("RGB")
