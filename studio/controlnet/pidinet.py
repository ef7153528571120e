"""PiDiNet soft edges (`softedge_pidinet`, `softedge_pidisafe`): sd-webui-controlnet's
`pidinet()` network (`pidinet/table5_pidinet.pth`): 60 channels, the "carv4" pixel-difference
convolutions (central, angular, radial, vanilla, four times), CDCM dilation 24 and CSAM
attention, with the extension's module names. The file's `state_dict` is read with its
`module.` prefix removed, as the extension does. The map is the sigmoid of the fused output.
"""

from __future__ import annotations

from typing import Any

import numpy as np

CARV4 = ("cd", "ad", "rd", "cv") * 4  # the pixel-difference type of the first layer and each block


def _pixel_difference(kind: str) -> Any:
    """The convolution function of a pixel-difference type (PiDiNet's ops.createConvFunc)."""
    import torch
    from torch.nn import functional

    if kind == "cv":
        return functional.conv2d
    if kind == "cd":  # central difference: x * w - centre * sum(w)

        def central(x: Any, w: Any, bias: Any, stride: int, padding: int, dilation: int, groups: int) -> Any:
            centre = functional.conv2d(
                x, w.sum(dim=[2, 3], keepdim=True), stride=stride, padding=0, groups=groups
            )
            return functional.conv2d(x, w, bias, stride, padding, dilation, groups) - centre

        return central
    if kind == "ad":  # angular difference: each neighbour minus the next one clockwise

        def angular(x: Any, w: Any, bias: Any, stride: int, padding: int, dilation: int, groups: int) -> Any:
            flat = w.view(w.shape[0], w.shape[1], -1)
            kernel = (flat - flat[:, :, [3, 0, 1, 6, 4, 2, 7, 8, 5]]).view(w.shape)
            return functional.conv2d(x, kernel, bias, stride, padding, dilation, groups)

        return angular

    def radial(x: Any, w: Any, bias: Any, stride: int, padding: int, dilation: int, groups: int) -> Any:
        """Radial difference: a 5x5 kernel, outer ring minus inner ring."""
        flat = w.view(w.shape[0], w.shape[1], -1)
        kernel = torch.zeros(w.shape[0], w.shape[1], 25, dtype=w.dtype)
        kernel[:, :, [0, 2, 4, 10, 14, 20, 22, 24]] = flat[:, :, 1:]
        kernel[:, :, [6, 7, 8, 11, 13, 16, 17, 18]] = -flat[:, :, 1:]
        kernel = kernel.view(w.shape[0], w.shape[1], 5, 5)
        return functional.conv2d(x, kernel, bias, stride, 2 * dilation, dilation, groups)

    return radial


