"""RetinaFace, the face detector A1111 uses through facexlib: boxes, scores and five landmarks
(eyes, nose, mouth corners) per face, with facexlib's layer names so its files load unchanged.

Files (facexlib's names), looked for where A1111 keeps them — `models/GFPGAN` (A1111 points
facexlib's downloads there), then `models/Codeformer`: `detection_Resnet50_Final` (ResNet-50
backbone) or `detection_mobilenet0.25_Final` (MobileNet-0.25), `.safetensors` first, `.pth`
only with the pickle allowance. The ResNet-50 is torchvision's layout, written out here (no
torchvision needed). Inference follows facexlib's `RetinaFace.detect_faces`: BGR input minus
(104, 117, 123), priors over strides 8/16/32, box and landmark decoding with variances
(0.1, 0.2), a score threshold and NMS.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import product
from math import ceil
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.nn import functional as F

FILE_STEMS = ("detection_Resnet50_Final", "detection_mobilenet0.25_Final")
FOLDERS = ("GFPGAN", "Codeformer", "CodeFormer")
MIN_SIZES = ((16, 32), (64, 128), (256, 512))
STEPS = (8, 16, 32)
VARIANCES = (0.1, 0.2)
MEAN_BGR = (104.0, 117.0, 123.0)


def _conv_bn(inp: int, oup: int, stride: int = 1, leaky: float = 0.0) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(inp, oup, 3, stride, 1, bias=False),
        nn.BatchNorm2d(oup),
        nn.LeakyReLU(negative_slope=leaky, inplace=True),
    )


def _conv_bn_no_relu(inp: int, oup: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(inp, oup, 3, 1, 1, bias=False), nn.BatchNorm2d(oup))


def _conv_bn1x1(inp: int, oup: int, leaky: float = 0.0) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(inp, oup, 1, 1, 0, bias=False),
        nn.BatchNorm2d(oup),
        nn.LeakyReLU(negative_slope=leaky, inplace=True),
    )


def _conv_dw(inp: int, oup: int, stride: int, leaky: float = 0.1) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(inp, inp, 3, stride, 1, groups=inp, bias=False),
        nn.BatchNorm2d(inp),
        nn.LeakyReLU(negative_slope=leaky, inplace=True),
        nn.Conv2d(inp, oup, 1, 1, 0, bias=False),
        nn.BatchNorm2d(oup),
        nn.LeakyReLU(negative_slope=leaky, inplace=True),
    )


class MobileNetV1(nn.Module):
    """facexlib's MobileNet-0.25 body (stages 1-3; the classifier is not part of its files)."""

    def __init__(self) -> None:
        super().__init__()
        self.stage1 = nn.Sequential(
            _conv_bn(3, 8, 2, leaky=0.1),
            _conv_dw(8, 16, 1),
            _conv_dw(16, 32, 2),
            _conv_dw(32, 32, 1),
            _conv_dw(32, 64, 2),
            _conv_dw(64, 64, 1),
        )
        self.stage2 = nn.Sequential(_conv_dw(64, 128, 2), *(_conv_dw(128, 128, 1) for _ in range(5)))
        self.stage3 = nn.Sequential(_conv_dw(128, 256, 2), _conv_dw(256, 256, 1))

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        c1 = self.stage1(x)
        c2 = self.stage2(c1)
        return [c1, c2, self.stage3(c2)]