def pidinet_network() -> Any:
    import torch
    from torch import nn
    from torch.nn import functional

    class PixelDifferenceConv(nn.Module):  # the extension's `Conv2d(pdc, ...)`
        def __init__(self, kind: str, inputs: int, outputs: int, groups: int = 1) -> None:
            super().__init__()
            self.weight = nn.Parameter(torch.empty(outputs, inputs // groups, 3, 3))
            nn.init.kaiming_uniform_(self.weight, a=5**0.5)
            self.register_parameter("bias", None)
            self.groups = groups
            self.function = _pixel_difference(kind)

        def forward(self, x: Any) -> Any:
            return self.function(x, self.weight, None, 1, 1, 1, self.groups)

    class CSAM(nn.Module):
        def __init__(self, channels: int) -> None:
            super().__init__()
            self.relu1 = nn.ReLU()
            self.conv1 = nn.Conv2d(channels, 4, kernel_size=1, padding=0)
            self.conv2 = nn.Conv2d(4, 1, kernel_size=3, padding=1, bias=False)
            self.sigmoid = nn.Sigmoid()

        def forward(self, x: Any) -> Any:
            return x * self.sigmoid(self.conv2(self.conv1(self.relu1(x))))

    class CDCM(nn.Module):
        def __init__(self, inputs: int, outputs: int) -> None:
            super().__init__()
            self.relu1 = nn.ReLU()
            self.conv1 = nn.Conv2d(inputs, outputs, kernel_size=1, padding=0)
            for index, dilation in enumerate((5, 7, 9, 11), start=1):
                conv = nn.Conv2d(outputs, outputs, 3, dilation=dilation, padding=dilation, bias=False)
                setattr(self, f"conv2_{index}", conv)

        def forward(self, x: Any) -> Any:
            x = self.conv1(self.relu1(x))
            return self.conv2_1(x) + self.conv2_2(x) + self.conv2_3(x) + self.conv2_4(x)

    class MapReduce(nn.Module):
        def __init__(self, channels: int) -> None:
            super().__init__()
            self.conv = nn.Conv2d(channels, 1, kernel_size=1, padding=0)

        def forward(self, x: Any) -> Any:
            return self.conv(x)

    class PDCBlock(nn.Module):
        def __init__(self, kind: str, inputs: int, outputs: int, stride: int = 1) -> None:
            super().__init__()
            self.stride = stride
            if stride > 1:
                self.pool = nn.MaxPool2d(kernel_size=2, stride=2)
                self.shortcut = nn.Conv2d(inputs, outputs, kernel_size=1, padding=0)
            self.conv1 = PixelDifferenceConv(kind, inputs, inputs, groups=inputs)
            self.relu2 = nn.ReLU()
            self.conv2 = nn.Conv2d(inputs, outputs, kernel_size=1, padding=0, bias=False)

        def forward(self, x: Any) -> Any:
            if self.stride > 1:
                x = self.pool(x)
            y = self.conv2(self.relu2(self.conv1(x)))
            return y + (self.shortcut(x) if self.stride > 1 else x)

    class PiDiNet(nn.Module):
        def __init__(self, channels: int = 60, dilation: int = 24) -> None:
            super().__init__()
            self.init_block = PixelDifferenceConv(CARV4[0], 3, channels)
            widths = (channels, channels * 2, channels * 4, channels * 4)
            previous = channels
            for stage, width in enumerate(widths, start=1):
                for index in range(1, 4 if stage == 1 else 5):
                    kind = CARV4[index if stage == 1 else 4 * (stage - 1) + index - 1]  # pdcs[1..15]
                    stride = 2 if stage > 1 and index == 1 else 1
                    setattr(self, f"block{stage}_{index}", PDCBlock(kind, previous, width, stride))
                    previous = width
            self.dilations = nn.ModuleList([CDCM(width, dilation) for width in widths])
            self.attentions = nn.ModuleList([CSAM(dilation) for _ in widths])
            self.conv_reduces = nn.ModuleList([MapReduce(dilation) for _ in widths])
            self.classifier = nn.Conv2d(4, 1, kernel_size=1)

        def forward(self, x: Any) -> list[Any]:
            height, width = x.shape[2:]
            x = self.init_block(x)
            stages = []
            for stage in range(1, 5):
                for index in range(1, 4 if stage == 1 else 5):
                    x = getattr(self, f"block{stage}_{index}")(x)
                stages.append(x)
            edges = [
                functional.interpolate(
                    reduce(attention(dilation(features))),
                    (height, width),
                    mode="bilinear",
                    align_corners=False,
                )
                for features, dilation, attention, reduce in zip(
                    stages, self.dilations, self.attentions, self.conv_reduces, strict=True
                )
            ]
            edges.append(self.classifier(torch.cat(edges, dim=1)))
            return [torch.sigmoid(edge) for edge in edges]

    return PiDiNet()


def file_state_to_network(state: dict[str, Any]) -> dict[str, Any]:
    """table5_pidinet.pth's `state_dict` (saved from DataParallel: `module.` prefixes), as the
    extension reads it."""
    return {key.replace("module.", ""): value for key, value in state.items()}


def run_pidinet(network: Any, image: Any, safe: bool = False) -> Any:
    """The fused soft-edge map (0..255) of an RGB PIL image; `safe` cuts it to three levels."""
    import torch
    from PIL import Image

    bgr = np.asarray(image.convert("RGB"))[:, :, ::-1].astype(np.float32) / 255.0  # trained on BGR
    with torch.no_grad():
        edge = network(torch.from_numpy(np.ascontiguousarray(bgr.transpose(2, 0, 1)[None])))[-1][0, 0].numpy()
    if safe:  # the extension's safe_step(edge, step=2)
        edge = (edge * 3.0).astype(np.int32).astype(np.float32) / 2.0
    return Image.fromarray((edge * 255.0).clip(0, 255).astype(np.uint8)).convert("RGB")