class Bottleneck(nn.Module):
    """torchvision's ResNet bottleneck (v1.5: the stride on the 3x3 convolution)."""

    def __init__(self, inplanes: int, planes: int, stride: int, downsample: bool) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(inplanes, planes, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv3 = nn.Conv2d(planes, planes * 4, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(planes * 4)
        self.downsample = (
            nn.Sequential(nn.Conv2d(inplanes, planes * 4, 1, stride, bias=False), nn.BatchNorm2d(planes * 4))
            if downsample
            else None
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(self.conv1(x)))
        out = F.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        identity = self.downsample(x) if self.downsample is not None else x
        return F.relu(out + identity)


class ResNet50Body(nn.Module):
    """torchvision's resnet50 up to layer4 (what facexlib's IntermediateLayerGetter keeps)."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 64, 7, 2, 3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        inplanes = 64
        for index, (planes, blocks, stride) in enumerate(((64, 3, 1), (128, 4, 2), (256, 6, 2), (512, 3, 2))):
            layer = []
            for block in range(blocks):
                layer.append(Bottleneck(inplanes, planes, stride if block == 0 else 1, block == 0))
                inplanes = planes * 4
            setattr(self, f"layer{index + 1}", nn.Sequential(*layer))

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        x = F.max_pool2d(F.relu(self.bn1(self.conv1(x))), 3, 2, 1)
        c1 = self.layer1(x)
        c2 = self.layer2(c1)
        c3 = self.layer3(c2)
        return [c2, c3, self.layer4(c3)]


class SSH(nn.Module):
    def __init__(self, in_channel: int, out_channel: int) -> None:
        super().__init__()
        leaky = 0.1 if out_channel <= 64 else 0.0
        self.conv3X3 = _conv_bn_no_relu(in_channel, out_channel // 2)
        self.conv5X5_1 = _conv_bn(in_channel, out_channel // 4, leaky=leaky)
        self.conv5X5_2 = _conv_bn_no_relu(out_channel // 4, out_channel // 4)
        self.conv7X7_2 = _conv_bn(out_channel // 4, out_channel // 4, leaky=leaky)
        self.conv7x7_3 = _conv_bn_no_relu(out_channel // 4, out_channel // 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        conv5 = self.conv5X5_1(x)
        return F.relu(
            torch.cat([self.conv3X3(x), self.conv5X5_2(conv5), self.conv7x7_3(self.conv7X7_2(conv5))], dim=1)
        )


class FPN(nn.Module):
    def __init__(self, in_channels: list[int], out_channels: int) -> None:
        super().__init__()
        leaky = 0.1 if out_channels <= 64 else 0.0
        self.output1 = _conv_bn1x1(in_channels[0], out_channels, leaky)
        self.output2 = _conv_bn1x1(in_channels[1], out_channels, leaky)
        self.output3 = _conv_bn1x1(in_channels[2], out_channels, leaky)
        self.merge1 = _conv_bn(out_channels, out_channels, leaky=leaky)
        self.merge2 = _conv_bn(out_channels, out_channels, leaky=leaky)

    def forward(self, features: list[torch.Tensor]) -> list[torch.Tensor]:
        out1, out2, out3 = self.output1(features[0]), self.output2(features[1]), self.output3(features[2])
        out2 = self.merge2(out2 + F.interpolate(out3, size=out2.shape[2:], mode="nearest"))
        out1 = self.merge1(out1 + F.interpolate(out2, size=out1.shape[2:], mode="nearest"))
        return [out1, out2, out3]


class _Head(nn.Module):
    def __init__(self, in_channels: int, values: int, anchors: int = 2) -> None:
        super().__init__()
        self.values = values
        self.conv1x1 = nn.Conv2d(in_channels, anchors * values, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.conv1x1(x).permute(0, 2, 3, 1).contiguous()
        return out.view(out.shape[0], -1, self.values)


class RetinaFace(nn.Module):
    """facexlib's RetinaFace (`backbone`: "resnet50" or "mobilenet0.25"): for a BGR image
    tensor minus the mean, (box offsets, class scores after softmax, landmark offsets)."""

    def __init__(self, backbone: str) -> None:
        super().__init__()
        if backbone == "resnet50":
            self.body: nn.Module = ResNet50Body()
            stage, out_channels = 256, 256
        elif backbone == "mobilenet0.25":
            self.body = MobileNetV1()
            stage, out_channels = 32, 64
        else:
            raise ValueError(f"unknown RetinaFace backbone {backbone!r}")
        self.backbone = backbone
        self.fpn = FPN([stage * 2, stage * 4, stage * 8], out_channels)
        self.ssh1 = SSH(out_channels, out_channels)
        self.ssh2 = SSH(out_channels, out_channels)
        self.ssh3 = SSH(out_channels, out_channels)
        self.ClassHead = nn.ModuleList(_Head(out_channels, 2) for _ in range(3))
        self.BboxHead = nn.ModuleList(_Head(out_channels, 4) for _ in range(3))
        self.LandmarkHead = nn.ModuleList(_Head(out_channels, 10) for _ in range(3))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        fpn = self.fpn(self.body(x))
        features = [self.ssh1(fpn[0]), self.ssh2(fpn[1]), self.ssh3(fpn[2])]
        boxes = torch.cat([head(f) for head, f in zip(self.BboxHead, features, strict=True)], dim=1)
        scores = torch.cat([head(f) for head, f in zip(self.ClassHead, features, strict=True)], dim=1)
        marks = torch.cat([head(f) for head, f in zip(self.LandmarkHead, features, strict=True)], dim=1)
        return boxes, F.softmax(scores, dim=-1), marks


def backbone_of(state: dict[str, Any]) -> str:
    """Which RetinaFace a facexlib state dict is ("module." prefixes already removed)."""
    if "body.layer1.0.conv1.weight" in state:
        return "resnet50"
    if "body.stage1.0.0.weight" in state:
        return "mobilenet0.25"
    raise ValueError("not a RetinaFace state dict (no ResNet-50 or MobileNet-0.25 body)")


def build_retinaface(state: dict[str, Any]) -> RetinaFace:
    """The network with `state` loaded strictly (facexlib's keys; "module." prefixes dropped)."""
    state = {key.removeprefix("module."): value for key, value in state.items()}
    network = RetinaFace(backbone_of(state))
    network.load_state_dict(state, strict=True)
    return network.eval()


def find_retinaface_file(models_path: Path, allow_pickle: bool) -> Path | None:
    """facexlib's detection file where A1111 keeps it: ResNet-50 first, safetensors first."""
    suffixes = (".safetensors",) + ((".pth",) if allow_pickle else ())
    for stem in FILE_STEMS:
        for suffix in suffixes:
            for folder in FOLDERS:
                path = models_path / folder / f"{stem}{suffix}"
                if path.is_file():
                    return path
    return None


def priors(height: int, width: int) -> torch.Tensor:
    """facexlib's PriorBox: (cx, cy, w, h) per anchor, relative to the image size."""
    anchors: list[float] = []
    for step, sizes in zip(STEPS, MIN_SIZES, strict=True):
        for i, j in product(range(ceil(height / step)), range(ceil(width / step))):
            for size in sizes:
                anchors += [(j + 0.5) * step / width, (i + 0.5) * step / height, size / width, size / height]
    return torch.tensor(anchors).view(-1, 4)


def decode(loc: torch.Tensor, anchors: torch.Tensor) -> torch.Tensor:
    centres = anchors[:, :2] + loc[:, :2] * VARIANCES[0] * anchors[:, 2:]
    sizes = anchors[:, 2:] * torch.exp(loc[:, 2:] * VARIANCES[1])
    return torch.cat([centres - sizes / 2, centres + sizes / 2], dim=1)


def decode_landmarks(pre: torch.Tensor, anchors: torch.Tensor) -> torch.Tensor:
    points = [anchors[:, :2] + pre[:, 2 * k : 2 * k + 2] * VARIANCES[0] * anchors[:, 2:] for k in range(5)]
    return torch.cat(points, dim=1)


def nms(boxes: Any, scores: Any, threshold: float) -> list[int]:
    """facexlib's py_cpu_nms (pixel areas with +1): indices kept, best score first."""
    import numpy as np

    x1, y1, x2, y2 = boxes[:, 0], boxes[:, 1], boxes[:, 2], boxes[:, 3]
    areas = (x2 - x1 + 1) * (y2 - y1 + 1)
    order = scores.argsort()[::-1]
    keep: list[int] = []
    while order.size > 0:
        i = int(order[0])
        keep.append(i)
        w = np.maximum(0.0, np.minimum(x2[i], x2[order[1:]]) - np.maximum(x1[i], x1[order[1:]]) + 1)
        h = np.maximum(0.0, np.minimum(y2[i], y2[order[1:]]) - np.maximum(y1[i], y1[order[1:]]) + 1)
        overlap = w * h / (areas[i] + areas[order[1:]] - w * h)
        order = order[np.where(overlap <= threshold)[0] + 1]
    return keep


@dataclass(frozen=True)
class DetectedFace:
    box: tuple[float, float, float, float]  # left, top, right, bottom
    score: float
    landmarks: tuple[tuple[float, float], ...]  # left eye, right eye, nose, mouth left, mouth right


def detect(
    network: RetinaFace, rgb: Any, threshold: float = 0.8, nms_threshold: float = 0.4
) -> list[DetectedFace]:
    """Faces in a uint8 RGB array (H, W, 3), at its own size (facexlib's use_origin_size),
    best score first."""
    import numpy as np

    height, width = rgb.shape[:2]
    bgr = torch.from_numpy(np.ascontiguousarray(rgb[:, :, ::-1], dtype=np.float32))
    tensor = (bgr - torch.tensor(MEAN_BGR)).permute(2, 0, 1)[None]
    with torch.no_grad():
        loc, conf, marks = network(tensor)
    anchors = priors(height, width)
    boxes = (decode(loc[0], anchors) * torch.tensor([width, height] * 2)).numpy()
    points = (decode_landmarks(marks[0], anchors) * torch.tensor([width, height] * 5)).numpy()
    scores = conf[0, :, 1].numpy()
    chosen = np.where(scores > threshold)[0]
    boxes, points, scores = boxes[chosen], points[chosen], scores[chosen]
    faces = []
    for i in nms(boxes, scores, nms_threshold):
        box = tuple(float(v) for v in boxes[i])
        marks5 = tuple((float(points[i, 2 * k]), float(points[i, 2 * k + 1])) for k in range(5))
        faces.append(DetectedFace(box, float(scores[i]), marks5))  # type: ignore[arg-type]
    return faces
